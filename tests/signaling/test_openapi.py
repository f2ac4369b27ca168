"""The HTTP API's OpenAPI document is valid and complete, and the server keeps to it.

Schemathesis generates requests from the document served at ``/openapi.json`` (valid ones, and invalid ones:
wrong types, missing fields, unknown fields, bodies that are not JSON) and sends them to a running server,
anonymously and as a signed-in supervisor, on SQLite and on PostgreSQL. A real agent is signed in and a
kiosk's call waits, and some requests name them, so supervisor actions also act on something; some carry
NUL characters, which PostgreSQL refuses to store. For every answer:

- no 5xx, and nothing logged as an error;
- its status code is documented for the operation, its content type too, and its body fits the schema;
- anonymously, an operation that needs a session is refused with 401;
- a refused request (4xx), or one that names no signed-in agent and no live call, changes nothing in Redis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import aiohttp
import jsonschema_rs
import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from yarl import URL

from signaling.app import create_app
from signaling.auth import COOKIE_NAME
from signaling.handlers.csrf import CSRF_HEADER, csrf_token_for
from signaling.openapi import build_document
from signaling.protocol import HelpRequest, Queued
from signaling.queues import EscalationStep, QueueConfig, QueueSet
from signaling.settings import DEFAULT_TOPICS, Settings
from signaling.store import get_user
from tests.support import WAIT_S, Client, RunningServer, connect_agent, connect_kiosk, login, redis_snapshot

QUIET_S = 3600.0  # no timer fires during the test: every change in Redis comes from a request
EXAMPLES = 10  # per operation and kind of request (valid, invalid, naming what exists, carrying NULs)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
NOT_IN_THE_DOCUMENT = {  # routes that are not the HTTP API
    "/ws/kiosk": "a WebSocket (docs/protocol.md)",
    "/ws/agent": "a WebSocket (docs/protocol.md)",
    "/": "the console's page",
    "/admin": "the administrators' page",
    "/dashboard": "the dashboard's page",
}
ENDLESS = {"GET /api/dashboard/stream"}
"""Event streams: signed in, they never end, so they are only fuzzed anonymously (their refusals); the
dashboard's stream has tests of its own (tests/signaling/test_dashboard_stream.py)."""
SUPERVISOR, AGENT, KIOSK = "sue", "alice", "k-1"
SPARE = "sam"
"""A supervisor whose sessions ``POST /api/logout-everywhere`` ends (the test's own stays signed in)."""


