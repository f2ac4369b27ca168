"""Where benchmarks get their Redis: the local server when one answers, else an embedded one."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

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
