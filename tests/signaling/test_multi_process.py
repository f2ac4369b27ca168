"""Several ``serve`` processes on one Redis and one PostgreSQL: no routing state lives in one process."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from signaling.protocol import (
    Accept,
    AgentJoined,
    CallAccepted,
    Hangup,
    HelpRequest,
    Offer,
    OfferRevoked,
    Queued,
    SdpType,
    SessionDescription,
    SetState,
    WrapUp,
)
from tests.support import (
    ServerProcess,
    cli_env,
    connect_agent,
    connect_kiosk,
    free_port,
    login,
    run_cli,
    wait_until,
)

pytestmark = pytest.mark.postgres


async def test_a_kiosk_on_one_process_and_an_agent_on_another_complete_a_call(
    redis_env: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    env = cli_env(KIOSK_ASSIST_DATABASE_URL=postgres_url, **redis_env)
    code, out, err = await run_cli("kiosks", "enroll", "k-1", "--location", "Lobby", "--json", env=env)
    assert code == 0, err
    secret = json.loads(out)["secret"]
    code, _, err = await run_cli(
        "users",
        "add",
        "ana",
        "--role",
        "agent",
        "--skills",
        "cash",
        "--password-stdin",
        stdin="pw-ana\n",
        env=env,
    )
    assert code == 0, err
    a = await ServerProcess(free_port(), "--data-dir", str(tmp_path / "a"), env=env).start()
    b = await ServerProcess(free_port(), "--data-dir", str(tmp_path / "b"), env=env).start()
    try:
        kiosk = await connect_kiosk(a.as_running(), "k-1", secret)
        agent = await connect_agent(b.as_running(), "ana", "pw-ana")
        await kiosk.send(HelpRequest(topic="cash"))
        call_id = (await kiosk.expect(Queued)).call_id
        await agent.send(SetState(state="available"))
        assert (await agent.expect(Offer)).call_id == call_id
        await agent.send(Accept(call_id=call_id))
        await agent.expect(CallAccepted)
        await kiosk.expect(AgentJoined)
        for n in range(5):  # in order, once each, across processes
            await kiosk.send(SessionDescription(call_id=call_id, sdp_type=SdpType.OFFER, sdp=f"offer {n}"))
        assert [(await agent.expect(SessionDescription)).sdp for _ in range(5)] == [
            f"offer {n}" for n in range(5)
        ]
        await agent.send(SessionDescription(call_id=call_id, sdp_type=SdpType.ANSWER, sdp="answer"))
        assert (await kiosk.expect(SessionDescription)).sdp == "answer"
        await agent.send(Hangup(call_id=call_id))
        await agent.send(WrapUp(call_id=call_id, disposition="resolved", notes="done"))

        # the session cookie from process b works on process a: sessions live in Redis
        http = await login(b.as_running(), "ana", "pw-ana")

        async def stored() -> dict[str, object] | None:
            async with http.get(f"{a.url}/api/calls/{call_id}") as r:
                body = await r.json() if r.status == 200 else None
            return body if body and body.get("disposition") == "resolved" else None

        record = await wait_until(stored, 15)
        assert (record["state"], record["end_reason"], record["agent"]) == (
            "completed",
            "agent_hangup",
            "ana",
        )
        await http.close()
        await kiosk.close()
        await agent.close()
    finally:
        await a.stop()
        await b.stop()


async def test_an_offer_times_out_even_when_the_process_that_made_it_died(
    redis_env: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    env = cli_env(KIOSK_ASSIST_DATABASE_URL=postgres_url, **redis_env)
    code, out, _ = await run_cli("kiosks", "enroll", "k-1", "--json", env=env)
    secret = json.loads(out)["secret"]
    for name in ("ana", "ben"):
        code, _, err = await run_cli(
            "users",
            "add",
            name,
            "--role",
            "agent",
            "--skills",
            "cash",
            "--password-stdin",
            stdin="pw\n",
            env=env,
        )
        assert code == 0, err
    args = ("--reservation-timeout", "1.5")
    a = await ServerProcess(free_port(), "--data-dir", str(tmp_path / "a"), *args, env=env).start()
    b = await ServerProcess(free_port(), "--data-dir", str(tmp_path / "b"), *args, env=env).start()
    try:
        agent = await connect_agent(b.as_running(), "ana", "pw")
        await agent.send(SetState(state="available"))
        kiosk = await connect_kiosk(b.as_running(), "k-1", secret)
        await kiosk.send(HelpRequest(topic="cash"))
        call_id = (await agent.expect(Offer)).call_id
        # the process that made the reservation dies without a word
        assert await b.stop(signal.SIGKILL) == -signal.SIGKILL
        kiosk_again = await connect_kiosk(a.as_running(), "k-1", secret)
        other = await connect_agent(a.as_running(), "ben", "pw")
        await other.send(SetState(state="available"))
        # process a fires the deadline: the call keeps its place and rings the next agent
        offer = await other.expect(Offer, timeout=15)
        assert offer.call_id == call_id
        assert not any(isinstance(m, OfferRevoked) for m in other.received)
        for client in (agent, kiosk, kiosk_again, other):
            await client.close()
    finally:
        await a.stop()
        await b.stop()


async def test_serve_stops_with_a_clear_message_when_the_database_does_not_answer(
    redis_env: dict[str, str], tmp_path: Path
) -> None:
    env = cli_env(KIOSK_ASSIST_DATABASE_URL="postgresql://postgres@127.0.0.1:1/none", **redis_env)
    server = ServerProcess(free_port(), "--data-dir", str(tmp_path), env=env)
    with pytest.raises(AssertionError, match="server exited"):
        await server.start()
    assert "cannot reach the database" in server.logs()
    assert "Traceback" not in server.logs()
