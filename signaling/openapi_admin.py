"""The OpenAPI entries of sign-out everywhere and the administrators' API (``signaling/openapi.py``
assembles them with the rest of the document)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from signaling.handlers.admin_api import NewKiosk, NewPassword, NewRole, NewUser, NoFields
from signaling.protocol import Id
from signaling.store import Role
from signaling.store.validation import USERNAME_RE


class StaffAccount(msgspec.Struct, forbid_unknown_fields=True):
    """A staff account as administrators see it (never its password). ``locked``: too many failed
    sign-ins; it unlocks on its own, or when an administrator sets a new password or enables it."""

    username: str
    role: Role
    display_name: str
    disabled: bool
    locked: bool
    skills: list[str]
    languages: list[str]
    created_at: str | None


class StaffAccounts(msgspec.Struct, forbid_unknown_fields=True):
    users: list[StaffAccount]


class KioskInfo(msgspec.Struct, forbid_unknown_fields=True):
    """An enrolled kiosk (never its secret). Times are ISO 8601, UTC."""

    kiosk_id: str
    location: str
    enrolled_at: str | None
    revoked_at: str | None
    rotated_at: str | None


class KioskList(msgspec.Struct, forbid_unknown_fields=True):
    kiosks: list[KioskInfo]


class KioskEnrolled(msgspec.Struct, forbid_unknown_fields=True):
    """The new kiosk's secret: shown this once, never stored."""

    kiosk_id: str
    location: str
    secret: str


class KioskRotated(msgspec.Struct, forbid_unknown_fields=True):
    """The kiosk's new secret (shown this once); the old one no longer works, and the socket that used it
    was closed. ``ended_call``: the live call that ended with it, if any."""

    kiosk_id: str
    location: str
    enrolled_at: str | None
    revoked_at: str | None
    rotated_at: str | None
    secret: str
    ended_call: str | None


class KioskRevoked(msgspec.Struct, forbid_unknown_fields=True):
    """The kiosk can no longer connect; its socket was closed. ``ended_call``: its live call, if any."""

    kiosk_id: str
    location: str
    enrolled_at: str | None
    revoked_at: str | None
    rotated_at: str | None
    ended_call: str | None


