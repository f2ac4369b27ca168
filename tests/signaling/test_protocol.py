"""The wire protocol: every message survives encoding, bad frames are typed errors, the docs are current."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signaling import protocol as p
from signaling.protocol_docs import render
from tests.strategies import AGENT_MESSAGES, KIOSK_MESSAGES, agent_messages, kiosk_messages

ROOT = Path(__file__).resolve().parents[2]


@given(kiosk_messages)
@settings(max_examples=300)
def test_every_valid_kiosk_message_decodes_to_what_was_sent(message: p.KioskInbound) -> None:
    assert p.decode_kiosk(p.encode(message)) == message


@given(agent_messages)
@settings(max_examples=300)
def test_every_valid_agent_message_decodes_to_what_was_sent(message: p.AgentInbound) -> None:
    assert p.decode_agent(p.encode(message)) == message


def test_the_strategies_cover_every_inbound_message_type() -> None:
    assert set(KIOSK_MESSAGES) == set(get_args(p.KioskInbound))
    assert set(AGENT_MESSAGES) == set(get_args(p.AgentInbound))


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_bytes_are_a_typed_error_never_a_crash(raw: bytes | str) -> None:
    for decode in (p.decode_kiosk, p.decode_agent):
        outcome = _decode_or_error(decode, raw)
        if isinstance(outcome, p.ProtocolError):
            assert outcome.code in (p.ErrorCode.BAD_JSON, p.ErrorCode.BAD_MESSAGE)
            assert outcome.message


def _decode_or_error(decode: Callable[[bytes | str], object], raw: bytes | str) -> object:
    try:
        return decode(raw)
    except p.ProtocolError as exc:
        return exc


def test_an_unknown_type_names_itself_in_the_error() -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_agent('{"type": "teleport"}')
    assert info.value.code is p.ErrorCode.BAD_MESSAGE
    assert "teleport" in info.value.message


def test_an_oversized_message_is_refused_before_parsing() -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_kiosk("x" * (p.MAX_MESSAGE_BYTES + 1))
    assert info.value.code is p.ErrorCode.TOO_LARGE


def test_the_protocol_reference_is_generated_from_the_current_types() -> None:
    assert (ROOT / "docs" / "protocol.md").read_text() == render(), "run: make docs"
