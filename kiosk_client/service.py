"""The kiosk program on a kiosk: the runner, its state file (crash recovery) and the host API together.

``run_service`` keeps the runner's resume point in the state file as messages are handled, so a program
restarted within the server's grace resumes its session (queue place or call signalling); when a host API
port is set it serves the host application and, in serve mode, stays connected for one call after
another.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from kiosk_client.host_api import HostApiOptions, serve_host_api
from kiosk_client.host_events import HostEvents
from kiosk_client.resume_state import ResumeState
from kiosk_client.session import KioskRunner
from signaling.protocol import CallEnded

log = logging.getLogger(__name__)


def keep_resume_point(runner: KioskRunner, path: Path) -> ResumeState:
    """Resume the session saved in ``path`` (if it is this kiosk's), and keep saving it there."""
    state = ResumeState(path, runner.options.server, runner.options.kiosk_id)
    point = state.load()
    if point is not None:
        log.info("resuming the session saved in %s (after message %d)", path, point.last_seq)
        runner.signaling.restore(point.resume_token, point.last_seq)
        state.call = point.call
        runner.resume_media = point.call
    runner.signaling.on_resume_point = state.save
    runner.on_call_media = state.call_changed
    return state


def attach_host_events(runner: KioskRunner) -> HostEvents:
    """Hand the runner's call events and the agent's actions to a ``HostEvents`` for the host API."""
    events = HostEvents()
    runner.host_faults = lambda: [events.status.fault] if events.status.fault else []
    runner.events.subscribe(events.kiosk_event)
    runner.actions.subscribe(events.publish_action)
    return events


@asynccontextmanager
async def _host_api(
    runner: KioskRunner, options: HostApiOptions | None, events: HostEvents | None
) -> AsyncIterator[None]:
    if options is None:
        yield
        return
    async with serve_host_api(runner, events or attach_host_events(runner), options):
        yield


async def run_service(
    runner: KioskRunner,
    state_file: Path | None = None,
    host_api: HostApiOptions | None = None,
    host_events: HostEvents | None = None,
) -> CallEnded | None:
    """Run ``runner`` (build it with ``exit_after_call=False`` to serve call after call); ``host_events``:
    the host API's events when the caller follows them too (the kiosk's screen)."""
    state = keep_resume_point(runner, state_file) if state_file is not None else None
    async with _host_api(runner, host_api, host_events):
        ended = await runner.run()
    if state is not None and ended is not None:  # the run ended on purpose: nothing to resume
        with contextlib.suppress(OSError):
            state.clear()
    return ended
