"""The OpenAPI entry of ``GET /api/service-level`` (``signaling/openapi.py`` assembles it with the rest)."""

from __future__ import annotations

from typing import Any

import msgspec

from signaling.handlers.service_level_api import DEFAULT_WINDOW_S
from signaling.service_level import MAX_TARGET_S, MAX_WINDOW_S
from signaling.settings import Settings


class ServiceLevelFigures(msgspec.Struct, forbid_unknown_fields=True):
    """The share of calls answered within ``target_s`` seconds, among the calls that asked for help in the
    last ``window_s`` seconds: ``answered_within_target / offered``, where ``offered`` is the answered
    calls plus those that waited past the target unanswered (abandoned, timed out or failed after it, or
    still waiting); calls given up within the target (``short_abandoned``) are left out. ``service_level``
    is null when no call was offered."""

    window_s: int
    target_s: float
    offered: int
    answered: int
    answered_within_target: int
    abandoned_after_target: int
    waiting_past_target: int
    short_abandoned: int
    service_level: float | None


SERVICE_LEVEL_TYPES: tuple[Any, ...] = (ServiceLevelFigures,)


def _seconds(name: str, description: str, default: float, maximum: float) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": maximum, "default": default},
    }


def service_level_paths() -> dict[str, Any]:
    from signaling.openapi import NO_SESSION, NOT_YOUR_ROLE, _json, _operation, _problem, _staff_only

    operation = _operation(
        "serviceLevel",
        "Service level: the share of recent calls answered within a target wait",
        {
            200: _json("ServiceLevelFigures", "the figures for the window"),
            400: _problem("`bad_message`: `window_s` or `target_s` is not a number of seconds in range"),
            401: NO_SESSION,
            403: NOT_YOUR_ROLE,
        },
        tags=["monitoring"],
        parameters=[
            _seconds("window_s", "calls created this many seconds back", DEFAULT_WINDOW_S, MAX_WINDOW_S),
            _seconds(
                "target_s",
                "the target wait (default: the server's setting)",
                Settings.service_level_target_s,
                MAX_TARGET_S,
            ),
        ],
        **_staff_only("supervisor, admin, it"),
    )
    return {"/api/service-level": {"get": operation}}
