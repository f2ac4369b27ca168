"""The HTTP API's OpenAPI 3.1 document, served at ``GET /openapi.json``.

It covers every HTTP route of ``signaling/routes.py`` but the WebSockets (``docs/protocol.md`` describes
those) and the console's files. Request bodies are the handlers' own msgspec types and stored calls are the
history's own dataclasses, turned into JSON Schema by msgspec; the answers the handlers build as plain dicts
are described by the structs below, and ``tests/signaling/test_openapi.py`` holds the handlers to them
(schemathesis against a live server).
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

import msgspec
from aiohttp import web

from signaling.auth import COOKIE_NAME
from signaling.handlers.csrf import CSRF_COOKIE, CSRF_HEADER
from signaling.handlers.session_api import LoginRequest
from signaling.handlers.supervisor_api import ForceState
from signaling.protocol import AgentState, CallState, ErrorCode, Id
from signaling.store import CallEventRecord, CallRecord, CallSummary, Role
from signaling.store.validation import USERNAME_RE

REF = "#/components/schemas/{name}"
JSON = "application/json"
SECURITY_SCHEME = "session"
CSRF_SCHEME = "csrf"


# --------------------------------------------------------------------------- what the handlers answer with
class Problem(msgspec.Struct, forbid_unknown_fields=True):
    """Why a request was refused. ``code`` is one of ``ErrorCode`` or, for refusals by the HTTP layer
    itself (no such route, method not allowed, body over the server's limit), the HTTP reason in
    snake_case (``not_found``; ``method_not_allowed``, with an ``Allow`` header;
    ``request_entity_too_large``)."""

    code: str
    message: str
    correlation_id: str | None = None
    """Only with ``internal`` (500): the id under which the server logged what went wrong."""


class Health(msgspec.Struct, forbid_unknown_fields=True):
    status: Literal["ok"]


class Readiness(msgspec.Struct, forbid_unknown_fields=True):
    """Whether this process can serve: Redis and the database answer, messages from other processes arrive
    (``delivery``), and it is not shutting down (``draining``)."""

    status: Literal["ready", "draining", "not_ready"]
    redis: bool
    database: bool
    delivery: bool


class StaffProfile(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    role: Role
    display_name: str


class SignedOut(msgspec.Struct, forbid_unknown_fields=True):
    signed_out: Literal[True]


class CallList(msgspec.Struct, forbid_unknown_fields=True):
    """The most recent calls first."""

    calls: list[CallSummary]


class StaffedAgent(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    state: AgentState


class QueueStatus(msgspec.Struct, forbid_unknown_fields=True):
    """One queue: calls waiting, how long the oldest has waited (seconds; null when none waits), and the
    agents staffing it by state."""

    topic: str
    label: str
    waiting: int
    oldest_wait_s: float | None
    agents_by_state: dict[AgentState, int]
    agents: list[StaffedAgent]


class QueueBoard(msgspec.Struct, forbid_unknown_fields=True):
    queues: list[QueueStatus]


class ForcedState(msgspec.Struct, forbid_unknown_fields=True):
    """The agent's state after the change; while busy, ``next_state`` holds what was asked for (``""``: none
    pending; ``away:<reason>`` carries the reason)."""

    username: str
    state: AgentState
    next_state: str


class WrapUpCompleted(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    call_id: str


class CallRemoved(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    state: CallState


DOCUMENTED_TYPES: tuple[Any, ...] = (
    Problem,
    ErrorCode,
    Health,
    Readiness,
    LoginRequest,
    StaffProfile,
    SignedOut,
    CallList,
    CallRecord,
    QueueBoard,
    ForceState,
    ForcedState,
    WrapUpCompleted,
    CallRemoved,
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def _named_tuple_as_object(title: str, fields: tuple[str, ...], schema: dict[str, Any]) -> dict[str, Any]:
    """A NamedTuple's schema (msgspec: an array) as the object of its fields the API sends instead."""
    return {
        "title": title,
        "type": "object",
        "properties": dict(zip(fields, schema["prefixItems"], strict=True)),
        "required": list(fields),
        "additionalProperties": False,
    }


