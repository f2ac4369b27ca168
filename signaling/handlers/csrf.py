"""Cross-site request forgery: where a state-changing request may come from, and the session's token.

Every ``POST``/``PUT``/``PATCH``/``DELETE`` under ``/api`` is refused (403 ``cross_site``) when

- the browser says it is cross-site (``Sec-Fetch-Site: cross-site``), or
- its ``Origin`` (or, without one, its ``Referer``) is neither this site nor one of
  ``Settings.allowed_origins`` (``Origin: null`` is never allowed), or
- it carries a session cookie but not the session's CSRF token in ``X-CSRF-Token``.

The token is derived from the session token (a hash under a label of its own), so it needs no storage,
changes with every session, and cannot be forged by planting a cookie: the server compares the header with
the value derived from the HttpOnly session cookie, in constant time. Sign-in sets it in a readable cookie
(``ka_csrf``) for the console to echo. A request without ``Origin`` and ``Referer`` comes from no browser
(command-line clients, the kiosks' tooling); without a session cookie it carries no authority to abuse.

WebSocket upgrades get the same origin rule (``check_origin``): ``/ws/agent`` rides on the session cookie;
``/ws/kiosk`` authenticates with the kiosk's own secret in its first message, and a kiosk program sends no
``Origin`` at all, so an upgrade that does carry one comes from a web page and must be this site's.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from signaling.auth import COOKIE_NAME, digest_of
from signaling.handlers.problems import Handler
from signaling.protocol import ErrorCode, ProtocolError
from signaling.services import SERVICES
from signaling.settings import Settings

CSRF_COOKIE = "ka_csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_PATH = "/api/login"
_LABEL = b"kiosk-assist csrf token\x00"


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of the session whose (secret) token is ``session_token``."""
    return hashlib.sha256(_LABEL + session_token.encode()).hexdigest()


def set_csrf_cookie(response: web.StreamResponse, session_token: str, *, secure: bool, max_age: int) -> None:
    """The readable cookie the console echoes in ``X-CSRF-Token`` (not HttpOnly: the page must read it)."""
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token_for(session_token),
        httponly=False,
        samesite="Strict",
        secure=secure,
        path="/",
        max_age=max_age,
    )


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def origin_allowed(request: web.Request, origin: str, allowed: tuple[str, ...]) -> bool:
    """Whether a page of ``origin`` may act on this server (its own origin, or one configured)."""
    own = f"{request.scheme}://{request.host}"
    return origin != "null" and (origin == own or origin in allowed)


def check_origin(request: web.Request, allowed: tuple[str, ...]) -> None:
    """Refuse a cross-site WebSocket upgrade: a browser always sends Origin; it must be this site's."""
    origin = request.headers.get("Origin")
    if origin is not None and not origin_allowed(request, origin, allowed):
        raise web.HTTPForbidden(text="origin not allowed")


def _check_source(request: web.Request, allowed: tuple[str, ...]) -> None:
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        raise ProtocolError(ErrorCode.CROSS_SITE, "cross-site request refused")
    origin = request.headers.get("Origin")
    if origin is None and (referer := request.headers.get("Referer")) is not None:
        origin = _origin_of(referer) or "null"
    if origin is not None and not origin_allowed(request, origin, allowed):
        raise ProtocolError(ErrorCode.CROSS_SITE, "cross-site request refused")


async def _check_token(request: web.Request) -> None:
    session_token = request.cookies.get(COOKIE_NAME)
    if not session_token:
        return  # no session, no authority to abuse: the handler answers auth_required
    sent = request.headers.get(CSRF_HEADER, "")
    if hmac.compare_digest(sent.encode(), csrf_token_for(session_token).encode()):
        return
    if not await _session_exists(request, session_token):
        return  # a cookie that names no session carries no authority either: auth_required
    raise ProtocolError(
        ErrorCode.CROSS_SITE, f"missing or wrong {CSRF_HEADER}; reload the page and try again"
    )


async def _session_exists(request: web.Request, session_token: str) -> bool:
    """Whether the cookie names a session (looked up without touching it: a refusal changes nothing)."""
    if len(session_token) > 128:
        return False
    services = request.app[SERVICES]
    return bool(await services.redis.exists(services.keys.session(digest_of(session_token))))


def csrf_protection(settings: Settings) -> Middleware:
    """The middleware (inside the problem middleware, which turns its refusals into JSON problems)."""

    @web.middleware
    async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in UNSAFE_METHODS and (request.path == "/api" or request.path.startswith("/api/")):
            _check_source(request, settings.allowed_origins)
            if request.path != LOGIN_PATH:
                await _check_token(request)
        return await handler(request)

    return csrf_middleware
