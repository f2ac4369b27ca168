"""Administrators' JSON API (role ``admin`` only): staff accounts and kiosk credentials.

Every change is made in the database first; sessions and sockets it ends are ended at once through Redis
(``signaling/identities.py``). Each action, refused or done, is written to the audit log.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Annotated, Any

import msgspec
from aiohttp import web

from signaling.auth import COOKIE_NAME, StaffSession
from signaling.handlers.audit_hooks import audit_staff, refuse_unless
from signaling.handlers.session_api import read_json, require_session
from signaling.identities import cut_off_kiosk, revoker
from signaling.protocol import ErrorCode, ProtocolError
from signaling.services import SERVICES, Services
from signaling.store import (
    AlreadyExists,
    InvalidValue,
    Kiosk,
    NotFound,
    User,
    WrongState,
    add_user,
    end_sessions,
    enroll_kiosk,
    list_kiosks,
    list_users,
    revoke_kiosk,
    rotate_kiosk,
    set_disabled,
    set_password,
    set_role,
)
from signaling.store.audit import AuditAction, Outcome

log = logging.getLogger(__name__)

ADMIN = ("admin",)
_TARGET_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class NewUser(msgspec.Struct, forbid_unknown_fields=True):
    username: Name
    password: Password
    role: Annotated[str, msgspec.Meta(pattern="^(agent|supervisor|admin|it)$")]
    display_name: Annotated[str, msgspec.Meta(max_length=128)] = ""
    skills: Annotated[list[Tag], msgspec.Meta(max_length=32)] = msgspec.field(default_factory=list)
    languages: Annotated[list[Tag], msgspec.Meta(max_length=16)] = msgspec.field(
        default_factory=lambda: ["en"]
    )


class NewRole(msgspec.Struct, forbid_unknown_fields=True):
    role: Annotated[str, msgspec.Meta(pattern="^(agent|supervisor|admin|it)$")]


class NewPassword(msgspec.Struct, forbid_unknown_fields=True):
    password: Password


class NoFields(msgspec.Struct, forbid_unknown_fields=True):
    """An empty JSON object: the action needs no input (the body is still JSON, as for every POST)."""


class NewKiosk(msgspec.Struct, forbid_unknown_fields=True):
    kiosk_id: Name
    location: Annotated[str, msgspec.Meta(max_length=200)] = ""


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


def user_json(user: User, locked: bool = False) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role,
        "display_name": user.display_name,
        "disabled": bool(user.disabled),
        "locked": locked,
        "skills": list(user.skills),
        "languages": list(user.languages),
        "created_at": _iso(user.created_at),
    }


def kiosk_json(kiosk: Kiosk) -> dict[str, Any]:
    """A kiosk as listed: never its secret, nor the secret's hash."""
    return {
        "kiosk_id": kiosk.id,
        "location": kiosk.location,
        "enrolled_at": _iso(kiosk.created_at),
        "revoked_at": _iso(kiosk.revoked_at),
        "rotated_at": _iso(kiosk.rotated_at),
    }


async def _admin(
    request: web.Request, action: AuditAction, target: str, staff: StaffSession | None = None
) -> StaffSession:
    """The signed-in administrator; anyone else signed in is refused (403), and that is audited."""
    staff = staff or await require_session(request)
    refusal = "only administrators may manage accounts and kiosks"
    return await refuse_unless(request, staff, ADMIN, (action, _target(target)), refusal)


async def _audit(
    request: web.Request,
    staff: StaffSession,
    action: AuditAction,
    target: str,
    outcome: Outcome = Outcome.OK,
    details: dict[str, Any] | None = None,
) -> None:
    await audit_staff(request, staff, action, _target(target), outcome, details)


def _target(target: str) -> str:
    """A target as recorded: one that names no account or kiosk is not worth keeping as given."""
    return target if _TARGET_RE.fullmatch(target) is not None else "(invalid)"


def _refused(exc: Exception) -> Exception:
    """A store error as the HTTP answer it means."""
    if isinstance(exc, NotFound):
        return web.HTTPNotFound(text=str(exc))
    if isinstance(exc, AlreadyExists | WrongState):
        return ProtocolError(ErrorCode.WRONG_STATE, str(exc))
    return ProtocolError(ErrorCode.BAD_MESSAGE, str(exc))


def _not_self(staff: StaffSession, name: str, what: str) -> None:
    if staff.username == name:
        raise ProtocolError(ErrorCode.WRONG_STATE, f"you cannot {what} your own account")


