"""The IT and supervisors' dashboard in headless Chromium, under the server's content security policy:
supervisors and IT staff see it and an agent is refused; a kiosk that goes silent turns offline on the page
without a reload; a live call's stats appear and update as the parties report them, and a call whose stats
stay poor raises an alert on the page. A screenshot of the dashboard with a live call is saved for review."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from signaling.protocol import (
    Accept,
    AgentJoined,
    CallAccepted,
    CallStats,
    Heartbeat,
    HelpRequest,
    Offer,
    QualityStats,
    Queued,
)
from signaling.quality import sample_record
from tests.agent_console.support import UI_WAIT_MS, Clients, Consoles, sign_in
from tests.support import Client, RunningServer

PASSWORD = "correct horse"
GOOD = QualityStats(
    rtt_ms=42.0, jitter_ms=3.0, audio_loss_pct=0.1, video_loss_pct=0.2, fps=29.8, bitrate_kbps=820.0,
    width=640, height=480, freezes=0, candidate_type="host", limitation="none",
)  # fmt: skip
FAIR = QualityStats(
    rtt_ms=120.0, jitter_ms=12.0, audio_loss_pct=2.5, video_loss_pct=3.0, fps=24.0, bitrate_kbps=540.0,
    width=640, height=480, freezes=1, candidate_type="host", limitation="bandwidth",
)  # fmt: skip
POOR = QualityStats(
    rtt_ms=260.0, jitter_ms=30.0, audio_loss_pct=18.0, video_loss_pct=19.5, fps=14.0, bitrate_kbps=240.0,
    width=640, height=480, freezes=4, candidate_type="relay", limitation="bandwidth",
)  # fmt: skip
MOS_SHOWN = re.compile(r"^[1-5]\.\d$")
KIOSK_SIDE = QualityStats(rtt_ms=45.0, jitter_ms=4.0, audio_loss_pct=0.3, fps=30.0, cpu_pct=35.0)


async def open_dashboard(page: Page, server: RunningServer, username: str, role: str) -> None:
    await server.add_agent(username, PASSWORD, role=role)
    await page.goto(f"{server.url}/dashboard")
    await sign_in(page, username, PASSWORD)


async def live(page: Page) -> None:
    await expect(page.get_by_test_id("feed-status")).to_have_attribute(
        "data-status", "live", timeout=UI_WAIT_MS
    )


async def test_supervisors_and_it_staff_see_the_dashboard_and_an_agent_is_refused(
    server: RunningServer, consoles: Consoles
) -> None:
    for name, role in (("sue", "supervisor"), ("ivy", "it")):
        page = await consoles.open()
        await open_dashboard(page, server, name, role)
        await live(page)
        for part in ("dashboard-fleet", "dashboard-calls", "dashboard-queues", "dashboard-alerts"):
            await expect(page.get_by_test_id(part)).to_be_visible()
        await expect(page.get_by_test_id("service-level")).to_contain_text("answered within 20 s")

    page = await consoles.open()
    await open_dashboard(page, server, "alice", "agent")
    await expect(page.get_by_test_id("dashboard-forbidden")).to_be_visible()
    await expect(page.get_by_test_id("dashboard-fleet")).to_be_hidden()
    response = await page.goto(f"{server.url}/dashboard")
    assert response is not None
    assert response.status == 403


@contextlib.asynccontextmanager
async def heartbeats(kiosk: Client, every_s: float) -> AsyncIterator[None]:
    """The kiosk's heartbeat, as its program sends it, until the block ends."""

    async def beat() -> None:
        while True:
            await kiosk.send(Heartbeat())
            await asyncio.sleep(every_s)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("settings", [{"kiosk_presence_ttl_s": 2.0}], indirect=True)
