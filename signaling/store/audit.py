"""The audit log: an append-only, hash-chained record of who did what, when, from where, with what outcome.

Every entry carries a sequence number (1, 2, 3… with no gaps) and ``hash`` = SHA-256 over a canonical
encoding of its fields including ``prev_hash``, the hash of the entry before it. ``verify`` recomputes the
chain, so a changed, deleted, inserted or reordered entry is found and named. What a chain alone cannot
show is a cut tail (the newest entries deleted): only a copy of a later head kept elsewhere reveals that
(the server writes the head to its log and to Redis, see ``signaling/audit.py``).

Appends are serialised in the database, so several server processes and the command line keep one chain:
PostgreSQL takes a transaction-scoped advisory lock; SQLite's writers already hold the write lock from
``BEGIN IMMEDIATE`` (see ``engine.py``). Pruning removes the oldest entries and keeps an anchor (the hash
and number of the last removed entry) that ``verify`` starts from.

This module needs only the database, not Redis: the command line writes and checks entries too.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from signaling.store.columns import to_utc_ms, utcnow
from signaling.store.database import Database
from signaling.store.models import AuditAnchor, AuditEntryRow, Call

if TYPE_CHECKING:
    from signaling.store.history import RoutingEvent

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first entry ever written."""
_ADVISORY_LOCK_KEY = 0x4B41_0002  # "KA" + 2: shared by every Kiosk Assist process (schema.py uses 1)
MAX_DETAILS_BYTES = 2048
MAX_LIST_LIMIT = 10_000
_FORBIDDEN_DETAIL_WORDS = ("password", "secret", "token", "cookie", "context", "notes", "chat")
"""Details hold ids only: keys naming secrets or customer data are refused outright."""


class AuditAction(enum.StrEnum):
    """The fixed vocabulary of audited actions."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    LOGOUT_EVERYWHERE = "logout_everywhere"
    SESSION_REVOKED = "session_revoked"
    ACCOUNT_LOCKED = "account_locked"
    ACCOUNT_UNLOCKED = "account_unlocked"
    PASSWORD_CHANGED = "password_changed"
    CALL_ACCEPTED = "call_accepted"
    CALL_TRANSFERRED = "call_transferred"
    AGENT_STATE_FORCED = "agent_state_forced"
    WRAP_UP_FORCED = "wrap_up_forced"
    CALL_REMOVED = "call_removed"
    KIOSK_ENROLLED = "kiosk_enrolled"
    KIOSK_ROTATED = "kiosk_rotated"
    KIOSK_REVOKED = "kiosk_revoked"
    USER_ADDED = "user_added"
    USER_CHANGED = "user_changed"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    DATA_EXPORTED = "data_exported"
    AUDIT_PRUNED = "audit_pruned"


class Outcome(enum.StrEnum):
    OK = "ok"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True)
class NewEntry:
    """What an entry says before the chain gives it a number and a hash (validated on creation)."""

    actor: str
    role: str
    action: AuditAction
    target: str = ""
    outcome: Outcome = Outcome.OK
    source: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    """When it happened (UTC); None: when it is appended."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", AuditAction(self.action))
        object.__setattr__(self, "outcome", Outcome(self.outcome))
        for name, limit in (("actor", 128), ("role", 16), ("target", 128), ("source", 64)):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValueError(f"audit {name} must be text")
            object.__setattr__(self, name, _printable(value, limit))
        _check_details(self.details)


def _printable(value: str, limit: int) -> str:
    """``value`` as recorded: control characters (a NUL, which PostgreSQL refuses in text, a newline that
    would forge a log line) escaped, and cut to ``limit`` characters with a mark. What an attempt named is
    worth recording even when it was junk; refusing the entry would lose the record."""
    if value.isprintable() and len(value) <= limit:
        return value
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "\u2026"


