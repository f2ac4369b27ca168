"""``kiosk-assist audit verify|list|prune``, and the audit entries the command line's own commands write.

Command-line actions are recorded with the actor ``cli:<os user>``, role ``cli`` and source ``cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from signaling.errors import CliError
from signaling.settings import Settings
from signaling.store import audit
from signaling.store.audit import AuditAction, NewEntry
from signaling.store.columns import utcnow
from signaling.store.database import Database

MIN_RETENTION_DAYS = 365
"""Bank rules keep audit trails at least 12 months; pruning below this needs ``--force``."""
EXIT_BROKEN = 1


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"[:128]


async def record_cli(db: Database, action: AuditAction, target: str, details: Mapping[str, Any]) -> None:
    """Record what a command did; a failure is a readable error (the action itself is done by then)."""
    entry = NewEntry(cli_actor(), "cli", action, target, source="cli", details=dict(details))
    try:
        await audit.append(db, [entry])
    except (SQLAlchemyError, OSError) as exc:
        raise CliError(
            f"{action.value} {target} done, but its audit entry could not be written: {exc}"
        ) from None


def add_audit_parser(sub: Any, add_store_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``audit verify``, ``audit list`` and ``audit prune`` on the command line's subparsers."""
    commands = sub.add_parser("audit", help="the audit log").add_subparsers(dest="action", required=True)
    verify = commands.add_parser("verify", help="check the hash chain; exit 1 naming the first broken entry")
    verify.add_argument(
        "--expect-head", metavar="SEQ:HASH", help="a head printed earlier (or logged): detects a cut tail"
    )
    listing = commands.add_parser("list", help="show audit entries, oldest first")
    listing.add_argument("--since", type=_iso_time, help="from this time on (ISO 8601, UTC if no offset)")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100, newest)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    prune = commands.add_parser("prune", help="remove entries older than the retention period")
    prune.add_argument("--older-than-days", type=int, help="default: the audit retention setting (400)")
    prune.add_argument("--force", action="store_true", help=f"allow fewer than {MIN_RETENTION_DAYS} days")
    for parser in (verify, listing, prune):
        add_store_args(parser)


def run_audit(settings: Settings, args: argparse.Namespace) -> int:
    handlers = {"verify": _verify, "list": _list, "prune": _prune}
    return asyncio.run(_with_database(settings, lambda db: handlers[args.action](db, settings, args)))


async def _with_database(settings: Settings, work: Callable[[Database], Any]) -> int:
    db = await Database.connect(settings.effective_database_url)
    try:
        if not await db.ping():
            raise CliError("cannot reach the database; check --database-url or --data-dir")
        await db.migrate()
        result: int = await work(db)
        return result
    finally:
        await db.close()


async def _verify(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    verdict = await audit.verify(db)
    if not verdict.ok:
        print(f"kiosk-assist: {verdict.message()}")
        return EXIT_BROKEN
    if args.expect_head:
        try:
            expected = audit.parse_head(args.expect_head)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        if (problem := await audit.check_head(db, expected)) is not None:
            print(f"kiosk-assist: audit log BROKEN at entry #{expected.seq}: {problem}")
            return EXIT_BROKEN
    print(verdict.message())
    return 0


async def _list(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    try:
        entries = await audit.list_entries(db, since=args.since, limit=args.limit)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for entry in entries:
        if args.json:
            print(json.dumps(entry.as_json(), sort_keys=True))
        else:
            data = entry.as_json()
            details = json.dumps(entry.details, sort_keys=True) if entry.details else ""
            print(
                f"#{entry.seq} {data['at']} {entry.actor} ({entry.role}) {entry.action} {entry.target} "
                f"{entry.outcome} from {entry.source or '-'} {details}".rstrip()
            )
    return 0


async def _prune(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    days = args.older_than_days if args.older_than_days is not None else settings.audit_retention_days
    if days < 0:
        raise CliError("--older-than-days must not be negative")
    if days < MIN_RETENTION_DAYS and not args.force:
        raise CliError(
            f"refusing to prune audit entries younger than {MIN_RETENTION_DAYS} days (bank rules keep "
            "12 months); add --force if you really mean it"
        )
    before = utcnow() - timedelta(days=days)
    removed, entry = await audit.prune(db, before=before, actor=cli_actor(), role="cli", source="cli")
    if entry is None:
        print(f"no audit entries older than {days} days")
    else:
        print(f"pruned {removed} audit entries older than {days} days (anchor kept; entry #{entry.seq})")
    return 0


def _iso_time(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
