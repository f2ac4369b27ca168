"""The agent console in a real (headless) Chromium, answering a real kiosk.

Each test drives the console the way an agent does: through the page's ``data-testid`` hooks, asserting
what the agent sees. The kiosk is the real kiosk program (aiortc, synthetic pattern and tone) running in
this event loop; the browser's camera and microphone are Chromium's fake devices.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bench.browser import CHROMIUM, CHROMIUM_ARGS
from kiosk_client.session import KioskOptions, KioskRunner
from media import LatestFrameConsumer
from signaling.protocol import CallEnded, CallState
from signaling.store import get_call
from tests.support import RunningServer, wait_until

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
UI_WAIT_MS = 10_000
MEDIA_WAIT_MS = 20_000
MEDIA_WAIT_S = MEDIA_WAIT_MS / 1000
PASSWORD = "correct horse battery"

REMOTE_VIDEO = "document.querySelector('[data-testid=remote-video]')"
VIDEO_PLAYING = f"""() => {{
    const v = {REMOTE_VIDEO};
    return v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0;
}}"""
FRAMES_SHOWN = f"() => {REMOTE_VIDEO}.getVideoPlaybackQuality().totalVideoFrames"
MORE_FRAMES_SHOWN = f"(n) => {REMOTE_VIDEO}.getVideoPlaybackQuality().totalVideoFrames >= n + 10"


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture
def chromium_executable() -> Path:
    """Debian's Chromium (the tests never download a browser)."""
    if not CHROMIUM.exists():  # `make test` installs Debian's chromium; a missing browser is a failure
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (or set KIOSK_ASSIST_CHROMIUM)")
    return CHROMIUM


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go for a human to look at (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def browser(chromium_executable: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(chromium_executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Browser, server: RunningServer) -> AsyncIterator[Page]:
    """A fresh browser profile on the console; fails the test if the page threw an uncaught error."""
    context = await browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
    finally:
        await context.close()
    assert not errors, f"the console threw: {errors}"


@dataclass
class RunningKiosk:
    runner: KioskRunner
    task: asyncio.Task[CallEnded | None]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.runner.events.events if e["event"] == kind]

    async def wait_for(self, kind: str, **fields: object) -> dict[str, Any]:
        """The first kiosk event of ``kind`` with these fields, waiting (bounded) until it is written."""

        async def seen() -> dict[str, Any] | None:
            if self.task.done():
                self.task.result()  # surface a crash of the kiosk program at once
            return next((e for e in self.events(kind) if all(e.get(k) == v for k, v in fields.items())), None)

        return await wait_until(seen, timeout=MEDIA_WAIT_S, what=f"kiosk event {kind} {fields}")

    async def consumer(self, kind: str) -> LatestFrameConsumer:
        """What the kiosk receives of the agent's ``kind`` track, once that track has arrived."""

        async def arrived() -> LatestFrameConsumer | None:
            peer = self.runner.peer
            return None if peer is None else peer.consumers.get(kind)

        return await wait_until(arrived, timeout=MEDIA_WAIT_S, what=f"the agent's {kind} track")


@dataclass
class Kiosks:
    """Starts real kiosk programs against the test server; stops every one of them at teardown."""

    server: RunningServer
    tmp_path: Path
    running: list[RunningKiosk] = field(default_factory=list)

    async def start(self, kiosk_id: str, location: str, **options: Any) -> RunningKiosk:
        secret = await self.server.enroll(kiosk_id, location)
        runner = KioskRunner(
            KioskOptions(
                server=self.server.url,
                kiosk_id=kiosk_id,
                secret=secret,
                events=self.tmp_path / f"{kiosk_id}-events.jsonl",
                **options,
            )
        )
        kiosk = RunningKiosk(runner, asyncio.create_task(runner.run(), name=f"kiosk-{kiosk_id}"))
        self.running.append(kiosk)
        return kiosk

    async def stop(self) -> None:
        for kiosk in self.running:
            kiosk.task.cancel()
        for kiosk in self.running:
            with contextlib.suppress(asyncio.CancelledError):
                await kiosk.task


@pytest.fixture
async def kiosks(server: RunningServer, tmp_path: Path) -> AsyncIterator[Kiosks]:
    park = Kiosks(server, tmp_path)
    try:
        yield park
    finally:
        await park.stop()


# ------------------------------------------------------------------------------------------ helpers
async def sign_in(page: Page, username: str, password: str) -> None:
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def signed_in_agent(page: Page, server: RunningServer, username: str) -> None:
    await server.add_agent(username, PASSWORD, skills=("cash",))
    await page.goto("/")
    await sign_in(page, username, PASSWORD)
    await expect(page.get_by_test_id("agent-state")).to_have_text("away", timeout=UI_WAIT_MS)


async def wait_for_remote_video(page: Page) -> None:
    """The kiosk's video plays: it has a size, and frames keep being presented between two reads."""
    await page.wait_for_function(VIDEO_PLAYING, timeout=MEDIA_WAIT_MS)
    shown = await page.evaluate(FRAMES_SHOWN)
    await page.wait_for_function(MORE_FRAMES_SHOWN, arg=shown, timeout=MEDIA_WAIT_MS)


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
