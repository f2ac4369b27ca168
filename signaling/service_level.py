"""Service level: the share of calls answered within a target wait, over a recent window.

The contact-centre convention this follows (Twilio's and Genesys's "abandons after the threshold"):

    service level = answered within T / (answered + abandoned after T + still waiting past T)

- The window holds the calls that asked for help (were created) in the last ``window_s`` seconds.
- A call counts as answered when an agent accepted it; within target when that took at most ``T``.
- A call that ended unanswered (abandoned, timed out, failed) before waiting ``T`` is a short abandon: the
  customer gave up before the target could be missed, so it is left out of the offered calls. One that
  waited longer counts against the service level.
- A call still waiting longer than ``T`` already missed the target and counts against it too, so the
  figure does not look good while customers pile up; one waiting less is not decided yet and left out.

The figures come from the call history in the database (what the history writer has stored, a second or
so behind Redis): durable, the same on every server, and cheap over an hour's calls (the ``created_at``
index). Results are kept for a couple of seconds, as the dashboard asks often.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from signaling.protocol import TERMINAL_CALL_STATES
from signaling.store.database import Database
from signaling.store.models import Call

MAX_WINDOW_S = 7 * 86400
MAX_TARGET_S = 3600
CACHE_S = 2.0
_TERMINAL = frozenset(state.value for state in TERMINAL_CALL_STATES)


@dataclass(frozen=True)
class ServiceLevel:
    window_s: int
    target_s: float
    offered: int
    """Answered calls plus those that waited past the target unanswered (short abandons left out)."""
    answered: int
    answered_within_target: int
    abandoned_after_target: int
    """Ended unanswered after waiting longer than the target (abandoned, timed out, failed)."""
    waiting_past_target: int
    short_abandoned: int
    """Ended unanswered within the target: not counted as offered."""

    @property
    def service_level(self) -> float | None:
        """0..1, or None when no call was offered in the window."""
        return round(self.answered_within_target / self.offered, 4) if self.offered else None

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"service_level": self.service_level}


@dataclass
class _Tally:
    answered: int = 0
    within: int = 0
    abandoned_after: int = 0
    waiting_past: int = 0
    short_abandoned: int = 0

    def add(self, row: Any, now: datetime, target: timedelta) -> None:
        created, answered_at, ended_at, state = row
        if answered_at is not None:
            self.answered += 1
            self.within += answered_at - created <= target
        elif state in _TERMINAL:
            if (ended_at or now) - created > target:
                self.abandoned_after += 1
            else:
                self.short_abandoned += 1
        elif now - created > target:
            self.waiting_past += 1


async def compute(db: Database, window_s: int, target_s: float, now: datetime | None = None) -> ServiceLevel:
    """The service level of the calls created in the last ``window_s`` seconds (rows streamed, not loaded)."""
    now = now or datetime.now(UTC)
    target = timedelta(seconds=target_s)
    query = select(Call.created_at, Call.answered_at, Call.ended_at, Call.state).where(
        Call.created_at >= now - timedelta(seconds=window_s)
    )
    tally = _Tally()
    async with db.session(readonly=True) as session:
        async for row in await session.stream(query.execution_options(yield_per=1000)):
            tally.add(row, now, target)
    offered = tally.answered + tally.abandoned_after + tally.waiting_past
    return ServiceLevel(
        window_s, target_s, offered, tally.answered, tally.within, tally.abandoned_after, tally.waiting_past,
        tally.short_abandoned,
    )  # fmt: skip


class ServiceLevels:
    """``services.service_level``: the figure for a window and target, cached briefly per (window, target)."""

    def __init__(self, db: Database, target_s: float, cache_s: float = CACHE_S) -> None:
        self.db = db
        self.target_s = target_s
        """The default target (``Settings.service_level_target_s``)."""
        self.cache_s = cache_s
        self._cache: dict[tuple[int, float], tuple[float, ServiceLevel]] = {}

    async def current(self, window_s: int = 3600, target_s: float | None = None) -> dict[str, Any]:
        """``{window_s, target_s, offered, answered, answered_within_target, service_level, …}``."""
        target = self.target_s if target_s is None else target_s
        key = (window_s, target)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.cache_s:
            return cached[1].as_json()
        level = await compute(self.db, window_s, target)
        if len(self._cache) > 16:  # a few (window, target) pairs are asked for; never grow without bound
            self._cache.clear()
        self._cache[key] = (time.monotonic(), level)
        return level.as_json()
