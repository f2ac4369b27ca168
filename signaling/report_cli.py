"""``kiosk-assist report calls --since ISO [--until ISO] --format csv|json [--output FILE]``.

Exports the calls created in [since, until) with their outcomes, waits and quality (columns:
``signaling/store/call_report.py``), streamed row by row. ``csv`` has a header line; ``json`` is JSON Lines
(one object per call). Times are ISO 8601 in UTC. The export is recorded in the audit log
(``data_exported``, actor ``cli:<user>``) before any row is written; if it cannot be recorded, nothing is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.exc import SQLAlchemyError

from signaling.audit_cli import cli_actor
from signaling.errors import CliError
from signaling.settings import Settings
from signaling.store import audit
from signaling.store.audit import AuditAction, NewEntry
from signaling.store.call_report import COLUMNS, call_rows, count_calls
from signaling.store.database import Database

EXAMPLE_TIME = "2025-03-01 or 2025-03-01T09:00:00Z"


def add_report_parser(sub: Any, add_store_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``report calls`` on the command line's subparsers."""
    reports = sub.add_parser("report", help="export reports").add_subparsers(dest="action", required=True)
    calls = reports.add_parser("calls", help="calls with outcomes, waits and quality, one row per call")
    calls.add_argument(
        "--since", required=True, help=f"calls created from this time (ISO 8601: {EXAMPLE_TIME})"
    )
    calls.add_argument("--until", help="calls created before this time (default: now)")
    calls.add_argument(
        "--format",
        choices=("csv", "json"),
        default="csv",
        help="csv (with a header) or json (one object a line)",
    )
    calls.add_argument("--output", type=Path, help="write to this file (default: standard output)")
    add_store_args(calls)


def parse_time(option: str, value: str) -> datetime:
    """An ISO 8601 date or time (UTC when it names no offset); a readable CliError otherwise."""
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CliError(f"{option}: not an ISO 8601 date or time: {value!r} (e.g. {EXAMPLE_TIME})") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def run_report(settings: Settings, args: argparse.Namespace) -> int:
    since = parse_time("--since", args.since)
    until = parse_time("--until", args.until) if args.until else datetime.now(UTC)
    if until <= since:
        raise CliError(f"--until ({until.isoformat()}) must be after --since ({since.isoformat()})")
    with _opened(args.output) as out:
        return asyncio.run(_export(settings, since, until, args.format, out))


@contextlib.contextmanager
def _opened(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    try:
        with path.open("w", newline="", encoding="utf-8") as out:
            yield out
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None


async def _export(settings: Settings, since: datetime, until: datetime, fmt: str, out: TextIO) -> int:
    db = await Database.connect(settings.effective_database_url)
    try:
        if not await db.ping():
            raise CliError("cannot reach the database; check --database-url or --data-dir")
        await db.migrate()
        await _record(db, since, until, fmt)
        write = _csv_writer(out) if fmt == "csv" else _json_writer(out)
        async for row in call_rows(db, since, until):
            write(row)
        out.flush()
        return 0
    finally:
        await db.close()


async def _record(db: Database, since: datetime, until: datetime, fmt: str) -> None:
    """The export's audit entry, written first: an export that cannot be recorded is not made."""
    details = {
        "report": "calls", "since": since.isoformat(), "until": until.isoformat(), "format": fmt,
        "calls": await count_calls(db, since, until),
    }  # fmt: skip
    entry = NewEntry(
        cli_actor(), "cli", AuditAction.DATA_EXPORTED, "report:calls", source="cli", details=details
    )
    try:
        await audit.append(db, [entry])
    except (SQLAlchemyError, OSError) as exc:
        raise CliError(f"nothing exported: the export's audit entry could not be written: {exc}") from None


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def _csv_writer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    return lambda row: writer.writerow(["" if row[c] is None else _cell(_text(row[c])) for c in COLUMNS])


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (a customer's survey comment may start with "=") is
    quoted so that it shows as text."""
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


def _json_writer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    return lambda row: print(json.dumps({c: _text(row[c]) for c in COLUMNS}), file=out)
