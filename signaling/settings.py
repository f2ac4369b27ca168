"""One settings object, built once at the edge (command line and environment) and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from signaling.queues import QueueSet, default_queues

DEFAULT_TOPICS = ("cash", "cards", "deposits", "account", "other")
DEFAULT_DISPOSITIONS = ("resolved", "follow_up", "escalated", "referred_to_branch", "no_answer_needed")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./kiosk-assist-data")
    redis_url: str | None = None
    """External Redis; when None, an embedded redis-server is started under ``data_dir``."""
    database_url: str | None = None
    """External database (PostgreSQL); when None, SQLite under ``data_dir``."""
    redis_prefix: str = "ka"
    queues: QueueSet = field(default_factory=lambda: default_queues(DEFAULT_TOPICS))
    """The help topics kiosks may ask for, each a queue with its rules (see signaling/queues.py)."""
    dispositions: tuple[str, ...] = DEFAULT_DISPOSITIONS
    reservation_timeout_s: float = 20.0
    reconnect_grace_s: float = 30.0
    """A kiosk or agent whose connection drops keeps its queue place, call or reservation this long."""
    media_report_fresh_s: float = 15.0
    """A kiosk's report that its call's media flows holds this long (it reports every 5 s); meanwhile an
    agent whose connection dropped stays in the call after the reconnect grace."""
    quality_poor_mos: float = 3.1
    """A call stats sample whose audio MOS is below this is poor (see media/quality.py)."""
    quality_poor_video: float = 2.5
    """A sample whose video score (1-5) is below this is poor."""
    quality_poor_samples: int = 3
    """A call raises an alert once this many consecutive samples of one party are poor (at 5 s each: 15 s);
    the alert clears when that party's samples are good again, or the call ends."""
    quality_samples_kept: int = 240
    """Recent stats samples kept per live call (both parties, every 5 s: the last 10 minutes)."""
    quality_keep_s: float = 900.0
    """A call's samples stay this long after its last one (the timeline shows them after the call ends)."""
    kiosk_presence_ttl_s: float = 15.0
    agent_presence_ttl_s: float = 15.0
    session_ttl_s: float = 12 * 3600.0
    """A staff session's absolute lifetime."""
    session_idle_s: float = 30 * 60.0
    """A staff session ends after this long without a request (an open console socket counts as use)."""
    identity_check_interval_s: float = 15.0
    """How often each server re-checks the sessions of its open consoles (expired, ended, account disabled)
    and the credentials of its connected kiosks (revoked, rotated), for changes it was not told of."""
    login_max_failures: int = 5
    """Failed sign-ins of one username within ``login_failure_window_s`` that lock it."""
    login_ip_max_failures: int = 30
    """Failed sign-ins from one client address within the window that stop it signing in (spraying)."""
    login_failure_window_s: float = 15 * 60.0
    login_lockout_s: float = 15 * 60.0
    """How long a locked username (or a throttled address) is refused, from its last counted failure."""
    ice_servers: tuple[str, ...] = field(default_factory=tuple)
    """STUN/TURN URLs handed to both parties; empty means host candidates only (same network)."""
    turn_secret: str | None = None
    """coturn's ``static-auth-secret``: each call gets TURN credentials of its own (see signaling/ice.py)."""
    ice_transport_policy: Literal["all", "relay"] = "all"
    """``relay``: calls use TURN only (both parties), e.g. where direct paths must not be tried."""
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    """Extra origins (``https://console.example``) whose pages may open the agent socket and send
    state-changing API requests; the server's own origin is always allowed."""
    tls_cert: Path | None = None
    """PEM certificate chain: with ``tls_key``, the server speaks HTTPS and WSS itself."""
    tls_key: Path | None = None
    trust_forwarded_proto: bool = False
    """Behind a TLS-terminating proxy: take ``X-Forwarded-Proto`` as the scheme the client used (Secure
    cookies, HSTS, the origin checks). Only when every request comes through that proxy."""
    client_messages_per_s: float = 30.0
    """How many messages one kiosk or agent socket may send a second, on average; over it, messages are
    refused with ``rate_limited`` (see signaling/handlers/inbound_limits.py)."""
    client_message_burst: int = 60
    """How many it may send at once (ICE trickle at call start). A socket refused five times this many
    without slowing down is closed (1008)."""
    wrap_up_s: float = 120.0
    """An agent's wrap-up ends on its own after this long (the agent may extend it once)."""
    wrap_up_extension_s: float = 60.0
    decline_cooldown_s: float = 30.0
    """After a decline or a missed offer, the call is not offered to that agent again for this long."""
    reaper_interval_s: float = 0.25
    average_handle_s: float = 120.0
    """Seed for the estimated wait shown to kiosks."""
    history: Literal["child", "in_process", "external"] = "in_process"
    """Who moves routing events into the database: a child process the server keeps running (``serve``'s
    default: its database work never pauses the server), the server's own event loop, or a separately run
    ``kiosk-assist history``."""

    audit_retention_days: int = 400
    """Audit entries older than this are pruned (daily, by the server; ``kiosk-assist audit prune``).
    Bank rules ask for at least 12 months; the command line refuses less than 365 days unless forced."""
    store_context: Literal["all", "none"] = "all"
    """Whether call history keeps the customer context of a help request (transaction, error code…).
    ``none``: history keeps none of it; agents still see it live when their console rings."""
    store_context_keys: tuple[str, ...] = ()
    """With ``store_context="all"``, a non-empty allow-list: only these keys' values are kept."""

    service_level_target_s: float = 20.0
    """Service level: the share of calls answered within this many seconds (signaling/service_level.py)."""
    redis_probe_interval_s: float = 5.0
    """How often each server times a Redis PING for ``kiosk_assist_redis_latency_seconds``."""

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def topics(self) -> tuple[str, ...]:
        return self.queues.names

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "kiosk-assist.sqlite3"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{self.sqlite_path}"


def normalise_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` / ``sqlite:///`` URLs and pick the asyncio drivers."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def env_defaults(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The environment variables the command line honours (read only at the edge)."""
    env = os.environ if environ is None else environ
    return {
        "redis_url": env.get("KIOSK_ASSIST_REDIS_URL") or None,
        "database_url": env.get("KIOSK_ASSIST_DATABASE_URL") or None,
        "redis_prefix": env.get("KIOSK_ASSIST_REDIS_PREFIX") or None,
        "store_context": env.get("KIOSK_ASSIST_STORE_CONTEXT") or None,
        "store_context_keys": env.get("KIOSK_ASSIST_STORE_CONTEXT_KEYS") or None,
    }
