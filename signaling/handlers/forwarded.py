"""The scheme the client used: the connection's own, or, behind a TLS-terminating proxy the operator
vouches for (``Settings.trust_forwarded_proto``), the proxy's ``X-Forwarded-Proto``.

Without that setting the header is ignored: any client could send it, and a server that believed it would
think a plain-HTTP request came over TLS.
"""

from __future__ import annotations

from aiohttp import web

from signaling.handlers.problems import Handler

FORWARDED_PROTO = "X-Forwarded-Proto"


def forwarded_scheme(request: web.Request) -> str | None:
    """``http`` or ``https`` from the proxy's header (its first value: the client's hop), else None."""
    value = request.headers.get(FORWARDED_PROTO, "").split(",")[0].strip().lower()
    return value if value in ("http", "https") else None


def client_scheme(request: web.Request, trust_forwarded: bool) -> str:
    if trust_forwarded:
        return forwarded_scheme(request) or request.scheme
    return request.scheme


@web.middleware
async def forwarded_proto_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Installed only with ``trust_forwarded_proto``: handlers see the client's scheme (``request.secure``,
    the origin checks, the cookies' Secure flag)."""
    scheme = forwarded_scheme(request)
    if scheme is not None and scheme != request.scheme:
        request = request.clone(scheme=scheme)
    return await handler(request)
