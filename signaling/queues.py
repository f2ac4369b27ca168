"""Queues and their rules, configured in one file (``--queues FILE``, TOML) rather than in code.

```toml
[defaults]
max_length = 50          # waiting calls; a kiosk asking beyond it is told the queue is full (0: no limit)
max_wait_s = 900         # a call waiting longer ends as timed_out, and the kiosk is told (0: no limit)
priority_aging_s = 60    # one priority level is worth this much waiting; nothing starves
timezone = "Europe/Madrid"

[[defaults.escalation]]  # who may take a call, widening as it waits
after_s = 0
min_proficiency = 3
any_language = false
[[defaults.escalation]]
after_s = 30
min_proficiency = 1
any_language = true

[queues.cash]
label = "Cash and withdrawals"
hours = ["mon-fri 08:00-20:00", "sat 09:00-14:00"]   # absent: always open
```
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class QueueConfigError(ValueError):
    """The queue file is not valid; the message says where and why."""


@dataclass(frozen=True)
class EscalationStep:
    after_s: float
    min_proficiency: int = 1
    any_language: bool = False

    def encode(self) -> str:
        return f"{int(self.after_s * 1000)}:{self.min_proficiency}:{int(self.any_language)}"


@dataclass(frozen=True)
class HoursSpan:
    days: frozenset[int]
    start: dt.time
    end: dt.time

    def contains(self, moment: dt.datetime) -> bool:
        return moment.weekday() in self.days and self.start <= moment.time() < self.end


DEFAULT_STEPS = (EscalationStep(0, 1, False), EscalationStep(60, 1, True))


@dataclass(frozen=True)
class QueueConfig:
    name: str
    label: str = ""
    max_length: int = 0
    max_wait_s: float = 0.0
    priority_aging_s: float = 60.0
    escalation: tuple[EscalationStep, ...] = DEFAULT_STEPS
    hours: tuple[HoursSpan, ...] = ()
    timezone: str = "UTC"

    def is_open(self, now: dt.datetime) -> bool:
        if not self.hours:
            return True
        local = now.astimezone(ZoneInfo(self.timezone))
        return any(span.contains(local) for span in self.hours)

    def redis_fields(self) -> dict[str, str]:
        """What the routing scripts read of this queue (P:queue_config:<name>)."""
        return {
            "max_length": str(self.max_length),
            "aging_ms": str(int(self.priority_aging_s * 1000)),
            "steps": ",".join(step.encode() for step in self.escalation),
        }


@dataclass(frozen=True)
class QueueSet:
    queues: Mapping[str, QueueConfig] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.queues)

    def __contains__(self, name: object) -> bool:
        return name in self.queues

    def __getitem__(self, name: str) -> QueueConfig:
        return self.queues[name]


def default_queues(names: Sequence[str]) -> QueueSet:
    return QueueSet({name: QueueConfig(name) for name in names})


def _span(text: str, where: str) -> HoursSpan:
    try:
        days_text, times = text.lower().split()
        first, _, last = days_text.partition("-")
        start_text, end_text = times.split("-")
        lo, hi = DAYS.index(first), DAYS.index(last or first)
        days = frozenset(range(lo, hi + 1)) if lo <= hi else frozenset([*range(lo, 7), *range(0, hi + 1)])
        return HoursSpan(days, dt.time.fromisoformat(start_text), dt.time.fromisoformat(end_text))
    except ValueError:
        raise QueueConfigError(f"{where}: hours {text!r} should look like 'mon-fri 08:00-20:00'") from None


def _steps(raw: Any, where: str) -> tuple[EscalationStep, ...]:
    if not isinstance(raw, list) or not raw:
        raise QueueConfigError(f"{where}: escalation must be a non-empty list of steps")
    steps = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) - {"after_s", "min_proficiency", "any_language"}:
            raise QueueConfigError(
                f"{where}: escalation step {i + 1} takes after_s, min_proficiency, any_language"
            )
        step = EscalationStep(
            float(item.get("after_s", 0)),
            int(item.get("min_proficiency", 1)),
            bool(item.get("any_language", False)),
        )
        if step.after_s < 0 or not 1 <= step.min_proficiency <= 5:
            raise QueueConfigError(f"{where}: escalation step {i + 1}: after_s ≥ 0, min_proficiency 1-5")
        steps.append(step)
    if steps[0].after_s != 0:
        raise QueueConfigError(f"{where}: the first escalation step must start at after_s = 0")
    return tuple(sorted(steps, key=lambda s: s.after_s))


_KEYS = {"label", "max_length", "max_wait_s", "priority_aging_s", "escalation", "hours", "timezone"}


def _queue(name: str, raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> QueueConfig:
    where = f"queue {name!r}"
    merged = {**defaults, **raw}
    unknown = set(merged) - _KEYS
    if unknown:
        raise QueueConfigError(f"{where}: unknown settings {sorted(unknown)}")
    timezone = str(merged.get("timezone", "UTC"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueueConfigError(f"{where}: unknown timezone {timezone!r}") from None
    try:
        config = QueueConfig(
            name=name,
            label=str(merged.get("label", "")),
            max_length=int(merged.get("max_length", 0)),
            max_wait_s=float(merged.get("max_wait_s", 0)),
            priority_aging_s=float(merged.get("priority_aging_s", 60)),
            escalation=_steps(merged["escalation"], where) if "escalation" in merged else DEFAULT_STEPS,
            hours=tuple(_span(str(h), where) for h in merged.get("hours", [])),
            timezone=timezone,
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, QueueConfigError):
            raise
        raise QueueConfigError(f"{where}: {exc}") from None
    if config.max_length < 0 or config.max_wait_s < 0 or config.priority_aging_s <= 0:
        raise QueueConfigError(f"{where}: limits must not be negative and priority_aging_s must be positive")
    return config


def parse_queues(text: str, source: str = "queue file") -> QueueSet:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise QueueConfigError(f"{source}: {exc}") from None
    defaults = data.get("defaults", {})
    queues = data.get("queues", {})
    if not isinstance(queues, dict) or not queues:
        raise QueueConfigError(f"{source}: define at least one [queues.NAME] table")
    for name in queues:
        if not name or len(name) > 64 or not all(c.isalnum() or c in "_-." for c in name):
            raise QueueConfigError(
                f"{source}: queue name {name!r} must be 1-64 letters, digits, '_', '-' or '.'"
            )
    return QueueSet({name: _queue(name, raw, defaults) for name, raw in queues.items()})


def load_queues(path: Path) -> QueueSet:
    try:
        text = path.read_text()
    except OSError as exc:
        raise QueueConfigError(f"cannot read the queue file {path}: {exc.strerror}") from None
    return parse_queues(text, str(path))
