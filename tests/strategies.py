"""Hypothesis strategies for the wire protocol's messages, within their declared limits."""

from __future__ import annotations

from typing import Any, get_args

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
devices = st.builds(
    p.DeviceHealth, present=st.booleans(), working=st.booleans(), detail=st.text(max_size=200)
)
telemetry = st.builds(
    p.Telemetry,
    camera=devices,
    microphone=devices,
    network=st.none()
    | st.builds(p.NetworkInfo, kind=st.sampled_from(get_args(p.NetworkKind)), interface=st.text(max_size=32)),
    app_version=st.text(max_size=64),
    uptime_s=st.floats(0, p.MAX_UPTIME_S),
    cpu_pct=st.none() | st.floats(0, 100),
    faults=st.lists(st.text(min_size=1, max_size=200), max_size=p.MAX_FAULTS),
)

ms = st.none() | st.floats(0, 60_000)
percent = st.none() | st.floats(0, 100)
fps = st.none() | st.floats(0, 240)
kbps = st.none() | st.floats(0, 1_000_000)
pixels = st.none() | st.integers(0, 16384)
count = st.none() | st.integers(0, 2**53)
call_stats = st.builds(
    p.CallStats,
    call_id=ids,
    stats=st.builds(
        p.QualityStats,
        rtt_ms=ms,
        jitter_ms=ms,
        jitter_buffer_ms=ms,
        audio_loss_pct=percent,
        video_loss_pct=percent,
        packets_lost=count,
        fps=fps,
        bitrate_kbps=kbps,
        width=pixels,
        height=pixels,
        fps_sent=fps,
        bitrate_sent_kbps=kbps,
        freezes=count,
        candidate_type=st.none() | st.sampled_from(["host", "srflx", "prflx", "relay"]),
        limitation=st.none() | st.sampled_from(["none", "cpu", "bandwidth", "other"]),
        cpu_pct=st.none() | st.floats(0, 6400),
    ),
)

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
    p.Telemetry: telemetry,
    p.MediaStatus: st.builds(p.MediaStatus, call_id=ids, flowing=st.booleans()),
    p.CallStats: call_stats,
    p.Survey: st.builds(
        p.Survey, call_id=ids, rating=st.integers(1, 5), comment=st.text(max_size=p.MAX_SURVEY_COMMENT)
    ),
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
    p.CallStats: call_stats,
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
