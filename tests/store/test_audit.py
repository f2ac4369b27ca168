"""The audit log's hash chain: appends, tampering found and named, concurrency, pruning (both databases)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from signaling.store import Database, RoutingEvent, apply_events, audit, get_call
from signaling.store.audit import AuditAction, NewEntry, Outcome
from signaling.store.minimise import ContextPolicy

YEAR_AGO = datetime.now(UTC) - timedelta(days=500)


def _entry(n: int, actor: str = "alice", at: datetime | None = None) -> NewEntry:
    return NewEntry(actor, "agent", AuditAction.LOGIN, f"t{n}", source="10.0.0.7", details={"n": n}, at=at)


async def _fill(db: Database, count: int) -> None:
    await audit.append(db, [_entry(n) for n in range(1, count + 1)])


async def _sql(db: Database, statement: str, **params: object) -> None:
    async with db.session() as session:
        await session.execute(text(statement), params)


async def test_appended_entries_form_a_chain_that_verifies(db: Database) -> None:
    await _fill(db, 3)
    entries = await audit.list_entries(db)

    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == audit.GENESIS_HASH
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert entries[1].source == "10.0.0.7"
    assert entries[1].details == {"n": 2}
    assert entries[1].at.tzinfo is not None
    verdict = await audit.verify(db)
    assert verdict.ok
    assert verdict.entries == 3
    assert verdict.message().startswith("audit log intact: 3 entries (first #1 ")


async def test_an_attempt_naming_junk_is_recorded_escaped_and_cut_not_lost(db: Database) -> None:
    # what a refused request named (a call id with a NUL, a forged log line, a megabyte) is still recorded
    junk = NewEntry("sue", "supervisor", AuditAction.CALL_REMOVED, "call:6a0\x00\nFAKE", Outcome.FAILED)
    long = NewEntry("x" * 500, "agent", AuditAction.LOGIN_FAILED, outcome=Outcome.FAILED)
    await audit.append(db, [junk, long])

    first, second = await audit.list_entries(db)
    assert first.target == "call:6a0\\x00\\nFAKE"
    assert len(second.actor) == 128
    assert second.actor.endswith("\u2026")
    assert (await audit.verify(db)).ok


async def test_an_empty_log_verifies(db: Database) -> None:
    verdict = await audit.verify(db)

    assert verdict.ok
    assert verdict.message() == "audit log intact: 0 entries"


async def test_a_changed_field_is_found_and_the_entry_named(db: Database) -> None:
    await _fill(db, 4)
    await _sql(db, "UPDATE audit_log SET outcome = 'ok', actor = 'mallory' WHERE seq = 3")

    verdict = await audit.verify(db)

    assert not verdict.ok
    assert verdict.broken_seq == 3
    assert "entry #3" in verdict.message()
    assert "changed" in verdict.message()


async def test_changed_details_are_found(db: Database) -> None:
    await _fill(db, 2)
    await _sql(db, "UPDATE audit_log SET details = :details WHERE seq = 1", details='{"n":99}')

    assert (await audit.verify(db)).broken_seq == 1


async def test_a_deleted_middle_entry_is_found(db: Database) -> None:
    await _fill(db, 5)
    await _sql(db, "DELETE FROM audit_log WHERE seq = 3")

    verdict = await audit.verify(db)

    assert not verdict.ok
    assert verdict.broken_seq == 4
    assert "entry #3 is missing (deleted)" in verdict.message()


async def test_reordered_entries_are_found(db: Database) -> None:
    await _fill(db, 4)
    await _sql(db, "UPDATE audit_log SET seq = 100 WHERE seq = 2")
    await _sql(db, "UPDATE audit_log SET seq = 2 WHERE seq = 3")
    await _sql(db, "UPDATE audit_log SET seq = 3 WHERE seq = 100")

    verdict = await audit.verify(db)

    assert not verdict.ok
    assert verdict.broken_seq == 2


async def test_an_inserted_entry_with_a_valid_hash_is_found_by_the_next_link(db: Database) -> None:
    await _fill(db, 3)
    entries = await audit.list_entries(db)
    # a forger who knows the encoding slips a well-formed entry in after #2, renumbering the rest
    await _sql(db, "UPDATE audit_log SET seq = seq + 10 WHERE seq >= 3")
    await _sql(db, "UPDATE audit_log SET seq = seq - 9 WHERE seq >= 13")
    forged = dict(
        seq=3, at=entries[1].at, actor="mallory", role="admin", action="login", target="", outcome="ok",
        source="", details={}, prev_hash=entries[1].hash,
    )  # fmt: skip
    digest = audit.entry_hash(**forged)  # type: ignore[arg-type]
    await _sql(
        db,
        "INSERT INTO audit_log (seq, at, actor, role, action, target, outcome, source, details, prev_hash,"
        " hash) SELECT 3, at, 'mallory', 'admin', 'login', '', 'ok', '', '{}', :prev, :hash"
        " FROM audit_log WHERE seq = 2",
        prev=entries[1].hash,
        hash=digest,
    )

    verdict = await audit.verify(db)

    assert not verdict.ok
    assert verdict.broken_seq == 4  # the old #3, renumbered, no longer matches its hash


async def test_a_cut_tail_is_found_only_against_a_head_kept_elsewhere(db: Database) -> None:
    await _fill(db, 5)
    published = await audit.head(db)
    await _sql(db, "DELETE FROM audit_log WHERE seq >= 4")

    assert (await audit.verify(db)).ok  # the chain alone cannot tell
    problem = await audit.check_head(db, published)
    assert problem is not None
    assert "#5" in problem
    assert "tail was deleted" in problem
    assert await audit.check_head(db, audit.Head(3, (await audit.head(db)).hash)) is None


async def test_many_writers_at_once_keep_one_unbroken_chain(database_url: str, db: Database) -> None:
    writers = [await Database.connect(database_url) for _ in range(4)]
    try:

        async def write(writer: Database, who: int) -> None:
            for n in range(15):
                await audit.append(writer, [_entry(n, actor=f"writer{who}")])

        await asyncio.wait_for(asyncio.gather(*(write(w, i) for i, w in enumerate(writers))), 60)
    finally:
        for writer in writers:
            await writer.close()

    verdict = await audit.verify(db)
    assert verdict.ok, verdict.message()
    assert verdict.entries == 60


_APPEND_SCRIPT = """
import asyncio, sys
from signaling.store import Database, audit
from signaling.store.audit import AuditAction, NewEntry

