"""``kiosk-assist kiosk run --screen``: the kiosk program with its full-screen window.

Qt and asyncio share one event loop (qasync), so the window, the signalling, the host API and aiortc's
media all run on the same thread's loop; SIGINT and SIGTERM (systemd's stop) end the program cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication

from kiosk_client.host_api import HostApiOptions
from kiosk_client.service import attach_host_events, run_service
from kiosk_client.session import KioskRunner
from signaling.protocol import CallEnded


async def run_with_screen(
    runner: KioskRunner,
    state_file: Path | None,
    host_api: HostApiOptions | None,
    *,
    fullscreen: bool = True,
) -> CallEnded | None:
    """Show the window and run the kiosk program until it ends (or is stopped by a signal)."""
    from kiosk_client.screen.window import KioskWindow  # after the QApplication exists

    host_events = attach_host_events(runner)
    window = KioskWindow(runner, host_events, host_api.fault_topic if host_api else "other")
    if fullscreen:
        window.showFullScreen()
    else:
        window.resize(1280, 800)
        window.show()
    task = asyncio.ensure_future(run_service(runner, state_file, host_api, host_events))
    loop = asyncio.get_running_loop()
    for stop in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        return None
    finally:
        for stop in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(stop)
        await window.aclose()
        window.close()


def run_screen(
    runner: KioskRunner, state_file: Path | None, host_api: HostApiOptions | None, *, fullscreen: bool = True
) -> CallEnded | None:
    if QApplication.instance() is None:
        QApplication(sys.argv[:1])
    result: CallEnded | None = qasync.run(
        run_with_screen(runner, state_file, host_api, fullscreen=fullscreen)
    )
    return result
