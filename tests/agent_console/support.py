"""What the console's browser tests share: consoles in Chromium, real kiosk programs, protocol-level clients,
and the steps an agent takes (sign in, wait for the kiosk's video)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from kiosk_client.session import KioskOptions, KioskRunner
from media import LatestFrameConsumer
from signaling.protocol import AgentStateChanged, CallEnded, SetState
from tests.support import Client, RunningServer, connect_agent, connect_kiosk, wait_until

UI_WAIT_MS = 10_000
MEDIA_WAIT_MS = 20_000
MEDIA_WAIT_S = MEDIA_WAIT_MS / 1000
PASSWORD = "correct horse battery"
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}

REMOTE_VIDEO = "document.querySelector('[data-testid=remote-video]')"
VIDEO_PLAYING = f"""() => {{
    const v = {REMOTE_VIDEO};
    return v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0;
}}"""
FRAMES_SHOWN = f"() => {REMOTE_VIDEO}.getVideoPlaybackQuality().totalVideoFrames"
MORE_FRAMES_SHOWN = f"(n) => {REMOTE_VIDEO}.getVideoPlaybackQuality().totalVideoFrames >= n + 10"


# The policy the console must live under (no inline scripts, styles or handlers; nothing from elsewhere).
STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
RECORD_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => {
    const where = `${e.sourceFile}:${e.lineNumber}`;
    (window.cspViolations ||= []).push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


async def strict_csp(request: web.Request, response: web.StreamResponse) -> None:
    """An ``on_response_prepare`` hook: the console's page under ``STRICT_CSP``, unless the server sends a
    policy of its own (then that one is what the tests hold the console to)."""
    if request.path == "/":
        response.headers.setdefault("Content-Security-Policy", STRICT_CSP)


@dataclass
class Consoles:
    """Browser profiles on the console (one per staff member); the fixture fails the test if a page threw
    or broke its content security policy."""

    browser: Browser
    base_url: str
    contexts: list[BrowserContext] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self) -> Page:
        context = await self.browser.new_context(base_url=self.base_url, viewport=VIEWPORT)
        self.contexts.append(context)
        await context.add_init_script(RECORD_CSP_VIOLATIONS)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.pages.append(page)
        return page

    async def csp_violations(self) -> list[str]:
        found: list[str] = []
        for page in self.pages:
            if not page.is_closed():
                found += await page.evaluate("() => window.cspViolations ?? []")
        return found

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


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


@dataclass
class Clients:
    """Protocol-level kiosks and agents (no media) around the console under test; closed at teardown."""

    server: RunningServer
    opened: list[Client] = field(default_factory=list)

    async def kiosk(self, kiosk_id: str, location: str = "Test branch") -> Client:
        secret = await self.server.enroll(kiosk_id, location)
        client = await connect_kiosk(self.server, kiosk_id, secret)
        self.opened.append(client)
        return client

    async def agent(self, username: str, *, available: bool = True, **account: object) -> Client:
        """A signed-in agent (a new account), available unless told otherwise."""
        await self.server.add_agent(username, PASSWORD, **account)
        client = await connect_agent(self.server, username, PASSWORD)
        self.opened.append(client)
        if available:
            await client.send(SetState(state="available"))
            await client.expect(AgentStateChanged, where=lambda m: m.state == "available")
        return client

    async def close(self) -> None:
        for client in self.opened:
            await client.close()


async def sign_in(page: Page, username: str, password: str) -> None:
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def signed_in_agent(page: Page, server: RunningServer, username: str, **account: Any) -> None:
    """A new account (an agent on the cash queue unless told otherwise), signed in on ``page``: away."""
    account.setdefault("skills", ("cash",))
    await server.add_agent(username, PASSWORD, **account)
    await page.goto("/")
    await sign_in(page, username, PASSWORD)
    await expect(page.get_by_test_id("agent-state")).to_have_text("away", timeout=UI_WAIT_MS)


async def wait_for_remote_video(page: Page) -> None:
    """The kiosk's video plays: it has a size, and frames keep being presented between two reads."""
    await page.wait_for_function(VIDEO_PLAYING, timeout=MEDIA_WAIT_MS)
    shown = await page.evaluate(FRAMES_SHOWN)
    await page.wait_for_function(MORE_FRAMES_SHOWN, arg=shown, timeout=MEDIA_WAIT_MS)