async def main():
    db = await Database.connect(sys.argv[1])
    try:
        for n in range(10):
            await audit.append(db, [NewEntry(f"proc{sys.argv[2]}", "agent", AuditAction.LOGIN, str(n))])
    finally:
        await db.close()

asyncio.run(main())
"""


async def test_several_processes_appending_at_once_keep_one_unbroken_chain(
    database_url: str, db: Database
) -> None:
    processes = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", _APPEND_SCRIPT, database_url, str(i))
        for i in range(3)
    ]
    codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), 60)

    assert codes == [0, 0, 0]
    verdict = await audit.verify(db)
    assert verdict.ok, verdict.message()
    assert verdict.entries == 30


async def test_pruning_keeps_an_anchor_so_the_rest_still_verifies(db: Database) -> None:
    await audit.append(db, [_entry(n, at=YEAR_AGO + timedelta(minutes=n)) for n in range(1, 4)])
    await _fill(db, 2)  # recent: seq 4 and 5

    removed, entry = await audit.prune(
        db, before=datetime.now(UTC) - timedelta(days=400), actor="cli:ops", role="cli", source="cli"
    )

    assert removed == 3
    assert entry is not None
    assert entry.action == "audit_pruned"
    assert entry.seq == 6
    assert entry.details["through_seq"] == 3
    assert [e.seq for e in await audit.list_entries(db)] == [4, 5, 6]
    verdict = await audit.verify(db)
    assert verdict.ok
    assert verdict.entries == 3
    assert verdict.anchor_seq == 3


async def test_pruning_then_tampering_is_still_found(db: Database) -> None:
    await audit.append(db, [_entry(n, at=YEAR_AGO) for n in range(1, 4)])
    await _fill(db, 1)
    await audit.prune(db, before=YEAR_AGO + timedelta(days=1), actor="system", role="system", source="server")
    await _sql(db, "DELETE FROM audit_log WHERE seq = 4")

    verdict = await audit.verify(db)

    assert not verdict.ok
    assert "#4 is missing" in verdict.message()


async def test_pruning_with_nothing_old_enough_changes_nothing(db: Database) -> None:
    await _fill(db, 2)

    assert await audit.prune(db, before=YEAR_AGO, actor="system", role="system", source="server") == (0, None)
    assert (await audit.verify(db)).entries == 2


@pytest.mark.parametrize(
    "details", [{"password": "x"}, {"session_token": "x"}, {"context": "x"}, {"n": 1.5}, {"big": "x" * 3000}]
)
def test_details_refuse_secrets_customer_data_and_bulk(details: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="audit detail"):
        NewEntry("alice", "agent", AuditAction.LOGIN, details=details)


def test_an_action_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match="dance"):
        NewEntry("alice", "agent", "dance")  # type: ignore[arg-type]


async def test_accepts_and_transfers_in_stored_events_become_audit_entries_once(db: Database) -> None:
    events = [
        RoutingEvent("1-0", "c1", "created", 1000, {"kiosk_id": "k1", "topic": "cash"}),
        RoutingEvent("2-0", "c1", "reserved", 2000, {"agent": "alice"}),
        RoutingEvent("3-0", "c1", "accepted", 3000, {"agent": "alice", "source": "10.1.1.1"}),
        RoutingEvent("4-0", "c1", "transferred", 4000, {"agent": "alice", "to_topic": "cards", "notes": "n"}),
    ]
    await apply_events(db, events)
    await apply_events(db, events)  # a redelivery stores nothing twice

    entries = await audit.list_entries(db)
    assert [(e.action, e.actor, e.target) for e in entries] == [
        ("call_accepted", "alice", "call:c1"),
        ("call_transferred", "alice", "call:c1"),
    ]
    assert entries[0].source == "10.1.1.1"
    assert entries[0].at == datetime(1970, 1, 1, 0, 0, 3, tzinfo=UTC)
    assert entries[0].details == {"call_id": "c1", "kiosk_id": "k1"}
    assert entries[1].details == {"call_id": "c1", "kiosk_id": "k1", "to_topic": "cards", "to_agent": ""}
    assert entries[0].outcome == Outcome.OK
    assert (await audit.verify(db)).ok


@pytest.mark.parametrize(
    ("policy", "kept"),
    [
        (ContextPolicy("all"), {"transaction": "TX-99", "error": "E42"}),
        (ContextPolicy("none"), {}),
        (ContextPolicy("all", ("error",)), {"error": "E42"}),
    ],
)
async def test_call_history_keeps_only_the_customer_context_the_setting_allows(
    db: Database, policy: ContextPolicy, kept: dict[str, str]
) -> None:
    created = RoutingEvent(
        "1-0", "c1", "created", 1000, {"kiosk_id": "k1", "context": '{"transaction":"TX-99","error":"E42"}'}
    )

    await apply_events(db, [policy.minimise(created)])

    call = await get_call(db, "c1")
    assert call is not None
    assert call.context == kept
    assert "TX-99" not in str(call.events) or "transaction" in kept
