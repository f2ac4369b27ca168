"""The kiosk's call-event log: one JSON object per line, appended as events happen (``--events FILE``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class EventLog:
    def __init__(self, path: Path | None) -> None:
        self._path = path
        self.events: list[dict[str, Any]] = []

    def write(self, event: str, **fields: Any) -> None:
        record = {"event": event, "at": round(time.time(), 3), **fields}
        self.events.append(record)
        if self._path is not None:
            with self._path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record, separators=(",", ":")) + "\n")
