"""The audit log end to end: real logins, supervisor actions, calls, exports and the command line; and data
minimisation (what call history and the server's log keep of a customer's call)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from signaling.cli import QUIET_LOGGERS
from signaling.protocol import Accept, AgentJoined, CallAccepted, Hangup, HelpRequest, Offer, Queued, SetState
from signaling.settings import Settings
from signaling.store import Database, audit, get_call
from signaling.store.audit import AuditEntry
from tests.support import RunningServer, cli_env, connect_agent, connect_kiosk, login, run_cli, running_server

CONTEXT = {"transaction": "TX-31337-SECRET", "error": "E42-CARD-JAM"}
DISPLAY_NAME = "Alice Wonderland"


async def _entries(server: RunningServer, action: str) -> list[AuditEntry]:
    return [e for e in await audit.list_entries(server.db, limit=1000) if e.action == action]


async def _answered_call(server: RunningServer) -> tuple[str, str]:
    """A kiosk asks for help with CONTEXT; alice accepts and hangs up. Returns (call_id, offer context)."""
    secret = await server.enroll("k-1", "Main St ATM")
    password = await server.add_agent("alice", skills=("cash",), display_name=DISPLAY_NAME)
    kiosk = await connect_kiosk(server, "k-1", secret)
    agent = await connect_agent(server, "alice", password)
    try:
        await kiosk.send(HelpRequest(topic="cash", language="en", context=CONTEXT))
        await kiosk.expect(Queued)
        await agent.send(SetState(state="available"))
        offer = await agent.expect(Offer)
        await agent.send(Accept(call_id=offer.call_id))
        await agent.expect(CallAccepted)
        await kiosk.expect(AgentJoined)
        await agent.send(Hangup(call_id=offer.call_id))
        await server.drain_history()
        return offer.call_id, json.dumps(offer.context)
    finally:
        await kiosk.close()
        await agent.close()


async def test_logins_failed_logins_and_logouts_are_audited_with_who_and_where(server: RunningServer) -> None:
    await server.add_agent("alice", "correct horse")
    http = await login(server, "alice", "correct horse")
    async with http.post(f"{server.url}/api/logout") as response:
        assert response.status == 200
    await http.close()
    async with aiohttp.ClientSession() as anonymous:
        body = {"username": "alice", "password": "Tr0ub4dor&3"}
        async with anonymous.post(f"{server.url}/api/login", json=body) as response:
            assert response.status == 401

    (ok,) = await _entries(server, "login")
    assert (ok.actor, ok.role, ok.outcome, ok.source) == ("alice", "agent", "ok", "127.0.0.1")
    (out,) = await _entries(server, "logout")
    assert (out.actor, out.outcome) == ("alice", "ok")
    (failed,) = await _entries(server, "login_failed")
    assert (failed.actor, failed.target, failed.outcome) == ("alice", "alice", "denied")
    assert failed.details == {"reason": "wrong_credentials"}
    assert "Tr0ub4dor" not in json.dumps(failed.as_json())  # never the password tried
    assert ok.seq < out.seq < failed.seq
    assert (await audit.verify(server.db)).ok


async def test_a_supervisor_forcing_a_state_is_audited_and_an_agent_trying_is_denied(
    server: RunningServer,
) -> None:
    agent_password = await server.add_agent("ana")
    await server.add_agent("sue", "sup pass", role="supervisor")
    ana = await connect_agent(server, "ana", agent_password)
    sue = await login(server, "sue", "sup pass")
    try:
        async with ana.http.post(f"{server.url}/api/agents/ana/state", json={"state": "available"}) as r:
            assert r.status == 403
        async with sue.post(f"{server.url}/api/agents/ana/state", json={"state": "away"}) as r:
            assert r.status == 200
    finally:
        await sue.close()
        await ana.close()

    denied, forced = await _entries(server, "agent_state_forced")
    assert (denied.actor, denied.role, denied.target, denied.outcome) == ("ana", "agent", "ana", "denied")
    assert (forced.actor, forced.role, forced.target, forced.outcome) == ("sue", "supervisor", "ana", "ok")
    assert forced.details["state"] == "away"
    assert forced.source == "127.0.0.1"


async def test_an_accepted_call_is_audited_with_the_agent_as_actor(server: RunningServer) -> None:
    call_id, _ = await _answered_call(server)

    (accepted,) = await _entries(server, "call_accepted")
    assert (accepted.actor, accepted.target, accepted.outcome) == ("alice", f"call:{call_id}", "ok")
    assert accepted.details == {"call_id": call_id, "kiosk_id": "k-1"}
    assert accepted.source == "127.0.0.1"
    assert (await audit.verify(server.db)).ok


async def test_reading_call_history_is_recorded_as_a_data_export(server: RunningServer) -> None:
    call_id, _ = await _answered_call(server)
    http = await login(server, "alice", "correct horse")
    try:
        async with http.get(f"{server.url}/api/calls") as r:
            assert r.status == 200
        async with http.get(f"{server.url}/api/calls/{call_id}") as r:
            assert r.status == 200
    finally:
        await http.close()

    listing, detail = await _entries(server, "data_exported")
    assert (listing.actor, listing.target, listing.details["calls"]) == ("alice", "calls", 1)
    assert (detail.target, detail.details) == (f"call:{call_id}", {"call_id": call_id})


async def test_history_reads_fail_closed_when_the_audit_log_cannot_be_written(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    await server.add_agent("alice", "correct horse")
    http = await login(server, "alice", "correct horse")
    async with server.db.session() as session:
        await session.execute(text("DROP TABLE audit_log"))
    try:
        with caplog.at_level(logging.ERROR, logger="signaling.audit"):
            async with http.get(f"{server.url}/api/calls") as r:
                assert r.status == 503
    finally:
        await http.close()

    assert "audit write failed" in caplog.text
    assert "action=data_exported actor=alice" in caplog.text


async def test_the_server_finds_the_audit_logs_tail_cut_against_the_head_it_published(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        await server.services.audit.record(actor="alice", role="agent", action="login", source="10.0.0.1")
    published = await server.services.audit.publish_head()
    assert published.seq == 3
    async with server.db.session() as session:
        await session.execute(text("DELETE FROM audit_log WHERE seq = 3"))

    with caplog.at_level(logging.ERROR, logger="signaling.audit"):
        await server.services.audit.publish_head()

    assert "AUDIT LOG TAMPERED" in caplog.text
    assert "#3" in caplog.text


async def test_a_whole_call_leaves_no_customer_context_or_display_name_in_the_servers_log(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    try:  # logging as ``kiosk-assist -v serve`` configures it
        for name in quiet:
            logging.getLogger(name).setLevel(logging.WARNING)
        with caplog.at_level(logging.DEBUG):
            call_id, offered = await _answered_call(server)
    finally:
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)

    assert "TX-31337-SECRET" in offered  # the agent saw it live
    assert call_id in caplog.text  # logs name the call by its id
    for value in (*CONTEXT.values(), DISPLAY_NAME):
        assert value not in caplog.text


async def test_call_history_keeps_no_context_with_store_context_none_but_the_agent_still_sees_it(
    settings: Settings,
) -> None:
    async with running_server(dataclasses.replace(settings, store_context="none")) as server:
        call_id, offered = await _answered_call(server)
        record = await get_call(server.db, call_id)

    assert "TX-31337-SECRET" in offered
    assert record is not None
    assert record.context == {}
    assert "TX-31337-SECRET" not in json.dumps([e.detail for e in record.events])


async def test_call_history_keeps_only_allowed_context_keys(settings: Settings) -> None:
    allowed = dataclasses.replace(settings, store_context_keys=("error",))
    async with running_server(allowed) as server:
        call_id, _ = await _answered_call(server)
        record = await get_call(server.db, call_id)

    assert record is not None
    assert record.context == {"error": "E42-CARD-JAM"}


async def test_cli_enrolment_is_audited_and_verify_names_a_tampered_entry(tmp_path: Path) -> None:
    store = ("--data-dir", str(tmp_path / "data"))
    assert (await run_cli("kiosks", "enroll", "k-9", *store))[0] == 0
    assert (
        await run_cli("users", "add", "bob", "--role", "agent", "--password-stdin", *store, stdin="pw\n")
    )[0] == 0

    code, out, _ = await run_cli("audit", "list", "--json", *store)
    assert code == 0
    entries = [json.loads(line) for line in out.splitlines()]
    assert [(e["action"], e["target"], e["role"], e["source"]) for e in entries] == [
        ("kiosk_enrolled", "kiosk:k-9", "cli", "cli"),
        ("user_added", "bob", "cli", "cli"),
    ]
    assert entries[0]["actor"].startswith("cli:")
    assert "secret" not in json.dumps(entries[0]["details"])

    code, out, _ = await run_cli("audit", "verify", *store)
    assert (code, out.split(" (")[0]) == (0, "audit log intact: 2 entries")

    db = await Database.connect(f"sqlite:///{tmp_path}/data/kiosk-assist.sqlite3")
    try:
        async with db.session() as session:
            await session.execute(text("UPDATE audit_log SET target = 'kiosk:other' WHERE seq = 1"))
    finally:
        await db.close()
    code, out, _ = await run_cli("audit", "verify", *store)
    assert code == 1
    assert "BROKEN at entry #1" in out
    assert "changed" in out


@pytest.mark.postgres
async def test_verify_on_postgresql_finds_a_deleted_entry_and_a_cut_tail(postgres_url: str) -> None:
    store = ("--database-url", postgres_url)
    for kiosk_id in ("k-1", "k-2", "k-3"):
        assert (await run_cli("kiosks", "enroll", kiosk_id, *store))[0] == 0
    code, out, _ = await run_cli("audit", "verify", *store)
    assert code == 0
    head = out.split("head ")[1].rstrip(")\n")

    db = await Database.connect(postgres_url)
    try:
        async with db.session() as session:
            await session.execute(text("DELETE FROM audit_log WHERE seq = 3"))
        assert (await run_cli("audit", "verify", *store))[0] == 0  # a cut tail looks whole on its own
        code, out, _ = await run_cli("audit", "verify", "--expect-head", head, *store)
        assert code == 1
        assert "tail was deleted" in out
        async with db.session() as session:
            await session.execute(text("DELETE FROM audit_log WHERE seq = 1"))
    finally:
        await db.close()
    code, out, _ = await run_cli("audit", "verify", *store)
    assert code == 1
    assert "entry #1 is missing (deleted)" in out


async def test_prune_refuses_less_than_a_year_unless_forced(tmp_path: Path) -> None:
    store = ("--data-dir", str(tmp_path / "data"))
    assert (await run_cli("kiosks", "enroll", "k-1", *store))[0] == 0

    code, _, err = await run_cli("audit", "prune", "--older-than-days", "30", *store)
    assert code == 1
    assert "365 days" in err
    code, out, _ = await run_cli("audit", "prune", "--older-than-days", "30", "--force", *store)
    assert code == 0
    assert "no audit entries older than 30 days" in out


async def test_serve_passes_the_context_setting_to_its_history_child() -> None:
    from signaling.history_worker import child_env

    env = child_env(Settings(store_context="none", store_context_keys=("error",)), "redis://x")

    assert (env["KIOSK_ASSIST_STORE_CONTEXT"], env["KIOSK_ASSIST_STORE_CONTEXT_KEYS"]) == ("none", "error")
    assert cli_env()  # the CLI tests' environment holds none of ours