@dataclass(frozen=True)
class AuditEntry:
    """One stored entry of the chain."""

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    outcome: str
    source: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": _iso(self.at),
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "source": self.source,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: ``ok``, how many entries it checked, and the first break if any."""

    ok: bool
    entries: int
    first: AuditEntry | None = None
    last: AuditEntry | None = None
    broken_seq: int | None = None
    problem: str = ""
    anchor_seq: int = 0

    def message(self) -> str:
        if not self.ok:
            return f"audit log BROKEN at entry #{self.broken_seq}: {self.problem}"
        if self.first is None or self.last is None:
            return "audit log intact: 0 entries"
        return (
            f"audit log intact: {self.entries} entries "
            f"(first #{self.first.seq} {_iso(self.first.at)}, last #{self.last.seq} {_iso(self.last.at)}, "
            f"head {self.last.seq}:{self.last.hash})"
        )


@dataclass(frozen=True)
class Head:
    """The newest entry's number and hash (zero and the genesis hash for an empty log)."""

    seq: int
    hash: str


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    target: str,
    outcome: str,
    source: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 (hex) over the canonical encoding: sorted-key compact JSON, times as UTC milliseconds."""
    canonical = {
        "seq": seq,
        "at": _iso(at),
        "actor": actor,
        "role": role,
        "action": action,
        "target": target,
        "outcome": outcome,
        "source": source,
        "details": dict(details),
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(_canonical_json(canonical).encode()).hexdigest()


async def append(db: Database, entries: Sequence[NewEntry]) -> list[AuditEntry]:
    """Append ``entries`` to the chain, in order, in one transaction of their own."""
    if not entries:
        return []
    async with db.session() as session:
        return await append_in(session, entries)


async def append_in(session: AsyncSession, entries: Sequence[NewEntry]) -> list[AuditEntry]:
    """Append ``entries`` inside the caller's (writing) transaction; they commit or roll back with it.

    The chain's lock is held from here to the end of that transaction, so keep what follows short.
    """
    if not entries:
        return []
    await _lock_chain(session)
    head = await _head(session)
    written: list[AuditEntry] = []
    for new in entries:
        entry = _chained(new, head)
        written.append(entry)
        head = Head(entry.seq, entry.hash)
    await session.execute(insert(AuditEntryRow), [_row(entry) for entry in written])
    return written


def entries_from_events(events: Sequence[RoutingEvent], calls: Mapping[str, Call]) -> list[NewEntry]:
    """The audit entries routing events imply, in event order: accepts and transfers, the agent as actor.

    They are derived by the history writer, not written by the handler, so the routing path never waits
    for the database; each is written once, with the event (which is stored once).
    """
    entries = []
    for event in events:
        action = _EVENT_ACTIONS.get(event.kind)
        agent = event.fields.get("agent", "")
        if action is None or not agent:
            continue
        call = calls.get(event.call_id)
        details: dict[str, Any] = {"call_id": event.call_id, "kiosk_id": call.kiosk_id if call else ""}
        if action is AuditAction.CALL_TRANSFERRED:
            details |= {
                "to_topic": event.fields.get("to_topic", ""),
                "to_agent": event.fields.get("to_agent", ""),
            }
        entries.append(
            NewEntry(
                actor=agent[:128],
                role="agent",
                action=action,
                target=f"call:{event.call_id}"[:128],
                source=event.fields.get("source", "")[:64],
                details=details,
                at=_at_from_ms(event.at_ms),
            )
        )
    return entries


_EVENT_ACTIONS = {"accepted": AuditAction.CALL_ACCEPTED, "transferred": AuditAction.CALL_TRANSFERRED}


async def head(db: Database) -> Head:
    """The newest entry (or the prune anchor, or genesis)."""
    async with db.session(readonly=True) as session:
        return await _head(session)


async def check_head(db: Database, expected: Head) -> str | None:
    """Whether the chain still holds ``expected`` (a head seen earlier); the problem if not.

    This finds what the chain alone cannot: its newest entries deleted (a cut tail). A head older than
    the prune anchor is no longer checkable and passes.
    """
    async with db.session(readonly=True) as session:
        anchor = await session.get(AuditAnchor, 1)
        if expected.seq == 0 or (anchor is not None and expected.seq <= anchor.seq):
            return None
        row = await session.get(AuditEntryRow, expected.seq)
    if row is None:
        return f"entry #{expected.seq}, once the newest, is missing: the log's tail was deleted"
    if row.hash != expected.hash:
        return f"entry #{expected.seq} no longer has the hash it had as the newest entry: rewritten"
    return None


def parse_head(text_value: str) -> Head:
    """``"<seq>:<hash>"`` as printed by ``verify`` and the server's log."""
    seq, sep, digest = text_value.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise ValueError(f"expected SEQ:HASH (64 hex digits), got {text_value!r}")
    return Head(int(seq), digest.lower())


