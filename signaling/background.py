"""The process's periodic work: reservation deadlines, presence, queue positions.

Deadlines and presence live in Redis sorted sets, so any process fires them, including when the process
that created them has died. Each loop survives errors (logged) and stops only when cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from signaling.errors import RoutingError
from signaling.history_worker import HistoryChild, child_env
from signaling.metrics_sources import probe_redis
from signaling.routing.engine import now_ms
from signaling.services import Services

log = logging.getLogger(__name__)


async def expire_reservations(services: Services) -> None:
    for call_id in await services.engine.due(services.keys.reservations):
        released = await services.engine.release(call_id, "", "timeout")
        if released is not None:
            log.info("offer of call %s to %s timed out", call_id, released.agent)
            await services.announcer.revoked(call_id, released.agent, "timeout", released.status)
            await services.announcer.outcome(released.outcome)


async def expire_presence(services: Services) -> None:
    for kind, party in await services.engine.expired_presence():
        gone = await services.engine.gone(kind, party, "")
        if gone is None:
            continue
        log.info("%s %s stopped answering; taken out of routing", kind, party)
        if gone.ended is not None:
            await services.announcer.ended(gone.ended, f"{kind}_disconnected")
        await services.announcer.outcome(gone.outcome)


async def expire_wrap_ups(services: Services) -> None:
    """Wrap-ups past their time end on their own: the agent becomes available (or their next state)."""
    engine = services.engine
    for agent in await engine.due(services.keys.wrapups):
        try:
            done = await engine.wrap_up(agent, "", "", "", how="timer")
        except RoutingError:  # no longer in wrap-up: a stale timer
            await services.redis.zrem(services.keys.wrapups, agent)
            continue
        if done is not None:
            log.info("wrap-up of %s for call %s ended by its timer", agent, done.call_id)
            await services.announcer.wrap_up_ended(agent, done, "timer")


async def expire_waits(services: Services) -> None:
    """Calls waiting past their queue's maximum end as timed out; the kiosk is told."""
    for call_id in await services.engine.due(services.keys.waits):
        kiosk_id = await services.engine.expire_wait(call_id)
        if kiosk_id is not None:
            log.info("call %s waited too long; timed out", call_id)
            await services.announcer.timed_out(kiosk_id, call_id)


async def sweep(services: Services) -> None:
    await services.announcer.outcome(await services.engine.sweep(services.settings.topics))


async def refresh_presence(services: Services) -> None:
    ttl_ms = int(services.settings.kiosk_presence_ttl_s * 1000)
    await services.engine.refresh_presence(services.connections.members(), now_ms() + ttl_ms)


async def check_identities(services: Services) -> None:
    """Close sockets whose session or credential ended without this process being told."""
    await services.identity_watch.check(services.sessions, services.db)


async def _every(interval: float, step: Callable[[], Awaitable[None]], name: str) -> None:
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except (RedisError, OSError) as exc:  # an outage is reported by /readyz; no traceback per round
            log.warning("%s: Redis unavailable (%s); continuing", name, type(exc).__name__)
        except Exception:
            log.exception("%s failed; continuing", name)
        await asyncio.sleep(interval)  # a periodic timer, not synchronisation


def start_background(services: Services, group: set[asyncio.Task[None]]) -> None:
    s = services.settings

    async def reaper() -> None:
        await expire_reservations(services)
        await expire_presence(services)
        await expire_wrap_ups(services)
        await expire_waits(services)

    loops = {
        "reaper": _every(s.reaper_interval_s, reaper, "reaper"),
        "presence": _every(s.kiosk_presence_ttl_s / 3, lambda: refresh_presence(services), "presence"),
        "queue-positions": _every(1.0, services.queue_watcher.tick, "queue positions"),
        "sweep": _every(1.0, lambda: sweep(services), "sweep"),
        "identities": _every(s.identity_check_interval_s, lambda: check_identities(services), "identities"),
        "fleet": _every(min(2.0, s.kiosk_presence_ttl_s / 5), services.fleet.sweep, "fleet"),
        "redis-probe": _every(s.redis_probe_interval_s, lambda: probe_redis(services), "redis probe"),
        "audit": services.audit.watch_head(),  # publishes the audit head; prunes past retention daily
    }
    if s.history == "in_process":
        loops["history"] = services.history.run()
    elif s.history == "child":
        loops["history"] = HistoryChild(child_env(s, services.redis_url)).run()
    for name, coro in loops.items():
        task = asyncio.create_task(coro, name=name)
        group.add(task)
        task.add_done_callback(group.discard)