def components() -> dict[str, Any]:
    """Every schema the document refers to, generated from the types above and the code's own types."""
    from signaling.openapi_admin import ADMIN_TYPES  # it builds on this module's helpers
    from signaling.openapi_dashboard import DASHBOARD_TYPES
    from signaling.openapi_fleet import FLEET_TYPES
    from signaling.openapi_quality import QUALITY_TYPES
    from signaling.openapi_service_level import SERVICE_LEVEL_TYPES

    types = DOCUMENTED_TYPES + ADMIN_TYPES + SERVICE_LEVEL_TYPES + FLEET_TYPES + QUALITY_TYPES
    types += DASHBOARD_TYPES
    _, schemas = msgspec.json.schema_components(types, ref_template=REF)
    # call_detail sends each event as an object of the tuple's fields, its time as ISO 8601 text
    event = schemas.pop("CallEventRecord")
    schemas["CallEvent"] = _named_tuple_as_object("CallEvent", CallEventRecord._fields, event)
    schemas["CallRecord"]["properties"]["events"]["items"] = _ref("CallEvent")
    for name in ("CallSummary", "CallRecord", "CallEvent"):
        for field, schema in schemas[name]["properties"].items():
            if field == "at" or field.endswith("_at"):
                _mark_date_time(schema)
    for schema in schemas.values():
        if "description" in schema:
            schema["description"] = inspect.cleandoc(schema["description"])
    return dict(sorted(schemas.items()))


def _mark_date_time(schema: dict[str, Any]) -> None:
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "string":
            option["format"] = "date-time"


# ------------------------------------------------------------------------------------------ operations
def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(name)}}}


def _problem(description: str) -> dict[str, Any]:
    return _json("Problem", description)


BAD_BODY = _problem(
    "`bad_json`: the body is not JSON; `bad_message`: it is not sent as `application/json`, or a field is "
    "missing, unknown or of the wrong type or length"
)
TOO_LARGE = _problem("`too_large` (over 64 KiB) or `request_entity_too_large` (over 256 KiB): the body")
NO_SESSION = _problem("`auth_required`: no valid session cookie (sign in with `POST /api/login`)")
NOT_YOUR_ROLE = _problem("`forbidden`: the signed-in role may not do this")
CROSS_SITE = _problem(
    f"`cross_site`: sent from a page of another site (`Origin`, `Referer`, `Sec-Fetch-Site`), or with a "
    f"session cookie but without the session's token in `{CSRF_HEADER}`"
)
NOT_YOUR_ROLE_OR_CROSS_SITE = _problem(
    f"`forbidden`: the signed-in role may not do this; `cross_site`: sent from a page of another site, or "
    f"without the session's token in `{CSRF_HEADER}`"
)


def _staff_only(roles: str) -> dict[str, Any]:
    return {"security": [{SECURITY_SCHEME: []}], "x-roles": roles}


def _staff_changes(roles: str) -> dict[str, Any]:
    """A state-changing operation: the session cookie and the session's CSRF token, together."""
    return {"security": [{SECURITY_SCHEME: [], CSRF_SCHEME: []}], "x-roles": roles}


def _body(name: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {JSON: {"schema": _ref(name)}}}}


def _path_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


CALL_ID = _path_parameter(
    "call_id",
    "the call's id, as the routing engine and the history know it (other text names no call: 404)",
    msgspec.json.schema(Id),
)
AGENT_NAME = _path_parameter(
    "name",
    "the agent's username (other text names no agent who is signed in)",
    {"type": "string", "pattern": f"^{USERNAME_RE.pattern}$"},
)


UNAVAILABLE = _problem("`unavailable`: Redis is restarting or failing over; retry (see `Retry-After`)")


