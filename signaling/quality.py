"""Call quality on the server: each party's ``call_stats`` scored, kept while the call lives, watched for
calls that stay poor, and summarised into the history when the call ends.

Samples live in Redis (a bounded list per call, expiring ``quality_keep_s`` after the last one), so every
server sees every call's; the scores come from ``media/quality.py``. A party whose samples are poor
``quality_poor_samples`` times in a row raises the call's alert (``quality:<call_id>``); a good sample from
it clears the count, and once no party is poor the alert clears. The call's end clears it too and stores
the call's summary (``call_quality`` table).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError

from media.quality import Sample, score
from signaling.alerts import Alerts
from signaling.metrics import Metrics
from signaling.protocol import CallStats, ErrorCode, ProtocolError, QualityStats
from signaling.routing.engine import CallView, RoutingEngine
from signaling.routing.keys import Keys
from signaling.settings import Settings
from signaling.store import CallRecord, get_call
from signaling.store.database import Database
from signaling.store.quality import (
    AlertRecord,
    CallQualitySummary,
    alerts_for_call,
    get_call_quality,
    save_call_quality,
)

log = logging.getLogger(__name__)

Party = Literal["kiosk", "agent"]
SERIES_S = 600.0
ALERT_KIND = "call_quality"
PRIVATE_DETAIL = frozenset({"context", "notes", "comment"})
"""Customer context, agents' notes, a survey's comment: left out of timelines (the rating shows)."""
LATEST_FIELDS = (
    "rtt_ms", "jitter_ms", "fps", "bitrate_kbps", "width", "height", "freezes", "candidate_type",
    "limitation",
)  # fmt: skip


def alert_key(call_id: str) -> str:
    return f"quality:{call_id}"


def sample_record(party: Party, stats: QualityStats, now_ms: int) -> dict[str, Any]:
    """A stored sample: the party's figures, when, and the scores they give."""
    scores = score(
        Sample(
            rtt_ms=stats.rtt_ms,
            jitter_ms=stats.jitter_ms,
            jitter_buffer_ms=stats.jitter_buffer_ms,
            audio_loss_pct=stats.audio_loss_pct,
            video_loss_pct=stats.video_loss_pct,
            fps=stats.fps,
            bitrate_kbps=stats.bitrate_kbps,
            width=stats.width,
            height=stats.height,
        )
    )
    figures = msgspec.to_builtins(stats)
    return {"t_ms": now_ms, "party": party, "mos": scores.mos, "video_score": scores.video, **figures}


