"""The kiosk fleet for IT: telemetry, online / offline / degraded, video help refused while a device is
broken, fleet alerts and metrics, and the ``it`` role's reach."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import pytest_asyncio

from kiosk_client.session import KioskOptions, KioskRunner
from signaling.cli import build_parser
from signaling.protocol import (
    DeviceHealth,
    Error,
    HelpRequest,
    Queued,
    Telemetry,
    encode,
)
from signaling.settings import Settings
from tests.support import (
    RunningServer,
    cli_env,
    connect_kiosk,
    forget_prefix,
    free_port,
    login,
    redis_snapshot,
    running_server,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SILENT_S = 2.0
"""The module's presence timeout: a kiosk silent this long shows offline (15 s in production)."""
WORKS = DeviceHealth(present=True, working=True)
BROKEN = DeviceHealth(present=False, working=False, detail="no such device")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = Settings(
        port=free_port(),
        data_dir=Path(tmp_path_factory.mktemp("fleet")) / "data",
        redis_url=redis_url,
        redis_prefix=prefix,
        kiosk_presence_ttl_s=SILENT_S,
    )
    async with running_server(settings) as running:
        yield running
    forget_prefix(redis_url, prefix)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def it_staff(server: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A signed-in IT staff member (role ``it``)."""
    password = await server.add_agent("ines", role="it")
    http = await login(server, "ines", password)
    yield http
    await http.close()


def _kiosk_id(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


async def _fleet(server: RunningServer, http: aiohttp.ClientSession) -> dict[str, dict[str, Any]]:
    async with http.get(f"{server.url}/api/fleet") as response:
        assert response.status == 200, await response.text()
        return {kiosk["kiosk_id"]: kiosk for kiosk in (await response.json())["kiosks"]}


async def _status_becomes(
    server: RunningServer, http: aiohttp.ClientSession, kiosk_id: str, status: str, timeout: float = 10
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        kiosk = (await _fleet(server, http)).get(kiosk_id)
        # a kiosk is online from its connection, before its first report: wait for both
        reported = kiosk is not None and kiosk["camera"] is not None
        return kiosk if reported and kiosk is not None and kiosk["status"] == status else None

    return await wait_until(check, timeout, f"{kiosk_id} {status}")


async def _alert_open(server: RunningServer, key: str, open_: bool = True) -> bool:
    async def check() -> bool:
        return any(alert["key"] == key for alert in await server.services.alerts.open()) == open_

    return await wait_until(check, 10, f"alert {key} open={open_}")


def _gauge(server: RunningServer, status: str) -> float:
    value = server.services.metrics.registry.get_sample_value("kiosk_assist_kiosks", {"status": status})
    return value or 0.0


def _runner(server: RunningServer, kiosk_id: str, secret: str, **options: Any) -> KioskRunner:
    return KioskRunner(KioskOptions(server=server.url, kiosk_id=kiosk_id, secret=secret, **options))


async def _stop(runner: KioskRunner, task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await runner.close()


# ------------------------------------------------------------------------------------- online, offline
async def test_a_running_kiosk_shows_online_with_the_telemetry_it_reports(
    server: RunningServer, it_staff: aiohttp.ClientSession, tmp_path: Path
) -> None:
    kiosk_id = _kiosk_id("k-on")
    secret = await server.enroll(kiosk_id, "Main street")
    faults = tmp_path / "faults.txt"  # the host writes none yet: the file does not exist
    runner = _runner(server, kiosk_id, secret, faults_file=faults)
    task = asyncio.create_task(runner.run())
    try:
        kiosk = await _status_becomes(server, it_staff, kiosk_id, "online")
        assert kiosk["location"] == "Main street"
        assert kiosk["camera"] == {"present": True, "working": True, "detail": ""}
        assert kiosk["microphone"] == {"present": True, "working": True, "detail": ""}
        assert kiosk["app_version"]
        assert kiosk["uptime_s"] >= 0
        assert kiosk["faults"] == []
        assert kiosk["last_seen_ms"] <= time.time() * 1000 + 1000

        # the host reports a fault: the kiosk is degraded (shown, alerted) but still offers help
        faults.write_text("card reader jammed\n# a comment line\n\n")
        kiosk = await _status_becomes(server, it_staff, kiosk_id, "degraded")
        assert kiosk["faults"] == ["card reader jammed"]
        await _alert_open(server, f"kiosk_degraded:{kiosk_id}")
        assert await server.services.fleet.video_refusal(kiosk_id) is None
        faults.unlink()
        await _status_becomes(server, it_staff, kiosk_id, "online")
        await _alert_open(server, f"kiosk_degraded:{kiosk_id}", open_=False)
    finally:
        await _stop(runner, task)
    # it signed off: offline because it said goodbye (not after the presence timeout), and no alert (it was
    # stopped, not lost)
    await _status_becomes(server, it_staff, kiosk_id, "offline")
    services = server.services
    assert await services.redis.hget(services.keys.fleet_kiosk(kiosk_id), "off"), "a sign-off, not silence"
    assert not await services.alerts.is_open(f"kiosk_offline:{kiosk_id}")


async def test_a_kiosk_program_that_stops_its_heartbeat_turns_offline_within_the_timeout(
    server: RunningServer, it_staff: aiohttp.ClientSession, tmp_path: Path
) -> None:
    kiosk_id = _kiosk_id("k-kill")
    secret_file = tmp_path / "secret"
    secret_file.write_text(await server.enroll(kiosk_id))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling.cli", "kiosk", "run", "--server", server.url,
        "--kiosk-id", kiosk_id, "--secret-file", str(secret_file), "--headless",
        env=cli_env(), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        online = await _status_becomes(server, it_staff, kiosk_id, "online", timeout=30)
        await wait_until(lambda: _async(_gauge(server, "online") >= 1), 5, "online gauge")
    finally:
        process.send_signal(signal.SIGKILL)  # no goodbye: as a crash or a power cut
        await process.wait()
    killed = time.monotonic()
    offline = await _status_becomes(server, it_staff, kiosk_id, "offline", timeout=SILENT_S + 5)
    took = time.monotonic() - killed
    assert took <= SILENT_S + 1.0, took  # within the timeout of its last report (plus polling)
    assert offline["last_seen_ms"] >= online["last_seen_ms"]
    await _alert_open(server, f"kiosk_offline:{kiosk_id}")

    # it comes back: online again, the alert closes
    runner = _runner(server, kiosk_id, secret_file.read_text())
    task = asyncio.create_task(runner.run())
    try:
        await _status_becomes(server, it_staff, kiosk_id, "online")
        await _alert_open(server, f"kiosk_offline:{kiosk_id}", open_=False)
    finally:
        await _stop(runner, task)


async def _async(value: bool) -> bool:
    return value


async def test_a_kiosk_whose_socket_is_cut_turns_offline_within_the_timeout(
    server: RunningServer, it_staff: aiohttp.ClientSession
) -> None:
    kiosk_id = _kiosk_id("k-cut")
    kiosk = await connect_kiosk(server, kiosk_id, await server.enroll(kiosk_id))
    await kiosk.send(Telemetry(camera=WORKS, microphone=WORKS))
    await _status_becomes(server, it_staff, kiosk_id, "online")
    await kiosk.drop()
    cut = time.monotonic()
    await _status_becomes(server, it_staff, kiosk_id, "offline", timeout=SILENT_S + 5)
    assert time.monotonic() - cut <= SILENT_S + 1.0


# --------------------------------------------------------------------------- degraded: no video help
async def test_a_kiosk_with_a_broken_camera_is_degraded_and_its_help_request_refused(
    server: RunningServer, it_staff: aiohttp.ClientSession, tmp_path: Path
) -> None:
    kiosk_id = _kiosk_id("k-cam")
    secret = await server.enroll(kiosk_id, "Lobby")
    missing_camera = str(tmp_path / "video9")  # the camera's device node is gone (unplugged)
    runner = _runner(
        server, kiosk_id, secret, media="device", video_device=missing_camera, audio_device="hw:99",
        request_help="cash",
    )  # fmt: skip
    await asyncio.wait_for(runner.run(), 20)

    assert runner.refusal is not None
    assert runner.refusal.code == "kiosk_degraded"
    assert "camera" in runner.refusal.message
    assert runner.video_help is False
    shown = [e for e in runner.events.events if e["event"] == "video_help"]
    assert [e["available"] for e in shown] == [False]
    kiosk = (await _fleet(server, it_staff))[kiosk_id]
    assert kiosk["camera"]["present"] is False
    assert kiosk["camera"]["working"] is False
    assert "video9" in kiosk["camera"]["detail"]
    assert kiosk["status"] == "offline"  # the program stopped after the refusal (it signed off)
    alert = await _degraded_alert(server, kiosk_id)  # nothing said the camera was fixed: it stays open
    assert (alert["severity"], "camera not working" in alert["message"]) == ("critical", True)

    # the camera is replaced: the kiosk reports working devices, and help works again
    fixed = _runner(server, kiosk_id, secret, request_help="cash")
    task = asyncio.create_task(fixed.run())
    try:
        await wait_until(lambda: _async(any(e["event"] == "queued" for e in fixed.events.events)), 10)
        assert fixed.refusal is None
        assert (await _fleet(server, it_staff))[kiosk_id]["status"] == "online"
        assert not await server.services.alerts.is_open(f"kiosk_degraded:{kiosk_id}")
    finally:
        await _stop(fixed, task)


async def test_help_is_refused_while_telemetry_says_a_device_is_broken_and_works_once_fixed(
    server: RunningServer, it_staff: aiohttp.ClientSession
) -> None:
    kiosk_id = _kiosk_id("k-mic")
    kiosk = await connect_kiosk(server, kiosk_id, await server.enroll(kiosk_id))
    try:
        await kiosk.send(Telemetry(camera=WORKS, microphone=BROKEN, faults=["receipt printer empty"]))
        await kiosk.send(HelpRequest(topic="cash"))
        refused = await kiosk.expect(Error)
        assert (refused.code, refused.ref) == ("kiosk_degraded", "help_request")
        assert "microphone" in refused.message
        degraded = await _status_becomes(server, it_staff, kiosk_id, "degraded")
        assert degraded["microphone"]["working"] is False
        assert degraded["faults"] == ["receipt printer empty"]
        alert = await _degraded_alert(server, kiosk_id)
        assert alert["severity"] == "critical"
        assert "microphone" in alert["message"]
        await wait_until(lambda: _async(_gauge(server, "degraded") >= 1), 5, "degraded gauge")

        await kiosk.send(Telemetry(camera=WORKS, microphone=WORKS))
        await kiosk.send(HelpRequest(topic="cash"))
        assert (await kiosk.expect(Queued)).position >= 1
        await _status_becomes(server, it_staff, kiosk_id, "online")
        await _alert_open(server, f"kiosk_degraded:{kiosk_id}", open_=False)
    finally:
        await kiosk.close()


async def _degraded_alert(server: RunningServer, kiosk_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        alerts = await server.services.alerts.open()
        return next((a for a in alerts if a["key"] == f"kiosk_degraded:{kiosk_id}"), None)

    return await wait_until(check, 10, "degraded alert")


# ---------------------------------------------------------------------------------------- validation
BAD_TELEMETRY = {
    "cpu over 100 %": {"cpu_pct": 150},
    "negative uptime": {"uptime_s": -1},
    "too many faults": {"faults": [f"fault {n}" for n in range(17)]},
    "an empty fault": {"faults": [""]},
    "a fault too long": {"faults": ["x" * 201]},
    "an unknown network kind": {"network": {"kind": "carrier-pigeon"}},
    "an unknown field": {"temperature_c": 40},
    "a camera without working": {"camera": {"present": True}},
}


@pytest.mark.parametrize("change", BAD_TELEMETRY.values(), ids=BAD_TELEMETRY.keys())
async def test_telemetry_out_of_bounds_is_refused_with_a_typed_error_and_changes_nothing(
    server: RunningServer, change: dict[str, Any]
) -> None:
    kiosk_id = _kiosk_id("k-bad")
    kiosk = await connect_kiosk(server, kiosk_id, await server.enroll(kiosk_id))
    try:
        good = msgspec.to_builtins(Telemetry(camera=WORKS, microphone=WORKS))
        before = await redis_snapshot(server)
        await kiosk.send_raw(msgspec.json.encode({**good, **change}).decode())
        refused = await kiosk.expect(Error)
        assert (refused.code, refused.ref) == ("bad_message", "telemetry")
        assert (
            await server.services.redis.hget(server.services.keys.fleet_kiosk(kiosk_id), "telemetry") is None
        )
        after = await redis_snapshot(server)
        assert _own(after, kiosk_id) == _own(before, kiosk_id)
        await kiosk.send_raw(encode(Telemetry(camera=WORKS, microphone=WORKS)))  # the socket stays usable
    finally:
        await kiosk.close()


def _own(snapshot: dict[bytes, bytes], kiosk_id: str) -> dict[bytes, bytes]:
    return {k: v for k, v in snapshot.items() if kiosk_id.encode() in k}


# ------------------------------------------------------------------------------------------ the it role
async def test_it_staff_read_the_fleet_but_take_no_calls_and_act_on_no_agent(
    server: RunningServer, it_staff: aiohttp.ClientSession
) -> None:
    assert isinstance(await _fleet(server, it_staff), dict)
    async with it_staff.get(f"{server.url}/api/queues") as response:
        assert response.status == 200  # the queue board is read-only monitoring
    refused = [
        ("GET", "/ws/agent"),
        ("GET", "/api/calls"),
        ("POST", "/api/agents/nobody/state"),
        ("GET", "/api/admin/users"),
    ]
    for method, path in refused:
        async with it_staff.request(method, server.url + path, json={"state": "away"}) as response:
            assert (response.status, (await response.json())["code"]) == (403, "forbidden"), path


async def test_agents_may_not_read_the_fleet(server: RunningServer) -> None:
    name = _kiosk_id("alex")
    http = await login(server, name, await server.add_agent(name))
    try:
        async with http.get(f"{server.url}/api/fleet") as response:
            assert (response.status, (await response.json())["code"]) == (403, "forbidden")
    finally:
        await http.close()


async def test_the_command_line_gives_accounts_the_it_role() -> None:
    parser = build_parser()
    added = parser.parse_args(["users", "add", "ines", "--role", "it", "--password-stdin"])
    changed = parser.parse_args(["users", "set-role", "ines", "it"])
    assert (added.role, changed.role) == ("it", "it")
