"""What the screen shows follows the kiosk program's call events: the pages of a visit, how a call that
did not happen is explained, and the connection messages during a call."""

from __future__ import annotations

from typing import Any

from kiosk_client.control import RequestIdPhoto, ShowMessage
from kiosk_client.screen.state import ScreenState


def _feed(state: ScreenState, *events: tuple[str, dict[str, Any]]) -> ScreenState:
    for kind, fields in events:
        state.kiosk_event({"event": kind, "at": 0.0, **fields})
    return state


def test_a_visit_goes_from_the_topics_to_the_queue_the_call_and_the_survey() -> None:
    state = _feed(ScreenState(), ("signed_in", {"call_id": None}))
    assert state.page == "home"
    state.help_asked("cash")
    assert (state.page, state.phase) == ("waiting", "sending")
    _feed(state, ("queued", {"call_id": "c1", "position": 2, "estimated_wait_s": 90}))
    assert (state.phase, state.position, state.estimated_wait_s) == ("queued", 2, 90)
    _feed(state, ("ringing", {"call_id": "c1"}), ("agent_joined", {"call_id": "c1", "agent": "Ana"}))
    assert (state.page, state.agent, state.media_connected) == ("call", "Ana", False)
    _feed(state, ("connected", {}), ("chat_received", {"text": "Hello"}), ("chat_sent", {"text": "Hi"}))
    assert [(line.who, line.text) for line in state.chat] == [("agent", "Hello"), ("you", "Hi")]
    _feed(state, ("ended", {"call_id": "c1", "state": "completed", "reason": "agent_hangup"}))
    assert state.page == "survey"
    _feed(state, ("survey_sent", {"call_id": "c1", "rating": 4}))
    assert (state.page, state.thanks) == ("thanks", "thanks.survey")
    state.start_over()
    assert (state.page, state.chat, state.agent) == ("home", [], None)


def test_connection_trouble_in_a_call_is_shown_until_it_is_over() -> None:
    state = _feed(ScreenState(), ("signed_in", {}), ("agent_joined", {"agent": "Ana"}), ("connected", {}))
    _feed(state, ("media_lost", {}))
    assert state.link == "media_lost"
    _feed(state, ("reconnecting", {}))
    assert state.link == "reconnecting"
    _feed(state, ("reconnected", {}), ("media_restored", {}))
    assert (state.page, state.link) == ("call", "ok")


def test_a_call_that_did_not_happen_says_why() -> None:
    cases = {
        ("abandoned", "kiosk_cancelled"): "thanks.cancelled",
        ("timed_out", "max_wait"): "thanks.unanswered",
        ("failed", "media"): "thanks.lost",
    }
    for (ended, reason), text in cases.items():
        state = _feed(ScreenState(), ("signed_in", {}), ("queued", {"position": 1, "estimated_wait_s": 0}))
        _feed(state, ("ended", {"state": ended, "reason": reason}))
        assert (state.page, state.thanks) == ("thanks", text), (ended, reason)
    lost = _feed(ScreenState(), ("signed_in", {}), ("agent_joined", {}), ("call_lost", {}))
    assert (lost.page, lost.thanks) == ("thanks", "thanks.lost")


def test_a_refused_request_goes_back_to_the_topics_with_the_reason() -> None:
    state = _feed(ScreenState(), ("signed_in", {}))
    state.help_asked("cash")
    _feed(state, ("error", {"ref": "help_request", "message": "the cash queue is closed"}))
    assert (state.page, state.refusal) == ("home", "the cash queue is closed")


def test_the_agents_message_and_a_photo_request_are_shown_and_cleared_when_the_call_ends() -> None:
    state = _feed(ScreenState(), ("signed_in", {}), ("agent_joined", {}))
    state.agent_action(ShowMessage(text="Insert your card"))
    state.asking_consent(RequestIdPhoto(request_id="r1", reason="identity"))
    assert state.message is not None
    assert state.consent is not None
    _feed(state, ("ended", {"state": "completed", "reason": "agent_hangup"}))
    assert (state.message, state.consent) == (None, None)


def test_an_offer_of_help_for_a_fault_shows_only_between_customers_calls() -> None:
    state = _feed(ScreenState(), ("signed_in", {}))
    state.help_offered("transaction failed: E42")
    assert state.offer == "transaction failed: E42"
    state.help_asked("other")
    assert state.offer is None
    state.help_offered("card reader jammed")
    assert state.offer is None, "a customer already asking is not interrupted"