# ------------------------------------------------------------------------------------- the document
def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def registered_operations(app: web.Application) -> set[tuple[str, str]]:
    """Every route of the app but the static files, the page and the WebSockets (and the HEADs aiohttp
    adds to each GET)."""
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and not isinstance(route.resource, web.StaticResource)
        and route.resource.canonical not in NOT_IN_THE_DOCUMENT
        and route.method != "HEAD"
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    document = build_document()
    assert document["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name  # each a valid JSON Schema (2020-12)


def test_the_document_lists_every_http_route_of_the_app() -> None:
    app = create_app(Settings())
    missing = registered_operations(app) - documented_operations(build_document())
    assert not missing, f"routes with no entry in signaling/openapi.py: {sorted(missing)}"
    extra = documented_operations(build_document()) - registered_operations(app)
    assert not extra, f"documented operations the app does not have: {sorted(extra)}"


async def test_a_method_a_path_does_not_have_is_refused_with_405_naming_the_ones_it_has(
    server: RunningServer,
) -> None:
    paths: dict[str, dict[str, Any]] = build_document()["paths"]
    async with aiohttp.ClientSession() as http:
        for path, item in paths.items():
            documented = {m.upper() for m in item if m in HTTP_METHODS}
            allowed = documented | ({"HEAD"} if "GET" in documented else set())
            url = server.url + path.format(call_id="c-1", name="alice", kiosk_id="k-1")
            async with http.request("TRACE", url) as r:
                assert r.status == 405, path
                assert set(r.headers.get("Allow", "").replace(" ", "").split(",")) == allowed, path
                assert (await r.json())["code"] == "method_not_allowed"


# ------------------------------------------------------------------------------------------- the rig
@pytest.fixture
def database(request: pytest.FixtureRequest) -> str | None:
    """The database URL of the server under test: None for SQLite (the default)."""
    if getattr(request, "param", "sqlite") == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return None


@pytest.fixture
def settings(settings: Settings, database: str | None) -> Settings:
    """No timers within the test and no rate limit; one escalation step (the call rings its agent at once)."""
    queues = QueueSet({t: QueueConfig(t, escalation=(EscalationStep(0, 1, True),)) for t in DEFAULT_TOPICS})
    return dataclasses.replace(
        settings,
        database_url=database,
        queues=queues,
        reservation_timeout_s=QUIET_S,
        kiosk_presence_ttl_s=QUIET_S,
        agent_presence_ttl_s=QUIET_S,
        wrap_up_s=QUIET_S,
        decline_cooldown_s=QUIET_S,
        reconnect_grace_s=QUIET_S,
        client_messages_per_s=1e6,
        client_message_burst=1_000_000,
    )


@dataclass
class World:
    """What exists when the requests arrive: a signed-in agent (away) and a kiosk's call waiting in its
    queue (and in the history), and a supervisor's account."""

    server: RunningServer
    clients: list[Client]
    live: dict[str, str]
    """Path parameter values that name something that exists."""
    supervisor_password: str


@pytest.fixture
async def world(server: RunningServer) -> AsyncIterator[World]:
    supervisor_password = await server.add_agent(SUPERVISOR, role="supervisor")
    await server.add_agent(SPARE, role="supervisor")
    clients = [
        await connect_agent(server, AGENT, await server.add_agent(AGENT, skills=("cash",))),
        await connect_kiosk(server, KIOSK, await server.enroll(KIOSK)),
    ]
    try:
        await clients[1].send(HelpRequest(topic="cash", language="en"))
        call_id = (await clients[1].expect(Queued)).call_id
        await server.drain_history()
        yield World(server, clients, {"name": AGENT, "call_id": call_id}, supervisor_password)
    finally:
        for client in clients:
            await client.close()


@dataclass
class Target:
    """The live server, as the fuzzing thread sees it."""

    server: RunningServer
    loop: asyncio.AbstractEventLoop
    schema: BaseSchema
    live: dict[str, str]
    session: str | None
    """The session cookie sent with every request; None: anonymous."""

    def on_loop(self, make: Callable[[], Any]) -> Any:
        """Run a coroutine on the server's event loop from the fuzzing thread, and wait for its result."""
        return asyncio.run_coroutine_threadsafe(make(), self.loop).result(WAIT_S)

    def snapshot(self) -> dict[bytes, bytes]:
        result: dict[bytes, bytes] = self.on_loop(lambda: redis_snapshot(self.server))
        return result

    def cookies(self, case: Case) -> dict[str, str] | None:
        if self.session is None:
            return None
        if case.operation.label == "POST /api/logout":  # keep the test's own session signed in
            token = self.on_loop(lambda: self.server.services.sessions.create(SUPERVISOR, "supervisor"))
            return {COOKIE_NAME: token}
        if case.operation.label == "POST /api/logout-everywhere":  # ends another account's sessions
            return {COOKIE_NAME: self.on_loop(lambda: self._fresh_session(SPARE))}
        return {COOKIE_NAME: self.session}

    @staticmethod
    def headers(cookies: dict[str, str] | None) -> dict[str, str] | None:
        """The session's CSRF token, as the console echoes it (``csrf`` in the document's security)."""
        return None if cookies is None else {CSRF_HEADER: csrf_token_for(cookies[COOKIE_NAME])}

    async def _fresh_session(self, username: str) -> str:
        user = await get_user(self.server.db, username)
        assert user is not None
        return await self.server.services.sessions.create(username, user.role, user.session_generation)

    def names_something_live(self, case: Case) -> bool:
        values = {unquote(str(v)) for v in (case.path_parameters or {}).values()}
        return not case.path_parameters or bool(values & set(self.live.values()))


# ------------------------------------------------------------------------------------------ fuzzing
def needs_session(operation: APIOperation) -> bool:
    security = operation.definition.raw.get("security", [])
    return bool(security) and {} not in security


def has_inputs(operation: APIOperation) -> bool:
    return bool(operation.body or operation.path_parameters or operation.query) or needs_session(operation)


def with_nul(case: Case) -> Case:
    """The request with a NUL character in each path parameter and each string field of its body."""
    case.path_parameters = {k: f"{v}%00" for k, v in (case.path_parameters or {}).items()}
    if isinstance(case.body, dict):
        case.body = {k: f"{v}\x00" if isinstance(v, str) else v for k, v in case.body.items()}
    return case


def requests_for(operation: APIOperation, target: Target) -> st.SearchStrategy[Case]:
    """Valid requests and (where there is input to spoil) invalid ones; some naming what exists, some
    carrying NULs."""
    kinds = [operation.as_strategy(GenerationMode.POSITIVE)]
    if has_inputs(operation):
        kinds.append(operation.as_strategy(GenerationMode.NEGATIVE))
    if operation.path_parameters or operation.body:
        kinds.append(operation.as_strategy(GenerationMode.POSITIVE).map(with_nul))
    live = {p.name: target.live[p.name] for p in operation.path_parameters if p.name in target.live}
    if live:
        kinds.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=live))
    return st.one_of(kinds)


