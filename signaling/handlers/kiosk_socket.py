"""``/ws/kiosk``: a kiosk authenticates with its device credential, asks for help and signals its call."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import WSMsgType, web

from signaling.connections import CLOSE_AUTH
from signaling.handlers.csrf import check_origin
from signaling.handlers.party_session import PartySession
from signaling.handlers.relay import relay_from_kiosk
from signaling.handlers.socket_loop import FIRST_MESSAGE_TIMEOUT_S, new_socket
from signaling.identities import end_kiosk_call
from signaling.outbox import Resumption
from signaling.protocol import (
    PROTOCOL_VERSION,
    CallStats,
    Cancel,
    Error,
    ErrorCode,
    Hangup,
    Heartbeat,
    HelpRequest,
    Ice,
    KioskHello,
    KioskInbound,
    MediaStatus,
    ProtocolError,
    Queued,
    SessionDescription,
    Survey,
    Telemetry,
    Transferring,
    Welcome,
    decode_kiosk,
    decode_server,
    encode,
)
from signaling.queues import QueueConfig
from signaling.routing.engine import CallView, now_ms
from signaling.services import SERVICES, Services
from signaling.store import Kiosk, verify_kiosk

log = logging.getLogger(__name__)


async def _hello(ws: web.WebSocketResponse, services: Services) -> tuple[KioskHello, Kiosk] | None:
    """Read and check the first message; returns the hello and the kiosk's location, or None (refused)."""
    try:
        msg = await ws.receive(timeout=FIRST_MESSAGE_TIMEOUT_S)
    except TimeoutError:
        msg = None
    if msg is None or msg.type != WSMsgType.TEXT:
        return None
    try:
        hello = decode_kiosk(msg.data)
    except ProtocolError as exc:
        if exc.ref not in (None, "hello"):  # a message of any other type, before signing in
            await ws.send_str(_error_json(ErrorCode.AUTH_REQUIRED, FIRST_HELLO, exc.ref))
        else:
            await ws.send_str(_error_json(exc.code, exc.message, exc.ref))
        return None
    if not isinstance(hello, KioskHello):
        await ws.send_str(_error_json(ErrorCode.AUTH_REQUIRED, FIRST_HELLO, hello.__struct_config__.tag))
        return None
    if hello.protocol != PROTOCOL_VERSION:
        await ws.send_str(
            _error_json(
                ErrorCode.UNSUPPORTED_VERSION, f"this server speaks protocol {PROTOCOL_VERSION}", "hello"
            )
        )
        return None
    kiosk = await verify_kiosk(services.db, hello.kiosk_id, hello.secret)
    if kiosk is None:
        log.info("kiosk %s failed to authenticate", hello.kiosk_id)
        await ws.send_str(_error_json(ErrorCode.AUTH_FAILED, "unknown kiosk or wrong secret", "hello"))
        return None
    return hello, kiosk


FIRST_HELLO = "the first message must be hello"


def _error_json(code: ErrorCode, text: str, ref: object = None) -> str:
    """A refusal before the kiosk signed in; ``ref``: the type of the message refused, when known."""
    return encode(Error(code=code, message=text, ref=ref if isinstance(ref, str) else None))


async def kiosk_socket(request: web.Request) -> web.WebSocketResponse:
    services = request.app[SERVICES]
    # a kiosk program sends no Origin: an upgrade carrying one comes from a web page (see handlers/csrf.py)
    check_origin(request, services.settings.allowed_origins)
    ws = new_socket(services.settings)
    await ws.prepare(request)
    greeting = await _hello(ws, services)
    if greeting is None:
        await ws.close(code=CLOSE_AUTH, message=b"authentication failed")
        return ws
    hello, kiosk = greeting
    session = KioskSession(services, ws, hello.kiosk_id, kiosk.location, hello.resume_token, hello.last_seq)
    session.secret_hash = kiosk.secret_hash
    await session.run(decode_kiosk)
    return ws


