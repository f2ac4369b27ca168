"""``GET /api/service-level?window_s=3600&target_s=20``: the share of calls answered within a target.

For supervisors, administrators and IT. The figure and its definition: ``signaling/service_level.py``.
"""

from __future__ import annotations

from aiohttp import web

from signaling.handlers.session_api import require_session
from signaling.protocol import ErrorCode, ProtocolError
from signaling.service_level import MAX_TARGET_S, MAX_WINDOW_S
from signaling.services import SERVICES

MONITORS = ("supervisor", "admin", "it")
DEFAULT_WINDOW_S = 3600


def _number(request: web.Request, name: str, default: float, maximum: float) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"{name} must be a number of seconds") from None
    if not 0 < value <= maximum:  # also refuses nan
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"{name} must be more than 0 and at most {maximum:g}")
    return value


async def service_level(request: web.Request) -> web.Response:
    await require_session(request, MONITORS)
    services = request.app[SERVICES]
    window_s = int(_number(request, "window_s", DEFAULT_WINDOW_S, MAX_WINDOW_S))
    target_s = _number(request, "target_s", services.service_level.target_s, MAX_TARGET_S)
    return web.json_response(await services.service_level.current(max(1, window_s), target_s))
