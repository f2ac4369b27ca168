"""``GET /api/fleet``: every enrolled kiosk with its live health (supervisors, admins and IT staff)."""

from __future__ import annotations

from aiohttp import web

from signaling.handlers.session_api import require_session
from signaling.services import SERVICES

MONITORS = ("supervisor", "admin", "it")
"""The roles that read the monitoring APIs."""


async def fleet(request: web.Request) -> web.Response:
    await require_session(request, MONITORS)
    kiosks = await request.app[SERVICES].fleet.kiosks()
    return web.json_response({"kiosks": kiosks})
