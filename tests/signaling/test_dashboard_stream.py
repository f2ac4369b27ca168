"""The dashboard's live stream over HTTP: Server-Sent Events with the whole picture every 1.5 s, shared by
its readers, and ended for a reader whose session ends (the page then offers sign-in)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from signaling.handlers import dashboard_api
from tests.signaling import authz
from tests.signaling.authz import unique
from tests.support import WAIT_S, RunningServer, connect_kiosk, login

pytestmark = pytest.mark.asyncio(loop_scope="module")
server = authz.shared_server

STREAM = "/api/dashboard/stream"


async def next_event(response: aiohttp.ClientResponse) -> tuple[str, Any]:
    """The next named event of an event stream: its name and its data, decoded."""
    name, data = "", ""
    async with asyncio.timeout(WAIT_S):
        while True:
            line = (await response.content.readline()).decode()
            if not line:
                raise AssertionError("the stream ended")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            elif not line and name:
                return name, json.loads(data)


async def signed_in(server: RunningServer, role: str) -> aiohttp.ClientSession:
    name = unique(role)
    return await login(server, name, await server.add_agent(name, role=role))


async def test_the_stream_sends_the_whole_picture_as_server_sent_events(server: RunningServer) -> None:
    kiosk_id = unique("k-dash")
    kiosk = await connect_kiosk(server, kiosk_id, await server.enroll(kiosk_id, "Main St"))
    http = await signed_in(server, "it")
    try:
        async with http.get(f"{server.url}{STREAM}") as response:
            assert response.status == 200
            assert response.content_type == "text/event-stream"
            assert (await response.content.readline()).decode().startswith("retry: ")
            name, snapshot = await next_event(response)
            assert name == "snapshot"
            assert {"fleet", "calls", "queues", "service_level", "alerts"} <= snapshot.keys()
            listed = {k["kiosk_id"]: k for k in snapshot["fleet"]}
            assert listed[kiosk_id]["status"] == "online"
            assert listed[kiosk_id]["location"] == "Main St"
            assert {q["topic"] for q in snapshot["queues"]} == set(server.services.settings.topics)
            assert snapshot["limits"]["poor_mos"] == server.services.settings.quality_poor_mos
            name, later = await next_event(response)  # and again, every 1.5 s
            assert name == "snapshot"
            assert later["at_ms"] > snapshot["at_ms"]
    finally:
        await http.close()
        await kiosk.close()


async def test_a_reader_whose_session_ends_is_told_and_the_stream_ends(server: RunningServer) -> None:
    http = await signed_in(server, "supervisor")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(dashboard_api, "SESSION_RECHECK_S", 0.0)  # re-check at every snapshot
            async with http.get(f"{server.url}{STREAM}") as response:
                assert (await next_event(response))[0] == "snapshot"
                async with http.post(f"{server.url}/api/logout", json={}) as signed_out:
                    assert signed_out.status == 200
                while (event := await next_event(response))[0] == "snapshot":
                    pass
                assert event[0] == "signed_out"
                assert event[1]["code"] == "auth_required"
                async with asyncio.timeout(WAIT_S):
                    assert await response.content.read() == b""  # the server ended the stream
    finally:
        await http.close()


async def test_an_agent_is_refused_the_stream(server: RunningServer) -> None:
    http = await signed_in(server, "agent")
    try:
        async with http.get(f"{server.url}{STREAM}") as response:
            assert response.status == 403
            assert (await response.json())["code"] == "forbidden"
    finally:
        await http.close()
