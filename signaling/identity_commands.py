"""``kiosk-assist users list|set-role|disable|enable|set-password`` and ``kiosks list|rotate|revoke``.

The database change decides at once who may sign in or connect. Given the servers' Redis (``--redis-url``
or ``KIOSK_ASSIST_REDIS_URL``), a command also ends the account's sessions and closes its open consoles,
or closes the kiosk's socket and ends its call, at once on every server. Without it, staff requests are
refused at once anyway (sessions are checked against the account), and each server closes the affected
open sockets at its next identity check (``identity_check_interval_s``, 15 s by default).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

from signaling.audit_cli import record_cli
from signaling.auth import Sessions
from signaling.errors import CliError
from signaling.identities import Revoker
from signaling.redis_connect import RedisURLError, describe, redis_from_url
from signaling.routing.keys import Keys
from signaling.settings import Settings
from signaling.store import (
    Database,
    InvalidValue,
    NotFound,
    WrongState,
    list_kiosks,
    list_users,
    revoke_kiosk,
    rotate_kiosk,
    set_disabled,
    set_password,
    set_role,
)
from signaling.store.audit import AuditAction


async def _database(settings: Settings) -> Database:
    db = await Database.connect(settings.effective_database_url)
    if not await db.ping():
        await db.close()
        raise CliError("cannot reach the database; check --database-url or --data-dir")
    await db.migrate()
    return db


@contextlib.asynccontextmanager
async def _revoker(settings: Settings) -> AsyncIterator[Revoker | None]:
    """A Revoker on the servers' Redis, or None (told on stderr) when none is given or it cannot be used."""
    if settings.redis_url is None:
        yield None
        return
    try:
        redis = redis_from_url(settings.redis_url)
    except RedisURLError as exc:
        raise CliError(str(exc)) from None
    keys = Keys(settings.redis_prefix)
    try:
        yield Revoker(redis, keys, Sessions(redis, keys, settings.session_ttl_s, settings.session_idle_s))
    finally:
        await redis.aclose()


async def _tell_servers(
    settings: Settings, publish: Callable[[Revoker], Awaitable[object]], what: str
) -> None:
    interval = settings.identity_check_interval_s
    later = f"servers close {what} within {interval:.0f} s (their identity check)"
    async with _revoker(settings) as revoker:
        if revoker is None:
            print(f"Note: no --redis-url; {later}.", file=sys.stderr)
            return
        try:
            await publish(revoker)
        except (RedisError, OSError) as exc:
            where = describe(settings.redis_url or "")
            print(f"Warning: Redis ({where}) did not answer ({exc}); {later}.", file=sys.stderr)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%SZ") if at is not None else ""


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


async def _list_users(db: Database, args: argparse.Namespace) -> None:
    users = await list_users(db)
    rows = [
        {"username": u.username, "role": u.role, "display_name": u.display_name, "disabled": bool(u.disabled),
         "skills": list(u.skills), "languages": list(u.languages), "created_at": _iso(u.created_at)}
        for u in users
    ]  # fmt: skip
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'USERNAME':<24} {'ROLE':<11} {'STATUS':<9} DISPLAY NAME")
    for row in rows:
        status = "disabled" if row["disabled"] else "enabled"
        print(f"{row['username']:<24} {row['role']:<11} {status:<9} {row['display_name']}")


async def _list_kiosks(db: Database, args: argparse.Namespace) -> None:
    kiosks = await list_kiosks(db)
    rows: list[dict[str, Any]] = [
        {"kiosk_id": k.id, "location": k.location, "enrolled_at": _iso(k.created_at),
         "revoked_at": _iso(k.revoked_at), "rotated_at": _iso(k.rotated_at)}
        for k in kiosks
    ]  # fmt: skip
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'KIOSK':<20} {'LOCATION':<28} {'ENROLLED':<21} {'REVOKED':<21} LAST ROTATED")
    for k in kiosks:
        print(
            f"{k.id:<20} {k.location[:28]:<28} {_when(k.created_at):<21} {_when(k.revoked_at):<21} "
            f"{_when(k.rotated_at)}"
        )


async def _user_change(
    db: Database, settings: Settings, args: argparse.Namespace, password: str | None
) -> None:
    name = args.name
    if args.action == "set-role":
        user = await set_role(db, name, args.role)
        await record_cli(db, AuditAction.USER_CHANGED, name, {"new_role": user.role})
        print(f"User {name} is now {user.role}; their sessions have ended.")
    elif args.action == "set-password":
        assert password is not None
        await set_password(db, name, password)
        await record_cli(db, AuditAction.PASSWORD_CHANGED, name, {"by": "cli"})
        print(f"Password of {name} replaced; their sessions have ended.")
    elif args.action == "disable":
        await set_disabled(db, name, True)
        await record_cli(db, AuditAction.USER_DISABLED, name, {})
        print(f"User {name} disabled; their sessions have ended.")
    else:
        await set_disabled(db, name, False)
        await record_cli(db, AuditAction.USER_ENABLED, name, {})
        print(f"User {name} enabled.")
        return
    await _tell_servers(settings, lambda revoker: revoker.staff(name), f"{name}'s open consoles")


async def _kiosk_change(db: Database, settings: Settings, args: argparse.Namespace) -> None:
    kiosk_id = args.kiosk_id
    rotated = args.action == "rotate"
    if rotated:
        kiosk, secret = await rotate_kiosk(db, kiosk_id)
        await record_cli(db, AuditAction.KIOSK_ROTATED, f"kiosk:{kiosk_id}", {"kiosk_id": kiosk_id})
        if args.json:
            print(json.dumps({"kiosk_id": kiosk_id, "secret": secret, "rotated_at": _iso(kiosk.rotated_at)}))
        else:
            print(f"Kiosk {kiosk_id} has a new secret (shown only now; store it on the kiosk):\n{secret}")
    else:
        await revoke_kiosk(db, kiosk_id)
        await record_cli(db, AuditAction.KIOSK_REVOKED, f"kiosk:{kiosk_id}", {"kiosk_id": kiosk_id})
        print(f"Kiosk {kiosk_id} revoked: it can no longer connect.")
    await _tell_servers(
        settings, lambda revoker: revoker.kiosk(kiosk_id, rotated=rotated), f"kiosk {kiosk_id}'s connection"
    )


async def run_identity_command(settings: Settings, args: argparse.Namespace, password: str | None) -> int:
    db = await _database(settings)
    try:
        if args.command == "users" and args.action == "list":
            await _list_users(db, args)
        elif args.command == "users":
            await _user_change(db, settings, args, password)
        elif args.action == "list":
            await _list_kiosks(db, args)
        else:
            await _kiosk_change(db, settings, args)
    except (NotFound, InvalidValue, WrongState) as exc:
        raise CliError(str(exc)) from None
    finally:
        await db.close()
    return 0
