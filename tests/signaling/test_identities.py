"""Staff identities: sign-in lockout and throttling, idle and absolute session expiry, signing out
everywhere, and the administrators' account actions (each ends the sessions it must, at once)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import pytest

from signaling.auth import COOKIE_NAME, digest_of
from signaling.cli import build_parser, settings_from
from signaling.connections import CLOSE_AUTH, CLOSE_REVOKED
from signaling.settings import Settings
from tests.support import WAIT_S, Client, RunningServer, connect_agent, login, running_server, wait_until

PASSWORD = "correct horse"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Short limits, so a test sees a lockout end and a session run out."""
    return dataclasses.replace(
        settings,
        login_max_failures=3,
        login_ip_max_failures=50,
        login_failure_window_s=60.0,
        login_lockout_s=1.0,
        identity_check_interval_s=0.2,
    )


async def attempt(server: RunningServer, username: str, password: str) -> tuple[int, dict[str, object], str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/api/login", json={"username": username, "password": password}) as r,
    ):
        return r.status, await r.json(), r.headers.get("Retry-After", "")


async def closed(client: Client) -> int | None:
    """The close code of a socket the server closes (waiting for it, bounded)."""
    await asyncio.wait_for(client.closed.wait(), WAIT_S)
    return client.ws.close_code


# ------------------------------------------------------------------------------------------- sign-in
async def test_an_account_locks_after_repeated_failures_and_refuses_even_the_right_password(
    server: RunningServer,
) -> None:
    await server.add_agent("alice", PASSWORD)
    for _ in range(3):
        assert (await attempt(server, "alice", "wrong"))[0] == 401
    right = await attempt(server, "alice", PASSWORD)
    wrong = await attempt(server, "alice", "wrong")
    assert right[0] == wrong[0] == 429
    assert right[1]["code"] == wrong[1]["code"] == "account_locked"
    assert "locked" in str(right[1]["message"])
    assert right[1]["message"] == wrong[1]["message"]
    assert int(right[2]) >= 1
    assert right[1]["retry_after_s"] == int(right[2])


async def test_a_locked_account_signs_in_again_once_the_lockout_is_over(server: RunningServer) -> None:
    await server.add_agent("alice", PASSWORD)
    for _ in range(3):
        await attempt(server, "alice", "wrong")
    assert (await attempt(server, "alice", PASSWORD))[0] == 429
    throttle = server.services.login_throttle

    async def unlocked() -> bool:
        return not await throttle.is_locked("alice")

    await wait_until(unlocked, what="the lockout to run out")
    assert (await attempt(server, "alice", PASSWORD))[0] == 200


async def test_an_unknown_username_locks_the_same_way_so_locking_reveals_no_account(
    server: RunningServer,
) -> None:
    await server.add_agent("alice", PASSWORD)
    known = [await attempt(server, "alice", "wrong") for _ in range(4)]
    unknown = [await attempt(server, "nobody", "wrong") for _ in range(4)]
    assert [a[0] for a in known] == [a[0] for a in unknown] == [401, 401, 401, 429]
    assert known[-1][1]["code"] == unknown[-1][1]["code"] == "account_locked"


async def test_a_successful_sign_in_forgets_the_earlier_failures(server: RunningServer) -> None:
    await server.add_agent("alice", PASSWORD)
    for _ in range(2):
        await attempt(server, "alice", "wrong")
    assert (await attempt(server, "alice", PASSWORD))[0] == 200
    for _ in range(2):
        assert (await attempt(server, "alice", "wrong"))[0] == 401
    assert (await attempt(server, "alice", PASSWORD))[0] == 200


async def test_one_address_spraying_passwords_across_accounts_is_throttled(settings: Settings) -> None:
    sprayed = dataclasses.replace(
        settings, login_max_failures=100, login_ip_max_failures=4, login_lockout_s=60
    )
    async with running_server(sprayed) as server:
        await server.add_agent("alice", PASSWORD)
        for name in ("bob", "carol", "dave", "erin"):
            assert (await attempt(server, name, "Winter2026!"))[0] == 401
        status, body, retry_after = await attempt(server, "alice", PASSWORD)
        assert (status, body["code"]) == (429, "rate_limited")
        assert int(retry_after) > 1


# ------------------------------------------------------------------------------------------- sessions
@pytest.fixture
async def idle_server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(dataclasses.replace(settings, session_idle_s=0.5)) as running:
        yield running


async def test_a_session_unused_for_the_idle_timeout_ends(idle_server: RunningServer) -> None:
    server = idle_server
    await server.add_agent("alice", PASSWORD)
    http = await login(server, "alice", PASSWORD)
    try:
        async with http.get(f"{server.url}/api/me") as r:
            assert r.status == 200
        token = next(c.value for c in http.cookie_jar if c.key == COOKIE_NAME)
        key = server.services.keys.session(digest_of(token))

        async def gone() -> bool:
            return not await server.services.redis.exists(key)

        await wait_until(gone, what="the idle session to expire")
        async with http.get(f"{server.url}/api/me") as r:
            assert r.status == 401
    finally:
        await http.close()


async def test_an_open_console_whose_session_runs_out_is_closed_with_session_expired(
    settings: Settings,
) -> None:
    async with running_server(dataclasses.replace(settings, session_ttl_s=1.0)) as server:
        client = await connect_agent(server, "alice", await server.add_agent("alice", PASSWORD))
        try:
            assert await closed(client) == CLOSE_AUTH
        finally:
            await client.close()


