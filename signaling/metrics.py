"""Prometheus metrics, in a registry owned by the application (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ANSWER_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)


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

    def connected(self, kind: str) -> Gauge:
        return self.kiosks if kind == "kiosk" else self.agents

    def render(self) -> bytes:
        return generate_latest(self.registry)
