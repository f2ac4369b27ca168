"""Crash recovery: a killed ``kiosk run`` restarted within the server's grace resumes its queue place, or
its call, whose media it offers again."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from signaling.protocol import Accept, CallAccepted, Offer, SetState
from tests.agent_peer import AgentPeer
from tests.support import RunningServer, cli_env, connect_agent, wait_until

WAIT_S = 15.0


def _events(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def _kiosk_run(server: RunningServer, tmp_path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling.cli", "kiosk", "run", "--server", server.url,
        "--kiosk-id", "k-crash", "--secret-file", str(tmp_path / "secret"), "--request-help", "cash",
        "--state-file", str(tmp_path / "state.json"), "--events", str(tmp_path / "events.jsonl"),
        "--headless",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=cli_env(),
    )  # fmt: skip


async def test_killed_kiosk_restarted_within_the_grace_resumes_its_queue_place(
    server: RunningServer, tmp_path: Path
) -> None:
    (tmp_path / "secret").write_text(await server.enroll("k-crash"))
    events = tmp_path / "events.jsonl"
    first = await _kiosk_run(server, tmp_path)
    try:

        async def queued() -> str | None:
            calls = [e["call_id"] for e in _events(events) if e["event"] == "queued"]
            return str(calls[0]) if calls and (tmp_path / "state.json").exists() else None

        call_id = await wait_until(queued, WAIT_S, "the kiosk queued its call")
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    events.write_text("")

    second = await _kiosk_run(server, tmp_path)
    try:

        async def signed_in() -> dict[str, object] | None:
            return next((e for e in _events(events) if e["event"] == "signed_in"), None)

        again = await wait_until(signed_in, WAIT_S, "the restarted kiosk signed in")
        assert again["resumed"] is True
        assert again["call_id"] == call_id
        assert not [e for e in _events(events) if e["event"] == "queued" and e["call_id"] != call_id]
    finally:
        second.terminate()
        await asyncio.wait_for(second.wait(), WAIT_S)


async def test_killed_kiosk_restarted_in_the_middle_of_a_call_offers_its_media_again(
    server: RunningServer, tmp_path: Path
) -> None:
    (tmp_path / "secret").write_text(await server.enroll("k-crash"))
    agent = await connect_agent(server, "val", await server.add_agent("val", skills=("cash",)))
    before, after = AgentPeer(), AgentPeer()
    first = await _kiosk_run(server, tmp_path)
    try:
        await agent.send(SetState(state="available"))
        offer = await agent.expect(Offer)
        await agent.send(Accept(call_id=offer.call_id))
        accepted = await agent.expect(CallAccepted)
        await before.answer(agent, accepted)
        await before.consumers["video"].wait_for_frames(10, WAIT_S)

        async def call_saved() -> bool:
            state = tmp_path / "state.json"
            return state.exists() and json.loads(state.read_text()).get("call") is not None

        await wait_until(call_saved, WAIT_S, "the call kept in the state file")
        first.send_signal(signal.SIGKILL)
        await first.wait()
        await before.close()

        second = await _kiosk_run(server, tmp_path)
        try:
            await after.answer(agent, accepted)  # the restarted kiosk's new offer, in the same call
            await after.consumers["video"].wait_for_frames(10, WAIT_S)
        finally:
            second.terminate()
            await asyncio.wait_for(second.wait(), WAIT_S)
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
        await before.close()
        await after.close()
        await agent.close()
    resumed = [e for e in _events(tmp_path / "events.jsonl") if e["event"] == "media_resuming"]
    assert [e["call_id"] for e in resumed] == [offer.call_id]