def send_and_check(target: Target, http: requests.Session, case: Case) -> None:
    cookies = target.cookies(case)  # may make a session: setting up, not the request's doing
    before = target.snapshot()
    response = case.call(
        base_url=target.server.url, session=http, cookies=cookies, headers=target.headers(cookies)
    )
    case.validate_response(response, checks=CHECKS)
    status, label = response.status_code, case.operation.label
    if target.session is None and needs_session(case.operation):
        assert status == 401, f"{label} answered {status} without a session"
    if 400 <= status < 500:
        assert target.snapshot() == before, f"{label} was refused ({status}) but changed Redis"
    elif not target.names_something_live(case):
        assert target.snapshot() == before, f"{label} named nothing that exists but changed Redis"


def fuzz(target: Target) -> None:
    """Every operation of the document (runs in a thread of its own, outside the server's loop)."""
    with requests.Session() as http:
        for result in target.schema.get_all_operations():
            operation = result.ok()
            if target.session is not None and operation.label in ENDLESS:
                continue

            @hypothesis_settings(
                max_examples=EXAMPLES * 4 if has_inputs(operation) else 1,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=requests_for(operation, target))
            def each(case: Case) -> None:
                send_and_check(target, http, case)

            each()


class _Problems(logging.Handler):
    """Log records no request may cause: errors, and anything carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


async def served_schema(server: RunningServer) -> BaseSchema:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/openapi.json") as r:
        assert (r.status, r.content_type) == (200, "application/json")
        document = await r.json()
    assert document == build_document()
    return schemathesis.openapi.from_dict(document)


async def supervisor_session(world: World) -> str:
    async with await login(world.server, SUPERVISOR, world.supervisor_password) as http:
        return http.cookie_jar.filter_cookies(URL(world.server.url))[COOKIE_NAME].value


@pytest.mark.parametrize(
    ("who", "database"),
    [
        ("anonymous", "sqlite"),
        ("supervisor", "sqlite"),
        pytest.param("supervisor", "postgres", marks=pytest.mark.postgres),
    ],
    indirect=["database"],
)
async def test_whatever_is_asked_of_the_http_api_it_answers_as_documented(world: World, who: str) -> None:
    server = world.server
    session = await supervisor_session(world) if who == "supervisor" else None
    target = Target(server, asyncio.get_running_loop(), await served_schema(server), world.live, session)
    problems = _Problems()
    logging.getLogger().addHandler(problems)
    try:
        await asyncio.to_thread(fuzz, target)
    finally:
        logging.getLogger().removeHandler(problems)
    assert not problems.records, [problems.format(r) for r in problems.records]
