"""Invariant 5 over HTTP: every route by every kind of caller.

``ENDPOINTS`` is the table of the server's routes and the roles that may use each; a new route gets a row
(``test_every_route_of_the_server_is_in_the_table`` fails until it has one). A caller without a valid
session (none, an expired or signed-out one, a made-up cookie) gets 401 ``auth_required``; a signed-in
role that may not gets 403 ``forbidden``; both change nothing, in Redis or in the database. A role that
may gets a 2xx answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from yarl import URL

from signaling.auth import COOKIE_NAME
from signaling.handlers.csrf import CSRF_HEADER, csrf_token_for
from signaling.protocol import Cancel, HelpRequest, Queued
from signaling.store import list_kiosks, list_users
from tests.signaling import authz
from tests.signaling.authz import TOPIC, Scene, Stage, state_snapshot, unique
from tests.support import RunningServer, connect_kiosk, login

pytestmark = pytest.mark.asyncio(loop_scope="module")
server = authz.shared_server

ANONYMOUS = "anonymous"
STAFF = frozenset({"agent", "supervisor", "admin"})
"""The roles that take calls (and read call history)."""
SUPERVISORS = frozenset({"supervisor", "admin"})
ADMINS = frozenset({"admin"})
IT = "it"
"""IT staff: they read what monitoring needs (the queue board, the fleet, the dashboard's APIs); they take no
calls, act on no agent, call or account, and read no call history (it holds customers' context)."""
MONITORS = SUPERVISORS | {IT}
"""The roles that read the monitoring APIs (dashboard, fleet, live calls, alerts, service level)."""
SIGNED_IN = STAFF | {IT}
EVERYONE = SIGNED_IN | {ANONYMOUS}
NO_SESSION = ("anonymous", "expired", "signed_out", "garbage")
"""Callers without a valid session: each must be treated as anonymous."""
ROLES = ("agent", "supervisor", "admin", IT, *NO_SESSION)

Params = dict[str, str]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    allowed: frozenset[str]
    """Roles that may use it (``anonymous``: anyone, signed in or not)."""
    prepare: Callable[[RunningServer, AsyncExitStack], Awaitable[Params]] | None = None
    """Makes what the request acts on (a live call, an agent in wrap-up…); returns the path's parameters."""
    body: Callable[[], dict[str, Any]] | None = None
    websocket: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


# ------------------------------------------------------------------------------------ what requests act on
_history: dict[int, str] = {}


async def _call_in_history(server: RunningServer, stack: AsyncExitStack) -> Params:
    """A call that ended and was written to the history (one per server)."""
    if id(server) not in _history:
        kiosk_id = unique("k-hist")
        kiosk = await connect_kiosk(server, kiosk_id, await server.enroll(kiosk_id))
        stack.push_async_callback(kiosk.close)
        await kiosk.send(HelpRequest(topic=TOPIC))
        call_id = (await kiosk.expect(Queued)).call_id
        await kiosk.send(Cancel(call_id=call_id))
        await server.drain_history()
        _history[id(server)] = call_id
    return {"call_id": _history[id(server)]}


async def _live_call(server: RunningServer, stack: AsyncExitStack) -> Params:
    kiosk_id = unique("k-live")
    kiosk = await connect_kiosk(server, kiosk_id, await server.enroll(kiosk_id))
    stack.push_async_callback(kiosk.close)
    await kiosk.send(HelpRequest(topic="other"))
    return {"call_id": (await kiosk.expect(Queued)).call_id}


async def _online_agent(server: RunningServer, stack: AsyncExitStack) -> Params:
    name = unique("bob")
    agent = await authz.new_agent(server, name)
    stack.push_async_callback(agent.close)
    return {"name": name}


async def _agent_in_wrap_up(server: RunningServer, stack: AsyncExitStack) -> Params:
    scene = await Scene.build(server, Stage.WRAP_UP)
    stack.push_async_callback(scene.close)
    return {"name": scene.agent_name}


async def _account(server: RunningServer, stack: AsyncExitStack) -> Params:
    name = unique("carol")
    await server.add_agent(name)
    return {"name": name}


async def _kiosk(server: RunningServer, stack: AsyncExitStack) -> Params:
    kiosk_id = unique("k-adm")
    await server.enroll(kiosk_id)
    return {"kiosk_id": kiosk_id}


def _empty() -> dict[str, Any]:
    return {}


ENDPOINTS = [
    Endpoint("GET", "/healthz", EVERYONE),
    Endpoint("GET", "/readyz", EVERYONE),
    Endpoint("GET", "/metrics", EVERYONE),
    Endpoint("GET", "/openapi.json", EVERYONE),
    Endpoint("GET", "/", EVERYONE),
    Endpoint("POST", "/api/logout", EVERYONE, body=_empty),
    Endpoint("GET", "/api/me", SIGNED_IN),
    Endpoint("POST", "/api/logout-everywhere", SIGNED_IN, body=_empty),
    Endpoint("GET", "/api/calls", STAFF),
    Endpoint("GET", "/api/calls/{call_id}", STAFF, _call_in_history),
    Endpoint("DELETE", "/api/calls/{call_id}", SUPERVISORS, _live_call),
    Endpoint("GET", "/api/queues", SIGNED_IN),
    Endpoint("GET", "/api/fleet", MONITORS),
    Endpoint("GET", "/api/service-level", MONITORS),
    Endpoint("GET", "/api/dashboard/stream", MONITORS),
    Endpoint("GET", "/api/calls/live", MONITORS),
    Endpoint("GET", "/api/alerts", MONITORS),
    Endpoint("GET", "/api/calls/{call_id}/timeline", MONITORS, _call_in_history),
    Endpoint("POST", "/api/agents/{name}/state", SUPERVISORS, _online_agent, lambda: {"state": "available"}),
    Endpoint("POST", "/api/agents/{name}/wrap-up/complete", SUPERVISORS, _agent_in_wrap_up, _empty),
    Endpoint("GET", "/api/admin/users", ADMINS),
    Endpoint(
        "POST",
        "/api/admin/users",
        ADMINS,
        body=lambda: {"username": unique("dave"), "password": "a long passphrase", "role": "agent"},
    ),
    Endpoint("POST", "/api/admin/users/{name}/role", ADMINS, _account, lambda: {"role": "supervisor"}),
    Endpoint("POST", "/api/admin/users/{name}/disable", ADMINS, _account, _empty),
    Endpoint("POST", "/api/admin/users/{name}/enable", ADMINS, _account, _empty),
    Endpoint(
        "POST", "/api/admin/users/{name}/password", ADMINS, _account, lambda: {"password": "another one!"}
    ),
    Endpoint("POST", "/api/admin/users/{name}/logout-everywhere", ADMINS, _account, _empty),
    Endpoint("GET", "/api/admin/kiosks", ADMINS),
    Endpoint("POST", "/api/admin/kiosks", ADMINS, body=lambda: {"kiosk_id": unique("k-new")}),
    Endpoint("POST", "/api/admin/kiosks/{kiosk_id}/rotate", ADMINS, _kiosk, _empty),
    Endpoint("POST", "/api/admin/kiosks/{kiosk_id}/revoke", ADMINS, _kiosk, _empty),
    Endpoint("GET", "/ws/agent", STAFF, websocket=True),
    Endpoint("GET", "/ws/kiosk", EVERYONE, websocket=True),
]
"""Every route but ``POST /api/login`` (signing in is what anonymous callers do; its refusals are tested
with the sign-in) and the console's static files."""
SPECIAL = {("GET", "/admin"), ("GET", "/dashboard")}
"""The administrators' page: served to administrators and to callers without a session (it offers
sign-in), refused (403) to other roles; see ``test_the_admin_page_is_refused_to_other_roles``. The
dashboard's page likewise, for supervisors, administrators and IT
(``test_the_dashboard_page_is_refused_to_agents``)."""


# ------------------------------------------------------------------------------------------------ callers
@dataclass
class Caller:
    role: str
    http: aiohttp.ClientSession
    name: str = ""
    headers: dict[str, str] = field(default_factory=dict)


async def _caller(server: RunningServer, role: str, stack: AsyncExitStack) -> Caller:
    if role in ("agent", "supervisor", "admin", IT, "expired", "signed_out"):
        name = unique(f"{role.replace('_', '')}-")
        account_role = role if role in SIGNED_IN else "agent"
        password = await server.add_agent(name, role=account_role, skills=("other",))
        http = await login(server, name, password)
        stack.push_async_callback(http.close)
        caller = Caller(role, http, name)
        if role == "expired":  # its key ran out (or an administrator ended it)
            await server.services.sessions.delete(_token(http, server))
        elif role == "signed_out":  # signed out, and a copy of the old cookie comes back
            token = _token(http, server)
            async with http.post(f"{server.url}/api/logout") as response:
                assert response.status == 200
            http.cookie_jar.update_cookies({COOKIE_NAME: token}, URL(server.url))
        return caller
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    stack.push_async_callback(http.close)
    if role == "garbage":
        token = secrets.token_urlsafe(32)
        http.cookie_jar.update_cookies({COOKIE_NAME: token}, URL(server.url))
        http.headers[CSRF_HEADER] = csrf_token_for(token)
    return Caller(role, http)


def _token(http: aiohttp.ClientSession, server: RunningServer) -> str:
    cookie = http.cookie_jar.filter_cookies(URL(server.url)).get(COOKIE_NAME)
    assert cookie is not None
    return cookie.value


# ---------------------------------------------------------------------------------------------- the cases
def _expected(endpoint: Endpoint, role: str) -> tuple[int | None, str | None]:
    """The status (None: any 2xx, or 101 for a WebSocket) and problem code ``role`` gets."""
    if ANONYMOUS in endpoint.allowed or role in endpoint.allowed:
        return None, None
    if role in NO_SESSION:
        return 401, "auth_required"
    return 403, "forbidden"


CASES = [(e, role) for e in ENDPOINTS for role in ROLES]


async def _db_snapshot(server: RunningServer) -> tuple[list[Any], list[Any]]:
    users = [
        (u.username, u.role, u.disabled, u.password_hash, getattr(u, "session_generation", 0))
        for u in await list_users(server.db)
    ]
    kiosks = [
        (k.id, k.secret_hash, k.revoked_at, getattr(k, "rotated_at", None))
        for k in await list_kiosks(server.db)
    ]
    return users, kiosks


@pytest.mark.parametrize(("endpoint", "role"), CASES, ids=[f"{e.id}-by-{r}" for e, r in CASES])
async def test_each_route_answers_each_caller_as_the_table_says(
    server: RunningServer, endpoint: Endpoint, role: str
) -> None:
    async with AsyncExitStack() as stack:
        caller = await _caller(server, role, stack)
        params = await endpoint.prepare(server, stack) if endpoint.prepare else {}
        url = server.url + endpoint.path.format(**params)
        await server.services.delivery.outbox.flushed()
        before = (await state_snapshot(server), await _db_snapshot(server))
        status, code = _expected(endpoint, role)
        if endpoint.websocket:
            got, problem = await _upgrade(caller.http, url)
        else:
            body = endpoint.body() if endpoint.body else None
            async with caller.http.request(endpoint.method, url, json=body) as response:
                got = response.status
                problem = await response.json() if response.content_type == "application/json" else {}
        if status is None:
            assert 200 <= got < 300 or (endpoint.websocket and got == 101), (got, problem)
            return
        assert (got, problem.get("code")) == (status, code), problem
        assert problem.get("message")
        await server.services.delivery.outbox.flushed()
        assert (await state_snapshot(server), await _db_snapshot(server)) == before


async def _upgrade(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    ws_url = "ws" + url.removeprefix("http")
    try:
        ws = await http.ws_connect(ws_url)
    except aiohttp.WSServerHandshakeError as exc:
        refused = exc.status
    else:
        await ws.close()
        return 101, {}
    async with http.get(url) as response:  # the same refusal, read as a plain request for its body
        problem = await response.json() if response.content_type == "application/json" else {}
        return (refused if response.status == refused else -response.status), problem


async def test_every_route_of_the_server_is_in_the_table(server: RunningServer) -> None:
    routes = {
        (route.method, route.resource.canonical)
        for route in server.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    routes = {(m, p) for m, p in routes if not p.startswith("/static")}
    listed = {(e.method, e.path) for e in ENDPOINTS} | SPECIAL | {("POST", "/api/login")}
    assert routes == listed


@pytest.mark.parametrize("role", ROLES)
async def test_the_admin_page_is_refused_to_other_roles(server: RunningServer, role: str) -> None:
    async with AsyncExitStack() as stack:
        caller = await _caller(server, role, stack)
        async with caller.http.get(f"{server.url}/admin") as response:
            if role in ("agent", "supervisor", IT):
                assert (response.status, (await response.json())["code"]) == (403, "forbidden")
            else:
                assert response.status == 200


@pytest.mark.parametrize("role", ROLES)
async def test_the_dashboard_page_is_refused_to_agents(server: RunningServer, role: str) -> None:
    async with AsyncExitStack() as stack:
        caller = await _caller(server, role, stack)
        async with caller.http.get(f"{server.url}/dashboard") as response:
            if role == "agent":
                assert (response.status, (await response.json())["code"]) == (403, "forbidden")
            else:
                assert response.status == 200
