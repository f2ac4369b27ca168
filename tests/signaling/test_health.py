"""Operations endpoints: liveness, readiness and Prometheus metrics that reflect real calls."""

from __future__ import annotations

import aiohttp

from signaling.protocol import Accept, CallEnded, Hangup, HelpRequest, Offer, Queued, SetState
from tests.support import RunningServer, connect_agent, connect_kiosk


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        return r.status, await r.text()


async def test_health_and_readiness_answer_when_redis_and_the_database_do(server: RunningServer) -> None:
    assert (await _get(f"{server.url}/healthz"))[0] == 200
    status, body = await _get(f"{server.url}/readyz")
    assert status == 200
    assert '"redis": true' in body
    assert '"database": true' in body


async def test_metrics_count_calls_by_outcome_queue_depth_connections_and_answer_time(
    server: RunningServer,
) -> None:
    kiosk = await connect_kiosk(server, "k-1", await server.enroll("k-1"))
    await kiosk.send(HelpRequest(topic="cash"))
    await kiosk.expect(Queued)
    _, text = await _get(f"{server.url}/metrics")
    assert 'kiosk_assist_queue_depth{topic="cash"} 1.0' in text
    assert "kiosk_assist_connected_kiosks 1.0" in text

    agent = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    await agent.send(SetState(state="available"))
    call_id = (await agent.expect(Offer)).call_id
    await agent.send(Accept(call_id=call_id))
    await agent.send(Hangup(call_id=call_id))
    await kiosk.expect(CallEnded)
    _, text = await _get(f"{server.url}/metrics")
    assert 'kiosk_assist_calls_total{outcome="completed"} 1.0' in text
    assert "kiosk_assist_answer_seconds_count 1.0" in text
    assert 'kiosk_assist_queue_depth{topic="cash"} 0.0' in text
    assert "kiosk_assist_connected_agents 1.0" in text
    await kiosk.close()
    await agent.close()