class KioskSession(PartySession[KioskInbound]):
    kind = "kiosk"

    def __init__(
        self,
        services: Services,
        ws: web.WebSocketResponse,
        kiosk_id: str,
        location: str,
        resume_token: str | None = None,
        last_seq: int = 0,
    ) -> None:
        super().__init__(services, ws, kiosk_id, resume_token, last_seq)
        self.kiosk_id = kiosk_id
        self.location = location
        self.secret_hash = ""
        """The stored hash of the secret this kiosk signed in with (a rotation changes it)."""

    def watch(self) -> None:
        self.s.identity_watch.add_kiosk(self.conn, self.kiosk_id, self.secret_hash)

    async def _revoked(self) -> None:
        await end_kiosk_call(self.s, self.kiosk_id, self.conn.revoked)
        await self._leave()

    async def _leave(self) -> None:
        await super()._leave()
        await self.s.fleet.signed_off(self.kiosk_id)  # the fleet shows it offline at once, with no alert

    async def greet(self, session: Resumption) -> None:
        s = self.s
        expiry = now_ms() + int(s.settings.kiosk_presence_ttl_s * 1000)
        await s.engine.kiosk_online(self.kiosk_id, self.location, self.conn.conn_id, expiry)
        await s.fleet.seen(self.kiosk_id)
        live = await self._live_call()
        await self.conn.send(
            Welcome(
                protocol=PROTOCOL_VERSION,
                identity=self.kiosk_id,
                role="kiosk",
                topics=list(s.settings.topics),
                call_id=live.call_id if live else None,
                resume_token=session.token,
                last_seq=session.seq,
                resumed=session.resumed,
                telemetry_s=telemetry_interval(s.settings.kiosk_presence_ttl_s),
            )
        )
        self.resumed(session)
        if live is not None and live.state in ("queued", "reserved"):
            await self.send_position(live.call_id, live.topic)

    def forget(self) -> None:
        self.s.queue_watcher.unwatch(self.kiosk_id)

    def deliver(self, data: str) -> None:
        if TRANSFERRING in data[:48]:  # waiting again: this process keeps the kiosk told of its place
            message = decode_server(data)
            if isinstance(message, Transferring):
                self.s.queue_watcher.watch(self.kiosk_id, message.call_id, message.to_topic)
        self.conn.push(data)

    async def handle(self, msg: KioskInbound) -> None:
        s = self.s
        if isinstance(msg, HelpRequest):
            await self.request_help(msg)
        elif isinstance(msg, Cancel | Hangup):
            reason = "kiosk_cancelled" if isinstance(msg, Cancel) else "kiosk_hangup"
            ended = await s.engine.hangup(msg.call_id, "kiosk", self.kiosk_id, reason)
            s.queue_watcher.unwatch(self.kiosk_id)
            await s.announcer.ended(ended, reason)
        elif isinstance(msg, SessionDescription | Ice):
            await relay_from_kiosk(s, self.kiosk_id, msg)
        elif isinstance(msg, CallStats):
            await s.quality.report("kiosk", self.kiosk_id, msg)
        elif isinstance(msg, MediaStatus):
            setup_s = await s.engine.media_status(msg.call_id, self.kiosk_id, msg.flowing)
            if setup_s is not None:
                s.metrics.setup_seconds.observe(setup_s)
        elif isinstance(msg, Survey):
            await s.engine.survey(msg.call_id, self.kiosk_id, msg.rating, msg.comment)
        elif isinstance(msg, Telemetry):
            await s.fleet.report(self.kiosk_id, msg, self.location)
        elif isinstance(msg, Heartbeat):
            await s.fleet.seen(self.kiosk_id)  # routing's presence needs none: the fleet's "last seen"
        else:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"{type(msg).__name__} is not expected now")

    async def _live_call(self) -> CallView | None:
        call_id = await self.s.engine.kiosk_call(self.kiosk_id)
        call = await self.s.engine.get_call(call_id) if call_id else None
        return call if call is not None and call.state in ("queued", "reserved", "connecting") else None

    async def send_position(self, call_id: str, topic: str) -> None:
        s = self.s
        position = (await s.engine.queue_positions([(call_id, topic)]))[0] or 0  # 0: ringing an agent
        eta = (await s.queue_watcher.estimates([(topic, position)]))[0]
        await self.conn.send(Queued(call_id=call_id, position=position, estimated_wait_s=eta))
        s.queue_watcher.watch(self.kiosk_id, call_id, topic, (position, eta))

    async def request_help(self, msg: HelpRequest) -> None:
        s = self.s
        if msg.topic not in s.settings.queues:
            raise ProtocolError(ErrorCode.UNKNOWN_TOPIC, f"unknown topic {msg.topic!r}", "help_request")
        queue = s.settings.queues[msg.topic]
        if not queue.is_open(datetime.now(UTC)):
            raise ProtocolError(ErrorCode.QUEUE_CLOSED, closed_message(queue), "help_request")
        context = dict(msg.context)
        if msg.device_fault:
            context["device_fault"] = msg.device_fault
        try:
            queued = await s.engine.enqueue(
                self.kiosk_id,
                self.location,
                msg.topic,
                msg.language,
                context,
                priority=FAULT_PRIORITY if msg.device_fault else 0,
                max_wait_s=queue.max_wait_s,
            )
        except ProtocolError as exc:
            exc.ref = "help_request"
            if exc.code is ErrorCode.KIOSK_DEGRADED:  # the enqueue script read the kiosk's last telemetry
                exc.message = degraded_message(exc.message)
            raise
        log.debug("kiosk %s asked for help on %s: call %s", self.kiosk_id, msg.topic, queued.call_id)
        # the script returned the place and the estimate's inputs: telling the kiosk reads nothing, and the
        # agent is rung right after
        eta = s.queue_watcher.estimate(queued.position, queued.answered, queued.staffed)
        await self.conn.send(Queued(call_id=queued.call_id, position=queued.position, estimated_wait_s=eta))
        s.queue_watcher.watch(self.kiosk_id, queued.call_id, msg.topic, (queued.position, eta))
        await s.announcer.outcome(queued.outcome)


TRANSFERRING = '"type":"transferring"'
FAULT_PRIORITY = 1
"""A kiosk reporting a device fault goes ahead of calls that waited up to one ageing period less."""


def telemetry_interval(silent_after_s: float) -> float:
    """How often kiosks report: three reports fit in the time after which a silent kiosk shows offline."""
    return round(min(5.0, silent_after_s / 3), 3)


def degraded_message(fault: str) -> str:
    return f"Video help is not available at this kiosk right now: {fault}. Staff have been told."


def closed_message(queue: QueueConfig) -> str:
    return f"Sorry, {queue.label or queue.name} help is closed now. Please come back during opening hours."
