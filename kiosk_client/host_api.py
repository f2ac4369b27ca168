"""The kiosk's local API for its host application (the ATM's own software): ask for help with context,
report device faults and failed transactions, read the status, follow call events and agent actions.

Loopback only: ``serve_host_api`` refuses any other address. Requests from web pages are refused too (a
POST must be ``application/json``; any ``Origin`` header or a ``Host`` that is not loopback is refused),
so a page shown on the kiosk cannot drive it. See docs/kiosk-host-api.md.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Protocol, TypeVar

import msgspec
from aiohttp import web

from kiosk_client.host_events import HostEvents
from signaling.protocol import Context, ShortText

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
LOOPBACK_NAMES = ("localhost",)
Fault = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
B = TypeVar("B")


class HostApiError(Exception):
    """The host API cannot start as configured (a non-loopback address)."""


class HelpTarget(Protocol):
    """Who asks the service for help: the kiosk's ``KioskRunner``."""

    async def request_help(
        self, topic: str, language: str, context: dict[str, str], device_fault: str | None = None
    ) -> None: ...

    async def faults_changed(self) -> None:
        """The host's faults changed: report them to IT now, not at the next telemetry."""


@dataclass(frozen=True)
class HostApiOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    auto_help_on_failure: bool = False
    """A failed transaction starts a call at once (True) or is offered to the host (``help_offered``)."""
    fault_topic: str = "other"
    """The topic of a call the kiosk starts by itself for a failed transaction."""
    language: str = "en"


class HelpBody(msgspec.Struct, forbid_unknown_fields=True):
    topic: ShortText
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=16)] = "en"
    context: Context = {}


class FaultBody(msgspec.Struct, forbid_unknown_fields=True):
    fault: Fault


class FailedTransactionBody(msgspec.Struct, forbid_unknown_fields=True):
    code: ShortText
    detail: Annotated[str, msgspec.Meta(max_length=140)] = ""


def check_loopback(host: str) -> None:
    if host in LOOPBACK_NAMES:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HostApiError(f"the host API listens on this machine only (127.0.0.1, ::1), not on {host!r}")


def problem(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse what a browser would send; turn every error into a JSON problem (no tracebacks)."""
    if "Origin" in request.headers:
        return problem(403, "forbidden", "requests from web pages are not accepted")
    if request.host.rsplit(":", 1)[0].strip("[]") not in ("127.0.0.1", "::1", "localhost"):
        return problem(403, "forbidden", "use http://127.0.0.1:<port>/ to reach the host API")
    if request.method == "POST" and request.content_type != "application/json":
        return problem(415, "unsupported_media_type", "send the body as application/json")
    try:
        return await handler(request)
    except HostRequestError as exc:
        return problem(exc.status, exc.error, exc.message)
    except web.HTTPException as exc:  # no such path or method
        return problem(exc.status, exc.reason.lower().replace(" ", "_"), exc.text or exc.reason)


async def _body(request: web.Request, kind: type[B]) -> B:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _json_error(413, "body_too_large", f"the body may be at most {MAX_BODY_BYTES} bytes") from None
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise _json_error(400, "invalid_body", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise _json_error(400, "invalid_json", f"the body is not JSON: {exc}") from None


class HostRequestError(Exception):
    """A request the host API turns down, as a JSON problem ``{error, message}``."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _json_error(status: int, error: str, message: str) -> HostRequestError:
    return HostRequestError(status, error, message)


class HostApi:
    def __init__(self, target: HelpTarget, events: HostEvents, options: HostApiOptions) -> None:
        self._target = target
        self._events = events
        self._options = options

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_guard])
        app.router.add_post("/help", self.help)
        app.router.add_post("/faults", self.set_fault)
        app.router.add_delete("/faults", self.clear_fault)
        app.router.add_post("/transactions/failed", self.transaction_failed)
        app.router.add_get("/status", self.status)
        app.router.add_get("/events", self.stream)
        return app

    async def help(self, request: web.Request) -> web.Response:
        body = await _body(request, HelpBody)
        fault = self._events.status.fault
        await self._ask(body.topic, body.language, dict(body.context), fault)
        return web.json_response({"requested": True, "topic": body.topic, "device_fault": fault}, status=202)

    async def set_fault(self, request: web.Request) -> web.Response:
        body = await _body(request, FaultBody)
        self._events.status.fault = body.fault
        self._offer(body.fault, reason="device_fault")
        await self._target.faults_changed()
        return web.json_response({"fault": body.fault})

    async def clear_fault(self, request: web.Request) -> web.Response:
        self._events.status.fault = None
        await self._target.faults_changed()
        return web.Response(status=204)

    async def transaction_failed(self, request: web.Request) -> web.Response:
        body = await _body(request, FailedTransactionBody)
        fault = f"transaction failed: {body.code}" + (f" ({body.detail})" if body.detail else "")
        o = self._options
        if not o.auto_help_on_failure:
            self._offer(fault, reason="transaction_failed")
            return web.json_response({"help": "offered", "device_fault": fault})
        context = {"transaction_code": body.code, "transaction_detail": body.detail}
        await self._ask(o.fault_topic, o.language, context, fault)
        return web.json_response({"help": "requested", "device_fault": fault}, status=202)

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(self._events.status.as_json())

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: one ``event:``/``data:`` block per call event or agent action."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await response.write(b": connected\n\n")
        try:
            async for record in self._events.subscribe():
                data = json.dumps(record, separators=(",", ":"))
                await response.write(f"event: {record['event']}\ndata: {data}\n\n".encode())
        except ConnectionResetError:  # the host closed its end
            log.debug("an event stream's reader went away")
        return response

    async def _ask(self, topic: str, language: str, context: dict[str, str], fault: str | None) -> None:
        status = self._events.status
        if status.connection != "connected":
            raise _json_error(503, "not_connected", f"the kiosk is {status.connection} to the service")
        if status.call_state != "idle":
            raise _json_error(409, "call_in_progress", f"a call is already {status.call_state}")
        await self._target.request_help(topic, language, context, fault)
        status.call_state = "requested"

    def _offer(self, fault: str, reason: str) -> None:
        """Tell the host to offer help to the customer (its screen asks; POST /help attaches the fault)."""
        self._events.publish_event("help_offered", reason=reason, device_fault=fault)


@asynccontextmanager
async def serve_host_api(
    target: HelpTarget, events: HostEvents, options: HostApiOptions
) -> AsyncIterator[int]:
    """Listen on ``options.host`` (loopback only) until the block ends; yields the port."""
    check_loopback(options.host)
    runner = web.AppRunner(HostApi(target, events, options).app(), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, options.host, options.port)
        await site.start()
        port: int = runner.addresses[0][1]
        log.info("host API on http://%s:%d/", options.host, port)
        yield port
    finally:
        events.close()  # ends the event streams, so their handlers return
        await runner.cleanup()