class CallQuality:
    """``services.quality``: takes the parties' stats, answers the monitoring API's questions."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        db: Database,
        engine: RoutingEngine,
        alerts: Alerts,
        metrics: Metrics,
        settings: Settings,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._db = db
        self._engine = engine
        self._alerts = alerts
        self._metrics = metrics
        self._settings = settings

    # ------------------------------------------------------------------------------------ samples in
    async def report(self, party: Party, sender: str, msg: CallStats) -> dict[str, Any]:
        """Take one party's sample: check it is the call's own connected party, store, score, alert."""
        call = await self._engine.get_call(msg.call_id)
        owner = None if call is None else (call.kiosk_id if party == "kiosk" else call.agent)
        if call is None or owner != sender:
            raise ProtocolError(ErrorCode.UNKNOWN_CALL, f"no such call of yours: {msg.call_id}", "call_stats")
        if call.state != "connecting":
            raise ProtocolError(
                ErrorCode.WRONG_STATE, f"call {msg.call_id} is {call.state}; it has no media", "call_stats"
            )
        record = sample_record(party, msg.stats, _now_ms())
        await self._store(msg.call_id, record)
        if record["mos"] is not None:
            self._metrics.quality_score.observe(record["mos"])
        if record["video_score"] is not None:
            self._metrics.video_score.observe(record["video_score"])
        await self._watch(call, party, self._poor(record))
        return record

    def _poor(self, record: dict[str, Any]) -> bool:
        mos, video = record["mos"], record["video_score"]
        s = self._settings
        return (mos is not None and mos < s.quality_poor_mos) or (
            video is not None and video < s.quality_poor_video
        )

    async def _store(self, call_id: str, record: dict[str, Any]) -> None:
        key, keep = self._keys.call_quality(call_id), int(self._settings.quality_keep_s)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(record))
            pipe.ltrim(key, -self._settings.quality_samples_kept, -1)
            pipe.expire(key, keep)
            pipe.zadd(self._keys.quality_live, {call_id: record["t_ms"]})
            await pipe.execute()

    async def _watch(self, call: CallView, party: Party, poor: bool) -> None:
        key = self._keys.call_quality_poor(call.call_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            if poor:
                pipe.hincrby(key, party, 1)
            else:
                pipe.hset(key, party, 0)
            pipe.expire(key, int(self._settings.quality_keep_s))
            pipe.hvals(key)
            *_, counts = await pipe.execute()
        worst = max(int(count) for count in counts)
        if worst >= self._settings.quality_poor_samples:
            message = (
                f"call {call.call_id} (kiosk {call.kiosk_id}, agent {call.agent}): quality poor for "
                f"{worst} samples in a row"
            )
            await self._alerts.raise_(
                alert_key(call.call_id), ALERT_KIND, "warning", message, call.call_id, call.kiosk_id
            )
        elif worst == 0:
            await self._alerts.clear(alert_key(call.call_id))

    # ------------------------------------------------------------------------------------ call end
    async def call_ended(self, call_id: str) -> None:
        """Clear the call's alert, store its summary, let its samples expire (soon, not at once: the
        timeline still shows them)."""
        # one round trip for what every call's end needs (most calls have no alert open)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrem(self._keys.quality_live, call_id)
            pipe.delete(self._keys.call_quality_poor(call_id))
            pipe.lrange(self._keys.call_quality(call_id), 0, -1)
            pipe.hexists(self._keys.alerts, alert_key(call_id))
            _, _, raw, alerted = await pipe.execute()
        if alerted:
            await self._alerts.clear(alert_key(call_id))
        samples = [json.loads(item) for item in raw]
        if not samples:
            return
        try:
            await save_call_quality(self._db, summarise(call_id, samples))
        except (SQLAlchemyError, OSError):
            log.exception("call %s: quality summary could not be stored", call_id)

    # ------------------------------------------------------------------------------------ reading
    async def samples(self, call_id: str) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(self._keys.call_quality(call_id), 0, -1)
        return [json.loads(item) for item in raw]

    async def live_calls(self) -> list[dict[str, Any]]:
        """Connected calls that report stats, oldest first, with their latest figures and recent series."""
        call_ids = [_s(c) for c in await self._redis.zrange(self._keys.quality_live, 0, -1)]
        calls = []
        for call_id in call_ids:
            call = await self._engine.get_call(call_id)
            if call is None or call.state != "connecting":
                await self.call_ended(call_id)  # ended without this process hearing of it
                continue
            calls.append(live_view(call, await self.samples(call_id), _now_ms()))
        calls.sort(key=lambda c: (c["started_ms"], c["call_id"]))
        return calls

    async def open_alerts(self) -> list[dict[str, Any]]:
        return await self._alerts.open()

    async def timeline(self, call_id: str) -> dict[str, Any] | None:
        """Everything known of one call, in time order: its history events, its alerts, its samples."""
        record = await get_call(self._db, call_id)
        live = await self._engine.get_call(call_id)
        samples = await self.samples(call_id)
        if record is None and live is None and not samples:
            return None
        events: list[dict[str, Any]] = [
            {
                "t_ms": _ms(e.at),
                "kind": e.kind,
                "detail": _without_customer_data(e.detail) | ({"agent": e.agent} if e.agent else {}),
            }
            for e in (record.events if record else [])
        ]
        for alert in await alerts_for_call(self._db, call_id):
            events.append({"t_ms": _ms(alert.raised_at), "kind": "alert_raised", "detail": _alert(alert)})
            if alert.cleared_at is not None:
                events.append(
                    {"t_ms": _ms(alert.cleared_at), "kind": "alert_cleared", "detail": _alert(alert)}
                )
        events.sort(key=lambda e: int(e["t_ms"]))
        summary = await get_call_quality(self._db, call_id)
        return {
            "call": _call_view(call_id, record, live),
            "events": events,
            "samples": samples,
            "quality": None if summary is None else _summary_json(summary),
        }


def live_view(call: CallView, samples: Sequence[dict[str, Any]], now_ms: int) -> dict[str, Any]:
    """One live call as the dashboard shows it: its parties, the latest figures, the last 10 minutes."""
    since = now_ms - int(SERIES_S * 1000)
    return {
        "call_id": call.call_id,
        "kiosk_id": call.kiosk_id,
        "agent": call.agent,
        "topic": call.topic,
        "started_ms": call.created_ms,
        "latest": latest(samples),
        "series": [
            {
                "t_ms": s["t_ms"],
                "party": s["party"],
                "mos": s["mos"],
                "video_score": s["video_score"],
                "rtt_ms": s.get("rtt_ms"),
                "loss_pct": _loss(s),
                "fps": s.get("fps"),
            }
            for s in samples
            if s["t_ms"] >= since
        ],
    }


def latest(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The call's current figures: the agent console's (the richer stats) where it gives them, else the
    kiosk's; the scores are the worse of the two parties' latest (each scores what it receives)."""
    last: dict[str, dict[str, Any]] = {}
    for sample in samples:
        last[sample["party"]] = sample
    agent, kiosk = last.get("agent", {}), last.get("kiosk", {})
    merged: dict[str, Any] = {name: agent.get(name, kiosk.get(name)) for name in LATEST_FIELDS}
    merged["mos"] = _worst(s.get("mos") for s in (agent, kiosk))
    merged["video_score"] = _worst(s.get("video_score") for s in (agent, kiosk))
    merged["loss_pct"] = _worst_loss([s for s in (agent, kiosk) if s])
    merged["kiosk_cpu_pct"] = kiosk.get("cpu_pct")
    return merged


