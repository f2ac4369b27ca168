"""The OpenAPI entries of call quality and alerts: ``GET /api/calls/live``, ``GET /api/alerts`` and
``GET /api/calls/{call_id}/timeline`` (``signaling/openapi.py`` assembles them with the rest)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from signaling.protocol import QualityStats

Party = Literal["kiosk", "agent"]


class LatestQuality(msgspec.Struct, forbid_unknown_fields=True):
    """A live call's current figures: the agent console's where it measures them, else the kiosk's. The
    scores (1-5) are the worse of the two parties' latest; ``mos`` is the E-model's (media/quality.py)."""

    mos: float | None
    video_score: float | None
    rtt_ms: float | None
    jitter_ms: float | None
    loss_pct: float | None
    fps: float | None
    bitrate_kbps: float | None
    width: int | None
    height: int | None
    freezes: int | None
    candidate_type: str | None
    limitation: str | None
    kiosk_cpu_pct: float | None


class QualityPoint(msgspec.Struct, forbid_unknown_fields=True):
    t_ms: int
    party: Party
    mos: float | None
    video_score: float | None
    rtt_ms: float | None
    loss_pct: float | None
    fps: float | None


class LiveCall(msgspec.Struct, forbid_unknown_fields=True):
    """A connected call that reports stats, with its samples of the last 10 minutes (``series``)."""

    call_id: str
    kiosk_id: str
    agent: str
    topic: str
    started_ms: int
    latest: LatestQuality
    series: list[QualityPoint]


class LiveCalls(msgspec.Struct, forbid_unknown_fields=True):
    calls: list[LiveCall]


class OpenAlert(msgspec.Struct, forbid_unknown_fields=True):
    """An alert still open. ``key`` names the condition (``quality:<call_id>``, a kiosk's…)."""

    alert_id: str
    key: str
    kind: str
    severity: str
    call_id: str | None
    kiosk_id: str | None
    since_ms: int
    message: str


class AlertList(msgspec.Struct, forbid_unknown_fields=True):
    """The open alerts, oldest first."""

    alerts: list[OpenAlert]


class QualitySample(QualityStats, forbid_unknown_fields=True):
    """One party's stats sample as the server keeps it, with when it came and the scores it gives."""

    t_ms: int = 0
    party: Party = "kiosk"
    mos: float | None = None
    video_score: float | None = None


class TimelineEvent(msgspec.Struct, forbid_unknown_fields=True):
    """A history event of the call (``kind`` as the history names it), ``alert_raised`` or
    ``alert_cleared``."""

    t_ms: int
    kind: str
    detail: dict[str, Any]


class TimelineCall(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    kiosk_id: str | None = None
    agent: str | None = None
    topic: str | None = None
    state: str | None = None
    end_reason: str | None = None
    created_ms: int | None = None
    answered_ms: int | None = None
    ended_ms: int | None = None


class CallQualitySummary(msgspec.Struct, forbid_unknown_fields=True):
    """The call's quality over its samples, stored when it ended."""

    call_id: str
    samples: int
    mos_mean: float | None
    mos_min: float | None
    video_mean: float | None
    video_min: float | None
    rtt_mean_ms: float | None
    loss_max_pct: float | None
    candidate_types: list[str]
    first_at: int | None
    last_at: int | None


class CallTimeline(msgspec.Struct, forbid_unknown_fields=True):
    """Everything known of one call: its history events and alerts in time order, its stats samples (kept
    ``quality_keep_s`` after the last) and its quality summary (null until it ends)."""

    call: TimelineCall
    events: list[TimelineEvent]
    samples: list[QualitySample]
    quality: CallQualitySummary | None


QUALITY_TYPES: tuple[Any, ...] = (LiveCalls, AlertList, CallTimeline)


def quality_paths() -> dict[str, Any]:
    from signaling.openapi import CALL_ID, NO_SESSION, NOT_YOUR_ROLE, _json, _operation, _problem, _staff_only

    roles = _staff_only("supervisor, admin, it")
    live = _operation(
        "liveCalls",
        "Connected calls with their latest quality figures and the last 10 minutes of samples",
        {200: _json("LiveCalls", "the calls, oldest first"), 401: NO_SESSION, 403: NOT_YOUR_ROLE},
        tags=["monitoring"],
        **roles,
    )
    alerts = _operation(
        "openAlerts",
        "The open alerts (calls whose quality stays poor, kiosks offline or degraded)",
        {200: _json("AlertList", "the alerts, oldest first"), 401: NO_SESSION, 403: NOT_YOUR_ROLE},
        tags=["monitoring"],
        **roles,
    )
    timeline = _operation(
        "callTimeline",
        "One call's history events, alerts and quality samples (recorded in the audit log as an export)",
        {
            200: _json("CallTimeline", "the call's timeline"),
            401: NO_SESSION,
            403: NOT_YOUR_ROLE,
            404: _problem("`unknown_call`: no such call, live or in the history"),
        },
        tags=["monitoring"],
        parameters=[CALL_ID],
        **roles,
    )
    return {
        "/api/calls/live": {"get": live},
        "/api/alerts": {"get": alerts},
        "/api/calls/{call_id}/timeline": {"get": timeline},
    }
