"""The kiosk's screen under test: a real Qt window (offscreen) on a qasync event loop, in front of a real
kiosk program signed in to a real server; screenshots of each page go to test-artifacts/kiosk-screen/.

Each test runs its whole story (server, kiosk program, window) in one ``run_until_complete`` of a qasync
loop, as ``kiosk run --screen`` does: between two runs qasync processes Qt's events with no running
asyncio loop, which would break tasks that outlive one run (pytest-asyncio's fixtures would).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt loads: no display here

import qasync
from PySide6.QtWidgets import QApplication

from signaling.settings import Settings
from tests.kiosk_client.screen.support import ScreenDriver, running_screen
from tests.support import RunningServer

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "kiosk-screen"
QtRun = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


Story = Callable[[ScreenDriver, RunningServer], Coroutine[Any, Any, None]]
OnScreen = Callable[[str, Story], None]


@pytest.fixture
def on_screen(qt_run: QtRun, settings: Settings, artifacts: Path) -> OnScreen:
    """Play a customer's story on a kiosk's screen (named ``kiosk_id``) in front of a fresh server."""

    async def staged(kiosk_id: str, story: Story) -> None:
        async with running_screen(settings, kiosk_id, artifacts) as (screen, server):
            await story(screen, server)

    return lambda kiosk_id, story: qt_run(staged(kiosk_id, story))


@pytest.fixture
def qt_run() -> QtRun:
    """Run a test's story on Qt's event loop (qasync), as the kiosk program does."""
    app = QApplication.instance() or QApplication(["kiosk-screen-tests"])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)

    def run(story: Coroutine[Any, Any, None]) -> None:
        loop = qasync.QEventLoop(app)
        try:
            loop.run_until_complete(asyncio.wait_for(story, timeout=100))
        finally:
            loop.close()

    return run