async def list_entries(db: Database, *, since: datetime | None = None, limit: int = 100) -> list[AuditEntry]:
    """Entries oldest first: the first ``limit`` at or after ``since``, or the newest ``limit``."""
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise ValueError(f"limit must be 1-{MAX_LIST_LIMIT}")
    query = select(AuditEntryRow)
    if since is not None:
        query = query.where(AuditEntryRow.at >= since).order_by(AuditEntryRow.seq).limit(limit)
    else:
        query = query.order_by(AuditEntryRow.seq.desc()).limit(limit)
    async with db.session(readonly=True) as session:
        rows = [_entry(row) for row in await session.scalars(query)]
    return sorted(rows, key=lambda entry: entry.seq)


async def verify(db: Database, *, batch: int = 1000) -> Verdict:
    """Walk the chain from the prune anchor (or genesis) and report the first break, if any."""
    async with db.session(readonly=True) as session:
        anchor = await session.get(AuditAnchor, 1)
        walk = _Walk(anchor.seq if anchor else 0, anchor.hash if anchor else GENESIS_HASH)
        after: int | None = None
        while True:
            query = select(AuditEntryRow).order_by(AuditEntryRow.seq).limit(batch)
            if after is not None:
                query = query.where(AuditEntryRow.seq > after)
            rows = list(await session.scalars(query))
            for row in rows:
                if (verdict := walk.check(_entry(row))) is not None:
                    return verdict
            if len(rows) < batch:
                return walk.done()
            after = rows[-1].seq


async def prune(
    db: Database, *, before: datetime, actor: str, role: str, source: str
) -> tuple[int, AuditEntry | None]:
    """Remove entries older than ``before``, keep the anchor, and append an ``audit_pruned`` entry.

    Returns how many were removed and the ``audit_pruned`` entry (None when nothing was old enough).
    The newest entry is never removed, so the chain always has a head.
    """
    async with db.session() as session:
        await _lock_chain(session)
        newest = await session.scalar(select(func.max(AuditEntryRow.seq)))
        query = select(AuditEntryRow).where(AuditEntryRow.at < before, AuditEntryRow.seq < (newest or 0))
        last = await session.scalar(query.order_by(AuditEntryRow.seq.desc()).limit(1))
        if last is None:
            return 0, None
        removed = await session.scalar(select(func.count()).where(AuditEntryRow.seq <= last.seq)) or 0
        await session.execute(delete(AuditEntryRow).where(AuditEntryRow.seq <= last.seq))
        await _save_anchor(session, last)
        details = {"removed": int(removed), "through_seq": last.seq, "anchor_hash": last.hash}
        new = NewEntry(actor, role, AuditAction.AUDIT_PRUNED, "audit_log", source=source, details=details)
        (entry,) = await append_in(session, [new])
    return int(removed), entry


