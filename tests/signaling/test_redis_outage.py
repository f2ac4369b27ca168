"""Redis goes away and comes back: servers say they are not ready meanwhile, then carry on, across
processes, without being restarted."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from signaling.embedded_redis import EmbeddedRedis
from signaling.protocol import Accept, AgentJoined, CallAccepted, HelpRequest, Offer, Queued, SetState
from tests.support import (
    ServerProcess,
    cli_env,
    connect_agent,
    connect_kiosk,
    free_port,
    run_cli,
    wait_until,
)

pytestmark = pytest.mark.postgres


async def _ready(server: ServerProcess) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/readyz") as r:
        return r.status, await r.json()


async def test_after_a_redis_restart_two_processes_pair_a_kiosk_and_an_agent_again(
    postgres_url: str, tmp_path: Path
) -> None:
    redis = await EmbeddedRedis.start(tmp_path / "redis")
    env = cli_env(KIOSK_ASSIST_DATABASE_URL=postgres_url, KIOSK_ASSIST_REDIS_URL=redis.url)
    code, out, err = await run_cli("kiosks", "enroll", "k-1", "--location", "Lobby", "--json", env=env)
    assert code == 0, err
    secret = json.loads(out)["secret"]
    code, _, err = await run_cli(
        "users", "add", "ana", "--role", "agent", "--skills", "cash", "--password-stdin",
        stdin="pw-ana\n", env=env,
    )  # fmt: skip
    assert code == 0, err
    a = await ServerProcess(free_port(), "--data-dir", str(tmp_path / "a"), env=env).start()
    b = await ServerProcess(free_port(), "--data-dir", str(tmp_path / "b"), env=env).start()
    try:
        await redis.stop()

        async def not_ready() -> bool:
            status, body = await _ready(a)
            return status == 503 and body["redis"] is False

        await wait_until(not_ready, 15, "process a to report not ready while Redis is down")
        redis = await EmbeddedRedis.start(tmp_path / "redis", port=redis.port)

        async def ready_again() -> bool:
            return [(await _ready(server))[0] for server in (a, b)] == [200, 200]

        await wait_until(ready_again, 20, "both processes ready again (subscribed to Redis again)")

        # a kiosk on one process and an agent on the other: every message crosses processes through Redis
        kiosk = await connect_kiosk(a.as_running(), "k-1", secret)
        agent = await connect_agent(b.as_running(), "ana", "pw-ana")
        await agent.send(SetState(state="available"))
        await kiosk.send(HelpRequest(topic="cash"))
        call_id = (await kiosk.expect(Queued)).call_id
        assert (await agent.expect(Offer)).call_id == call_id  # announced by a, delivered by b
        await agent.send(Accept(call_id=call_id))
        await agent.expect(CallAccepted)
        assert (await kiosk.expect(AgentJoined)).call_id == call_id  # announced by b, delivered by a
        await kiosk.close()
        await agent.close()
        for server in (a, b):
            assert "subscription to Redis lost" in server.logs()
    finally:
        await a.stop()
        await b.stop()
        await redis.stop()