async def test_signing_out_everywhere_closes_the_accounts_other_open_console(server: RunningServer) -> None:
    await server.add_agent("alice", PASSWORD)
    console = await connect_agent(server, "alice", PASSWORD)
    other = await login(server, "alice", PASSWORD)
    try:
        async with other.post(f"{server.url}/api/logout-everywhere", json={}) as r:
            assert r.status == 200
            assert (await r.json())["sessions_ended"] == 2
        assert await closed(console) == CLOSE_REVOKED
        async with console.http.get(f"{server.url}/api/me") as r:
            assert r.status == 401
        async with other.get(f"{server.url}/api/me") as r:
            assert r.status == 401
    finally:
        await console.close()
        await other.close()


async def test_plain_sign_out_ends_only_that_session(server: RunningServer) -> None:
    await server.add_agent("alice", PASSWORD)
    first, second = await login(server, "alice", PASSWORD), await login(server, "alice", PASSWORD)
    try:
        async with first.post(f"{server.url}/api/logout", json={}) as r:
            assert r.status == 200
        async with second.get(f"{server.url}/api/me") as r:
            assert r.status == 200
    finally:
        await first.close()
        await second.close()


# ------------------------------------------------------------------------------ administrators' API
@pytest.fixture
async def admin_http(server: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    await server.add_agent("root", PASSWORD, role="admin")
    http = await login(server, "root", PASSWORD)
    try:
        yield http
    finally:
        await http.close()


async def test_an_admin_disabling_an_account_closes_its_console_and_it_cannot_sign_in(
    server: RunningServer, admin_http: aiohttp.ClientSession
) -> None:
    console = await connect_agent(server, "alice", await server.add_agent("alice", PASSWORD))
    try:
        async with admin_http.post(f"{server.url}/api/admin/users/alice/disable", json={}) as r:
            assert r.status == 200
            assert (await r.json())["disabled"] is True
        assert await closed(console) == CLOSE_REVOKED
        assert (await attempt(server, "alice", PASSWORD))[0] == 401
        async with admin_http.post(f"{server.url}/api/admin/users/alice/enable", json={}) as r:
            assert r.status == 200
        assert (await attempt(server, "alice", PASSWORD))[0] == 200
    finally:
        await console.close()


async def test_a_new_role_ends_the_accounts_sessions(
    server: RunningServer, admin_http: aiohttp.ClientSession
) -> None:
    await server.add_agent("alice", PASSWORD)
    alice = await login(server, "alice", PASSWORD)
    try:
        async with admin_http.post(
            f"{server.url}/api/admin/users/alice/role", json={"role": "supervisor"}
        ) as r:
            assert r.status == 200
            assert (await r.json())["role"] == "supervisor"
        async with alice.get(f"{server.url}/api/me") as r:
            assert r.status == 401
    finally:
        await alice.close()


async def test_a_password_reset_by_an_admin_unlocks_the_account_and_the_old_password_fails(
    server: RunningServer, admin_http: aiohttp.ClientSession
) -> None:
    await server.add_agent("alice", PASSWORD)
    for _ in range(3):
        await attempt(server, "alice", "wrong")
    async with admin_http.get(f"{server.url}/api/admin/users") as r:
        listed = {u["username"]: u for u in (await r.json())["users"]}
    assert listed["alice"]["locked"] is True
    assert "password_hash" not in listed["alice"]
    async with admin_http.post(
        f"{server.url}/api/admin/users/alice/password", json={"password": "new battery staple"}
    ) as r:
        assert r.status == 200
    assert (await attempt(server, "alice", PASSWORD))[0] == 401
    assert (await attempt(server, "alice", "new battery staple"))[0] == 200


async def test_an_admin_can_add_an_account_that_then_signs_in(
    server: RunningServer, admin_http: aiohttp.ClientSession
) -> None:
    body = {"username": "newbie", "password": "first day", "role": "agent"}
    async with admin_http.post(f"{server.url}/api/admin/users", json=body) as r:
        assert r.status == 201
    async with admin_http.post(f"{server.url}/api/admin/users", json=body) as r:
        assert (r.status, (await r.json())["code"]) == (409, "wrong_state")
    assert (await attempt(server, "newbie", "first day"))[0] == 200


async def test_an_admin_cannot_disable_their_own_account(
    server: RunningServer, admin_http: aiohttp.ClientSession
) -> None:
    async with admin_http.post(f"{server.url}/api/admin/users/root/disable", json={}) as r:
        assert r.status == 409


async def test_an_unknown_account_is_answered_404(
    server: RunningServer, admin_http: aiohttp.ClientSession
) -> None:
    async with admin_http.post(f"{server.url}/api/admin/users/ghost/disable", json={}) as r:
        assert r.status == 404


@pytest.mark.parametrize("role", ["agent", "supervisor"])
async def test_only_administrators_may_use_the_admin_api(server: RunningServer, role: str) -> None:
    await server.add_agent("someone", PASSWORD, role=role)
    await server.add_agent("alice", PASSWORD)
    http = await login(server, "someone", PASSWORD)
    try:
        async with http.get(f"{server.url}/api/admin/users") as r:
            assert r.status == 403
        async with http.post(f"{server.url}/api/admin/users/alice/disable", json={}) as r:
            assert r.status == 403
        async with http.get(f"{server.url}/admin") as r:
            assert r.status == 403
    finally:
        await http.close()
    assert (await attempt(server, "alice", PASSWORD))[0] == 200


def test_serve_takes_the_sign_in_and_session_limits_from_its_command_line() -> None:
    args = build_parser().parse_args(
        ["serve", "--session-idle", "600", "--login-max-failures", "3", "--login-lockout", "120"]
    )
    settings = settings_from(args)
    assert (settings.session_idle_s, settings.login_max_failures, settings.login_lockout_s) == (600, 3, 120)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--login-max-failures", "0"])
