"""The long-lived parts of one server process, created at startup and handed to handlers."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from redis.asyncio import Redis

from signaling.alerts import Alerts
from signaling.announce import Announcer
from signaling.audit import AuditLog
from signaling.auth import Sessions
from signaling.connections import ConnectionRegistry
from signaling.dashboard import DashboardFeed
from signaling.delivery import SESSION_ENDED, Delivery
from signaling.fleet import Fleet
from signaling.history_writer import HistoryWriter
from signaling.ice import IceConfig
from signaling.identity_watch import IdentityWatch
from signaling.login_throttle import LoginThrottle
from signaling.metrics import Metrics
from signaling.quality import CallQuality
from signaling.queue_updates import QueueWatcher
from signaling.routing.engine import RoutingEngine
from signaling.routing.keys import Keys, agent_address
from signaling.service_level import ServiceLevels
from signaling.settings import Settings
from signaling.store import Database
from signaling.store.minimise import ContextPolicy


@dataclass
class Services:
    settings: Settings
    redis: Redis
    db: Database
    keys: Keys
    engine: RoutingEngine
    delivery: Delivery
    sessions: Sessions
    metrics: Metrics
    announcer: Announcer
    queue_watcher: QueueWatcher
    history: HistoryWriter
    connections: ConnectionRegistry
    audit: AuditLog
    """The audit log: ``await services.audit.record(actor=…, role=…, action=…, …)``."""
    login_throttle: LoginThrottle
    identity_watch: IdentityWatch
    """The identities behind this process's open sockets (re-checked periodically)."""
    alerts: Alerts
    """Open alerts for IT: ``raise_(key, kind, severity, message, call_id=, kiosk_id=)``, ``clear(key)``."""
    quality: CallQuality
    """Call quality: the parties' ``call_stats``, live calls, alerts, a call's timeline."""
    fleet: Fleet
    """Every enrolled kiosk with its live health: ``await services.fleet.kiosks()``."""
    service_level: ServiceLevels
    """Share of calls answered within a target: ``await services.service_level.current(window_s)``."""
    dashboard: DashboardFeed
    """The dashboard's live snapshot, shared by its streams: ``await services.dashboard.event()``."""
    redis_url: str = ""
    """The Redis the server uses (the embedded one's too), for the processes it starts."""
    draining: bool = False
    """Set at shutdown: sockets closing then leave their calls to the reconnect grace, not end them."""

    @classmethod
    def build(cls, settings: Settings, redis: Redis, db: Database, redis_url: str = "") -> Services:
        keys = Keys(settings.redis_prefix)
        engine = RoutingEngine(
            redis,
            keys,
            reservation_timeout_s=settings.reservation_timeout_s,
            decline_cooldown_s=settings.decline_cooldown_s,
            wrap_up_s=settings.wrap_up_s,
            wrap_up_extension_s=settings.wrap_up_extension_s,
            queues={q.name: q.redis_fields() for q in settings.queues.queues.values()},
            media_report_fresh_s=settings.media_report_fresh_s,
        )
        delivery = Delivery(redis, keys, keep_s=settings.reconnect_grace_s + OUTBOX_MARGIN_S)
        metrics = Metrics()
        sessions = Sessions(redis, keys, settings.session_ttl_s, settings.session_idle_s)

        async def signed_out(username: str, digest: str) -> None:
            # the console is told wherever it is (here: at once, before the sign-out answers)
            await delivery.send_raw(agent_address(username), SESSION_ENDED + digest)

        sessions.on_signed_out = signed_out
        alerts = Alerts(redis, keys, db, metrics)
        quality = CallQuality(redis, keys, db, engine, alerts, metrics, settings)
        announcer = Announcer(
            engine,
            delivery,
            metrics,
            IceConfig(settings.ice_servers, settings.turn_secret, policy=settings.ice_transport_policy),
        )
        announcer.on_ended = quality.call_ended
        fleet = Fleet(redis, keys, db, alerts, metrics, silent_after_s=settings.kiosk_presence_ttl_s)
        service_level = ServiceLevels(db, settings.service_level_target_s)
        return cls(
            settings=settings,
            redis=redis,
            redis_url=redis_url,
            db=db,
            keys=keys,
            engine=engine,
            delivery=delivery,
            sessions=sessions,
            metrics=metrics,
            announcer=announcer,
            queue_watcher=QueueWatcher(engine, delivery, settings.average_handle_s),
            history=HistoryWriter(redis, keys, db, context=ContextPolicy.from_settings(settings)),
            connections=ConnectionRegistry(),
            login_throttle=LoginThrottle(redis, keys, settings),
            identity_watch=IdentityWatch(),
            service_level=service_level,
            dashboard=DashboardFeed(engine, settings, fleet, quality, alerts, service_level),
            alerts=alerts,
            quality=quality,
            fleet=fleet,
            audit=AuditLog(
                db,
                redis,
                keys.audit_head,
                registry=metrics.registry,
                retention_days=settings.audit_retention_days,
            ),
        )


OUTBOX_MARGIN_S = 30.0
"""Outboxes are kept this much longer than the reconnect grace: the messages the grace's end causes (the
call abandoned, the offer moved on) still reach a client that comes back just after."""

SERVICES = web.AppKey("services", Services)
