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

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "kiosk-screen"
QtRun = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


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
