"""The queue board: per queue, the calls waiting, the oldest wait, and its staffed agents by state.

One composition for everyone who shows it: ``GET /api/queues`` (the console's board) and the dashboard's
live stream (``signaling/dashboard.py``).
"""

from __future__ import annotations

from typing import Any

from signaling.routing.engine import QueueBoard, RoutingEngine, now_ms
from signaling.settings import Settings


async def queue_board(engine: RoutingEngine, settings: Settings) -> list[dict[str, Any]]:
    """Every configured queue, in the settings' order."""
    boards = await engine.boards(settings.topics)
    now = now_ms()
    return [board_json(board, settings.queues[board.topic].label or board.topic, now) for board in boards]


def board_json(board: QueueBoard, label: str, now: int) -> dict[str, Any]:
    by_state: dict[str, int] = {}
    for state in board.agents.values():
        by_state[state] = by_state.get(state, 0) + 1
    oldest = board.oldest_created_ms
    return {
        "topic": board.topic,
        "label": label,
        "waiting": board.waiting,
        "oldest_wait_s": None if oldest is None else round((now - oldest) / 1000, 1),
        "agents_by_state": by_state,
        "agents": [{"username": a, "state": s} for a, s in board.agents.items()],
    }
