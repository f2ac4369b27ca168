"""Call quality over the protocol: both parties' ``call_stats`` make a live call IT can see, a call whose
samples stay poor raises an alert, recovery or the call's end clears it, and the history keeps both the
alert and the call's quality summary."""

from __future__ import annotations

from typing import Any

import pytest

from signaling.protocol import CallEnded, CallStats, Error, ErrorCode, Hangup, QualityStats
from signaling.quality import alert_key
from signaling.store.quality import alerts_for_call, get_call_quality
from tests.signaling import authz
from tests.signaling.authz import Scene, Stage, unique
from tests.support import RunningServer, login, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")
server = authz.shared_server

GOOD = QualityStats(
    rtt_ms=42.0, jitter_ms=3.5, audio_loss_pct=0.1, video_loss_pct=0.2, fps=29.7, bitrate_kbps=780.0,
    width=640, height=480, freezes=0, candidate_type="host", limitation="none",
)  # fmt: skip
POOR = QualityStats(
    rtt_ms=55.0, jitter_ms=24.0, audio_loss_pct=18.0, video_loss_pct=19.5, fps=17.0, bitrate_kbps=260.0,
    width=640, height=480, freezes=3, candidate_type="relay", limitation="bandwidth",
)  # fmt: skip
KIOSK_GOOD = QualityStats(rtt_ms=44.0, jitter_ms=4.0, audio_loss_pct=0.0, fps=30.0, cpu_pct=37.5)


async def _get(server: RunningServer, path: str, role: str = "supervisor") -> Any:
    name = unique("ivy")
    password = await server.add_agent(name, role=role)
    http = await login(server, name, password)
    try:
        async with http.get(f"{server.url}{path}") as response:
            assert response.status == 200, await response.text()
            return await response.json()
    finally:
        await http.close()


async def _open_alert_of(server: RunningServer, call_id: str) -> dict[str, Any] | None:
    alerts = await server.services.alerts.open()
    return next((a for a in alerts if a["call_id"] == call_id), None)


async def test_both_parties_stats_show_the_call_live_with_its_figures(server: RunningServer) -> None:
    scene = await Scene.build(server, Stage.CONNECTING)
    try:
        await scene.alice.send(CallStats(call_id=scene.call_id, stats=GOOD))
        await scene.kiosk.send(CallStats(call_id=scene.call_id, stats=KIOSK_GOOD))

        async def listed() -> dict[str, Any] | None:
            calls = (await _get(server, "/api/calls/live", role="it"))["calls"]
            call = next((c for c in calls if c["call_id"] == scene.call_id), None)
            return call if call is not None and len(call["series"]) == 2 else None

        call = await wait_until(listed, what="the call listed live with both samples")
        assert call["kiosk_id"] == scene.kiosk_id
        assert call["agent"] == scene.agent_name
        latest = call["latest"]
        assert latest["mos"] >= 4.2
        assert latest["video_score"] >= 4.0
        assert latest["rtt_ms"] == 42.0  # the browser's figure where it has one
        assert latest["candidate_type"] == "host"
        assert latest["kiosk_cpu_pct"] == 37.5
        assert await _open_alert_of(server, scene.call_id) is None
    finally:
        await scene.close()


async def test_a_call_that_stays_poor_raises_an_alert_that_clears_when_it_recovers(
    server: RunningServer,
) -> None:
    scene = await Scene.build(server, Stage.CONNECTING)
    try:
        quality = server.services.settings.quality_poor_samples
        for _ in range(quality - 1):
            await scene.alice.send(CallStats(call_id=scene.call_id, stats=POOR))
        await wait_until(
            lambda: _samples_at_least(server, scene.call_id, quality - 1), what="the first poor samples"
        )
        assert await _open_alert_of(server, scene.call_id) is None  # not yet: 10 s of poor media

        await scene.alice.send(CallStats(call_id=scene.call_id, stats=POOR))
        alert = await wait_until(lambda: _open_alert_of(server, scene.call_id), what="the quality alert")
        assert alert["kind"] == "call_quality"
        assert alert["kiosk_id"] == scene.kiosk_id
        listed = (await _get(server, "/api/alerts", role="it"))["alerts"]
        assert alert["alert_id"] in {a["alert_id"] for a in listed}

        await scene.alice.send(CallStats(call_id=scene.call_id, stats=GOOD))
        await wait_until(lambda: _cleared(server, scene.call_id), what="the alert to clear")
        stored = await alerts_for_call(server.db, scene.call_id)
        assert [a.cleared_at is not None for a in stored] == [True]
    finally:
        await scene.close()


async def test_a_call_ending_while_poor_clears_its_alert_and_keeps_its_quality_in_history(
    server: RunningServer,
) -> None:
    scene = await Scene.build(server, Stage.CONNECTING)
    try:
        await scene.kiosk.send(CallStats(call_id=scene.call_id, stats=KIOSK_GOOD))
        for _ in range(server.services.settings.quality_poor_samples):
            await scene.alice.send(CallStats(call_id=scene.call_id, stats=POOR))
        await wait_until(lambda: _open_alert_of(server, scene.call_id), what="the quality alert")

        await scene.alice.send(Hangup(call_id=scene.call_id))
        await scene.kiosk.expect(CallEnded)
        await wait_until(lambda: _cleared(server, scene.call_id), what="the alert to clear at the end")
        summary = await wait_until(lambda: get_call_quality(server.db, scene.call_id), what="the summary")
        assert summary.samples == 1 + server.services.settings.quality_poor_samples
        assert summary.mos_min is not None
        assert summary.mos_min < 3.1
        assert summary.loss_max_pct == 19.5
        assert summary.candidate_types == ["relay"]

        await server.drain_history()
        timeline = await _get(server, f"/api/calls/{scene.call_id}/timeline", role="it")
        kinds = [e["kind"] for e in timeline["events"]]
        assert {"alert_raised", "alert_cleared"} <= set(kinds)
        assert kinds.index("alert_raised") < kinds.index("alert_cleared")
        assert len(timeline["samples"]) == summary.samples
        assert timeline["quality"]["samples"] == summary.samples
        live = (await _get(server, "/api/calls/live"))["calls"]
        assert scene.call_id not in {c["call_id"] for c in live}
    finally:
        await scene.close()


async def test_stats_for_a_call_that_is_not_connected_are_refused(server: RunningServer) -> None:
    scene = await Scene.build(server, Stage.RESERVED)
    try:
        await scene.kiosk.send(CallStats(call_id=scene.call_id, stats=KIOSK_GOOD))
        error = await scene.kiosk.expect(Error)
        assert error.code == ErrorCode.WRONG_STATE
        assert await server.services.quality.samples(scene.call_id) == []
    finally:
        await scene.close()


async def _samples_at_least(server: RunningServer, call_id: str, n: int) -> bool | None:
    return True if len(await server.services.quality.samples(call_id)) >= n else None


async def _cleared(server: RunningServer, call_id: str) -> bool | None:
    return True if not await server.services.alerts.is_open(alert_key(call_id)) else None
