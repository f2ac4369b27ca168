"""The server's audit service: records security-relevant actions into the hash-chained audit log.

``record`` writes one entry at once (logins, supervisor actions, data exports, account changes). Call
accepts and transfers are not written here: they are on the routing path, so the history writer derives
them from the routing events it stores, in the same transaction (see ``signaling/history_writer.py``).

A failed write is never dropped silently: it is logged at ERROR with the whole entry (ids only) and
counted in ``kiosk_assist_audit_write_failures``. Callers choose what the failure means: ``required=True``
raises ``AuditUnavailable`` (HTTP 503) so the action fails closed, which is what sign-in and data exports
do (no session, no data without a record); actions already carried out (a forced state) still succeed.

``watch_head`` publishes the chain's newest entry to the server log and Redis every minute and checks that
the head published before is still in the chain: a cut tail, invisible to the chain itself, shows there.
It also prunes entries older than ``Settings.audit_retention_days`` once a day.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from signaling.protocol import ErrorCode, ProtocolError
from signaling.store import audit
from signaling.store.audit import AuditAction, Head, NewEntry, Outcome
from signaling.store.columns import utcnow
from signaling.store.database import Database

log = logging.getLogger(__name__)

HEAD_INTERVAL_S = 60.0
PRUNE_EVERY = 24 * 60  # head intervals: once a day
SYSTEM_ACTOR = "system"


class AuditUnavailable(ProtocolError):
    """An action that must be audited could not be: it is refused (fails closed)."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, "the audit log cannot be written; try again shortly")


class AuditLog:
    """Writes audit entries for one server process."""

    def __init__(
        self,
        db: Database,
        redis: Redis | None = None,
        head_key: str = "",
        registry: CollectorRegistry | None = None,
        retention_days: int = 400,
    ) -> None:
        self._db = db
        self._redis = redis
        self._head_key = head_key
        self._retention_days = retention_days
        self.failures = Counter(
            "kiosk_assist_audit_write_failures",
            "Audit entries that could not be written (each also logged at ERROR)",
            registry=registry,
        )

    async def record(
        self,
        *,
        actor: str,
        role: str,
        action: AuditAction | str,
        target: str = "",
        outcome: Outcome | str = "ok",
        source: str = "",
        details: Mapping[str, Any] | None = None,
        required: bool = False,
    ) -> bool:
        """Append one entry; True when written. An unknown action or a detail that is not an id raises
        ValueError (a programming error). On a database failure: logged, counted, and with
        ``required`` raised as ``AuditUnavailable``; otherwise False."""
        entry = NewEntry(
            actor=actor,
            role=role,
            action=AuditAction(action),
            target=target,
            outcome=Outcome(outcome),
            source=source,
            details=dict(details or {}),
        )
        try:
            await audit.append(self._db, [entry])
        except (SQLAlchemyError, OSError) as exc:
            self.failures.inc()
            log.error(
                "audit write failed (%s): action=%s actor=%s role=%s target=%s outcome=%s source=%s "
                "details=%s",
                type(exc).__name__, entry.action, actor, role, target, entry.outcome, source, entry.details,
            )  # fmt: skip
            if required:
                raise AuditUnavailable() from None
            return False
        return True

    async def watch_head(self) -> None:
        """Every minute publish the head and check the last one published; prune once a day."""
        rounds = 0
        while True:
            try:
                if rounds % PRUNE_EVERY == 0:
                    await self.prune_expired()
                await self.publish_head()
            except asyncio.CancelledError:
                raise
            except (SQLAlchemyError, RedisError, OSError) as exc:
                log.warning("audit head: database or Redis unavailable (%s); continuing", type(exc).__name__)
            rounds += 1
            await asyncio.sleep(HEAD_INTERVAL_S)  # a periodic timer, not synchronisation

    async def publish_head(self) -> Head:
        """Check that the head published earlier is still in the chain, then publish the current one."""
        current = await audit.head(self._db)
        previous = await self._published()
        if previous is not None and (problem := await audit.check_head(self._db, previous)) is not None:
            log.error("AUDIT LOG TAMPERED: %s (published head %d:%s)", problem, previous.seq, previous.hash)
            return current  # keep the evidence: do not overwrite the published head
        if previous != current:
            log.info("audit head %d:%s", current.seq, current.hash)
            if self._redis is not None and self._head_key:
                await self._redis.set(self._head_key, f"{current.seq}:{current.hash}")
        return current

    async def prune_expired(self) -> int:
        """Remove entries past the retention period (recording an ``audit_pruned`` entry)."""
        before = utcnow() - timedelta(days=self._retention_days)
        removed, _ = await audit.prune(
            self._db, before=before, actor=SYSTEM_ACTOR, role="system", source="server"
        )
        if removed:
            log.info("audit: pruned %d entries older than %d days", removed, self._retention_days)
        return removed

    async def _published(self) -> Head | None:
        if self._redis is None or not self._head_key:
            return None
        raw = await self._redis.get(self._head_key)
        if raw is None:
            return None
        try:
            return audit.parse_head(raw.decode() if isinstance(raw, bytes) else str(raw))
        except ValueError:
            log.warning("audit head in Redis is unreadable; replacing it")
            return None
