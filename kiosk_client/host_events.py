"""What the kiosk tells its host application: a live status and a stream of events.

``HostEvents.publish(record)`` takes the kiosk's call events (``EventLog.subscribe``), the agent's
permitted actions and the host API's own events (``help_offered``), keeps the status they imply and
hands each one to every subscriber of ``GET /events``. A subscriber's queue is bounded: a host that
stops reading is dropped (its stream ends) rather than letting memory grow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from typing import Any

import msgspec

from kiosk_client.control import AgentAction

SUBSCRIBER_QUEUE = 256

_CALL_STATES = {
    "queued": "queued",
    "ringing": "ringing",
    "transferring": "transferring",
    "agent_joined": "in_call",
    "connected": "in_call",
    "ended": "idle",
    "call_lost": "idle",
}


@dataclass
class HostStatus:
    connection: str = "connecting"
    """connecting, connected or reconnecting."""
    call_state: str = "idle"
    """idle, requested (sent, not yet queued), queued, ringing, in_call or transferring."""
    call_id: str | None = None
    position: int | None = None
    estimated_wait_s: float | None = None
    fault: str | None = None
    """The device fault the host reported (attached to the next help request)."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class HostEvents:
    def __init__(self) -> None:
        self.status = HostStatus()
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._watchers: list[Callable[[dict[str, Any]], None]] = []

    def watch(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` with every later record, at once (the kiosk's own screen)."""
        self._watchers.append(listener)

    def publish(self, record: dict[str, Any]) -> None:
        self._track(record)
        for listener in list(self._watchers):
            listener(record)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(record)
            except asyncio.QueueFull:  # the host stopped reading: end its stream
                self._subscribers.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)

    def publish_event(self, event: str, **fields: Any) -> None:
        self.publish({"event": event, "at": round(time.time(), 3), **fields})

    def publish_action(self, action: AgentAction) -> None:
        """An agent's permitted action (``AgentActions.subscribe``), in full for the host to show."""
        self.publish_event("agent_action", call_id=self.status.call_id, action=msgspec.to_builtins(action))

    def kiosk_event(self, record: dict[str, Any]) -> None:
        """A call event of the kiosk (``EventLog.subscribe``); its one-word ``agent_action`` record is left
        out: ``publish_action`` sends the action itself."""
        if record["event"] != "agent_action":
            self.publish(record)

    def _track(self, record: dict[str, Any]) -> None:
        kind, status = record["event"], self.status
        if kind in ("signed_in", "reconnected"):
            status.connection = "connected"
            if record.get("call_id") is not None:
                status.call_id = record["call_id"]
                status.call_state = "queued" if status.call_state == "idle" else status.call_state
        elif kind == "reconnecting":
            status.connection = "reconnecting"
        if kind == "error" and record.get("ref") == "help_request":  # refused: nothing is queued
            status.call_state, status.call_id = "idle", None
        if kind in _CALL_STATES:
            status.call_state = _CALL_STATES[kind]
            status.call_id = None if status.call_state == "idle" else record.get("call_id")
        if kind == "queued":
            status.position, status.estimated_wait_s = record["position"], record["estimated_wait_s"]
        elif status.call_state != "queued":
            status.position = status.estimated_wait_s = None

    async def subscribe(self) -> AsyncIterator[dict[str, Any]]:
        """Every event from now on, until ``close`` (or until this subscriber falls too far behind)."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        try:
            while (record := await queue.get()) is not None:
                yield record
        finally:
            self._subscribers.discard(queue)

    def close(self) -> None:
        """End every stream (shutdown)."""
        for queue in self._subscribers:
            while queue.full():
                queue.get_nowait()
            queue.put_nowait(None)
        self._subscribers.clear()