class _Walk:
    """The verifier's state while it walks the chain in order."""

    def __init__(self, anchor_seq: int, anchor_hash: str) -> None:
        self.anchor_seq = anchor_seq
        self.expected_seq = anchor_seq + 1
        self.prev_hash = anchor_hash
        self.count = 0
        self.first: AuditEntry | None = None
        self.last: AuditEntry | None = None

    def check(self, entry: AuditEntry) -> Verdict | None:
        if (problem := self._problem(entry)) is not None:
            return Verdict(False, self.count, self.first, self.last, entry.seq, problem, self.anchor_seq)
        self.first = self.first or entry
        self.last = entry
        self.count += 1
        self.expected_seq += 1
        self.prev_hash = entry.hash
        return None

    def _problem(self, entry: AuditEntry) -> str | None:
        if entry.seq < self.expected_seq:
            return f"entry #{entry.seq} lies before the prune anchor (#{self.anchor_seq}): inserted"
        if entry.hash != _recompute(entry):
            return (
                f"entry #{entry.seq} ({entry.action} by {entry.actor} at {_iso(entry.at)}) does not match "
                "its hash: it was changed (or moved) after it was written"
            )
        if entry.seq > self.expected_seq:
            missing = f"#{self.expected_seq}"
            if entry.seq - 1 > self.expected_seq:
                missing += f"-#{entry.seq - 1}"
            follows = self.expected_seq - 1
            return f"entry {missing} is missing (deleted): entry #{entry.seq} follows #{follows}"
        if entry.prev_hash != self.prev_hash:
            return (
                f"entry #{entry.seq} does not follow the entry before it (prev_hash mismatch): "
                "entries were reordered or an entry was inserted"
            )
        return None

    def done(self) -> Verdict:
        return Verdict(True, self.count, self.first, self.last, anchor_seq=self.anchor_seq)


async def _lock_chain(session: AsyncSession) -> None:
    """Serialise appenders: PostgreSQL's advisory lock until commit; SQLite writers already hold the lock."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})


async def _head(session: AsyncSession) -> Head:
    last = await session.scalar(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(1))
    if last is not None:
        return Head(last.seq, last.hash)
    anchor = await session.get(AuditAnchor, 1)
    return Head(anchor.seq, anchor.hash) if anchor is not None else Head(0, GENESIS_HASH)


async def _save_anchor(session: AsyncSession, last: AuditEntryRow) -> None:
    anchor = await session.get(AuditAnchor, 1)
    if anchor is None:
        session.add(AuditAnchor(id=1, seq=last.seq, hash=last.hash, at=utcnow()))
    else:
        anchor.seq, anchor.hash, anchor.at = last.seq, last.hash, utcnow()
    await session.flush()


def _chained(new: NewEntry, head: Head) -> AuditEntry:
    at = to_utc_ms(new.at) if new.at is not None else utcnow()
    values: dict[str, Any] = {
        "seq": head.seq + 1,
        "at": at,
        "actor": new.actor,
        "role": new.role,
        "action": new.action.value,
        "target": new.target,
        "outcome": new.outcome.value,
        "source": new.source,
        "details": json.loads(_canonical_json(new.details)),
        "prev_hash": head.hash,
    }
    return AuditEntry(**values, hash=entry_hash(**values))


def _recompute(entry: AuditEntry) -> str:
    return entry_hash(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        role=entry.role,
        action=entry.action,
        target=entry.target,
        outcome=entry.outcome,
        source=entry.source,
        details=entry.details,
        prev_hash=entry.prev_hash,
    )


def _row(entry: AuditEntry) -> dict[str, Any]:
    row = entry.as_json() | {"at": entry.at, "details": _canonical_json(entry.details)}
    return row


def _entry(row: AuditEntryRow) -> AuditEntry:
    try:
        details = json.loads(row.details)
    except ValueError:
        details = {"unreadable": row.details}
    if not isinstance(details, dict):
        details = {"unreadable": row.details}
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        role=row.role,
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        source=row.source,
        details=details,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _check_details(details: Mapping[str, Any]) -> None:
    if not isinstance(details, Mapping):
        raise ValueError("audit details must be a mapping")
    for key, value in details.items():
        if not isinstance(key, str) or any(word in key.lower() for word in _FORBIDDEN_DETAIL_WORDS):
            raise ValueError(f"audit details may not hold {key!r}: ids only, never secrets or customer data")
        if isinstance(value, list | tuple):
            if not all(isinstance(item, str) for item in value):
                raise ValueError(f"audit detail {key!r}: lists hold text only")
        elif value is not None and not isinstance(value, str | int | bool):
            raise ValueError(f"audit detail {key!r}: text, whole numbers, booleans or null only")
    if len(_canonical_json(details).encode()) > MAX_DETAILS_BYTES:
        raise ValueError(f"audit details are larger than {MAX_DETAILS_BYTES} bytes")


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _at_from_ms(at_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=at_ms)


def _iso(at: datetime) -> str:
    return to_utc_ms(at).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
