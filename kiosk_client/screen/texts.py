"""What the kiosk's screen says, in the customer's language, from the translation files in
``translations/`` (one JSON object per language: key → text with ``{name}`` placeholders).

A text missing from a language falls back to English; a topic without a translation is shown by its name.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

DEFAULT_LANGUAGE = "en"


@cache
def _catalogue(language: str) -> dict[str, str]:
    source = resources.files(__package__).joinpath("translations", f"{language}.json")
    data: dict[str, str] = json.loads(source.read_text(encoding="utf-8"))
    return data


def languages() -> tuple[str, ...]:
    """The languages the screen speaks (a translation file each), English first."""
    folder = resources.files(__package__).joinpath("translations")
    found = sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))
    return (DEFAULT_LANGUAGE, *(lang for lang in found if lang != DEFAULT_LANGUAGE))


class Texts:
    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        if language not in languages():
            raise ValueError(f"the kiosk screen has no {language!r} translation (it has {languages()})")
        self.language = language
        self._texts = _catalogue(language)
        self._fallback = _catalogue(DEFAULT_LANGUAGE)

    def __call__(self, key: str, **values: Any) -> str:
        text = self._texts.get(key) or self._fallback.get(key)
        if text is None:
            raise KeyError(f"no text {key!r} in the kiosk screen's translations")
        return text.format(**values) if values else text

    def topic(self, name: str) -> str:
        key = f"topic.{name}"
        return (
            self(key) if key in self._texts or key in self._fallback else name.replace("_", " ").capitalize()
        )
