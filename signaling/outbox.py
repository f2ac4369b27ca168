"""Each kiosk's and agent's outbox: the messages it must not miss, numbered, kept in Redis for a while.

A message for a party is appended to its outbox and published in one script (``lua/outbox_append.lua``),
numbered with the party's next ``seq``. Its connection (in whichever process holds it) receives it through
the subscription, so every party gets its messages in the order Redis numbered them, whoever sent them. A
client remembers the last ``seq`` it received; when it reconnects within the grace period, with the resume
token its welcome gave it, the server replays what came after (``lua/outbox_resume.lua``) and the client
carries on, every message received once, in order. A client that cannot resume (no token, a token of an
older session, or messages already trimmed) starts a new session and is told its current state instead.

Messages are written by one task per process, in the order they were posted, in batches (everything posted
in one turn of the event loop goes as one script), so a burst of messages costs one round trip to Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from importlib import resources

from redis.asyncio import Redis
from redis.exceptions import RedisError

from signaling.routing.keys import Keys

log = logging.getLogger(__name__)

OUTBOX_CAP = 1000
"""Messages kept per party; a party that missed more starts a new session."""
MAX_BATCH = 500
RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)
RETRY_FOR_S = 60.0
"""How long a batch is retried while Redis is away, before its messages are given up (and logged)."""


def _script(name: str) -> str:
    return (resources.files("signaling") / "lua" / f"{name}.lua").read_text()


@dataclass(frozen=True)
class Resumption:
    resumed: bool
    token: str
    seq: int
    """The party's last message number when it connected."""
    missed: list[str] = field(default_factory=list)
    """Resumed: the messages after the client's ``last_seq``, in order (each carries its ``seq``)."""


class Outbox:
    def __init__(self, redis: Redis, keys: Keys, keep_s: float) -> None:
        self._redis = redis
        self._keys = keys
        self._keep_ms = int(keep_s * 1000)
        self._append = redis.register_script(_script("outbox_append"))
        self._resume = redis.register_script(_script("outbox_resume"))
        self._pending: list[tuple[str, str]] = []
        self._posted = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_loop(), name="outbox-writer")

    async def stop(self, timeout: float = 5.0) -> None:
        """Write what is still pending (for up to ``timeout``), then stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.flushed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pending:
            log.error("outbox: %d messages not written at shutdown", len(self._pending))

    def post(self, address: str, message: str) -> None:
        """Queue ``message`` (an encoded JSON object) for ``address``; written in order, soon."""
        self._pending.append((address, message))
        self._idle.clear()
        self._posted.set()

    async def flushed(self) -> None:
        """Wait until every message posted so far is in Redis (and published)."""
        await self._idle.wait()

    async def _write_loop(self) -> None:
        while True:
            await self._posted.wait()
            self._posted.clear()
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                await self._write(batch)
                del self._pending[: len(batch)]
            self._idle.set()

    async def _write(self, batch: list[tuple[str, str]]) -> None:
        args: list[str | int] = [self._keys.prefix, self._keep_ms, OUTBOX_CAP]
        for address, message in batch:
            args += (address, message)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + RETRY_FOR_S
        attempt = 0
        while True:
            try:
                await self._append(args=args)
                self.batches += 1
                return
            except (RedisError, OSError) as exc:
                if loop.time() >= give_up:
                    log.error(
                        "outbox: Redis unreachable for %.0f s; %d messages lost (%s)",
                        RETRY_FOR_S,
                        len(batch),
                        exc,
                    )
                    return
                if attempt == 0:
                    log.warning("outbox: cannot write to Redis (%s); retrying", exc)
                await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
                attempt += 1

    async def kept(self, addresses: list[str]) -> dict[str, list[str]]:
        """What each party's outbox holds now, oldest first (to catch up connections that may have missed
        messages while this process was not subscribed)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for address in addresses:
                pipe.lrange(f"{self._keys.prefix}:outbox:{address}", 0, -1)
            lists = await pipe.execute()
        return {
            address: [m.decode() if isinstance(m, bytes) else str(m) for m in held]
            for address, held in zip(addresses, lists, strict=True)
        }

    async def resume(self, address: str, token: str | None, last_seq: int) -> Resumption:
        new_token = secrets.token_urlsafe(18)
        reply = await self._resume(
            args=[self._keys.prefix, address, token or "", max(0, last_seq), new_token]
        )
        resumed, seq = bool(int(reply[0])), int(reply[1])
        if resumed:
            missed = [m.decode() if isinstance(m, bytes) else str(m) for m in reply[2:]]
            return Resumption(True, token or "", seq, missed)
        return Resumption(False, new_token, seq)