def summarise(call_id: str, samples: Sequence[dict[str, Any]]) -> CallQualitySummary:
    """One call's quality over all its kept samples (both parties)."""
    mos = [s["mos"] for s in samples if s.get("mos") is not None]
    video = [s["video_score"] for s in samples if s.get("video_score") is not None]
    rtt = [s["rtt_ms"] for s in samples if s.get("rtt_ms") is not None]
    losses = [loss for s in samples if (loss := _loss(s)) is not None]
    times = [s["t_ms"] for s in samples]
    return CallQualitySummary(
        call_id=call_id,
        samples=len(samples),
        mos_mean=_mean(mos),
        mos_min=min(mos, default=None),
        video_mean=_mean(video),
        video_min=min(video, default=None),
        rtt_mean_ms=_mean(rtt),
        loss_max_pct=max(losses, default=None),
        candidate_types=sorted({s["candidate_type"] for s in samples if s.get("candidate_type")}),
        first_at=_at(min(times)) if times else None,
        last_at=_at(max(times)) if times else None,
    )


def _without_customer_data(detail: dict[str, Any]) -> dict[str, Any]:
    """An event's detail without the customer's context or the agents' notes: IT reads timelines, and
    the customer's data is for those who take calls (``GET /api/calls/{call_id}``)."""
    return {name: value for name, value in detail.items() if name not in PRIVATE_DETAIL}


def _loss(sample: dict[str, Any]) -> float | None:
    values = [v for v in (sample.get("audio_loss_pct"), sample.get("video_loss_pct")) if v is not None]
    return max(values) if values else None


def _worst_loss(samples: Sequence[dict[str, Any]]) -> float | None:
    values = [v for s in samples if (v := _loss(s)) is not None]
    return max(values) if values else None


def _worst(values: Any) -> float | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _call_view(call_id: str, record: CallRecord | None, live: CallView | None) -> dict[str, Any]:
    if record is not None:
        return {
            "call_id": call_id,
            "kiosk_id": record.kiosk_id,
            "agent": record.agent,
            "topic": record.topic,
            "state": str(record.state),
            "end_reason": record.end_reason,
            "created_ms": _ms(record.created_at),
            "answered_ms": _ms(record.answered_at) if record.answered_at else None,
            "ended_ms": _ms(record.ended_at) if record.ended_at else None,
        }
    if live is not None:
        return {
            "call_id": call_id,
            "kiosk_id": live.kiosk_id,
            "agent": live.agent or None,
            "topic": live.topic,
            "state": live.state,
            "created_ms": live.created_ms,
        }
    return {"call_id": call_id}


def _alert(alert: AlertRecord) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "kind": alert.kind,
        "severity": alert.severity,
        "message": alert.message,
    }


def _summary_json(summary: CallQualitySummary) -> dict[str, Any]:
    values = dataclasses.asdict(summary)
    for name in ("first_at", "last_at"):
        values[name] = _ms(values[name]) if values[name] else None
    return values


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
