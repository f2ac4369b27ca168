"""Security headers on every response the server sends: pages, static files, the API, errors, upgrades.

A response hook (``on_response_prepare``) rather than a middleware, so responses made outside the handlers
(the HTTP layer's own refusals) carry them too. The content security policy allows no inline script or
style, nothing from another origin, and no framing; the console is built to live under it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from signaling.handlers.forwarded import client_scheme
from signaling.settings import Settings

ResponseHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]

HSTS = "max-age=31536000"
"""A year; no ``includeSubDomains``: other hosts of the bank's domain are not ours to decide for."""
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")

STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def content_security_policy(socket_origin: str | None) -> str:
    """The policy; ``socket_origin`` (``wss://host:port``) is named in ``connect-src`` for browsers whose
    ``'self'`` does not cover WebSockets."""
    connect = "'self'" if socket_origin is None else f"'self' {socket_origin}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob:; connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'; object-src 'none'"
    )


def _socket_origin(request: web.Request, tls: bool) -> str | None:
    host = request.host
    if _HOST.fullmatch(host) is None:  # never copy a malformed Host header into a policy
        return None
    return f"{'wss' if tls else 'ws'}://{host}"


def security_headers(settings: Settings) -> ResponseHook:
    """The hook for ``app.on_response_prepare``."""

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        tls = client_scheme(request, settings.trust_forwarded_proto) == "https"
        headers = response.headers
        headers.update(STATIC_HEADERS)
        headers["Content-Security-Policy"] = content_security_policy(_socket_origin(request, tls))
        if tls:
            headers["Strict-Transport-Security"] = HSTS
        if request.path == "/api" or request.path.startswith("/api/"):
            headers["Cache-Control"] = "no-store"

    return add_headers