async def test_a_kiosk_that_goes_silent_turns_offline_on_the_page_without_a_reload(
    server: RunningServer, page: Page, clients: Clients
) -> None:
    await open_dashboard(page, server, "ivy", "it")
    await live(page)
    kiosk = await clients.kiosk("k-7", "Main St lobby")
    tile = page.get_by_test_id("fleet-kiosk-k-7")
    async with heartbeats(kiosk, 0.5):
        await expect(tile).to_have_attribute("data-status", "online", timeout=UI_WAIT_MS)
        await expect(tile).to_contain_text("Main St lobby")
        await expect(tile).to_contain_text("online")
    await kiosk.drop()  # its connection is lost without a goodbye: no more heartbeats
    await expect(tile).to_have_attribute("data-status", "offline", timeout=UI_WAIT_MS)
    await expect(tile).to_contain_text("offline")
    await expect(page.get_by_test_id("alert-kiosk_offline")).to_contain_text("k-7", timeout=UI_WAIT_MS)


async def connected_call(clients: Clients) -> tuple[Client, Client, str]:
    """A kiosk's call that an agent accepted: its media is connecting, its parties may report stats."""
    kiosk = await clients.kiosk("k-7", "Main St lobby")
    agent = await clients.agent("alice", skills=("cash",))
    await kiosk.send(HelpRequest(topic="cash", language="en"))
    call_id = (await kiosk.expect(Queued)).call_id
    await agent.expect(Offer, where=lambda m: m.call_id == call_id)
    await agent.send(Accept(call_id=call_id))
    await agent.expect(CallAccepted)
    await kiosk.expect(AgentJoined)
    return kiosk, agent, call_id


async def earlier_minute(server: RunningServer, call_id: str) -> None:
    """The call's samples of the minute before (as the parties would have sent them every 5 s), so the
    screenshot shows charts over time; put before the samples the test sends."""
    now = int(time.time() * 1000)
    services = server.services
    history = []
    for i in range(12, 0, -1):
        stats = GOOD if i > 5 else FAIR
        history += [
            sample_record("agent", stats, now - i * 5000),
            sample_record("kiosk", KIOSK_SIDE, now - i * 5000),
        ]
    await services.redis.lpush(
        services.keys.call_quality(call_id), *[json.dumps(s) for s in reversed(history)]
    )


async def test_a_live_calls_stats_appear_and_update_and_poor_stats_raise_an_alert(
    server: RunningServer, page: Page, clients: Clients, artifacts: Path
) -> None:
    await open_dashboard(page, server, "sue", "supervisor")
    await live(page)
    kiosk, agent, call_id = await connected_call(clients)
    await agent.send(CallStats(call_id=call_id, stats=GOOD))
    await kiosk.send(CallStats(call_id=call_id, stats=KIOSK_SIDE))

    call = page.get_by_test_id(f"call-{call_id}")
    mos = call.get_by_test_id("call-mos")
    await expect(mos).to_have_text(MOS_SHOWN, timeout=UI_WAIT_MS)
    first = await mos.inner_text()
    assert float(first) >= 4.0  # good media scores well
    await expect(call).to_have_attribute("data-quality", "good")
    await expect(call).to_contain_text("k-7")
    await expect(call).to_contain_text("direct (host)")

    await earlier_minute(server, call_id)
    for _ in range(server.services.settings.quality_poor_samples):
        await agent.send(CallStats(call_id=call_id, stats=POOR))
    await expect(mos).not_to_have_text(first, timeout=UI_WAIT_MS)
    await expect(call).to_have_attribute("data-quality", "poor")
    await expect(call).to_contain_text("relayed (TURN)")
    alert = page.get_by_test_id("alert-call_quality")
    await expect(alert).to_contain_text(call_id, timeout=UI_WAIT_MS)
    await expect(alert).to_contain_text("warning")
    assert float(await mos.inner_text()) < server.services.settings.quality_poor_mos
    await page.screenshot(path=artifacts / "dashboard-live-call.png", full_page=True)

    await server.drain_history()
    await call.get_by_role("button", name="Kiosk k-7").click()
    timeline = page.get_by_test_id("call-timeline")
    await expect(timeline).to_be_visible()
    await expect(timeline.get_by_test_id("timeline-events")).to_contain_text("Agent accepted")
    await expect(timeline).to_contain_text("Alert raised")
    await page.screenshot(path=artifacts / "dashboard-call-timeline.png")
