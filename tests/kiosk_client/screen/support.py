"""Drive the kiosk's screen as a customer would: keys of the PIN pad, touches, and looking at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget

from kiosk_client.host_api import HostApiOptions
from kiosk_client.screen.window import KioskWindow
from kiosk_client.service import attach_host_events, run_service
from kiosk_client.session import KioskOptions, KioskRunner
from media import MediaSource, SyntheticAudioTrack, SyntheticVideoTrack
from signaling.settings import Settings
from tests.support import RunningServer, free_port, running_server, wait_until

T = TypeVar("T")
WAIT_S = 20.0
WIDTH, HEIGHT = 1280, 800


class ScreenDriver:
    def __init__(self, runner: KioskRunner, window: KioskWindow, artifacts: Path, host_api_port: int) -> None:
        self.runner = runner
        self.window = window
        self.artifacts = artifacts
        self.host_api = f"http://127.0.0.1:{host_api_port}"

    async def until(self, check: Callable[[], T | None], what: str, timeout: float = WAIT_S) -> T:
        """Wait (bounded) until what the screen shows satisfies ``check``."""

        async def holds() -> T | None:
            return check()

        try:
            return await wait_until(holds, timeout, what)
        except TimeoutError:
            raise AssertionError(
                f"the screen never showed {what} (page {self.window.state.page!r})"
            ) from None

    async def page(self, name: str) -> None:
        window = self.window
        await self.until(
            lambda: window.state.page == name and window.stack.currentWidget() is window.pages[name],
            f"the {name} page",
        )

    def press(self, key: Qt.Key) -> None:
        """A key of the PIN pad (or keyboard), sent to the window as the customer's key press."""
        QTest.keyClick(self.window.focusWidget() or self.window, key)

    def touch(self, widget: QWidget) -> None:
        QTest.mouseClick(widget, Qt.MouseButton.LeftButton)

    def text(self, name: str) -> str:
        widget = self.window.findChild(QWidget, name)
        assert widget is not None, f"no widget {name!r} on the screen"
        return str(widget.property("text") or widget.property("plainText") or "")

    def visible(self, name: str) -> bool:
        widget = self.window.findChild(QWidget, name)
        return widget is not None and widget.isVisible()

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.runner.events.events if e["event"] == kind]

    def shot(self, name: str) -> Path:
        """Save what the screen shows now (a test artifact for people to look at)."""
        size = (self.window.width(), self.window.height())
        assert size == (WIDTH, HEIGHT), f"the {name} page does not fit a {WIDTH}x{HEIGHT} screen: {size}"
        path = self.artifacts / f"{name}.png"
        assert self.window.grab().save(str(path)), f"could not save {path}"
        return path


@asynccontextmanager
async def running_screen(
    settings: Settings, kiosk_id: str, artifacts: Path, **options: Any
) -> AsyncIterator[tuple[ScreenDriver, RunningServer]]:
    """A server, and a kiosk program with its window in front of it."""
    async with running_server(settings) as server, _screen(server, kiosk_id, artifacts, **options) as screen:
        yield screen, server


@asynccontextmanager
async def _screen(
    server: RunningServer, kiosk_id: str, artifacts: Path, **options: Any
) -> AsyncIterator[ScreenDriver]:
    secret = await server.enroll(kiosk_id)
    source = MediaSource(SyntheticVideoTrack(640, 480), SyntheticAudioTrack())
    runner = KioskRunner(
        KioskOptions(server=server.url, kiosk_id=kiosk_id, secret=secret, exit_after_call=False, **options),
        source=source,
    )
    host_events = attach_host_events(runner)
    window = KioskWindow(runner, host_events, fault_topic="other")
    window.resize(WIDTH, HEIGHT)
    window.show()
    port = free_port()
    host_api = HostApiOptions(port=port, fault_topic="other")
    task = asyncio.ensure_future(run_service(runner, None, host_api, host_events))
    try:
        yield ScreenDriver(runner, window, artifacts, port)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await window.aclose()
        window.close()
        await source.close()
