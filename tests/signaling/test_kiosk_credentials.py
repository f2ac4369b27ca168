"""Kiosk credentials: rotating a secret and revoking a kiosk take effect at once, through the admin API
and the command line: the old secret is refused, the open socket closes, the kiosk's call ends with a
reason; and a command run with only the database is caught up by the servers' periodic check."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from signaling.connections import CLOSE_REVOKED
from signaling.protocol import (
    Accept,
    AgentJoined,
    CallEnded,
    CallState,
    HelpRequest,
    Offer,
    Queued,
    SetState,
)
from signaling.settings import Settings
from tests.support import (
    WAIT_S,
    Client,
    RunningServer,
    cli_env,
    connect_agent,
    connect_kiosk,
    login,
    run_cli,
)

PASSWORD = "correct horse"


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Servers re-check identities every 0.2 s unless a test says otherwise."""
    changes = getattr(request, "param", {"identity_check_interval_s": 0.2})
    return dataclasses.replace(settings, **changes)


@pytest.fixture
async def admin_http(server: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    await server.add_agent("root", PASSWORD, role="admin")
    http = await login(server, "root", PASSWORD)
    try:
        yield http
    finally:
        await http.close()


async def closed(client: Client) -> int | None:
    await asyncio.wait_for(client.closed.wait(), WAIT_S)
    return client.ws.close_code


async def kiosk_refused(server: RunningServer, kiosk_id: str, secret: str) -> bool:
    try:
        client = await connect_kiosk(server, kiosk_id, secret)
    except AssertionError:
        return True
    await client.close()
    return False


async def waiting_call(kiosk: Client) -> str:
    await kiosk.send(HelpRequest(topic="cash", language="en"))
    return (await kiosk.expect(Queued)).call_id


async def call_in_progress(server: RunningServer, kiosk: Client) -> tuple[Client, str]:
    agent = await connect_agent(server, "alice", await server.add_agent("alice", PASSWORD, skills=("cash",)))
    call_id = await waiting_call(kiosk)
    await agent.send(SetState(state="available"))
    await agent.expect(Offer)
    await agent.send(Accept(call_id=call_id))
    await kiosk.expect(AgentJoined)
    return agent, call_id


async def post(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    async with http.post(url, json={}) as r:
        return r.status, await r.json()


# -------------------------------------------------------------------------------------------- rotate
async def test_rotating_refuses_the_old_secret_accepts_the_new_and_closes_the_open_socket(
    server: RunningServer, admin_http: aiohttp.ClientSession
) -> None:
    old = await server.enroll("k-1")
    kiosk = await connect_kiosk(server, "k-1", old)
    try:
        call_id = await waiting_call(kiosk)
        status, body = await post(admin_http, f"{server.url}/api/admin/kiosks/k-1/rotate")
        assert status == 200
        assert body["ended_call"] == call_id
        assert await closed(kiosk) == CLOSE_REVOKED
        assert await kiosk_refused(server, "k-1", old)
        fresh = await connect_kiosk(server, "k-1", str(body["secret"]))
        await fresh.close()
        call = await server.services.engine.get_call(call_id)
        assert call is not None
        assert call.state == CallState.ABANDONED
    finally:
        await kiosk.close()


async def test_a_revoked_kiosk_cannot_be_rotated(
    server: RunningServer, admin_http: aiohttp.ClientSession
) -> None:
    await server.enroll("k-1")
    assert (await post(admin_http, f"{server.url}/api/admin/kiosks/k-1/revoke"))[0] == 200
    status, body = await post(admin_http, f"{server.url}/api/admin/kiosks/k-1/rotate")
    assert (status, body["code"]) == (409, "wrong_state")


# -------------------------------------------------------------------------------------------- revoke
async def test_revoking_closes_the_kiosks_socket_and_ends_its_call_in_progress_with_a_reason(
    server: RunningServer, admin_http: aiohttp.ClientSession
) -> None:
    secret = await server.enroll("k-1")
    kiosk = await connect_kiosk(server, "k-1", secret)
    agent, call_id = await call_in_progress(server, kiosk)
    try:
        status, body = await post(admin_http, f"{server.url}/api/admin/kiosks/k-1/revoke")
        assert status == 200
        assert body["revoked_at"]
        assert await closed(kiosk) == CLOSE_REVOKED
        ended = await agent.expect(CallEnded, where=lambda m: m.call_id == call_id)
        assert ended.reason == "kiosk_revoked"
        assert await kiosk_refused(server, "k-1", secret)
    finally:
        await kiosk.close()
        await agent.close()


async def test_the_kiosk_list_never_shows_secrets(
    server: RunningServer, admin_http: aiohttp.ClientSession
) -> None:
    secret = await server.enroll("k-1", "Main St")
    async with admin_http.get(f"{server.url}/api/admin/kiosks") as r:
        text = await r.text()
    assert r.status == 200
    assert secret not in text
    assert "sha256" not in text
    assert json.loads(text)["kiosks"][0]["location"] == "Main St"


async def test_an_admin_enrolling_a_kiosk_sees_its_secret_once_and_the_kiosk_connects(
    server: RunningServer, admin_http: aiohttp.ClientSession
) -> None:
    async with admin_http.post(f"{server.url}/api/admin/kiosks", json={"kiosk_id": "k-9"}) as r:
        assert r.status == 201
        secret = (await r.json())["secret"]
    await (await connect_kiosk(server, "k-9", secret)).close()


# ----------------------------------------------------------------------------------------- command line
def store_args(settings: Settings) -> list[str]:
    return ["--data-dir", str(settings.data_dir)]


@pytest.mark.parametrize("settings", [{"identity_check_interval_s": 3600.0}], indirect=True)
async def test_cli_rotate_with_the_servers_redis_closes_the_socket_at_once(
    server: RunningServer, settings: Settings
) -> None:
    old = await server.enroll("k-1")
    kiosk = await connect_kiosk(server, "k-1", old)
    try:
        env = cli_env(
            KIOSK_ASSIST_REDIS_URL=str(settings.redis_url), KIOSK_ASSIST_REDIS_PREFIX=settings.redis_prefix
        )
        code, out, err = await run_cli("kiosks", "rotate", "k-1", "--json", *store_args(settings), env=env)
        assert code == 0, err
        secret = json.loads(out)["secret"]
        assert await closed(kiosk) == CLOSE_REVOKED
        assert await kiosk_refused(server, "k-1", old)
        await (await connect_kiosk(server, "k-1", secret)).close()
    finally:
        await kiosk.close()


async def test_cli_revoke_with_only_the_database_is_caught_up_by_the_servers_check(
    server: RunningServer, settings: Settings
) -> None:
    kiosk = await connect_kiosk(server, "k-1", await server.enroll("k-1"))
    try:
        call_id = await waiting_call(kiosk)
        code, _, err = await run_cli("kiosks", "revoke", "k-1", *store_args(settings))
        assert code == 0, err
        assert "no --redis-url" in err
        assert await closed(kiosk) == CLOSE_REVOKED
        call = await server.services.engine.get_call(call_id)
        assert call is not None
        assert call.state == CallState.ABANDONED
    finally:
        await kiosk.close()


async def test_cli_lists_kiosks_without_secrets(server: RunningServer, settings: Settings) -> None:
    secret = await server.enroll("k-1", "Main St")
    code, out, _ = await run_cli("kiosks", "list", "--json", *store_args(settings))
    assert code == 0
    (listed,) = json.loads(out)
    assert listed["kiosk_id"] == "k-1"
    assert listed["revoked_at"] is None
    assert secret not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("kiosks", "rotate", "nope"), "kiosk 'nope' is not enrolled"),
        (("kiosks", "revoke", "nope"), "kiosk 'nope' is not enrolled"),
        (("users", "disable", "ghost"), "no user named 'ghost'"),
        (("users", "set-role", "ghost", "admin"), "no user named 'ghost'"),
    ],
)
async def test_cli_names_an_unknown_kiosk_or_user_and_exits_1(
    server: RunningServer, settings: Settings, args: tuple[str, ...], message: str
) -> None:
    code, _, err = await run_cli(*args, *store_args(settings))
    assert code == 1
    assert message in err
    assert "Traceback" not in err


async def test_cli_user_commands_change_the_account_and_list_shows_it(
    server: RunningServer, settings: Settings
) -> None:
    await server.add_agent("alice", PASSWORD)
    args = store_args(settings)
    assert (await run_cli("users", "set-role", "alice", "supervisor", *args))[0] == 0
    assert (await run_cli("users", "disable", "alice", *args))[0] == 0
    code, out, _ = await run_cli("users", "list", "--json", *args)
    assert code == 0
    (alice,) = [u for u in json.loads(out) if u["username"] == "alice"]
    assert (alice["role"], alice["disabled"]) == ("supervisor", True)
    assert "password" not in json.dumps(alice)
    assert (await run_cli("users", "enable", "alice", *args))[0] == 0
    assert (await run_cli("users", "set-password", "alice", "--password-stdin", *args, stdin="fresh one\n"))[
        0
    ] == 0
    await (await login(server, "alice", "fresh one")).close()
