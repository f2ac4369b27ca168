"""Checks on values before they are written; each raises InvalidValue with a message for a person."""

from __future__ import annotations

import re
from collections.abc import Iterable

from signaling.store.errors import InvalidValue

USERNAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
KIOSK_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # the protocol's ``Id``
TAG_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")  # topics and language codes


def matching(what: str, value: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidValue(f"invalid {what} {value!r}: expected {pattern.pattern}")
    return value


def text(what: str, value: str, max_length: int) -> str:
    if not isinstance(value, str) or len(value) > max_length:
        raise InvalidValue(f"invalid {what}: expected text of at most {max_length} characters")
    return value


def tags(what: str, values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        raise InvalidValue(f"invalid {what} {values!r}: expected a list, not one string")
    result = [matching(what, value, TAG_RE) for value in values]
    return list(dict.fromkeys(result))  # keep the order given, drop repeats


def positive_int(what: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValue(f"invalid {what} {value!r}: expected a whole number of at least 1")
    return value
