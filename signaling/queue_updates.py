"""Keeps waiting kiosks told of their position and estimated wait, coalesced to one push per second.

Each process watches only the kiosks connected to it, and pushes only when a value changed, so one match
never fans out into a burst of messages to every waiting kiosk at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from signaling.delivery import Delivery
from signaling.protocol import Queued
from signaling.routing.engine import ANSWER_WINDOW_MS, RoutingEngine
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

    async def estimates(self, items: list[tuple[str, int]]) -> list[int]:
        """Estimated waits (s) for (topic, position) pairs, from each queue's recent answer rate.

        With at least ``MIN_ANSWERS`` answers in the last ``ANSWER_WINDOW_MS``, a caller at position p
        waits about p / rate; otherwise (a quiet queue) about p times the average handling time / the agents
        staffed.
        """
        topics = sorted({topic for topic, _ in items})
        stats = await self._engine.answer_stats(topics, ANSWER_WINDOW_MS)
        return [self.estimate(position, *stats[topic]) for topic, position in items]

    def estimate(self, position: int, answered: int, staffed: int) -> int:
        if position <= 0:
            return 0
        if answered >= MIN_ANSWERS:
            return math.ceil(position * ANSWER_WINDOW_MS / 1000 / answered)
        return math.ceil(position * self._average_handle_s / max(1, staffed))

    async def tick(self) -> None:
        """Push changed positions; forget calls that are no longer waiting."""
        items = list(self._watches.items())
        if not items:
            return
        positions = await self._engine.queue_positions([(w.call_id, w.topic) for _, w in items])
        waiting = [(kiosk_id, watch, p) for (kiosk_id, watch), p in zip(items, positions, strict=True) if p]
        etas = await self.estimates([(watch.topic, p) for _, watch, p in waiting])
        for (kiosk_id, watch, position), eta in zip(waiting, etas, strict=True):
            if (position, eta) != watch.last:
                watch.last = (position, eta)
                await self._delivery.send(
                    kiosk_address(kiosk_id),
                    Queued(call_id=watch.call_id, position=position, estimated_wait_s=eta),
                    durable=False,  # only the latest matters; a reconnecting kiosk is told it afresh
                )
        left = [
            (kiosk_id, watch)
            for (kiosk_id, watch), rank in zip(items, positions, strict=True)
            if rank is None
        ]
        states = await self._engine.call_states([watch.call_id for _, watch in left])
        for (kiosk_id, watch), state in zip(left, states, strict=True):
            # ringing an agent: if it comes back to the queue the kiosk must hear its place again
            watch.last = None
            if state != "reserved" and self._watches.get(kiosk_id) is watch:
                del self._watches[kiosk_id]


MIN_ANSWERS = 3
