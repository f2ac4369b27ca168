"""Servers for benchmarks: ``kiosk-assist serve`` in its own process, on the local Redis when one answers
(else the embedded one) and SQLite under a scratch data directory."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError

from signaling.settings import Settings

LOCAL_REDIS = "redis://127.0.0.1:6379/14"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def local_redis() -> str | None:
    client: Redis = Redis.from_url(LOCAL_REDIS, socket_connect_timeout=1)
    try:
        return LOCAL_REDIS if await client.ping() else None
    except (OSError, RedisError):
        return None
    finally:
        await client.aclose()


async def bench_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for an in-process server on a free port, with its own key prefix."""
    values: dict[str, object] = {
        "port": free_port(),
        "data_dir": data_dir,
        "redis_url": await local_redis(),
        "redis_prefix": f"bench{uuid.uuid4().hex[:8]}",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


Cli = Callable[..., Awaitable[str]]


@dataclass(frozen=True)
class ServedProcess:
    """A running ``kiosk-assist serve``: where it listens, its process id and the Redis it uses."""

    url: str
    cli: Cli
    pid: int
    redis_url: str | None
    """The local Redis it shares with the benchmark, or None when it started an embedded one."""
    redis_prefix: str
    data_dir: Path
    stop: Callable[[], Awaitable[None]]
    """Stop the server now (SIGTERM: it drains, closing every socket); leaving the block then does nothing."""


STOP_TIMEOUT_S = 30.0


@asynccontextmanager
async def served(data_dir: Path, *extra: str) -> AsyncIterator[tuple[str, Cli]]:
    """A running ``kiosk-assist serve`` and a function to run other commands against its data."""
    async with serve_process(data_dir, *extra) as served:
        yield served.url, served.cli


@asynccontextmanager
async def serve_process(data_dir: Path, *extra: str) -> AsyncIterator[ServedProcess]:
    """Like :func:`served`, with the process id, Redis URL and key prefix (for benchmarks that look at the
    server from outside). Data already in ``data_dir`` (its SQLite store) is used as it is."""
    redis_url = await local_redis()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "KIOSK_ASSIST_REDIS_PREFIX": prefix}
    env.pop("KIOSK_ASSIST_DATABASE_URL", None)
    if redis_url:
        env["KIOSK_ASSIST_REDIS_URL"] = redis_url
    else:
        env.pop("KIOSK_ASSIST_REDIS_URL", None)

    async def cli(*args: str, stdin: str = "") -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "signaling.cli", *args, "--data-dir", str(data_dir), env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate(stdin.encode())
        if process.returncode != 0:
            raise RuntimeError(f"kiosk-assist {args[0]} failed: {err.decode()[-500:]}")
        return out.decode()

    port = free_port()
    log = (data_dir / "server.log").open("ab")
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling.cli", "serve", "--port", str(port), "--data-dir", str(data_dir),
        *extra, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(url, server)
        yield ServedProcess(url, cli, server.pid, redis_url, prefix, data_dir, lambda: _stop(server))
    finally:
        await _stop(server)
        log.close()


async def _stop(server: asyncio.subprocess.Process) -> None:
    """SIGTERM (the server drains and exits), then SIGKILL if it has not exited in time."""
    if server.returncode is not None:
        return
    server.terminate()
    try:
        await asyncio.wait_for(server.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        server.kill()
        await server.wait()


async def _wait_ready(url: str, server: asyncio.subprocess.Process, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout), aiohttp.ClientSession() as http:
        while server.returncode is None:
            try:
                async with http.get(f"{url}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)  # polling a starting process
    raise RuntimeError(f"the server exited with {server.returncode}")
