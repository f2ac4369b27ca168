"""A call survives what breaks in the field: the media path dying (a TURN relay killed and brought back),
the console's connection to the server dropping, and the agent reloading the page.

The kiosk is the real kiosk program (aiortc); the console runs in headless Chromium; the relay is Debian's
coturn on loopback, with relay-only ICE on both sides, so that stopping it really cuts the media path.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from signaling.protocol import CallState
from signaling.settings import Settings
from tests.agent_console.support import (
    MEDIA_WAIT_MS,
    MEDIA_WAIT_S,
    UI_WAIT_MS,
    Kiosks,
    RunningKiosk,
    signed_in_agent,
    wait_for_remote_video,
)
from tests.support import RunningServer, wait_until
from tests.turn_server import TurnServer

pytestmark = pytest.mark.browser

SELECTED_LOCAL_CANDIDATE_TYPE = """async () => {
  const stats = await window.kioskAssist.pc.getStats();
  for (const s of stats.values()) {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      return stats.get(pair.localCandidateId).candidateType;
    }
  }
  return null;
}"""


@pytest.fixture
async def turn(tmp_path: Path) -> AsyncIterator[TurnServer]:
    async with TurnServer(tmp_path / "turn") as running:
        yield running


@pytest.fixture
def settings(settings: Settings, turn: TurnServer) -> Settings:
    """Every call of these tests goes through the relay, with per-call credentials."""
    return dataclasses.replace(
        settings, ice_servers=(turn.url,), turn_secret=turn.secret, ice_transport_policy="relay"
    )


async def answered_call(page: Page, server: RunningServer, kiosks: Kiosks) -> RunningKiosk:
    await signed_in_agent(page, server, "alice")
    kiosk = await kiosks.start("atm-7", "Harbour branch", request_help="cash")
    await kiosk.wait_for("queued")
    await page.get_by_test_id("state-available").click()
    await page.get_by_test_id("accept-call").click(timeout=UI_WAIT_MS)
    await expect(page.get_by_test_id("agent-state")).to_have_text("in_call", timeout=UI_WAIT_MS)
    await wait_for_remote_video(page)
    await kiosk.wait_for("connected")
    return kiosk


async def test_a_call_whose_relay_dies_reconnects_its_media_without_a_reload(
    page: Page, server: RunningServer, kiosks: Kiosks, turn: TurnServer, artifacts: Path
) -> None:
    kiosk = await answered_call(page, server, kiosks)
    assert await page.evaluate(SELECTED_LOCAL_CANDIDATE_TYPE) == "relay"
    call_id = await page.evaluate("() => window.kioskAssist.callId")
    connection = page.locator("#call-connection")
    await expect(connection).to_have_text("Connected")

    await turn.stop()  # every packet of the call went through it
    lost = await kiosk.wait_for("media_lost", call_id=call_id)
    await expect(connection).to_have_text("Reconnecting…", timeout=5_000)
    await page.screenshot(path=artifacts / "console-media-reconnecting.png")
    await turn.start()

    restored = await kiosk.wait_for("media_restored", call_id=call_id)
    await expect(connection).to_have_text("Connected", timeout=MEDIA_WAIT_MS)
    await wait_for_remote_video(page)
    await (await kiosk.consumer("video")).wait_for_frames(10, MEDIA_WAIT_S)
    assert await page.evaluate(SELECTED_LOCAL_CANDIDATE_TYPE) == "relay"
    assert await page.evaluate("() => window.kioskAssist.callId") == call_id  # the same call, no reload
    await expect(page.get_by_role("alert")).to_have_count(0)
    assert restored["at"] >= lost["at"]

    await page.get_by_test_id("hangup").click()
    ended = await asyncio.wait_for(kiosk.task, MEDIA_WAIT_S)
    assert ended is not None
    assert (ended.state, ended.reason) == (CallState.COMPLETED, "agent_hangup")


async def test_a_console_whose_connection_drops_resumes_without_touching_the_call(
    page: Page, server: RunningServer, kiosks: Kiosks
) -> None:
    kiosk = await answered_call(page, server, kiosks)
    await page.evaluate("() => { window.callPc = window.kioskAssist.pc; }")
    conn = server.services.connections._by_member["agent:alice"]
    first_conn_id = conn.conn_id
    conn.ws._req.transport.abort()  # the network drops: no close frame

    async def reconnected() -> bool:
        now = server.services.connections._by_member.get("agent:alice")
        return now is not None and now.conn_id != first_conn_id

    await wait_until(reconnected, what="the console to reconnect")
    # the media was never torn down by the drop: the same peer connection, still connected
    assert await page.evaluate("() => window.callPc === window.kioskAssist.pc")
    assert await page.evaluate("() => window.callPc.connectionState") == "connected"
    await kiosk.runner.hang_up()  # said while the console may still be catching up
    await expect(page.get_by_test_id("wrapup-form")).to_be_visible(timeout=UI_WAIT_MS)
    await expect(page.get_by_test_id("agent-state")).to_have_text("wrap_up")
    await expect(page.locator("#connection-banner")).to_be_hidden()


async def test_an_agent_who_reloads_the_page_mid_call_rejoins_it(
    page: Page, server: RunningServer, kiosks: Kiosks
) -> None:
    kiosk = await answered_call(page, server, kiosks)
    call_id = await page.evaluate("() => window.kioskAssist.callId")
    await page.reload()
    await expect(page.get_by_test_id("agent-state")).to_have_text("in_call", timeout=UI_WAIT_MS)
    await wait_for_remote_video(page)  # the kiosk offered again to the reloaded page
    await kiosk.wait_for("media_restored", call_id=call_id)
    assert await page.evaluate("() => window.kioskAssist.callId") == call_id
    await (await kiosk.consumer("video")).wait_for_frames(10, MEDIA_WAIT_S)

    await page.get_by_test_id("hangup").click()
    ended = await asyncio.wait_for(kiosk.task, MEDIA_WAIT_S)
    assert ended is not None
    assert ended.reason == "agent_hangup"
    await expect(page.get_by_test_id("wrapup-form")).to_be_visible(timeout=UI_WAIT_MS)