def _operation(operation_id: str, summary: str, responses: dict[int, Any], **extra: Any) -> dict[str, Any]:
    responses = {503: UNAVAILABLE, **responses}  # every route may meet a Redis outage
    return {
        "operationId": operation_id,
        "summary": summary,
        **extra,
        "responses": {str(status): response for status, response in sorted(responses.items())},
    }


def _health_paths() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": _operation(
                "healthz",
                "The process is alive",
                {200: _json("Health", "always, while it serves")},
                tags=["health"],
            )
        },
        "/readyz": {
            "get": _operation(
                "readyz",
                "The process can serve: Redis and the database answer, delivery is subscribed, not draining",
                {200: _json("Readiness", "ready"), 503: _json("Readiness", "not ready, or shutting down")},
                tags=["health"],
            )
        },
        "/metrics": {
            "get": _operation(
                "metrics",
                "Prometheus metrics",
                {
                    200: {
                        "description": "the Prometheus text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                tags=["health"],
            )
        },
        "/openapi.json": {
            "get": _operation(
                "openapi",
                "This document",
                {200: {"description": "OpenAPI 3.1", "content": {JSON: {"schema": {"type": "object"}}}}},
                tags=["health"],
            )
        },
    }


def _session_paths() -> dict[str, Any]:
    from signaling.openapi_admin import sign_in_refused

    cookie = {
        "description": f"`{COOKIE_NAME}`: the session (HttpOnly, SameSite=Strict, path `/`, Secure over "
        f"HTTPS); `{CSRF_COOKIE}`: its CSRF token, for the page to echo in `{CSRF_HEADER}` (not HttpOnly)",
        "schema": {"type": "string"},
    }
    login = _operation(
        "login",
        "Sign in; sets the session cookie",
        {
            200: {**_json("StaffProfile", "signed in"), "headers": {"Set-Cookie": cookie}},
            400: BAD_BODY,
            401: _problem("`auth_failed`: wrong username or password, or the account is disabled"),
            429: sign_in_refused(),
            403: _problem("`cross_site`: sent from a page of another site (`Origin`, `Referer`)"),
            413: TOO_LARGE,
        },
        tags=["session"],
        security=[],
        **_body("LoginRequest"),
    )
    logout = _operation(
        "logout",
        "Sign out: ends the session, if any, and clears the cookie",
        {200: _json("SignedOut", "signed out (also without a session)"), 403: CROSS_SITE},
        tags=["session"],
        security=[{}, {SECURITY_SCHEME: [], CSRF_SCHEME: []}],
    )
    me = _operation(
        "me",
        "Who is signed in",
        {200: _json("StaffProfile", "the session's account"), 401: NO_SESSION},
        tags=["session"],
        **_staff_only("any"),
    )
    return {"/api/login": {"post": login}, "/api/logout": {"post": logout}, "/api/me": {"get": me}}


def _history_paths() -> dict[str, Any]:
    limit = {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "how many calls at most (default 100); values outside 1-500 are taken as 1 or 500",
        "schema": {"type": "integer", "default": 100},
    }
    index = _operation(
        "listCalls",
        "The most recent calls in the history",
        {
            200: _json("CallList", "the calls, newest first"),
            400: _problem("`bad_message`: `limit` is not a whole number"),
            401: NO_SESSION,
            403: NOT_YOUR_ROLE,
        },
        tags=["history"],
        parameters=[limit],
        **_staff_only("agent, supervisor, admin"),
    )
    detail = _operation(
        "getCall",
        "One call of the history with every event that shaped it",
        {
            200: _json("CallRecord", "the call, its events oldest first"),
            401: NO_SESSION,
            403: NOT_YOUR_ROLE,
            404: _problem("`unknown_call`: the history has no such call (yet)"),
        },
        tags=["history"],
        **_staff_only("agent, supervisor, admin"),
    )
    remove = _operation(
        "removeCall",
        "Remove a waiting (or ringing) call from its queue",
        {
            200: _json("CallRemoved", "removed; the kiosk is told"),
            401: NO_SESSION,
            403: NOT_YOUR_ROLE_OR_CROSS_SITE,
            404: _problem("`unknown_call`: no such live call"),
            409: _problem("`wrong_state`: the call is connected or has ended"),
        },
        tags=["supervisor"],
        **_staff_changes("supervisor, admin"),
    )
    return {
        "/api/calls": {"get": index},
        "/api/calls/{call_id}": {"parameters": [CALL_ID], "get": detail, "delete": remove},
    }


def _supervisor_paths() -> dict[str, Any]:
    board = _operation(
        "queueBoard",
        "Per queue: calls waiting, the oldest wait, and its staffed agents by state",
        {200: _json("QueueBoard", "every configured queue"), 401: NO_SESSION, 403: NOT_YOUR_ROLE},
        tags=["supervisor"],
        **_staff_only("agent, supervisor, admin, it"),
    )
    force = _operation(
        "forceAgentState",
        "Force an agent's state: a ringing offer goes back to the queue, a wrap-up is completed; during a "
        "call the state is kept as the agent's next state",
        {
            200: _json("ForcedState", "applied (`offline` for an agent not signed in: nothing to change)"),
            202: _json("ForcedState", "the agent is in a call: kept as their next state"),
            400: BAD_BODY,
            401: NO_SESSION,
            403: NOT_YOUR_ROLE_OR_CROSS_SITE,
            409: _problem("`wrong_state`: the agent is not signed in (only `offline` may be asked for)"),
            413: TOO_LARGE,
        },
        tags=["supervisor"],
        parameters=[AGENT_NAME],
        **_body("ForceState"),
        **_staff_changes("supervisor, admin"),
    )
    wrap_up = _operation(
        "completeWrapUp",
        "End an agent's wrap-up (a stuck one); the agent then goes to the state they asked for",
        {
            200: _json("WrapUpCompleted", "ended"),
            401: NO_SESSION,
            403: NOT_YOUR_ROLE_OR_CROSS_SITE,
            409: _problem("`wrong_state`: the agent is not in wrap-up"),
        },
        tags=["supervisor"],
        parameters=[AGENT_NAME],
        **_staff_changes("supervisor, admin"),
    )
    return {
        "/api/queues": {"get": board},
        "/api/agents/{name}/state": {"post": force},
        "/api/agents/{name}/wrap-up/complete": {"post": wrap_up},
    }


def _version() -> str:
    try:
        return version("kiosk-assist")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def build_document() -> dict[str, Any]:
    """The OpenAPI document, as JSON-ready data (the caller's own copy)."""
    from signaling.openapi_admin import identity_paths
    from signaling.openapi_dashboard import dashboard_paths
    from signaling.openapi_fleet import fleet_paths
    from signaling.openapi_quality import quality_paths
    from signaling.openapi_service_level import service_level_paths

    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Kiosk Assist HTTP API",
            "version": _version(),
            "description": "Staff sign-in, call history, the queue board and supervisor actions, and the "
            "process's health. Kiosks and agent consoles talk over WebSockets (`/ws/kiosk`, `/ws/agent`), "
            "described in `docs/protocol.md`. Refusals are JSON problems: `{code, message}`.",
        },
        "paths": {
            **_health_paths(),
            **_session_paths(),
            **_history_paths(),
            **_supervisor_paths(),
            **identity_paths(),
            **fleet_paths(),
            **quality_paths(),
            **service_level_paths(),
            **dashboard_paths(),
        },
        "components": {
            "schemas": components(),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": COOKIE_NAME,
                    "description": "The session from `POST /api/login` (an opaque token, kept in Redis)",
                },
                CSRF_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": CSRF_HEADER,
                    "description": f"Every state-changing request with a session echoes the session's CSRF "
                    f"token, which `POST /api/login` sets in the readable `{CSRF_COOKIE}` cookie",
                },
            },
        },
    }
    return copy.deepcopy(document)  # the responses shared between operations are module constants


@functools.cache
def _document_text() -> str:
    return json.dumps(build_document())


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=_document_text(), content_type=JSON)
