"""How much one client socket may send: a token bucket, bounded refusal notices, and a cut-off for floods.

A socket may send ``per_s`` messages a second on average and ``burst`` at once. A message over that is
refused (not acted on); the client is told so at most once per ``NOTICE_INTERVAL_S``. A client refused more
than ``FLOOD_FACTOR * burst`` times without once letting its allowance fill up again is not slowing
down: its socket is closed.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from signaling.protocol import MAX_MESSAGE_BYTES

MAX_FRAME_BYTES = 4 * MAX_MESSAGE_BYTES
"""Frames up to this size are read and refused with ``too_large``; larger ones close the socket (1009)."""
NOTICE_INTERVAL_S = 1.0
FLOOD_FACTOR = 5


class Verdict(enum.Enum):
    ACCEPT = "accept"
    REFUSE = "refuse"
    """Refused; tell the client."""
    REFUSE_QUIETLY = "refuse_quietly"
    """Refused; the client was told less than ``NOTICE_INTERVAL_S`` ago."""
    DISCONNECT = "disconnect"


class TokenBucket:
    def __init__(self, per_s: float, burst: int, now: float) -> None:
        if per_s <= 0 or burst < 1:
            raise ValueError(f"a message rate needs per_s > 0 and burst >= 1, not {per_s}/{burst}")
        self.per_s = per_s
        self.burst = burst
        self.tokens = float(burst)
        self._stamp = now

    def refill(self, now: float) -> None:
        self.tokens = min(float(self.burst), self.tokens + (now - self._stamp) * self.per_s)
        self._stamp = now

    @property
    def full(self) -> bool:
        return self.tokens >= self.burst

    def take(self) -> bool:
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class InboundLimiter:
    """One socket's allowance; ``check()`` once per frame received."""

    def __init__(self, per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._bucket = TokenBucket(per_s, burst, clock())
        self._flood_limit = FLOOD_FACTOR * burst
        self._refused = 0  # since the allowance was last full
        self._told_at: float | None = None

    def check(self) -> Verdict:
        now = self._clock()
        self._bucket.refill(now)
        if self._bucket.full:
            self._refused = 0
        if self._bucket.take():
            return Verdict.ACCEPT
        self._refused += 1
        if self._refused > self._flood_limit:
            return Verdict.DISCONNECT
        if self._told_at is not None and now - self._told_at < NOTICE_INTERVAL_S:
            return Verdict.REFUSE_QUIETLY
        self._told_at = now
        return Verdict.REFUSE
