"""Call history for staff: ``GET /api/calls`` and ``GET /api/calls/{call_id}``."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import msgspec
from aiohttp import web

from signaling.handlers.session_api import require_session
from signaling.protocol import ErrorCode, Id, ProtocolError
from signaling.services import SERVICES
from signaling.store import get_call, list_calls

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
    await require_session(request, STAFF)
    try:
        limit = min(500, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "limit must be a whole number") from None
    calls = await list_calls(request.app[SERVICES].db, limit=limit)
    return web.json_response({"calls": [_jsonable(dataclasses.asdict(c)) for c in calls]})


def _call_id(request: web.Request) -> str:
    """The path's call id. Text that cannot be an id names no call, and is not sent to the database
    (PostgreSQL refuses some of it, such as NUL characters)."""
    try:
        return msgspec.convert(request.match_info["call_id"], Id)
    except msgspec.ValidationError:
        raise ProtocolError(ErrorCode.UNKNOWN_CALL, "no such call in the history") from None


async def call_detail(request: web.Request) -> web.Response:
    await require_session(request, STAFF)
    record = await get_call(request.app[SERVICES].db, _call_id(request))
    if record is None:
        raise ProtocolError(ErrorCode.UNKNOWN_CALL, "no such call in the history")
    data = dataclasses.asdict(record)
    data["events"] = [
        {"kind": e.kind, "at": e.at.isoformat(), "agent": e.agent, "detail": e.detail} for e in record.events
    ]
    return web.json_response(_jsonable(data))
