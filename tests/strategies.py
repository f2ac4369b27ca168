"""Hypothesis strategies for the wire protocol's messages, within their declared limits."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from signaling import protocol as p
from signaling.settings import DEFAULT_DISPOSITIONS, DEFAULT_TOPICS

ids = st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True)
short = st.text(min_size=1, max_size=64)
text = st.text(max_size=300)
languages = st.sampled_from(["en", "es", "fr", "pt-BR"])
contexts = st.dictionaries(short, text, max_size=5)
topics = st.sampled_from(DEFAULT_TOPICS) | short  # mostly queues that exist, sometimes not
dispositions = st.sampled_from(DEFAULT_DISPOSITIONS) | short
candidates = st.none() | st.builds(  # as RTCIceCandidate.toJSON() gives them
    p.IceCandidate,
    candidate=st.text(max_size=200),
    sdpMid=st.none() | st.sampled_from(["0", "1", "2"]),
    sdpMLineIndex=st.none() | st.integers(0, 3),
    usernameFragment=st.none() | st.text(max_size=16),
)
sdp = st.builds(
    p.SessionDescription, call_id=ids, sdp_type=st.sampled_from(p.SdpType), sdp=st.text(min_size=1)
)
ice = st.builds(p.Ice, call_id=ids, candidate=candidates)
hangup = st.builds(p.Hangup, call_id=ids)
heartbeat = st.just(p.Heartbeat())

KIOSK_MESSAGES: dict[type[Any], st.SearchStrategy[Any]] = {
    p.KioskHello: st.builds(
        p.KioskHello,
        kiosk_id=ids,
        secret=st.text(min_size=1, max_size=200),
        protocol=st.just(p.PROTOCOL_VERSION) | st.integers(0, 9),
        app_version=st.text(max_size=64),
    ),
    p.HelpRequest: st.builds(
        p.HelpRequest,
        topic=topics,
        language=languages,
        context=contexts,
        device_fault=st.none() | st.text(max_size=200),
    ),
    p.Cancel: st.builds(p.Cancel, call_id=ids),
    p.Heartbeat: heartbeat,
    p.MediaStatus: st.builds(p.MediaStatus, call_id=ids, flowing=st.booleans()),
    p.SessionDescription: sdp,
    p.Ice: ice,
    p.Hangup: hangup,
}
"""One strategy per member of ``KioskInbound`` (a test checks that none is missing)."""
AGENT_MESSAGES: dict[type[Any], st.SearchStrategy[Any]] = {
    p.SetState: st.builds(
        p.SetState, state=st.sampled_from(["available", "away", "offline"]), reason=st.text(max_size=64)
    ),
    p.Accept: st.builds(p.Accept, call_id=ids),
    p.Decline: st.builds(p.Decline, call_id=ids),
    p.SessionDescription: sdp,
    p.Ice: ice,
    p.Hangup: hangup,
    p.WrapUp: st.builds(p.WrapUp, call_id=ids, disposition=dispositions, notes=text),
    p.ExtendWrapUp: st.builds(p.ExtendWrapUp, call_id=ids),
    p.Transfer: st.builds(
        p.Transfer,
        call_id=ids,
        to_topic=st.none() | topics,
        to_agent=st.none() | ids,
        notes=text,
    ),
    p.Heartbeat: heartbeat,
}
"""One strategy per member of ``AgentInbound``."""

kiosk_messages: st.SearchStrategy[Any] = st.one_of(*KIOSK_MESSAGES.values())
agent_messages: st.SearchStrategy[Any] = st.one_of(*AGENT_MESSAGES.values())


def routing_agent_profiles(username: str, topics: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """AgentProfiles for the routing engine's state machine: one or more of the topics, English (maybe
    Spanish too), capacity 1, any proficiency (the default escalation step takes every level)."""
    from signaling.routing.engine import AgentProfile  # kept with the strategy: this block was appended

    return st.builds(
        AgentProfile,
        username=st.just(username),
        skills=st.lists(st.sampled_from(topics), min_size=1, unique=True).map(tuple),
        languages=st.sampled_from([("en",), ("en",), ("en", "es")]),
        capacity=st.just(1),
        proficiency=st.dictionaries(st.sampled_from(topics), st.integers(1, 5)),
    )
