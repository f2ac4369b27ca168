"""The OpenAPI entry of ``GET /api/fleet`` (``signaling/openapi.py`` assembles it with the rest)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from signaling.protocol import DeviceHealth, NetworkInfo


class FleetKiosk(msgspec.Struct, forbid_unknown_fields=True):
    """An enrolled kiosk and its latest telemetry (null where it never reported). ``status``: ``offline``
    when nothing was heard from it for the presence timeout (15 s) or it signed off; ``degraded`` when its
    camera or microphone does not work (it then offers no video help) or its host reports a fault."""

    kiosk_id: str
    location: str
    status: Literal["online", "offline", "degraded"]
    last_seen_ms: int | None
    """When it last reported (milliseconds since the epoch)."""
    app_version: str | None
    camera: DeviceHealth | None
    microphone: DeviceHealth | None
    network: NetworkInfo | None
    cpu_pct: float | None
    uptime_s: float | None
    faults: list[str]


class Fleet(msgspec.Struct, forbid_unknown_fields=True):
    """Every enrolled kiosk (revoked ones left out), by id."""

    kiosks: list[FleetKiosk]


FLEET_TYPES: tuple[Any, ...] = (Fleet,)


def fleet_paths() -> dict[str, Any]:
    from signaling.openapi import NO_SESSION, NOT_YOUR_ROLE, _json, _operation, _staff_only

    operation = _operation(
        "fleet",
        "Every enrolled kiosk with its status (online, offline, degraded) and device telemetry",
        {200: _json("Fleet", "the kiosks"), 401: NO_SESSION, 403: NOT_YOUR_ROLE},
        tags=["monitoring"],
        **_staff_only("supervisor, admin, it"),
    )
    return {"/api/fleet": {"get": operation}}
