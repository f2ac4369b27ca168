"""The OpenAPI entry of ``GET /api/dashboard/stream`` (``signaling/openapi.py`` assembles it with the
rest)."""

from __future__ import annotations

from typing import Any

import msgspec

from signaling.openapi import QueueStatus
from signaling.openapi_fleet import FleetKiosk
from signaling.openapi_quality import LiveCall, OpenAlert
from signaling.openapi_service_level import ServiceLevelFigures


class DashboardLimits(msgspec.Struct, forbid_unknown_fields=True):
    """The thresholds the server alerts on, for the page's bands and colours."""

    poor_mos: float
    poor_video: float
    offline_after_s: float
    service_level_target_s: float


class DashboardSnapshot(msgspec.Struct, forbid_unknown_fields=True):
    """The data of one ``snapshot`` event: the whole live picture (``at_ms``: when it was composed, in
    milliseconds since the epoch). ``service_level`` covers the calls of the last hour."""

    at_ms: int
    fleet: list[FleetKiosk]
    calls: list[LiveCall]
    queues: list[QueueStatus]
    service_level: ServiceLevelFigures
    alerts: list[OpenAlert]
    limits: DashboardLimits


DASHBOARD_TYPES: tuple[Any, ...] = (DashboardSnapshot,)

STREAM_DESCRIPTION = """Server-Sent Events (`text/event-stream`; read it with the browser's
`EventSource`). First `retry: 2000`, then every 1.5 s an event `snapshot` whose `data` is one line of JSON, a
`DashboardSnapshot`. Other events: `unavailable` (`{message}`: Redis or the database does not answer just
now; the stream goes on) and `signed_out` (`{code, message}`: the session ended; the stream ends). The stream
also ends when the server shuts down (the browser reconnects) and for a client that takes nothing for 15 s."""


def dashboard_paths() -> dict[str, Any]:
    from signaling.openapi import NO_SESSION, NOT_YOUR_ROLE, _operation, _staff_only

    events = {"schema": {"type": "string", "description": "Server-Sent Events"}}
    operation = _operation(
        "dashboardStream",
        "The dashboard's live picture: fleet, live calls, queues, service level and open alerts, as events",
        {
            200: {"description": STREAM_DESCRIPTION, "content": {"text/event-stream": events}},
            401: NO_SESSION,
            403: NOT_YOUR_ROLE,
        },
        tags=["monitoring"],
        **_staff_only("supervisor, admin, it"),
    )
    return {"/api/dashboard/stream": {"get": operation}}
