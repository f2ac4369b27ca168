"""``kiosk-assist report calls``: the export a bank's operations team opens in a spreadsheet — one row per
call with its outcome, wait, talk time, agent, disposition and quality; recorded in the audit log."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from signaling.cli import main
from signaling.protocol import (
    Accept,
    AgentJoined,
    CallEnded,
    CallStats,
    Cancel,
    Hangup,
    HelpRequest,
    MediaStatus,
    Offer,
    QualityStats,
    Queued,
    SetState,
    WrapUp,
    WrapUpDone,
)
from signaling.settings import Settings
from signaling.store import audit
from signaling.store.call_report import COLUMNS
from signaling.store.quality import get_call_quality
from tests.support import RunningServer, cli_env, connect_agent, connect_kiosk, run_cli, wait_until


async def completed_and_abandoned_calls(server: RunningServer) -> tuple[str, str]:
    """A call answered, talked through with stats, hung up and filed ``resolved``; and one given up."""
    kiosk = await connect_kiosk(server, "k-lobby", await server.enroll("k-lobby"))
    quitter = await connect_kiosk(server, "k-door", await server.enroll("k-door"))
    agent = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    try:
        await quitter.send(HelpRequest(topic="cash", language="es"))
        abandoned = (await quitter.expect(Queued)).call_id
        await quitter.send(Cancel(call_id=abandoned))
        await quitter.expect(CallEnded)
        await kiosk.send(HelpRequest(topic="cash"))
        await kiosk.expect(Queued)
        await agent.send(SetState(state="available"))
        completed = (await agent.expect(Offer)).call_id
        await agent.send(Accept(call_id=completed))
        await kiosk.expect(AgentJoined)
        await kiosk.send(MediaStatus(call_id=completed, flowing=True))
        stats = QualityStats(rtt_ms=60, jitter_ms=8, audio_loss_pct=1, video_loss_pct=1, fps=24)
        await agent.send(CallStats(call_id=completed, stats=stats))
        await agent.send(Hangup(call_id=completed))
        await kiosk.expect(CallEnded)
        await agent.send(WrapUp(call_id=completed, disposition="resolved", notes="customer's card number"))
        await agent.expect(WrapUpDone)
    finally:
        for client in (kiosk, quitter, agent):
            await client.close()
    await wait_until(lambda: get_call_quality(server.db, completed), what="the call's quality stored")
    await server.drain_history()
    return completed, abandoned


async def test_csv_report_has_one_row_per_call_with_outcome_wait_talk_and_quality(
    server: RunningServer, settings: Settings
) -> None:
    completed, abandoned = await completed_and_abandoned_calls(server)
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, err = await run_cli(
        "report",
        "calls",
        "--since",
        since,
        "--format",
        "csv",
        "--data-dir",
        str(settings.data_dir),
        env=cli_env(),
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == COLUMNS
    by_id = {row["call_id"]: row for row in rows}
    assert set(by_id) == {completed, abandoned}
    done, gone = by_id[completed], by_id[abandoned]
    assert (done["kiosk_id"], done["topic"], done["state"], done["end_reason"]) == (
        "k-lobby", "cash", "completed", "agent_hangup",
    )  # fmt: skip
    assert (done["agent"], done["disposition"]) == ("ana", "resolved")
    assert 0 <= float(done["wait_s"]) < 10
    assert 0 <= float(done["talk_s"]) < 10
    assert done["answered_at"].endswith("Z")
    assert int(done["quality_samples"]) >= 1
    assert 1 <= float(done["mos_mean"]) <= 5
    assert float(done["mos_min"]) <= float(done["mos_mean"])
    assert (gone["kiosk_id"], gone["language"], gone["state"], gone["end_reason"]) == (
        "k-door", "es", "abandoned", "kiosk_cancelled",
    )  # fmt: skip
    assert gone["answered_at"] == gone["talk_s"] == gone["agent"] == gone["quality_samples"] == ""
    assert float(gone["wait_s"]) >= 0
    assert "card number" not in out  # the agent's notes stay out of exports
    exported = (await audit.list_entries(server.db, limit=5))[-1]
    assert (exported.action, exported.target, exported.role) == ("data_exported", "report:calls", "cli")
    assert exported.actor.startswith("cli:")
    assert exported.details["calls"] == 2
    assert exported.details["format"] == "csv"


async def test_json_report_is_one_object_per_call_limited_to_the_period(
    server: RunningServer, settings: Settings
) -> None:
    completed, abandoned = await completed_and_abandoned_calls(server)
    now = datetime.now(UTC)
    args = ["report", "calls", "--format", "json", "--data-dir", str(settings.data_dir)]
    code, out, err = await run_cli(*args, "--since", (now - timedelta(hours=1)).isoformat(), env=cli_env())
    assert code == 0, err
    calls = [json.loads(line) for line in out.splitlines()]
    assert [c["call_id"] for c in calls] == [abandoned, completed]  # oldest first
    assert calls[1]["wait_s"] is not None
    assert calls[0]["mos_mean"] is None
    code, out, _ = await run_cli(
        *args, "--since", "2020-01-01", "--until", (now - timedelta(hours=1)).isoformat(), env=cli_env()
    )
    assert (code, out) == (0, "")


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("yesterday", None, "--since: not an ISO 8601 date or time: 'yesterday'"),
        ("2026-02-30", None, "--since: not an ISO 8601 date or time"),
        ("2026-03-01", "soon", "--until: not an ISO 8601 date or time: 'soon'"),
        ("2026-03-02", "2026-03-01", "--until (2026-03-01T00:00:00+00:00) must be after --since"),
    ],
)
def test_bad_dates_exit_1_with_a_readable_message(
    since: str, until: str | None, message: str, capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    argv = ["report", "calls", "--since", since, "--data-dir", str(settings.data_dir)]
    assert main([*argv, "--until", until] if until else argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("kiosk-assist: ")
    assert message in err
    assert "Traceback" not in err
    assert not settings.data_dir.exists()  # refused before touching any database
