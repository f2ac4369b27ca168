"""Staff sign-in: ``POST /api/login``, ``POST /api/logout``, ``GET /api/me``."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import msgspec
from aiohttp import hdrs, web

from signaling.auth import COOKIE_NAME, StaffSession
from signaling.errors import AuthError
from signaling.handlers.audit_hooks import audit_request, source_of
from signaling.handlers.csrf import CSRF_COOKIE, set_csrf_cookie
from signaling.identities import revoker
from signaling.login_throttle import Refusal
from signaling.protocol import ErrorCode, ProtocolError
from signaling.services import SERVICES
from signaling.store import authenticate, end_sessions, get_user
from signaling.store.audit import AuditAction, Outcome
from signaling.store.validation import USERNAME_RE

log = logging.getLogger(__name__)


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
    """The request's live session (its use slides the idle timeout), checked against the account: a
    disabled account, or one whose sessions were ended (a new role or password, sign out everywhere), has
    none. Raises ``auth_required`` (401), or ``forbidden`` (403) for a role not in ``roles``."""
    services = request.app[SERVICES]
    session = await services.sessions.get(request.cookies.get(COOKIE_NAME))
    if session is None:
        raise ProtocolError(ErrorCode.AUTH_REQUIRED, "sign in first")
    user = await get_user(services.db, session.username)
    if user is None or user.disabled or user.session_generation != session.generation:
        raise ProtocolError(ErrorCode.AUTH_REQUIRED, "your session has ended; sign in again")
    if roles and session.role not in roles:
        raise ProtocolError(ErrorCode.FORBIDDEN, "your role may not do this")
    return session


async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_json(request, LoginRequest)
    assert isinstance(body, LoginRequest)
    valid_name = USERNAME_RE.fullmatch(body.username) is not None
    refusal = await services.login_throttle.attempt(body.username if valid_name else None, source_of(request))
    if refusal is not None:  # refused unchecked: the answer says nothing about the password
        raise _throttled(refusal)
    if not valid_name:  # no account has such a name; spare the database
        await _login_failed(request, "", "malformed_username")
        raise AuthError("wrong username or password")
    user = await authenticate(services.db, body.username, body.password)
    if user is None or user.disabled:
        await _login_failed(request, body.username, "disabled" if user else "wrong_credentials")
        await _note_lockout(request, body.username)
        raise AuthError("wrong username or password")
    await services.login_throttle.succeeded(user.username, source_of(request))
    # fails closed: no session without its audit entry
    await audit_request(request, actor=user.username, role=user.role, action=AuditAction.LOGIN, required=True)
    token = await services.sessions.create(user.username, user.role, user.session_generation)
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
    set_csrf_cookie(response, token, secure=request.secure, max_age=int(services.settings.session_ttl_s))
    return response


def _throttled(refusal: Refusal) -> web.HTTPTooManyRequests:
    """429 with ``Retry-After``: the username is locked, or this address has failed too often."""
    minutes = max(1, round(refusal.retry_after_s / 60))
    when = f"{refusal.retry_after_s} seconds" if refusal.retry_after_s < 120 else f"{minutes} minutes"
    if refusal.reason == "user":
        code = ErrorCode.ACCOUNT_LOCKED
        message = f"Too many failed sign-ins: this account is locked. Try again in {when}."
    else:
        code = ErrorCode.RATE_LIMITED
        message = f"Too many failed sign-ins from this address. Try again in {when}."
    body = {"code": code.value, "message": message, "retry_after_s": refusal.retry_after_s}
    return web.HTTPTooManyRequests(
        text=json.dumps(body),
        content_type="application/json",
        headers={hdrs.RETRY_AFTER: str(refusal.retry_after_s)},
    )


async def _note_lockout(request: web.Request, username: str) -> None:
    """Record the failure that locked a username (the attempts refused while it is locked are not)."""
    if await request.app[SERVICES].login_throttle.is_locked(username):
        log.warning("sign-in of %s locked after repeated failures", username)
        await audit_request(
            request,
            actor=username,
            role="",
            action=AuditAction.ACCOUNT_LOCKED,
            target=username,
            outcome=Outcome.DENIED,
        )


async def _login_failed(request: web.Request, username: str, reason: str) -> None:
    # a malformed name is not recorded: it may be a password typed into the wrong field
    await audit_request(
        request,
        actor=username or "unknown",
        role="",
        action=AuditAction.LOGIN_FAILED,
        target=username,
        outcome=Outcome.DENIED,
        details={"reason": reason},
    )


async def logout(request: web.Request) -> web.Response:
    sessions = request.app[SERVICES].sessions
    if (session := await sessions.get(request.cookies.get(COOKIE_NAME))) is not None:
        await audit_request(request, actor=session.username, role=session.role, action=AuditAction.LOGOUT)
    await sessions.delete(request.cookies.get(COOKIE_NAME))
    response = web.json_response({"signed_out": True})
    response.del_cookie(COOKIE_NAME, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    session = await require_session(request)
    user = await get_user(request.app[SERVICES].db, session.username)
    display_name = (user.display_name if user else "") or session.username
    return web.json_response(
        {"username": session.username, "role": session.role, "display_name": display_name}
    )


async def logout_everywhere(request: web.Request) -> web.Response:
    """End every session of the signed-in account (this one too) and close its open consoles."""
    services = request.app[SERVICES]
    session = await require_session(request)
    await end_sessions(services.db, session.username)
    ended = await revoker(services).staff(session.username)
    await audit_request(
        request,
        actor=session.username,
        role=session.role,
        action=AuditAction.LOGOUT_EVERYWHERE,
        target=session.username,
        details={"sessions": ended},
    )
    response = web.json_response({"signed_out": True, "sessions_ended": ended})
    response.del_cookie(COOKIE_NAME, path="/")
    return response
