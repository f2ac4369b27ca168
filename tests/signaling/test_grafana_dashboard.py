"""``docs/grafana/kiosk-assist.json`` cannot drift from the server: every PromQL expression in it names only
metrics (and label values) that a running server's ``/metrics`` exposes after a real call."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.signaling.metrics_support import a_completed_call, exposition
from tests.support import RunningServer

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "kiosk-assist.json"
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "on", "ignoring", "rate", "irate", "increase",
    "histogram_quantile", "clamp_min", "and", "or", "unless", "offset",
}  # fmt: skip
GRAFANA_VARIABLE = re.compile(r"\$\{?\w+\}?")
NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
MATCHER = re.compile(r'(\w+)\s*=~?\s*"([^"]*)"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
SCRAPE_LABELS = {"instance", "job"}
"""Labels Prometheus adds when it scrapes."""


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from panels(item.get("panels", []))


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dashboard["panels"]) for t in p.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (not functions, keywords, labels, ranges or numbers)."""
    bare = GROUPING.sub("", re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", GRAFANA_VARIABLE.sub("", expr)))
    return {n for n in NAME.findall(re.sub(r"\d+(\.\d+)?", "", bare)) if n not in PROMQL_WORDS}


async def test_every_dashboard_query_names_metrics_and_labels_the_server_exposes(
    server: RunningServer,
) -> None:
    await a_completed_call(server)
    families = list(text_string_to_metric_families(await exposition(server)))
    exposed = {f.name for f in families} | {s.name for f in families for s in f.samples}
    labels = {name for f in families for s in f.samples for name in s.labels} | SCRAPE_LABELS
    label_values = {(k, v) for f in families for s in f.samples for k, v in s.labels.items()}
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = expressions(dashboard)
    assert len(exprs) >= 10
    for expr in exprs:
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= exposed, f"{expr!r} names {sorted(names - exposed)}, which /metrics does not expose"
        for grouping in GROUPING.findall(expr):
            used = {label.strip() for label in grouping.split(",") if label.strip()}
            assert used <= labels, f"{expr!r} groups by {sorted(used - labels)}, a label no metric has"
        for label, wanted in MATCHER.findall(expr):
            assert (label, wanted) in label_values, f"{expr!r} matches {label}={wanted!r}, never exposed"


def test_the_dashboard_covers_the_service_health_an_operator_watches() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    queried = set().union(*(metric_names(e) for e in expressions(dashboard)))
    for needed in (
        "kiosk_assist_calls_total",
        "kiosk_assist_answer_seconds_bucket",
        "kiosk_assist_setup_seconds_bucket",
        "kiosk_assist_quality_score_bucket",
        "kiosk_assist_kiosks",
        "kiosk_assist_agents",
        "kiosk_assist_websocket_connections",
        "kiosk_assist_redis_latency_seconds_bucket",
        "kiosk_assist_alerts_open",
    ):
        assert needed in queried, f"no panel shows {needed}"
    for panel in panels(dashboard["panels"]):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", f"{panel['title']} has a fixed datasource"
