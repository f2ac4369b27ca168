"""The history writer in a process of its own, so its database work never pauses the server's event loop.

``kiosk-assist serve`` starts ``kiosk-assist history`` as a child on the same Redis (the embedded one too)
and database, and keeps it running: a child that exits is started again, with backoff. The child reads
its standard input and exits when it closes, so it never outlives the server, however the server ended
(even SIGKILL). Events the child read but had not stored when it died are reclaimed by the next one (they
stay pending in the consumer group), and storing is idempotent, so nothing is lost or stored twice.

``kiosk-assist history`` also runs on its own, beside servers started with ``--history external``: every
writer is one consumer of the same group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping

from signaling.errors import CliError
from signaling.history_writer import HistoryWriter
from signaling.redis_connect import RedisURLError, redis_from_url
from signaling.routing.keys import Keys
from signaling.settings import Settings
from signaling.store import Database
from signaling.store.minimise import ContextPolicy

log = logging.getLogger(__name__)

RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0)
STOP_TIMEOUT_S = 10.0
"""How long a child may take to finish the batch it is storing once told to stop."""


class HistoryChild:
    """Runs ``kiosk-assist history`` as a child process and keeps it running until cancelled."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def run(self) -> None:
        failures = 0
        try:
            while True:
                code = await self._run_once()
                failures = failures + 1 if code != 0 else 0
                delay = RESTART_DELAYS_S[min(max(failures - 1, 0), len(RESTART_DELAYS_S) - 1)]
                log.warning("history worker exited with code %s; starting it again in %.1f s", code, delay)
                await asyncio.sleep(delay)  # backoff before a restart, not synchronisation
        finally:
            await self._stop()

    async def _run_once(self) -> int | None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "signaling.cli", "history", "--until-stdin-closes",
            env=self._env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self.starts += 1
        log.info("history worker started (pid %d)", self.process.pid)
        return await self.process.wait()

    async def _stop(self) -> None:
        """Close the child's stdin (it stops after its current batch), then make sure it is gone."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.shield(asyncio.wait_for(process.wait(), STOP_TIMEOUT_S))
        except (TimeoutError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.shield(process.wait())


def child_env(settings: Settings, redis_url: str) -> dict[str, str]:
    """The environment of a child writer: the server's Redis (the embedded one's URL too) and database."""
    return {
        **os.environ,
        "KIOSK_ASSIST_REDIS_URL": redis_url,
        "KIOSK_ASSIST_REDIS_PREFIX": settings.redis_prefix,
        "KIOSK_ASSIST_DATABASE_URL": settings.effective_database_url,
        "KIOSK_ASSIST_STORE_CONTEXT": settings.store_context,
        "KIOSK_ASSIST_STORE_CONTEXT_KEYS": ",".join(settings.store_context_keys),
    }


async def run_history(settings: Settings, *, until_stdin_closes: bool) -> int:
    """``kiosk-assist history``: store routing events until SIGTERM/SIGINT (or, as a child, stdin's end)."""
    if settings.redis_url is None:
        raise ValueError("the history worker needs a Redis URL")
    try:
        redis = redis_from_url(settings.redis_url)
    except RedisURLError as exc:
        raise CliError(str(exc)) from None
    db = await Database.connect(settings.effective_database_url)
    writer = HistoryWriter(
        redis, Keys(settings.redis_prefix), db, context=ContextPolicy.from_settings(settings)
    )
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(writer.run(), name="history")
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    watcher = asyncio.create_task(_stdin_closed(), name="stdin") if until_stdin_closes else None
    if watcher is not None:
        watcher.add_done_callback(lambda _: task.cancel())
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        if watcher is not None:
            watcher.cancel()
        await redis.aclose()
        await db.close()
    return 0


async def _stdin_closed() -> None:
    """Returns when the parent closes our stdin, or dies (the pipe's write end closes with it)."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass
