"""Keeps waiting kiosks told of their position and estimated wait, coalesced to one push per second.

Each process watches only the kiosks connected to it, and pushes only when a value changed, so one match
never fans out into a burst of messages to every waiting kiosk at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from signaling.delivery import Delivery
from signaling.protocol import Queued
from signaling.routing.engine import RoutingEngine
from signaling.routing.keys import kiosk_address


@dataclass
class _Watch:
    call_id: str
    topic: str
    last: tuple[int, int] | None = None


class QueueWatcher:
    def __init__(self, engine: RoutingEngine, delivery: Delivery, average_handle_s: float) -> None:
        self._engine = engine
        self._delivery = delivery
        self._average_handle_s = average_handle_s
        self._watches: dict[str, _Watch] = {}

    def watch(self, kiosk_id: str, call_id: str, topic: str, last: tuple[int, int] | None = None) -> None:
        self._watches[kiosk_id] = _Watch(call_id, topic, last)

    def unwatch(self, kiosk_id: str) -> None:
        self._watches.pop(kiosk_id, None)

    def estimate(self, position: int, agents_free: int) -> int:
        return (
            math.ceil(position * self._average_handle_s / max(1, agents_free + 1))
            if position > 1
            else (0 if agents_free else math.ceil(self._average_handle_s))
        )

    async def tick(self) -> None:
        """Push changed positions; forget calls that are no longer waiting."""
        items = list(self._watches.items())
        if not items:
            return
        positions = await self._engine.queue_positions([(w.call_id, w.topic) for _, w in items])
        free: dict[str, int] = {}
        for (kiosk_id, watch), position in zip(items, positions, strict=True):
            if position is None:
                # ringing an agent (it may come back to the queue) or over: stop once it is not ringing
                call = await self._engine.get_call(watch.call_id)
                if (call is None or call.state != "reserved") and self._watches.get(kiosk_id) is watch:
                    del self._watches[kiosk_id]
                continue
            if watch.topic not in free:
                free[watch.topic] = await self._engine.available_agents(watch.topic)
            value = (position, self.estimate(position, free[watch.topic]))
            if value != watch.last:
                watch.last = value
                await self._delivery.send(
                    kiosk_address(kiosk_id),
                    Queued(call_id=watch.call_id, position=value[0], estimated_wait_s=value[1]),
                )
