"""Sign-in throttling: a username locks after repeated failures, a client address after more.

Both counts live in Redis (``lua/login_attempt.lua``, ``lua/login_succeeded.lua``), so every server
process sees them. An attempt is counted before its password is checked, and taken back when it was right:
however many requests race, no more than the limit are checked per window. A locked username is refused
without checking the password at all, so the answer says nothing about it; unknown usernames lock the same
way, so locking says nothing about which accounts exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from redis.asyncio import Redis

from signaling.routing.keys import Keys
from signaling.settings import Settings


def _script(name: str) -> str:
    return (resources.files("signaling") / "lua" / f"{name}.lua").read_text()


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in is refused before its password is checked, and for how long."""

    reason: Literal["user", "ip"]
    retry_after_ms: int

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.retry_after_ms / 1000))


class LoginThrottle:
    def __init__(self, redis: Redis, keys: Keys, settings: Settings) -> None:
        self._redis = redis
        self._keys = keys
        self._max_user = settings.login_max_failures
        self._max_ip = settings.login_ip_max_failures
        self._window_ms = int(settings.login_failure_window_s * 1000)
        self._lockout_ms = int(settings.login_lockout_s * 1000)
        self._attempt = redis.register_script(_script("login_attempt"))
        self._succeeded = redis.register_script(_script("login_succeeded"))

    def _user_key(self, username: str | None) -> str:
        return self._keys.login_failures_user(username or "-")

    async def attempt(self, username: str | None, address: str) -> Refusal | None:
        """Count an attempt; a Refusal when the username is locked or the address throttled. ``username``
        None: a name no account can have (only the address counts)."""
        keys = [self._user_key(username), self._keys.login_failures_ip(address)]
        args = [self._max_user, self._max_ip, self._window_ms, self._lockout_ms, "1" if username else "0"]
        which, remaining = await self._attempt(keys=keys, args=args)
        which = which.decode() if isinstance(which, bytes) else str(which)
        if which == "user":
            return Refusal("user", int(remaining))
        if which == "ip":
            return Refusal("ip", int(remaining))
        return None

    async def succeeded(self, username: str, address: str) -> None:
        """The password was right: forget the username's failures, take the attempt back from the address."""
        await self._succeeded(keys=[self._user_key(username), self._keys.login_failures_ip(address)])

    async def failures(self, username: str) -> int:
        """How many failures of ``username`` count now (at the limit: locked)."""
        return int(await self._redis.get(self._user_key(username)) or 0)

    async def is_locked(self, username: str) -> bool:
        return await self.failures(username) >= self._max_user

    async def unlock(self, username: str) -> None:
        """Forget the username's failures (a new password set by an administrator, an enabled account)."""
        await self._redis.delete(self._user_key(username))
