"""Hypothesis strategies for the wire protocol's messages, within their declared limits."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from signaling import protocol as p

ids = st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True)
short = st.text(min_size=1, max_size=64)
text = st.text(max_size=300)
languages = st.sampled_from(["en", "es", "fr", "pt-BR"])
contexts = st.dictionaries(short, text, max_size=5)
candidates = st.none() | st.builds(  # as RTCIceCandidate.toJSON() gives them
    p.IceCandidate,
    candidate=st.text(max_size=200),
    sdpMid=st.none() | st.sampled_from(["0", "1", "2"]),
    sdpMLineIndex=st.none() | st.integers(0, 3),
)
sdp = st.builds(
    p.SessionDescription, call_id=ids, sdp_type=st.sampled_from(p.SdpType), sdp=st.text(min_size=1)
)

kiosk_messages: st.SearchStrategy[Any] = st.one_of(
    st.builds(p.KioskHello, kiosk_id=ids, secret=short, app_version=st.text(max_size=64)),
    st.builds(p.HelpRequest, topic=short, language=languages, context=contexts),
    st.builds(p.Cancel, call_id=ids),
    st.just(p.Heartbeat()),
    sdp,
    st.builds(p.Ice, call_id=ids, candidate=candidates),
    st.builds(p.Hangup, call_id=ids),
)
agent_messages: st.SearchStrategy[Any] = st.one_of(
    st.builds(p.SetState, state=st.sampled_from(["available", "away"]), reason=st.text(max_size=64)),
    st.builds(p.Accept, call_id=ids),
    st.builds(p.Decline, call_id=ids),
    st.builds(p.WrapUp, call_id=ids, disposition=short, notes=text),
    sdp,
    st.builds(p.Ice, call_id=ids, candidate=candidates),
    st.builds(p.Hangup, call_id=ids),
    st.just(p.Heartbeat()),
)


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
