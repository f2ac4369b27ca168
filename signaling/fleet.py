"""The kiosk fleet: every enrolled kiosk with its live health, for IT.

Each kiosk reports ``telemetry`` when it connects and every 5 s after (``heartbeat`` counts too); the
server keeps the latest report per kiosk in Redis (``Keys.fleet_kiosk``), so every server answers alike.
A kiosk's status:

- ``offline``: nothing heard from it for ``kiosk_presence_ttl_s`` (15 s), or it signed off (closed its
  connection normally: the program was stopped);
- ``degraded``: its camera or microphone does not work, or its host reports a fault;
- ``online``: otherwise.

A kiosk whose camera or microphone does not work offers no video help: its help requests are refused
(``kiosk_degraded``) until a report says they work again; a host fault alone does not stop help (such a
request even goes ahead in the queue).

Alerts go through ``signaling.alerts``: a report whose ailments differ from the last one raises or clears
``kiosk_degraded:<id>`` at once. Every server runs ``sweep`` periodically: it sets the
``kiosk_assist_kiosks{status}`` gauge and raises ``kiosk_offline:<id>`` for a kiosk gone silent (crashed,
lost power or network; one that signed off was stopped on purpose), clearing it once the kiosk is heard
from again. Raising an open alert or clearing a closed one changes nothing, so several servers agree.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any, Literal

import msgspec
from redis.asyncio import Redis

from signaling.alerts import Alerts
from signaling.metrics import Metrics
from signaling.protocol import DeviceHealth, Telemetry
from signaling.routing.engine import now_ms
from signaling.routing.keys import Keys
from signaling.store import Kiosk, list_kiosks
from signaling.store.database import Database

log = logging.getLogger(__name__)

Status = Literal["online", "offline", "degraded"]
STATUSES: tuple[Status, ...] = ("online", "offline", "degraded")
KEEP_S = 30 * 24 * 3600
"""A kiosk's health is kept this long after its last report (its offline alert closes then too)."""
OFFLINE, DEGRADED = "kiosk_offline", "kiosk_degraded"
"""The kinds (and key prefixes) of the fleet's alerts."""


