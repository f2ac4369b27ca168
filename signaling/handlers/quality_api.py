"""Call quality for IT and supervisors: ``GET /api/calls/live``, ``GET /api/alerts`` and
``GET /api/calls/{call_id}/timeline``.

For supervisors, administrators and IT. A timeline holds call history, so reading one is recorded in the
audit log as ``data_exported`` first, as ``GET /api/calls/{call_id}`` is (it fails closed: 503, no data).
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from signaling.handlers.audit_hooks import audit_request
from signaling.handlers.session_api import require_session
from signaling.protocol import ErrorCode, Id, ProtocolError
from signaling.services import SERVICES
from signaling.store.audit import AuditAction

MONITORS = ("supervisor", "admin", "it")


async def live_calls(request: web.Request) -> web.Response:
    await require_session(request, MONITORS)
    return web.json_response({"calls": await request.app[SERVICES].quality.live_calls()})


async def alerts(request: web.Request) -> web.Response:
    await require_session(request, MONITORS)
    return web.json_response({"alerts": await request.app[SERVICES].alerts.open()})


async def timeline(request: web.Request) -> web.Response:
    staff = await require_session(request, MONITORS)
    try:
        call_id = msgspec.convert(request.match_info["call_id"], Id)
    except msgspec.ValidationError:
        raise ProtocolError(ErrorCode.UNKNOWN_CALL, "no such call") from None
    result = await request.app[SERVICES].quality.timeline(call_id)
    if result is None:
        raise ProtocolError(ErrorCode.UNKNOWN_CALL, "no such call")
    await audit_request(
        request, actor=staff.username, role=staff.role, action=AuditAction.DATA_EXPORTED,
        target=f"call:{call_id}", details={"call_id": call_id, "view": "timeline"}, required=True,
    )  # fmt: skip
    return web.json_response(result)
