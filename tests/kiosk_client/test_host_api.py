"""The kiosk's local host API against a real server: help with context, proactive help on a failed
transaction, loopback only, readable errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest

from kiosk_client.host_api import HostApiError, HostApiOptions, check_loopback, serve_host_api
from kiosk_client.host_events import HostEvents
from kiosk_client.service import attach_host_events
from kiosk_client.session import KioskOptions, KioskRunner
from media import MediaSource, SyntheticAudioTrack, SyntheticVideoTrack
from signaling.protocol import Offer, SetState
from tests.support import RunningServer, connect_agent, login, wait_until

WAIT_S = 10.0


@dataclass
class Host:
    http: aiohttp.ClientSession
    base: str

    async def status(self) -> dict[str, object]:
        async with self.http.get(f"{self.base}/status") as response:
            body: dict[str, object] = await response.json()
            return body


@asynccontextmanager
async def kiosk_with_host_api(
    server: RunningServer, kiosk_id: str, options: HostApiOptions
) -> AsyncIterator[Host]:
    secret = await server.enroll(kiosk_id)
    kiosk = KioskOptions(server=server.url, kiosk_id=kiosk_id, secret=secret, exit_after_call=False)
    runner = KioskRunner(kiosk, source=MediaSource(SyntheticVideoTrack(320, 240), SyntheticAudioTrack()))
    events = attach_host_events(runner)
    async with serve_host_api(runner, events, options) as port, aiohttp.ClientSession() as http:
        task = asyncio.create_task(runner.run())
        host = Host(http, f"http://127.0.0.1:{port}")
        try:

            async def connected() -> bool:
                return (await host.status())["connection"] == "connected"

            await wait_until(connected, WAIT_S, "the kiosk signed in")
            yield host
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await runner.close()


async def _next_sse(stream: aiohttp.StreamReader, event: str) -> dict[str, object]:
    async with asyncio.timeout(WAIT_S):
        while True:
            line = (await stream.readline()).decode()
            if line.startswith("data:"):
                record: dict[str, object] = json.loads(line[5:])
                if record["event"] == event:
                    return record


async def test_help_posted_by_the_host_rings_an_agent_with_its_context_and_streams_queued(
    server: RunningServer,
) -> None:
    agent = await connect_agent(server, "bob", await server.add_agent("bob", skills=("cash",)))
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(agent.close)
        host = await stack.enter_async_context(kiosk_with_host_api(server, "k-host", HostApiOptions(port=0)))
        async with host.http.get(f"{host.base}/events") as stream:
            assert (await stream.content.readline()) == b": connected\n"
            body = {"topic": "cash", "language": "en", "context": {"transaction": "withdrawal 200"}}
            async with host.http.post(f"{host.base}/help", json=body) as response:
                assert response.status == 202
            queued = await _next_sse(stream.content, "queued")
        await agent.send(SetState(state="available"))
        offer = await agent.expect(Offer)
        assert offer.call_id == queued["call_id"]
        assert offer.context == {"transaction": "withdrawal 200"}
        assert offer.priority == 0
        status = await host.status()
        assert status["call_id"] == queued["call_id"]
        assert status["call_state"] in ("queued", "ringing")


async def test_failed_transaction_with_auto_help_queues_a_call_with_the_fault_at_raised_priority(
    server: RunningServer,
) -> None:
    agent = await connect_agent(server, "bob", await server.add_agent("bob", skills=("cash",)))
    await agent.send(SetState(state="available"))
    options = HostApiOptions(port=0, auto_help_on_failure=True, fault_topic="cash")
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(agent.close)
        host = await stack.enter_async_context(kiosk_with_host_api(server, "k-fault", options))
        failed = {"code": "E42", "detail": "cash jammed in presenter"}
        async with host.http.post(f"{host.base}/transactions/failed", json=failed) as response:
            assert response.status == 202
            assert (await response.json())["help"] == "requested"
        offer = await agent.expect(Offer)
        assert offer.context["device_fault"] == "transaction failed: E42 (cash jammed in presenter)"
        assert offer.context["transaction_code"] == "E42"
        assert offer.priority > 0


async def test_failed_transaction_without_auto_help_offers_help_to_the_host_with_the_fault(
    server: RunningServer,
) -> None:
    async with kiosk_with_host_api(server, "k-offer", HostApiOptions(port=0)) as host:
        async with host.http.get(f"{host.base}/events") as stream:
            await stream.content.readline()
            failed = {"code": "E7"}
            async with host.http.post(f"{host.base}/transactions/failed", json=failed) as response:
                assert (await response.json())["help"] == "offered"
            offered = await _next_sse(stream.content, "help_offered")
        assert offered["device_fault"] == "transaction failed: E7"
        assert (await host.status())["call_state"] == "idle"


async def test_a_fault_the_host_reports_reaches_it_at_once_and_clears_when_the_host_says_so(
    server: RunningServer,
) -> None:
    it_password = await server.add_agent("ivo", role="it")
    async with (
        kiosk_with_host_api(server, "k-jam", HostApiOptions(port=0)) as host,
        await login(server, "ivo", it_password) as it,
    ):

        async def fleet_faults() -> list[str]:
            async with it.get(f"{server.url}/api/fleet") as response:
                kiosks = {k["kiosk_id"]: k for k in (await response.json())["kiosks"]}
            return list(kiosks["k-jam"]["faults"] or [])

        async with host.http.post(f"{host.base}/faults", json={"fault": "card reader jammed"}) as response:
            assert response.status == 200
        assert await fleet_faults() == ["card reader jammed"], "reported with the request, not 5 s later"
        async with host.http.delete(f"{host.base}/faults") as response:
            assert response.status == 204
        assert await fleet_faults() == []


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.20", "::", "kiosk.local"])
async def test_host_api_refuses_to_listen_beyond_this_machine(address: str) -> None:
    with pytest.raises(HostApiError, match="this machine only"):
        check_loopback(address)
    with pytest.raises(HostApiError):
        async with serve_host_api(_NoHelp(), HostEvents(), HostApiOptions(host=address, port=0)):
            pass


class _NoHelp:
    async def request_help(
        self, topic: str, language: str, context: dict[str, str], device_fault: str | None = None
    ) -> None:
        raise AssertionError("an invalid request must not reach the kiosk")

    async def faults_changed(self) -> None:
        raise AssertionError("an invalid request must not reach the kiosk")


async def test_bad_requests_get_readable_json_errors_and_change_nothing() -> None:
    events = HostEvents()
    async with serve_host_api(_NoHelp(), events, HostApiOptions(port=0)) as port:
        base = f"http://127.0.0.1:{port}"
        cases: list[tuple[str, dict[str, object], int, str, str]] = [
            ("/help", {"json": {"language": "en"}}, 400, "invalid_body", "topic"),
            ("/help", {"json": {"topic": "cash", "context": {"k": 5}}}, 400, "invalid_body", "context"),
            ("/help", {"data": b"{not json", "headers": _JSON}, 400, "invalid_json", "not JSON"),
            ("/help", {"data": b"topic=cash"}, 415, "unsupported_media_type", "application/json"),
            ("/faults", {"data": b"x" * 20000, "headers": _JSON}, 413, "body_too_large", "at most"),
            ("/transactions/failed", {"json": {"detail": "x"}}, 400, "invalid_body", "code"),
            (
                "/help",
                {"json": {"topic": "cash"}, "headers": {"Origin": "http://evil"}},
                403,
                "forbidden",
                "",
            ),
            ("/help", {"json": {"topic": "cash"}}, 503, "not_connected", "connecting"),
        ]
        async with aiohttp.ClientSession() as http:
            for path, kw, status, error, words in cases:
                async with http.post(base + path, **kw) as response:  # type: ignore[arg-type]
                    body = await response.json()
                    assert (response.status, body["error"]) == (status, error), (path, kw, body)
                    assert words in body["message"]
            async with http.get(base + "/nowhere") as response:
                assert response.status == 404
                assert (await response.json())["error"] == "not_found"
    assert events.status.fault is None


_JSON = {"Content-Type": "application/json"}
