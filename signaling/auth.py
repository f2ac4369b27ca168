"""Staff sessions: an opaque token in an HttpOnly cookie, its SHA-256 kept in Redis with a lifetime."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from signaling.routing.keys import Keys

COOKIE_NAME = "ka_session"


@dataclass(frozen=True)
class StaffSession:
    username: str
    role: str


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, redis: Redis, keys: Keys, ttl_s: float) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_ms = int(ttl_s * 1000)

    async def create(self, username: str, role: str) -> str:
        token = secrets.token_urlsafe(32)
        key = self._keys.session(_digest(token))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"username": username, "role": role})
            pipe.pexpire(key, self._ttl_ms)
            await pipe.execute()
        return token

    async def get(self, token: str | None) -> StaffSession | None:
        if not token or len(token) > 128:
            return None
        raw = await self._redis.hgetall(self._keys.session(_digest(token)))
        if not raw:
            return None
        values = {_text(k): _text(v) for k, v in raw.items()}
        return StaffSession(values["username"], values["role"])

    async def delete(self, token: str | None) -> None:
        if token:
            await self._redis.delete(self._keys.session(_digest(token)))
