"""Prometheus metrics, in a registry owned by the application (no process-global state).

Labels are small fixed sets (outcome, topic, status, state, kind, error code): never a call, kiosk or agent
id. Gauges described as fleet-wide are computed from Redis at scrape time (see ``metrics_sources``): every
process reports the whole fleet, so aggregate them across instances with ``max``, not ``sum``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ANSWER_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
SETUP_BUCKETS = (0.25, 0.5, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60)
SCORE_BUCKETS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.4, 4.6, 5.0)
REDIS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "kiosk_assist_calls", "Calls that reached a terminal state, by outcome", ["outcome"],
            registry=self.registry,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "kiosk_assist_queue_depth", "Calls waiting, by topic", ["topic"], registry=self.registry
        )
        self.kiosks = Gauge(
            "kiosk_assist_connected_kiosks", "Kiosks connected to this process", registry=self.registry
        )
        self.agents = Gauge(
            "kiosk_assist_connected_agents",
            "Agent consoles connected to this process",
            registry=self.registry,
        )
        self.answer_seconds = Histogram(
            "kiosk_assist_answer_seconds", "From help request to an agent's accept", buckets=ANSWER_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.rejected_messages = Counter(
            "kiosk_assist_rejected_messages", "Client messages refused, by error code", ["code"],
            registry=self.registry,
        )  # fmt: skip

        self.quality_score = Histogram(
            "kiosk_assist_quality_score", "Audio quality (MOS, 1-5) per call stats sample",
            buckets=SCORE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.video_score = Histogram(
            "kiosk_assist_video_score", "Video quality score (1-5) per call stats sample",
            buckets=SCORE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.setup_seconds = Histogram(
            "kiosk_assist_setup_seconds", "From an agent's accept to the kiosk's media connected",
            buckets=SETUP_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.kiosks_by_status = Gauge(
            "kiosk_assist_kiosks", "Enrolled kiosks by status (fleet-wide)", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.agents_by_state = Gauge(
            "kiosk_assist_agents", "Signed-in agents by state (fleet-wide)", ["state"],
            registry=self.registry,
        )  # fmt: skip
        self.websocket_connections = Gauge(
            "kiosk_assist_websocket_connections", "WebSocket connections open on this process, by kind",
            ["kind"], registry=self.registry,
        )  # fmt: skip
        self.redis_latency_seconds = Histogram(
            "kiosk_assist_redis_latency_seconds", "Round trip of a Redis PING from this process",
            buckets=REDIS_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.alerts_open = Gauge(
            "kiosk_assist_alerts_open", "Open alerts by kind (fleet-wide)", ["kind"],
            registry=self.registry,
        )  # fmt: skip

        self.alert_kinds_seen: set[str] = set()
        """Alert kinds reported so far: each keeps a series (0 once its alerts clear)."""

    def connected(self, kind: str) -> Gauge:
        return self.kiosks if kind == "kiosk" else self.agents

    def render(self) -> bytes:
        return generate_latest(self.registry)
