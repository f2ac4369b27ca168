"""Staff sessions: an opaque token in an HttpOnly cookie, its SHA-256 kept in Redis with a lifetime.

A session ends at the first of: its absolute lifetime, ``idle`` time without use (each use slides it,
``lua/session_touch.lua``), sign-out, or the end of every session of its account (``end_all``: sign out
everywhere, a disabled account, a new role or password). Each account's session digests are kept in a set,
so all of them can be ended at once; sessions also carry their account's session generation, which the
database raises when they must all end, so a change made without Redis at hand still ends them.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis

from signaling.routing.keys import Keys

COOKIE_NAME = "ka_session"


@dataclass(frozen=True)
class StaffSession:
    username: str
    role: str
    generation: int = 0
    """The account's session generation when the session was made (it ends when they differ)."""
    digest: str = ""
    """The SHA-256 of the token: the session's name in Redis (never the token itself)."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _script(name: str) -> str:
    return (resources.files("signaling") / "lua" / f"{name}.lua").read_text()


def _now_ms() -> int:
    return int(time.time() * 1000)


class Sessions:
    def __init__(self, redis: Redis, keys: Keys, ttl_s: float, idle_s: float | None = None) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_ms = int(ttl_s * 1000)
        self._idle_ms = int((idle_s if idle_s is not None else ttl_s) * 1000)
        self._create = redis.register_script(_script("session_create"))
        self._touch = redis.register_script(_script("session_touch"))
        self._end_all = redis.register_script(_script("session_end_all"))
        self.on_signed_out: Callable[[str, str], Awaitable[None]] | None = None
        """Told ``(username, digest)`` when one session is signed out, to stop the consoles opened with it."""

    async def create(self, username: str, role: str, generation: int = 0) -> str:
        token = secrets.token_urlsafe(32)
        digest = digest_of(token)
        await self._create(
            keys=[self._keys.session(digest), self._keys.user_sessions(username)],
            args=[username, role, generation, digest, _now_ms(), self._ttl_ms, self._idle_ms,
                  self._keys.session("")],
        )  # fmt: skip
        return token

    async def get(self, token: str | None) -> StaffSession | None:
        """The session of ``token`` (this use slides its idle timeout), or None."""
        if not token or len(token) > 128:
            return None
        return await self.touch(digest_of(token))

    async def touch(self, digest: str) -> StaffSession | None:
        """The session named ``digest``, its idle timeout slid; None when it has ended."""
        raw = await self._touch(keys=[self._keys.session(digest)], args=[_now_ms(), self._idle_ms])
        if not raw:
            return None
        username, role, generation = (_text(v) for v in raw)
        return StaffSession(username, role, int(generation or 0), digest)

    async def delete(self, token: str | None) -> None:
        if token and len(token) <= 128:
            await self.delete_digest(digest_of(token))

    async def delete_digest(self, digest: str) -> None:
        key = self._keys.session(digest)
        username = await self._redis.hget(key, "username")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if username is not None:
                pipe.srem(self._keys.user_sessions(_text(username)), digest)
            await pipe.execute()
        if username is not None and self.on_signed_out is not None:
            await self.on_signed_out(_text(username), digest)

    async def end_all(self, username: str) -> int:
        """End every session of ``username``; how many there were."""
        ended = await self._end_all(keys=[self._keys.user_sessions(username)], args=[self._keys.session("")])
        return int(ended)
