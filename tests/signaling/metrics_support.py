"""Reading ``/metrics`` as Prometheus does, and a call that makes every metric move (for the metrics and
Grafana dashboard tests)."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from signaling.protocol import (
    Accept,
    AgentJoined,
    CallEnded,
    CallStats,
    Hangup,
    HelpRequest,
    MediaStatus,
    Offer,
    QualityStats,
    Queued,
    SetState,
)
from tests.support import RunningServer, connect_agent, connect_kiosk, wait_until


async def exposition(server: RunningServer) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as response:
        assert response.status == 200
        return await response.text()


async def scrape(server: RunningServer) -> list[Sample]:
    return [s for family in text_string_to_metric_families(await exposition(server)) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return None


async def a_completed_call(
    server: RunningServer, kiosk_id: str = "k-metrics", agent: str = "mia"
) -> tuple[str, list[Sample]]:
    """A call through protocol-level clients: asked, answered, media connected, stats sent, hung up; with
    what ``/metrics`` showed while it was connected."""
    kiosk = await connect_kiosk(server, kiosk_id, await server.enroll(kiosk_id))
    console = await connect_agent(server, agent, await server.add_agent(agent, skills=("cash",)))
    try:
        await kiosk.send(HelpRequest(topic="cash"))
        await kiosk.expect(Queued)
        await console.send(SetState(state="available"))
        call_id = (await console.expect(Offer)).call_id
        await console.send(Accept(call_id=call_id))
        await kiosk.expect(AgentJoined)
        await kiosk.send(MediaStatus(call_id=call_id, flowing=True))
        await kiosk.send(MediaStatus(call_id=call_id, flowing=True))  # the 5-second report: timed once
        stats = QualityStats(rtt_ms=40, jitter_ms=5, audio_loss_pct=0.5, video_loss_pct=0.5, fps=25)
        await console.send(CallStats(call_id=call_id, stats=stats))
        await kiosk.send(CallStats(call_id=call_id, stats=stats))
        in_call = await wait_until(lambda: _setup_observed(server), what="the setup time observed")
        await console.send(Hangup(call_id=call_id))
        await kiosk.expect(CallEnded)
        return call_id, in_call
    finally:
        await kiosk.close()
        await console.close()


async def _setup_observed(server: RunningServer) -> list[Sample] | None:
    samples = await scrape(server)
    return samples if value(samples, "kiosk_assist_setup_seconds_count") else None
