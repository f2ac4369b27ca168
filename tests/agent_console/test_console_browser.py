"""The agent console in a real (headless) Chromium, answering a real kiosk.

Each test drives the console the way an agent does: through the page's ``data-testid`` hooks, asserting
what the agent sees. The kiosk is the real kiosk program (aiortc, synthetic pattern and tone) running in
this event loop; the browser's camera and microphone are Chromium's fake devices.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from signaling.protocol import CallState
from signaling.store import get_call
from tests.agent_console.support import (
    MEDIA_WAIT_MS,
    MEDIA_WAIT_S,
    PASSWORD,
    UI_WAIT_MS,
    Kiosks,
    sign_in,
    signed_in_agent,
    wait_for_remote_video,
)
from tests.support import RunningServer

pytestmark = pytest.mark.browser


# ------------------------------------------------------------------------------------------ tests
async def test_an_agent_answers_a_kiosk_sees_and_chats_with_it_then_wraps_up(
    page: Page, server: RunningServer, kiosks: Kiosks, artifacts: Path
) -> None:
    await server.add_agent("alice", PASSWORD, skills=("cash",), display_name="Alice Smith")
    state = page.get_by_test_id("agent-state")

    await page.goto("/")
    await sign_in(page, "alice", "not her password")
    await expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    await page.screenshot(path=artifacts / "console-sign-in-refused.png")
    await sign_in(page, "alice", PASSWORD)
    await expect(state).to_have_text("away", timeout=UI_WAIT_MS)
    await expect(page.get_by_text("Alice Smith")).to_be_visible()

    kiosk = await kiosks.start(
        "atm-0042",
        "Main St branch, lobby ATM",
        request_help="cash",
        context={"fault": "E42 dispenser jam", "transaction": "withdrawal 200.00"},
        say=("hello from the kiosk",),
    )
    queued = await kiosk.wait_for("queued")
    await page.get_by_test_id("state-available").click()

    ringing = page.get_by_test_id("incoming-call")
    await expect(ringing).to_be_visible(timeout=UI_WAIT_MS)
    await expect(state).to_have_text("ringing")
    for shown in ("atm-0042", "Main St branch, lobby ATM", "cash", "E42 dispenser jam"):
        await expect(ringing).to_contain_text(shown, ignore_case=True)
    await page.screenshot(path=artifacts / "console-incoming-call.png")

    await page.get_by_test_id("accept-call").click()
    await expect(state).to_have_text("in_call", timeout=UI_WAIT_MS)
    await expect(ringing).to_be_hidden()
    await wait_for_remote_video(page)
    await expect(page.get_by_test_id("chat-log")).to_contain_text(
        "hello from the kiosk", timeout=MEDIA_WAIT_MS
    )

    await page.get_by_test_id("chat-input").fill("Hello, I can see the ATM. Let me help.")
    await page.get_by_test_id("chat-send").click()
    await kiosk.wait_for("chat_received", text="Hello, I can see the ATM. Let me help.")
    await expect(page.get_by_test_id("chat-log")).to_contain_text("Let me help.")
    await (await kiosk.consumer("video")).wait_for_frames(10, MEDIA_WAIT_S)
    await expect(page.get_by_role("alert")).to_have_count(0)  # no error was shown during the call
    await page.screenshot(path=artifacts / "console-in-call.png")

    await page.get_by_test_id("hangup").click()
    ended = await asyncio.wait_for(kiosk.task, MEDIA_WAIT_S)
    assert ended is not None
    assert (ended.state, ended.reason) == (CallState.COMPLETED, "agent_hangup")
    form = page.get_by_test_id("wrapup-form")
    await expect(form).to_be_visible(timeout=UI_WAIT_MS)
    await expect(state).to_have_text("wrap_up")

    await page.get_by_test_id("disposition-select").select_option("follow_up")
    await page.get_by_test_id("wrapup-notes").fill("Dispenser jam E42; branch will call the customer back.")
    await page.screenshot(path=artifacts / "console-wrap-up.png")
    await page.get_by_test_id("wrapup-submit").click()
    await expect(state).to_have_text("available", timeout=UI_WAIT_MS)
    await expect(form).to_be_hidden()

    await server.drain_history()
    record = await get_call(server.db, queued["call_id"])
    assert record is not None
    assert (record.state, record.end_reason, record.agent) == ("completed", "agent_hangup", "alice")
    assert (record.disposition, record.notes) == (
        "follow_up",
        "Dispenser jam E42; branch will call the customer back.",
    )


async def test_a_declined_call_keeps_its_place_and_the_agent_is_available_again(
    page: Page, server: RunningServer, kiosks: Kiosks
) -> None:
    await signed_in_agent(page, server, "bob")
    kiosk = await kiosks.start("kiosk-7", "Station Rd branch", request_help="cash")
    queued = await kiosk.wait_for("queued")

    await page.get_by_test_id("state-available").click()
    ringing = page.get_by_test_id("incoming-call")
    await expect(ringing).to_be_visible(timeout=UI_WAIT_MS)
    await expect(ringing).to_contain_text("kiosk-7")
    await page.get_by_test_id("decline-call").click()

    await expect(ringing).to_be_hidden(timeout=UI_WAIT_MS)
    await expect(page.get_by_test_id("agent-state")).to_have_text("available")
    call = await server.services.engine.get_call(queued["call_id"])
    assert call is not None
    assert call.state == "queued"
    assert not kiosk.task.done()
    # the kiosk was told an agent was being rung, and never joined
    assert {e["event"] for e in kiosk.runner.events.events} == {"signed_in", "queued", "ringing"}
    assert {(e["call_id"], e["position"]) for e in kiosk.events("queued")} == {(queued["call_id"], 1)}


async def test_when_the_customer_hangs_up_the_console_says_so_and_asks_for_the_wrap_up(
    page: Page, server: RunningServer, kiosks: Kiosks
) -> None:
    await signed_in_agent(page, server, "carol")
    kiosk = await kiosks.start("kiosk-9", "Harbour branch", request_help="cash")
    await page.get_by_test_id("state-available").click()
    await page.get_by_test_id("accept-call").click()
    await kiosk.wait_for("connected")
    await wait_for_remote_video(page)

    await kiosk.runner.hang_up()

    await expect(page.get_by_test_id("wrapup-form")).to_be_visible(timeout=UI_WAIT_MS)
    await expect(page.get_by_test_id("agent-state")).to_have_text("wrap_up")
    await expect(page.get_by_role("status").filter(has_text="the customer hung up")).to_be_visible()
    await expect(page.get_by_test_id("remote-video")).to_be_hidden()
