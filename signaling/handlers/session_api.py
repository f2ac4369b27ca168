"""Staff sign-in: ``POST /api/login``, ``POST /api/logout``, ``GET /api/me``."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from signaling.auth import COOKIE_NAME, StaffSession
from signaling.errors import AuthError
from signaling.protocol import ErrorCode, ProtocolError
from signaling.services import SERVICES
from signaling.store import authenticate, get_user
from signaling.store.validation import USERNAME_RE


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


async def read_json(request: web.Request, kind: type[msgspec.Struct]) -> object:
    if request.content_length is not None and request.content_length > 64 * 1024:
        raise ProtocolError(ErrorCode.TOO_LARGE, "request body too large")
    if request.content_type != "application/json":
        # also a CSRF guard: a cross-site form cannot send JSON without a CORS preflight
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "send the body as application/json")
    body = await request.read()
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, str(exc)) from None
    except msgspec.DecodeError:
        raise ProtocolError(ErrorCode.BAD_JSON, "the body is not valid JSON") from None


async def require_session(request: web.Request, roles: tuple[str, ...] = ()) -> StaffSession:
    session = await request.app[SERVICES].sessions.get(request.cookies.get(COOKIE_NAME))
    if session is None:
        raise ProtocolError(ErrorCode.AUTH_REQUIRED, "sign in first")
    if roles and session.role not in roles:
        raise ProtocolError(ErrorCode.FORBIDDEN, "your role may not do this")
    return session


async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_json(request, LoginRequest)
    assert isinstance(body, LoginRequest)
    if USERNAME_RE.fullmatch(body.username) is None:  # no account has such a name; spare the database
        raise AuthError("wrong username or password")
    user = await authenticate(services.db, body.username, body.password)
    if user is None or user.disabled:
        raise AuthError("wrong username or password")
    token = await services.sessions.create(user.username, user.role)
    response = web.json_response(
        {"username": user.username, "role": user.role, "display_name": user.display_name or user.username}
    )
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
        max_age=int(services.settings.session_ttl_s),
    )
    return response


async def logout(request: web.Request) -> web.Response:
    await request.app[SERVICES].sessions.delete(request.cookies.get(COOKIE_NAME))
    response = web.json_response({"signed_out": True})
    response.del_cookie(COOKIE_NAME, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    session = await require_session(request)
    user = await get_user(request.app[SERVICES].db, session.username)
    display_name = (user.display_name if user else "") or session.username
    return web.json_response(
        {"username": session.username, "role": session.role, "display_name": display_name}
    )
