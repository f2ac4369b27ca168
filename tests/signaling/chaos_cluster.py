"""The chaos test's own services, and the faults it injects into them.

- ``RestartableRedis``: a real redis-server (``EmbeddedRedis``) with append-only persistence, fsynced on
  every write, stopped and started again on the same port with the same data directory.
- ``HistoryProcess``: one ``kiosk-assist history`` beside servers run with ``--history external``.
- ``Fleet``: the ``kiosk-assist serve`` processes; one is SIGKILLed and started again on the same port;
  ``Servers.live`` (what the clients pick from) follows, and every incarnation's log is kept.
- ``plan_faults`` / ``run_faults``: a seeded schedule of those faults, run one after the other.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import aiohttp
from redis.asyncio import Redis

from signaling.embedded_redis import EmbeddedRedis
from tests.signaling.chaos_clients import Servers, now
from tests.support import ServerProcess, wait_until


class RestartableRedis:
    """A persistent redis-server of the test's own; ``url`` stays the same across restarts."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port: int | None = None
        self._server: EmbeddedRedis | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return self._server.url

    async def start(self) -> None:
        self._server = await EmbeddedRedis.start(self.data_dir, port=self.port)
        self.port = self._server.port
        # EmbeddedRedis writes the append-only file with the default fsync (every second); every write is
        # fsynced here, so a stop at any moment loses nothing that a client was told had happened
        client = Redis.from_url(self._server.url)
        try:
            await client.config_set("appendfsync", "always")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def restart(self, down_s: float) -> None:
        await self.stop()
        await asyncio.sleep(down_s)  # how long Redis stays away: the fault, not synchronisation
        await self.start()
        self.restarts += 1


class HistoryProcess:
    """``kiosk-assist history``: stores the routing events of every server into the database."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self._data_dir = data_dir
        self._env = env
        self.process: asyncio.subprocess.Process | None = None
        self.log_path: Path | None = None

    async def start(self) -> None:
        fd, name = tempfile.mkstemp(prefix="kiosk-assist-history-", suffix=".log")
        self.log_path = Path(name)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "signaling.cli", "history", "--data-dir", str(self._data_dir),
            env=self._env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=fd,
        )  # fmt: skip
        os.close(fd)  # the child has its own copy

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""


class Fleet:
    """The ``serve`` processes; ``servers.live`` names the running ones; ``logs`` every incarnation's log."""

    def __init__(self, processes: list[ServerProcess]) -> None:
        self.processes = processes
        self.servers = Servers([p.url for p in processes])
        self.logs: list[tuple[str, Path]] = []
        self.kills = 0

    async def start(self, n: int) -> None:
        process = self.processes[n]
        try:
            await process.start()
        finally:
            if getattr(process, "log_path", None) is not None:
                self.logs.append((process.url, process.log_path))
        self.servers.live.add(n)

    async def start_all(self) -> None:
        await asyncio.gather(*(self.start(n) for n in range(len(self.processes))))

    async def kill(self, n: int) -> None:
        self.servers.live.discard(n)
        await self.processes[n].stop(signal.SIGKILL)
        self.kills += 1

    async def stop_all(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes))

    async def all_ready(self, timeout: float) -> None:
        """Every server answers ``/readyz`` with 200 (Redis and the database reachable, subscribed)."""

        async def ready() -> bool:
            async with aiohttp.ClientSession() as http:
                for process in self.processes:
                    try:
                        async with http.get(f"{process.url}/readyz") as r:
                            if r.status != 200:
                                return False
                    except aiohttp.ClientError:
                        return False
            return True

        await wait_until(ready, timeout, "every server ready")

    def log_lines(self) -> list[tuple[str, str, list[str]]]:
        """(server URL, log file, lines) of every incarnation."""
        return [
            (url, str(path), path.read_text(errors="replace").splitlines() if path.exists() else [])
            for url, path in self.logs
        ]

    def remove_logs(self) -> None:
        for _, path in self.logs:
            path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ the faults
@dataclass(frozen=True)
class Fault:
    at_s: float
    """When, from the start of the behaviour."""
    kind: Literal["kill", "redis"]
    server: int = -1
    down_s: float = 0.0
    """How long the server or Redis stays away before it is started again."""

    def describe(self, fleet: Fleet) -> str:
        if self.kind == "redis":
            return f"Redis stopped, started again after {self.down_s:.1f}s"
        return f"SIGKILL {fleet.processes[self.server].url}, started again after {self.down_s:.1f}s"


def plan_faults(rng: random.Random, run_s: float, servers: int, kills: int) -> list[Fault]:
    """``kills`` SIGKILLs of random servers and one Redis restart, at random times, one per slot of the
    run (so they never overlap: each is over before the next)."""
    slots = kills + 1
    start, end = 3.0, max(6.0, run_s - 8.0)
    width = (end - start) / slots
    redis_slot = rng.randrange(1, slots) if slots > 1 else 0  # not first: let every client connect first
    faults = []
    for slot in range(slots):
        at = start + slot * width + rng.uniform(0.0, width / 3)
        if slot == redis_slot:
            faults.append(Fault(at, "redis", down_s=rng.uniform(0.5, 2.0)))
        else:
            faults.append(Fault(at, "kill", server=rng.randrange(servers), down_s=rng.uniform(0.0, 2.0)))
    return faults


@dataclass(frozen=True)
class Injected:
    fault: Fault
    began_s: float
    repaired_s: float
    """Started again and answering (a server: ready; Redis: answering PING)."""

    def describe(self, fleet: Fleet) -> str:
        return f"{self.began_s:5.1f}s {self.fault.describe(fleet)}; repaired at {self.repaired_s:5.1f}s"


async def run_faults(
    faults: list[Fault], fleet: Fleet, redis: RestartableRedis, run_s: float, injected: list[Injected]
) -> None:
    """Inject each fault at its time (the next one waits until the last is repaired); return at ``run_s``."""
    t0 = now()
    for fault in faults:
        await asyncio.sleep(max(0.0, t0 + fault.at_s - now()))  # the schedule: behaviour
        began = now()
        if fault.kind == "redis":
            await redis.restart(fault.down_s)
        else:
            await fleet.kill(fault.server)
            await asyncio.sleep(fault.down_s)  # how long the server stays dead: the fault
            await fleet.start(fault.server)
        injected.append(Injected(fault, began - t0, now() - t0))
    await asyncio.sleep(max(0.0, t0 + run_s - now()))  # the rest of the run: behaviour
