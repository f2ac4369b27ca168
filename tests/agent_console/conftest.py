"""Fixtures of the console's browser tests: Chromium, console pages, kiosks and protocol-level clients."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from bench.browser import CHROMIUM, CHROMIUM_ARGS
from signaling.app import create_app
from signaling.settings import Settings
from tests.agent_console.support import Clients, Consoles, Kiosks, strict_csp
from tests.support import RunningServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The suite's settings, with a test's own changes:
    ``@pytest.mark.parametrize("settings", [{"wrap_up_s": 5.0}], indirect=True)``."""
    changes: dict[str, Any] = getattr(request, "param", {})
    return dataclasses.replace(settings, **changes)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """The real server, as ``tests.support.running_server`` runs it, serving the console's page under a
    strict content security policy (no inline scripts, styles or handlers) as production will."""
    app = create_app(settings)
    app.on_response_prepare.append(strict_csp)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    try:
        yield RunningServer(f"http://{settings.host}:{settings.port}", app)
    finally:
        await runner.cleanup()


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
async def consoles(browser: Browser, server: RunningServer) -> AsyncIterator[Consoles]:
    """Fresh browser profiles on the console; fails the test if any page threw an uncaught error."""
    opened = Consoles(browser, server.url)
    try:
        yield opened
        violations = await opened.csp_violations()
    finally:
        await opened.close()
    assert not opened.errors, f"the console threw: {opened.errors}"
    assert not violations, f"the console broke its content security policy: {violations}"


@pytest.fixture
async def page(consoles: Consoles) -> Page:
    """The console in a fresh browser profile."""
    return await consoles.open()


@pytest.fixture
async def kiosks(server: RunningServer, tmp_path: Path) -> AsyncIterator[Kiosks]:
    park = Kiosks(server, tmp_path)
    try:
        yield park
    finally:
        await park.stop()


@pytest.fixture
async def clients(server: RunningServer) -> AsyncIterator[Clients]:
    opened = Clients(server)
    try:
        yield opened
    finally:
        await opened.close()