# ------------------------------------------------------------------------------------------- accounts
async def users_index(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    await require_session(request, ADMIN)
    users = await list_users(services.db)
    throttle = services.login_throttle
    return web.json_response({"users": [user_json(u, await throttle.is_locked(u.username)) for u in users]})


async def users_add(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    session = await require_session(request)
    body = await read_json(request, NewUser)
    assert isinstance(body, NewUser)
    staff = await _admin(request, AuditAction.USER_ADDED, body.username, session)
    try:
        user = await add_user(
            services.db, body.username, body.password, body.role, display_name=body.display_name,
            skills=body.skills or services.settings.topics, languages=body.languages,
        )  # fmt: skip
    except (AlreadyExists, InvalidValue) as exc:
        await _audit(request, staff, AuditAction.USER_ADDED, body.username, Outcome.FAILED)
        raise _refused(exc) from None
    await _audit(request, staff, AuditAction.USER_ADDED, user.username, details={"new_role": user.role})
    return web.json_response(user_json(user), status=201)


async def _end_user_sessions(services: Services, username: str) -> int:
    return await revoker(services).staff(username)


async def user_role(request: web.Request) -> web.Response:
    services, name = request.app[SERVICES], request.match_info["name"]
    staff = await _admin(request, AuditAction.USER_CHANGED, name)
    body = await read_json(request, NewRole)
    assert isinstance(body, NewRole)
    _not_self(staff, name, "change the role of")
    try:
        user = await set_role(services.db, name, body.role)
    except (NotFound, InvalidValue) as exc:
        raise _refused(exc) from None
    await _end_user_sessions(services, name)
    await _audit(request, staff, AuditAction.USER_CHANGED, name, details={"new_role": user.role})
    return web.json_response(user_json(user))


async def _set_disabled(request: web.Request, disabled: bool) -> web.Response:
    services, name = request.app[SERVICES], request.match_info["name"]
    action = AuditAction.USER_DISABLED if disabled else AuditAction.USER_ENABLED
    staff = await _admin(request, action, name)
    await read_json(request, NoFields)
    if disabled:
        _not_self(staff, name, "disable")
    try:
        user = await set_disabled(services.db, name, disabled)
    except NotFound as exc:
        raise _refused(exc) from None
    if disabled:
        await _end_user_sessions(services, name)
    else:
        await services.login_throttle.unlock(name)
    await _audit(request, staff, action, name)
    return web.json_response(user_json(user))


async def user_disable(request: web.Request) -> web.Response:
    return await _set_disabled(request, True)


async def user_enable(request: web.Request) -> web.Response:
    return await _set_disabled(request, False)


async def user_password(request: web.Request) -> web.Response:
    services, name = request.app[SERVICES], request.match_info["name"]
    staff = await _admin(request, AuditAction.PASSWORD_CHANGED, name)
    body = await read_json(request, NewPassword)
    assert isinstance(body, NewPassword)
    try:
        user = await set_password(services.db, name, body.password)
    except (NotFound, InvalidValue) as exc:
        raise _refused(exc) from None
    await _end_user_sessions(services, name)
    await services.login_throttle.unlock(name)
    await _audit(request, staff, AuditAction.PASSWORD_CHANGED, name, details={"by": "admin"})
    return web.json_response(user_json(user))


async def user_logout_everywhere(request: web.Request) -> web.Response:
    services, name = request.app[SERVICES], request.match_info["name"]
    staff = await _admin(request, AuditAction.LOGOUT_EVERYWHERE, name)
    await read_json(request, NoFields)
    try:
        await end_sessions(services.db, name)
    except NotFound as exc:
        raise _refused(exc) from None
    ended = await _end_user_sessions(services, name)
    await _audit(request, staff, AuditAction.LOGOUT_EVERYWHERE, name, details={"sessions": ended})
    response = web.json_response({"username": name, "sessions_ended": ended})
    if name == staff.username:
        response.del_cookie(COOKIE_NAME, path="/")
    return response


# --------------------------------------------------------------------------------------------- kiosks
async def kiosks_index(request: web.Request) -> web.Response:
    await require_session(request, ADMIN)
    kiosks = await list_kiosks(request.app[SERVICES].db)
    return web.json_response({"kiosks": [kiosk_json(k) for k in kiosks]})


async def kiosks_enroll(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    session = await require_session(request)
    body = await read_json(request, NewKiosk)
    assert isinstance(body, NewKiosk)
    target = f"kiosk:{body.kiosk_id}"
    staff = await _admin(request, AuditAction.KIOSK_ENROLLED, target, session)
    try:
        secret = await enroll_kiosk(services.db, body.kiosk_id, body.location)
    except (AlreadyExists, InvalidValue) as exc:
        await _audit(request, staff, AuditAction.KIOSK_ENROLLED, target, Outcome.FAILED)
        raise _refused(exc) from None
    await _audit(request, staff, AuditAction.KIOSK_ENROLLED, target)
    return web.json_response(
        {"kiosk_id": body.kiosk_id, "location": body.location, "secret": secret}, status=201
    )


async def kiosk_rotate(request: web.Request) -> web.Response:
    services, kiosk_id = request.app[SERVICES], request.match_info["kiosk_id"]
    target = f"kiosk:{kiosk_id}"
    staff = await _admin(request, AuditAction.KIOSK_ROTATED, target)
    await read_json(request, NoFields)
    try:
        kiosk, secret = await rotate_kiosk(services.db, kiosk_id)
    except (NotFound, WrongState) as exc:
        await _audit(request, staff, AuditAction.KIOSK_ROTATED, target, Outcome.FAILED)
        raise _refused(exc) from None
    call_id = await cut_off_kiosk(services, kiosk_id, rotated=True)
    await _audit(request, staff, AuditAction.KIOSK_ROTATED, target, details={"ended_call": call_id})
    return web.json_response({**kiosk_json(kiosk), "secret": secret, "ended_call": call_id})


async def kiosk_revoke(request: web.Request) -> web.Response:
    services, kiosk_id = request.app[SERVICES], request.match_info["kiosk_id"]
    target = f"kiosk:{kiosk_id}"
    staff = await _admin(request, AuditAction.KIOSK_REVOKED, target)
    await read_json(request, NoFields)
    try:
        kiosk = await revoke_kiosk(services.db, kiosk_id)
    except NotFound as exc:
        await _audit(request, staff, AuditAction.KIOSK_REVOKED, target, Outcome.FAILED)
        raise _refused(exc) from None
    call_id = await cut_off_kiosk(services, kiosk_id, rotated=False)
    await _audit(request, staff, AuditAction.KIOSK_REVOKED, target, details={"ended_call": call_id})
    return web.json_response({**kiosk_json(kiosk), "ended_call": call_id})
