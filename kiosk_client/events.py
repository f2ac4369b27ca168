"""The kiosk's call-event log: one JSON object per line, appended as events happen (``--events FILE``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Listener = Callable[[dict[str, Any]], None]


def describe(record: dict[str, Any]) -> str | None:
    """What a person at the kiosk would read for an event (the text screen of ``kiosk run``)."""
    kind = record["event"]
    if kind == "queued":
        if record["position"] == 0:
            return "Connecting you to a member of staff..."
        minutes = max(1, round(record["estimated_wait_s"] / 60))
        return f"You are number {record['position']} in line. Estimated wait: about {minutes} min."
    texts = {
        "ringing": "A member of staff is being called for you...",
        "transferring": "Transferring you to a colleague who can help. Please stay...",
        "agent_joined": f"{record.get('agent', 'A member of staff')} is joining the call.",
        "connected": "You are connected.",
        "chat_received": f"Staff: {record.get('text', '')}",
        "chat_sent": f"You: {record.get('text', '')}",
        "reconnecting": "Connection lost; reconnecting...",
        "reconnected": "Reconnected.",
        "media_lost": "The video connection was interrupted; reconnecting...",
        "media_restored": "You are connected again.",
        "call_lost": "The connection was lost for too long and the call has ended. Please try again.",
        "ended": "The call has ended. Thank you.",
        "error": f"Sorry: {record.get('message', 'something went wrong')}",
        "video_help": "Video help is available again."
        if record.get("available")
        else "Video help is not available at this kiosk right now. Staff have been told.",
    }
    return texts.get(kind)


class EventLog:
    def __init__(self, path: Path | None, listener: Listener | None = None) -> None:
        self._path = path
        self._listener = listener
        self._subscribers: list[Listener] = []
        self.events: list[dict[str, Any]] = []

    def subscribe(self, listener: Listener) -> None:
        """Hand every later event to ``listener`` too (the host API's event stream)."""
        self._subscribers.append(listener)

    def write(self, event: str, **fields: Any) -> None:
        record = {"event": event, "at": round(time.time(), 3), **fields}
        self.events.append(record)
        if self._listener is not None:
            self._listener(record)
        for subscriber in self._subscribers:
            subscriber(record)
        if self._path is not None:
            with self._path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record, separators=(",", ":")) + "\n")