class SessionsEnded(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    sessions_ended: int


class SignedOutEverywhere(msgspec.Struct, forbid_unknown_fields=True):
    signed_out: Literal[True]
    sessions_ended: int


class SignInRefused(msgspec.Struct, forbid_unknown_fields=True):
    """Too many failed sign-ins: ``account_locked`` (this username) or ``rate_limited`` (this client
    address). The password was not checked. ``retry_after_s`` (and ``Retry-After``): when to try again."""

    code: Literal["account_locked", "rate_limited"]
    message: str
    retry_after_s: int


ADMIN_TYPES: tuple[Any, ...] = (
    NewUser,
    NewRole,
    NewPassword,
    NoFields,
    NewKiosk,
    StaffAccounts,
    StaffAccount,
    KioskList,
    KioskEnrolled,
    KioskRotated,
    KioskRevoked,
    SessionsEnded,
    SignedOutEverywhere,
    SignInRefused,
)


def sign_in_refused() -> dict[str, Any]:
    """The 429 of ``POST /api/login``."""
    from signaling import openapi as o

    return {
        **o._json("SignInRefused", "too many failed sign-ins (the password was not checked)"),
        "headers": {"Retry-After": {"description": "seconds until a new try", "schema": {"type": "integer"}}},
    }


def identity_paths() -> dict[str, Any]:
    """Sign out everywhere, and every ``/api/admin`` operation."""
    from signaling import openapi as o

    return {
        "/api/logout-everywhere": {
            "post": o._operation(
                "logoutEverywhere",
                "End every session of the signed-in account (this one too); its open consoles close",
                {
                    200: o._json("SignedOutEverywhere", "signed out everywhere"),
                    400: o.BAD_BODY,
                    401: o.NO_SESSION,
                    403: o.CROSS_SITE,
                    413: o.TOO_LARGE,
                },
                tags=["session"],
                **o._body("NoFields"),
                **o._staff_changes("any"),
            )
        },
        **_user_paths(),
        **_kiosk_paths(),
    }


def _changes(
    o: Any, body: str, ok: dict[int, Any], *, not_found: str = "", conflict: str = ""
) -> dict[str, Any]:
    responses: dict[int, Any] = {
        **ok, 400: o.BAD_BODY, 401: o.NO_SESSION, 403: o.NOT_YOUR_ROLE_OR_CROSS_SITE, 413: o.TOO_LARGE,
    }  # fmt: skip
    if not_found:
        responses[404] = o._problem(f"`not_found`: {not_found}")
    if conflict:
        responses[409] = o._problem(f"`wrong_state`: {conflict}")
    return {"responses": responses, **o._body(body), **o._staff_changes("admin"), "tags": ["admin"]}


def _op(o: Any, operation_id: str, summary: str, spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    responses = spec.pop("responses")
    return o._operation(operation_id, summary, responses, **spec, **extra)  # type: ignore[no-any-return]


def _user_paths() -> dict[str, Any]:
    from signaling import openapi as o

    name = o._path_parameter(
        "name", "the account's username", {"type": "string", "pattern": f"^{USERNAME_RE.pattern}$"}
    )
    account: dict[int, Any] = {200: o._json("StaffAccount", "the account after the change")}
    unknown = "no such account"
    own = "an administrator cannot do this to their own account"
    listing = o._operation(
        "listUsers",
        "Every staff account",
        {200: o._json("StaffAccounts", "by username"), 401: o.NO_SESSION, 403: o.NOT_YOUR_ROLE},
        tags=["admin"],
        **o._staff_only("admin"),
    )
    add = _op(
        o, "addUser", "Create a staff account",
        _changes(o, "NewUser", {201: o._json("StaffAccount", "created")}, conflict="the name is taken"),
    )  # fmt: skip

    def action(operation_id: str, summary: str, body: str, ok: dict[int, Any], conflict: str = "") -> Any:
        spec = _changes(o, body, ok, not_found=unknown, conflict=conflict)
        return {"parameters": [name], "post": _op(o, operation_id, summary, spec)}

    return {
        "/api/admin/users": {"get": listing, "post": add},
        "/api/admin/users/{name}/role": action(
            "setUserRole", "Give the account another role; its sessions end", "NewRole", account, own
        ),
        "/api/admin/users/{name}/disable": action(
            "disableUser",
            "Disable the account; its sessions end, its consoles close",
            "NoFields",
            account,
            own,
        ),
        "/api/admin/users/{name}/enable": action("enableUser", "Enable the account", "NoFields", account),
        "/api/admin/users/{name}/password": action(
            "setUserPassword", "Set a new password; the account's sessions end", "NewPassword", account
        ),
        "/api/admin/users/{name}/logout-everywhere": action(
            "logoutUserEverywhere",
            "End every session of the account; its consoles close",
            "NoFields",
            {200: o._json("SessionsEnded", "ended")},
        ),
    }


def _kiosk_paths() -> dict[str, Any]:
    from signaling import openapi as o

    kiosk_id = o._path_parameter("kiosk_id", "the kiosk's id", msgspec.json.schema(Id))
    listing = o._operation(
        "listKiosks",
        "Every enrolled kiosk (never its secret)",
        {200: o._json("KioskList", "by id"), 401: o.NO_SESSION, 403: o.NOT_YOUR_ROLE},
        tags=["admin"],
        **o._staff_only("admin"),
    )
    enroll = _op(
        o, "enrollKiosk", "Enroll a kiosk; its secret is in the answer, once",
        _changes(o, "NewKiosk", {201: o._json("KioskEnrolled", "enrolled")}, conflict="already enrolled"),
    )  # fmt: skip
    rotate = _op(
        o, "rotateKiosk", "Give the kiosk a new secret; the old one stops working and its socket closes",
        _changes(o, "NoFields", {200: o._json("KioskRotated", "rotated")}, not_found="no such kiosk",
                 conflict="the kiosk is revoked"),
    )  # fmt: skip
    revoke = _op(
        o, "revokeKiosk", "Revoke the kiosk: it can no longer connect; its socket closes, its call ends",
        _changes(o, "NoFields", {200: o._json("KioskRevoked", "revoked")}, not_found="no such kiosk"),
    )  # fmt: skip
    return {
        "/api/admin/kiosks": {"get": listing, "post": enroll},
        "/api/admin/kiosks/{kiosk_id}/rotate": {"parameters": [kiosk_id], "post": rotate},
        "/api/admin/kiosks/{kiosk_id}/revoke": {"parameters": [kiosk_id], "post": revoke},
    }
