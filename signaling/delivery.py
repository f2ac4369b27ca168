"""Cross-instance delivery: a message for a kiosk or agent reaches it whichever process holds its socket.

Every process listens on one pattern subscription and hands matching messages to its local connections.
Messages a party must not miss go through its outbox (signaling/outbox.py): numbered, kept for a reconnect,
and published by Redis in that order. Others (queue positions, control) go straight to a local connection,
or are published for the process that holds it.

If the subscription's connection fails (Redis restarted, failed over, or the network dropped), the listener
subscribes again with backoff, reports ``subscribed`` false meanwhile (the server is then not ready), and
runs its ``on_resubscribed`` callbacks once it is back (to restore what a Redis that lost its data needs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from signaling.outbox import Outbox
from signaling.protocol import ServerMessage, encode
from signaling.routing.keys import Keys

log = logging.getLogger(__name__)

Sink = Callable[[str], None]
SUPERSEDED = "\x00superseded:"
"""Control payload: a newer connection of the same party took over; older ones close themselves."""
SESSION_ENDED = "\x00session_ended:"
"""Control payload, followed by a session digest: that staff session was signed out; a console opened with
it acts on nothing more."""
REVOKED = "\x00revoked:"
"""Control payload, followed by ``<reason>:<text>``: the party's credential ended (a kiosk revoked or
rotated, a staff member signed out everywhere or disabled); its connections close at once, wherever."""


RESUBSCRIBE_DELAYS_S = (0.1, 0.3, 1.0, 2.0, 5.0)
"""Waits before each new attempt to subscribe after the subscription failed (then the last, repeatedly)."""


class Delivery:
    def __init__(self, redis: Redis, keys: Keys, keep_s: float) -> None:
        self._redis = redis
        self._keys = keys
        self.outbox = Outbox(redis, keys, keep_s)
        self._local: dict[str, Sink] = {}
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self.subscribed = False
        """Whether messages from other processes reach this one now."""
        self.on_resubscribed: list[Callable[[], Awaitable[None]]] = []

    async def start(self) -> None:
        await self._subscribe()
        self._task = asyncio.create_task(self._listen(), name="delivery-listener")
        self.outbox.start()

    async def _subscribe(self) -> None:
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.psubscribe(self._keys.channel("*"))
        self.subscribed = True

    async def _unsubscribe(self) -> None:
        self.subscribed = False
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            self._pubsub = None

    async def stop(self) -> None:
        await self.outbox.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._unsubscribe()

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                if self._pubsub is None:
                    await self._subscribe()
                    log.warning("delivery: subscribed again after %d failed attempts", failures)
                    failures = 0
                    await self._catch_up()
                    for callback in self.on_resubscribed:
                        await callback()
                await self._relay()
                raise ConnectionError("the subscription ended")
            except (RedisError, OSError) as exc:
                if self.subscribed or failures == 0:
                    log.warning("delivery: subscription to Redis lost (%s); subscribing again", exc)
                await self._unsubscribe()
                await asyncio.sleep(RESUBSCRIBE_DELAYS_S[min(failures, len(RESUBSCRIBE_DELAYS_S) - 1)])
                failures += 1

    async def _catch_up(self) -> None:
        """Messages published while this process was not subscribed never reached its connections: hand
        each the numbered messages in its outbox (a connection sends only those after its last ``seq``;
        copies that also arrive through the subscription are dropped the same way)."""
        addresses = list(self._local)
        if not addresses:
            return
        for address, held in (await self.outbox.kept(addresses)).items():
            sink = self._local.get(address)
            if sink is not None:
                for data in held:
                    sink(data)
        log.info("delivery: %d connections caught up from their outboxes", len(addresses))

    async def _relay(self) -> None:
        assert self._pubsub is not None
        prefix_len = len(self._keys.channel(""))
        async for item in self._pubsub.listen():
            if item.get("type") != "pmessage":
                continue
            channel = item["channel"]
            address = (channel.decode() if isinstance(channel, bytes) else channel)[prefix_len:]
            sink = self._local.get(address)
            if sink is not None:
                data = item["data"]
                sink(data.decode() if isinstance(data, bytes) else data)

    @property
    def local_addresses(self) -> list[str]:
        return list(self._local)

    async def attach(self, address: str, sink: Sink, conn_id: str) -> None:
        """Route ``address`` to ``sink`` here; tell any older connection elsewhere to close."""
        old = self._local.get(address)
        self._local[address] = sink
        if old is not None:
            old(SUPERSEDED + conn_id)
        await self._redis.publish(self._keys.channel(address), SUPERSEDED + conn_id)

    def detach(self, address: str, sink: Sink) -> None:
        if self._local.get(address) == sink:  # == : a bound method is a new object on every access
            del self._local[address]

    async def send(self, address: str, message: ServerMessage, *, durable: bool = True) -> None:
        """Send ``message`` to ``address``: ``durable`` ones through its outbox (numbered, kept for a
        reconnect, in order with every other process's), the rest at once, lost if the party is away."""
        if durable:
            self.outbox.post(address, encode(message))
        else:
            await self.send_raw(address, encode(message))

    async def send_raw(self, address: str, data: str) -> None:
        sink = self._local.get(address)
        if sink is not None:
            sink(data)
        else:
            await self._redis.publish(self._keys.channel(address), data)