class Fleet:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        db: Database,
        alerts: Alerts,
        metrics: Metrics,
        silent_after_s: float,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._db = db
        self._alerts = alerts
        self._metrics = metrics
        self._silent_ms = int(silent_after_s * 1000)

    # ----------------------------------------------------------------------------- what kiosks report
    async def seen(self, kiosk_id: str) -> None:
        """The kiosk connected or sent a heartbeat."""
        key = self._keys.fleet_kiosk(kiosk_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "seen", now_ms())
            pipe.hdel(key, "off")
            pipe.expire(key, KEEP_S)
            await pipe.execute()

    async def signed_off(self, kiosk_id: str) -> None:
        """The kiosk closed its connection normally: offline now, and no alert (it was stopped)."""
        key = self._keys.fleet_kiosk(kiosk_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "off", now_ms())
            pipe.expire(key, KEEP_S)
            await pipe.execute()

    async def report(self, kiosk_id: str, telemetry: Telemetry, location: str = "") -> None:
        """Keep the kiosk's latest telemetry (it counts as a heartbeat); when what ails it changed, raise
        or clear its ``kiosk_degraded`` alert at once."""
        key = self._keys.fleet_kiosk(kiosk_id)
        seen, raw, video = now_ms(), msgspec.json.encode(telemetry), video_fault(telemetry)
        ails = _ailments(telemetry)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, "ails")
            pipe.hset(key, mapping={"seen": seen, "telemetry": raw, "video": video, "ails": ails})
            pipe.hdel(key, "off")
            pipe.expire(key, KEEP_S)
            before, *_ = await pipe.execute()
        before_text = before.decode() if isinstance(before, bytes) else before
        if before_text != ails and (before_text or ails):
            await self._degraded_changed(kiosk_id, location, telemetry, ails)

    async def _degraded_changed(self, kiosk_id: str, location: str, telemetry: Telemetry, ails: str) -> None:
        key = f"{DEGRADED}:{kiosk_id}"
        await self._alerts.clear(key)  # a new ailment replaces the old alert (its message says what)
        if ails:
            video_off = not (telemetry.camera.working and telemetry.microphone.working)
            severity = "critical" if video_off else "warning"
            message = f"{_where(kiosk_id, location)}: {ails}" + ("; video help is off" if video_off else "")
            await self._alerts.raise_(key, DEGRADED, severity, message, kiosk_id=kiosk_id)

    async def video_refusal(self, kiosk_id: str) -> str | None:
        """Why the kiosk may not offer video help now (its last report), or None when it may."""
        fault = await self._redis.hget(self._keys.fleet_kiosk(kiosk_id), "video")
        if not fault:
            return None
        return fault.decode() if isinstance(fault, bytes) else str(fault)

    # ------------------------------------------------------------------------------------- reading it
    async def kiosks(self) -> list[dict[str, Any]]:
        """Every enrolled kiosk (revoked ones left out), by id: {kiosk_id, location, status, last_seen_ms,
        app_version, camera, microphone, network, cpu_pct, uptime_s, faults} (null where never reported)."""
        return [entry for entry, _ in await self._states()]

    async def _states(self) -> list[tuple[dict[str, Any], bool]]:
        """Each kiosk's entry, and whether it went silent (offline without signing off)."""
        enrolled = await list_kiosks(self._db, include_revoked=False)
        if not enrolled:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for kiosk in enrolled:
                pipe.hmget(self._keys.fleet_kiosk(kiosk.id), "seen", "telemetry", "off")
            live = await pipe.execute()
        now = now_ms()
        return [
            self._entry(kiosk, seen, raw, off, now)
            for kiosk, (seen, raw, off) in zip(enrolled, live, strict=True)
        ]

    def _entry(
        self, kiosk: Kiosk, seen: bytes | None, raw: bytes | None, off: bytes | None, now: int
    ) -> tuple[dict[str, Any], bool]:
        last_seen = int(seen) if seen else None
        report: dict[str, Any] = json.loads(raw) if raw else {}
        silent = last_seen is not None and not off and now - last_seen > self._silent_ms
        offline = last_seen is None or bool(off) or silent
        entry = {
            "kiosk_id": kiosk.id,
            "location": kiosk.location,
            "status": "offline" if offline else "degraded" if _degraded(report) else "online",
            "last_seen_ms": last_seen,
            "app_version": report.get("app_version"),
            "camera": report.get("camera"),
            "microphone": report.get("microphone"),
            "network": report.get("network"),
            "cpu_pct": report.get("cpu_pct"),
            "uptime_s": report.get("uptime_s"),
            "faults": report.get("faults", []),
        }
        return entry, silent

    # ------------------------------------------------------------------------------ metrics and alerts
    async def sweep(self) -> None:
        """Set the status gauge, and raise ``kiosk_offline`` for kiosks gone silent (clear it for those
        heard from again). ``kiosk_degraded`` follows the kiosks' reports (``report``): a degraded kiosk
        that goes offline keeps it, as nothing says its devices were fixed."""
        states = await self._states()
        counts = Counter(kiosk["status"] for kiosk, _ in states)
        for status in STATUSES:
            self._metrics.kiosks_by_status.labels(status=status).set(counts[status])
        open_keys = {alert["key"] for alert in await self._alerts.open() if alert.get("kiosk_id")}
        for kiosk, silent in states:
            key = f"{OFFLINE}:{kiosk['kiosk_id']}"
            if silent and key not in open_keys:
                heard = f"has not been heard from for over {self._silent_ms // 1000} s"
                message = f"{_where(kiosk['kiosk_id'], kiosk['location'])} {heard}"
                await self._alerts.raise_(key, OFFLINE, "warning", message, kiosk_id=kiosk["kiosk_id"])
            elif not silent and key in open_keys:
                await self._alerts.clear(key)


def video_fault(telemetry: Telemetry) -> str:
    """Why a kiosk reporting ``telemetry`` cannot offer video help, in words for its customer ("" when it
    can); the devices' own details are for IT (``kiosks()``)."""
    devices = (("camera", telemetry.camera), ("microphone", telemetry.microphone))
    broken = [name for name, device in devices if not device.working]
    return f"its {' and '.join(broken)} {'does' if len(broken) == 1 else 'do'} not work" if broken else ""


def _degraded(report: dict[str, Any]) -> bool:
    if not report:
        return False
    devices = [msgspec.convert(report[name], DeviceHealth) for name in ("camera", "microphone")]
    return any(not device.working for device in devices) or bool(report.get("faults"))


def _ailments(telemetry: Telemetry) -> str:
    """What ails a kiosk, in words for IT ("" when nothing does)."""
    devices = (("camera", telemetry.camera), ("microphone", telemetry.microphone))
    broken = [
        f"{name} not working" + (f" ({device.detail})" if device.detail else "")
        for name, device in devices
        if not device.working
    ]
    faults = [f"host reports {fault}" for fault in telemetry.faults]
    return "; ".join(broken + faults)


def _where(kiosk_id: str, location: str) -> str:
    return f"kiosk {kiosk_id}" + (f" ({location})" if location else "")
