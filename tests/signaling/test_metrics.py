"""``/metrics`` as an operator's Prometheus sees it: every metric the dashboard needs, true after a real call,
fleet-wide figures the same on every server, and labels that never carry a call, kiosk or agent id."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from kiosk_client.session import KioskOptions, KioskRunner
from signaling.protocol import Accept, CallAccepted, Hangup, Offer, SetState
from signaling.settings import Settings
from tests.agent_peer import AgentPeer
from tests.signaling.metrics_support import a_completed_call, exposition, scrape, value
from tests.support import RunningServer, connect_agent, connect_kiosk, free_port, running_server, wait_until

NAMED_METRICS = (
    "kiosk_assist_calls",
    "kiosk_assist_answer_seconds",
    "kiosk_assist_setup_seconds",
    "kiosk_assist_quality_score",
    "kiosk_assist_video_score",
    "kiosk_assist_kiosks",
    "kiosk_assist_agents",
    "kiosk_assist_websocket_connections",
    "kiosk_assist_redis_latency_seconds",
    "kiosk_assist_alerts_open",
    "kiosk_assist_queue_depth",
)
ALLOWED_LABELS = {"outcome", "topic", "status", "state", "kind", "code", "le", "action"}


@pytest.fixture
async def after_a_call(server: RunningServer) -> tuple[RunningServer, str, list[Sample]]:
    return server, *await a_completed_call(server)


async def test_every_dashboard_metric_is_exposed_and_true_after_a_real_call(
    after_a_call: tuple[RunningServer, str, list[Sample]],
) -> None:
    server, _, in_call = after_a_call
    assert value(in_call, "kiosk_assist_agents", state="in_call") == 1
    assert value(in_call, "kiosk_assist_agents", state="available") == 0
    assert value(in_call, "kiosk_assist_websocket_connections", kind="kiosk") == 1
    assert value(in_call, "kiosk_assist_websocket_connections", kind="agent") == 1
    kiosks = [value(in_call, "kiosk_assist_kiosks", status=st) for st in ("online", "offline", "degraded")]
    assert sum(k or 0 for k in kiosks) == 1  # the one enrolled kiosk, whatever its health
    samples = await wait_until(lambda: _with_redis_probe(server), what="a Redis PING timed")
    families = {f.name for f in text_string_to_metric_families(await exposition(server))}
    assert set(NAMED_METRICS) <= families  # alerts by kind: no series while no alert is open
    assert value(samples, "kiosk_assist_calls_total", outcome="completed") == 1
    assert value(samples, "kiosk_assist_answer_seconds_count") == 1
    assert value(samples, "kiosk_assist_setup_seconds_count") == 1  # the second media report is not a setup
    setup_s = value(samples, "kiosk_assist_setup_seconds_sum")
    assert setup_s is not None
    assert 0 <= setup_s < 10
    assert value(samples, "kiosk_assist_agents", state="in_call") == 0  # the call is over
    assert value(samples, "kiosk_assist_websocket_connections", kind="kiosk") == 0  # both hung up and left
    assert value(samples, "kiosk_assist_websocket_connections", kind="agent") == 0
    assert (value(samples, "kiosk_assist_redis_latency_seconds_count") or 0) >= 1
    assert (value(samples, "kiosk_assist_quality_score_count") or 0) >= 1


async def _with_redis_probe(server: RunningServer) -> list[Sample] | None:
    samples = await scrape(server)
    return samples if value(samples, "kiosk_assist_redis_latency_seconds_count") else None


async def test_no_metric_label_carries_a_call_kiosk_or_agent_id(
    after_a_call: tuple[RunningServer, str, list[Sample]],
) -> None:
    server, call_id, _ = after_a_call
    ids = {call_id, "k-metrics", "mia"}
    for sample in await scrape(server):
        if not sample.name.startswith("kiosk_assist_"):
            continue
        assert set(sample.labels) <= ALLOWED_LABELS, f"{sample.name} has labels {sorted(sample.labels)}"
        assert not ids & set(sample.labels.values()), f"{sample.name} names a call, kiosk or agent"


async def test_open_connections_are_counted_by_kind(server: RunningServer) -> None:
    kiosk = await connect_kiosk(server, "k-open", await server.enroll("k-open"))
    console = await connect_agent(server, "olga", await server.add_agent("olga"))
    try:
        samples = await scrape(server)
        assert value(samples, "kiosk_assist_websocket_connections", kind="kiosk") == 1
        assert value(samples, "kiosk_assist_websocket_connections", kind="agent") == 1
    finally:
        await kiosk.close()
        await console.close()


async def test_agents_by_state_is_the_whole_fleet_on_every_server(
    server: RunningServer, settings: Settings
) -> None:
    """An agent signed in on one server shows on another's /metrics: scraping either gives the fleet."""
    async with running_server(replace(settings, port=free_port())) as other:
        console = await connect_agent(server, "ines", await server.add_agent("ines"))
        try:
            await console.send(SetState(state="available"))

            async def seen_available() -> bool:
                return value(await scrape(other), "kiosk_assist_agents", state="available") == 1

            await wait_until(seen_available, what="the other server's count")
            assert value(await scrape(other), "kiosk_assist_agents", state="away") == 0
            assert value(await scrape(other), "kiosk_assist_websocket_connections", kind="agent") == 0
        finally:
            await console.close()


async def test_setup_time_runs_from_accept_to_the_kiosk_programs_media_connected(
    server: RunningServer,
) -> None:
    """With the real kiosk program (aiortc) and a real agent peer: one setup observed, of plausible length."""
    console = await connect_agent(server, "bob", await server.add_agent("bob", skills=("cash",)))
    await console.send(SetState(state="available"))
    options = KioskOptions(
        server=server.url, kiosk_id="k-media", secret=await server.enroll("k-media"), request_help="cash"
    )
    kiosk_task = asyncio.create_task(KioskRunner(options).run())
    peer = AgentPeer()
    try:
        offer = await console.expect(Offer)
        await console.send(Accept(call_id=offer.call_id))
        await peer.answer(console, await console.expect(CallAccepted))

        async def setup_seen() -> list[Sample] | None:
            samples = await scrape(server)
            return samples if value(samples, "kiosk_assist_setup_seconds_count") else None

        samples = await wait_until(setup_seen, 20.0, what="the kiosk's media connected")
        setup_s = value(samples, "kiosk_assist_setup_seconds_sum")
        assert setup_s is not None
        assert 0.05 < setup_s < 10  # offer, answer, ICE, DTLS and the first data-channel heartbeat
        await console.send(Hangup(call_id=offer.call_id))
        await asyncio.wait_for(kiosk_task, 20.0)
        assert value(await scrape(server), "kiosk_assist_setup_seconds_count") == 1
    finally:
        kiosk_task.cancel()
        await asyncio.gather(kiosk_task, return_exceptions=True)
        await peer.close()
        await console.close()
