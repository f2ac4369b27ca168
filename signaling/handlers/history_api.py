"""Call history for staff: ``GET /api/calls`` and ``GET /api/calls/{call_id}``.

Every read is recorded in the audit log as ``data_exported`` (who, which calls, from where) before the
data is sent; if the entry cannot be written, the read fails with 503 rather than go unrecorded.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import msgspec
from aiohttp import web

from signaling.auth import StaffSession
from signaling.handlers.audit_hooks import audit_request
from signaling.handlers.session_api import require_session
from signaling.protocol import ErrorCode, Id, ProtocolError
from signaling.services import SERVICES
from signaling.store import get_call, list_calls
from signaling.store.audit import AuditAction

STAFF = ("agent", "supervisor", "admin")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


async def calls_index(request: web.Request) -> web.Response:
    staff = await require_session(request, STAFF)
    try:
        limit = min(500, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "limit must be a whole number") from None
    calls = await list_calls(request.app[SERVICES].db, limit=limit)
    await _exported(request, staff, "calls", {"calls": len(calls), "limit": limit})
    return web.json_response({"calls": [_jsonable(dataclasses.asdict(c)) for c in calls]})


def _call_id(request: web.Request) -> str:
    """The path's call id. Text that cannot be an id names no call, and is not sent to the database
    (PostgreSQL refuses some of it, such as NUL characters)."""
    try:
        return msgspec.convert(request.match_info["call_id"], Id)
    except msgspec.ValidationError:
        raise ProtocolError(ErrorCode.UNKNOWN_CALL, "no such call in the history") from None


async def _exported(request: web.Request, staff: StaffSession, target: str, details: dict[str, Any]) -> None:
    """Record the read as a data export; fails closed (503, no data) when it cannot be recorded."""
    await audit_request(
        request, actor=staff.username, role=staff.role, action=AuditAction.DATA_EXPORTED, target=target,
        details=details, required=True,
    )  # fmt: skip


async def call_detail(request: web.Request) -> web.Response:
    staff = await require_session(request, STAFF)
    record = await get_call(request.app[SERVICES].db, _call_id(request))
    if record is None:
        raise ProtocolError(ErrorCode.UNKNOWN_CALL, "no such call in the history")
    await _exported(request, staff, f"call:{record.id}", {"call_id": record.id})
    data = dataclasses.asdict(record)
    data["events"] = [
        {"kind": e.kind, "at": e.at.isoformat(), "agent": e.agent, "detail": e.detail} for e in record.events
    ]
    return web.json_response(_jsonable(data))
