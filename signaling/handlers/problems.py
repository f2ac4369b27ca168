"""HTTP errors as JSON problems ({"code", "message"}), turned out in one place; no tracebacks to clients."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.typedefs import LooseHeaders
from multidict import CIMultiDict
from redis.exceptions import RedisError

from signaling.protocol import ErrorCode, ProtocolError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATUS = {
    ErrorCode.AUTH_REQUIRED: 401,
    ErrorCode.AUTH_FAILED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CROSS_SITE: 403,
    ErrorCode.UNKNOWN_CALL: 404,
    ErrorCode.WRONG_STATE: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNAVAILABLE: 503,
}


def problem(status: int, code: str, message: str, headers: LooseHeaders | None = None) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)


def _kept_headers(exc: web.HTTPException) -> CIMultiDict[str]:
    """What the HTTP layer said besides its text body, such as a 405's ``Allow`` (which RFC 9110 requires)."""
    headers = CIMultiDict(exc.headers)
    for name in (hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH):
        headers.popall(name, None)
    return headers


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProtocolError as exc:
        return problem(_STATUS.get(exc.code, 400), exc.code.value, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        code = exc.reason.lower().replace(" ", "_")
        return problem(exc.status, code, exc.text or exc.reason, _kept_headers(exc))
    except (RedisError, OSError) as exc:  # Redis is restarting or failing over: retry shortly
        log.warning("%s %s: Redis unavailable (%s)", request.method, request.path, type(exc).__name__)
        return problem(
            503,
            ErrorCode.UNAVAILABLE.value,
            "service temporarily unavailable, retrying",
            {hdrs.RETRY_AFTER: "2"},
        )
    except Exception as exc:
        # the client gets an id to quote, never the exception; the log gets the traceback under that id
        # (a database error's text may carry SQL and values: its parameters are hidden by the engine)
        correlation_id = secrets.token_hex(8)
        log.error(
            "unhandled error on %s %s (correlation id %s): %s",
            request.method, request.path, correlation_id, type(exc).__name__, exc_info=exc,
        )  # fmt: skip
        return web.json_response(
            {
                "code": ErrorCode.INTERNAL.value,
                "message": f"internal error; quote correlation id {correlation_id} to support",
                "correlation_id": correlation_id,
            },
            status=500,
            headers={"X-Correlation-Id": correlation_id},
        )
