"""Protocol-level kiosks and agents behaving at random (a seeded ``random.Random``), for the stress test.

No media: the bots speak only the signaling protocol. Each bot keeps one plan (the next thing it will do,
and when) and otherwise reacts to what the server tells it; every wait is bounded. Think times are
behaviour, not synchronisation. What the bots hear is written down in a ``Record`` for the checks against
the durable history.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from signaling.protocol import (
    Accept,
    AgentInbound,
    AgentJoined,
    AgentState,
    AgentStateChanged,
    CallAccepted,
    CallEnded,
    CallState,
    Cancel,
    Decline,
    Error,
    ErrorCode,
    Hangup,
    HelpRequest,
    KioskHello,
    KioskInbound,
    Offer,
    OfferRevoked,
    Queued,
    ServerMessage,
    SetState,
    Welcome,
    WrapUp,
    decode_server,
    encode,
)
from tests.support import RunningServer, login

REPLY_TIMEOUT_S = 10.0
"""The longest a bot waits for the server's answer to one request (or for its welcome)."""
RING_GRACE_S = 5.0
"""How long past an offer's expiry an agent waits to hear how it ended before it forgets the offer."""
NEVER = math.inf
Bounds = tuple[float, float]


def now() -> float:
    return asyncio.get_running_loop().time()


@dataclass(frozen=True)
class KioskBehaviour:
    topics: tuple[str, ...] = ("cash", "cards", "deposits")
    first_connect_s: Bounds = (0.0, 5.0)
    think_s: Bounds = (0.5, 8.0)
    """Between one call and the next."""
    patience_s: Bounds = (2.0, 25.0)
    """Waiting for an agent before giving up (cancel, or just leave)."""
    p_leave_instead_of_cancel: float = 0.25
    p_kiosk_hangs_up: float = 0.35
    """Otherwise the kiosk waits for the agent to hang up (or for ``longest_call_s``)."""
    talk_s: Bounds = (0.5, 4.0)
    longest_call_s: float = 12.0
    connection_mean_s: float = 45.0
    """Mean lifetime of a socket before the kiosk drops it, whatever it is doing (exponential)."""
    offline_s: Bounds = (0.2, 3.0)


@dataclass(frozen=True)
class AgentBehaviour:
    p_accept: float = 0.6
    p_decline: float = 0.2
    """The rest of the offers are ignored (they ring out)."""
    answer_s: Bounds = (0.1, 1.2)
    p_agent_hangs_up: float = 0.7
    """Otherwise the agent waits for the kiosk to hang up (or for ``longest_call_s``)."""
    talk_s: Bounds = (0.5, 4.0)
    longest_call_s: float = 8.0
    wrap_up_s: Bounds = (0.2, 1.5)
    dispositions: tuple[str, ...] = ("resolved", "follow_up", "escalated")
    p_break: float = 0.08
    """After each piece of work, the chance of going away for a while."""
    break_s: Bounds = (1.0, 6.0)
    connection_mean_s: float = 35.0
    offline_s: Bounds = (0.3, 3.0)
    nudge_s: float = 12.0
    """Idle this long without hearing anything: say "available" again (heals a lost state message)."""


@dataclass
class Record:
    """What the clients saw and did, for the checks at the end and the summary."""

    stats: Counter[str] = field(default_factory=Counter)
    calls: dict[str, str] = field(default_factory=dict)
    """Every call id a kiosk was told about as its own (``queued``, or a resumed welcome) -> that kiosk."""
    kiosk_ended: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(kiosk, call, state, reason) of each ``call_ended`` a kiosk received."""
    agent_ended: list[tuple[str, str, str, str]] = field(default_factory=list)
    kiosk_heard: set[tuple[str, str]] = field(default_factory=set)
    """(kiosk, call) for every call id in any message a kiosk received."""
    agent_heard: set[tuple[str, str]] = field(default_factory=set)
    unconfirmed: list[str] = field(default_factory=list)
    """Kiosks whose help request got no answer (a call may exist that no kiosk knows of)."""
    notes: list[str] = field(default_factory=list)
    """Client-side surprises worth a look (informational: views across processes may be stale)."""
    failures: list[str] = field(default_factory=list)
    """A bot crashed: the test fails."""


class LinkClosed(Exception):
    """The WebSocket closed under the bot."""


class Link:
    """One WebSocket; every server message in arrival order, none skipped."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._inbox: asyncio.Queue[ServerMessage | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, url: str) -> Link:
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            return cls(await http.ws_connect(url))

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._inbox.put_nowait(decode_server(msg.data))
        finally:
            self._inbox.put_nowait(None)

    async def send(self, message: KioskInbound | AgentInbound) -> None:
        try:
            await self.ws.send_str(encode(message))
        except ConnectionError as exc:
            raise LinkClosed(str(exc)) from exc

    async def next(self, until: float, wake: asyncio.Event | None = None) -> ServerMessage | None:
        """The next message; None once the loop clock reaches ``until`` or ``wake`` is set first."""
        if self._inbox.empty():
            timeout = until - now()
            if timeout <= 0 or (wake is not None and wake.is_set()):
                return None
            getter = asyncio.ensure_future(self._inbox.get())
            waiters: set[asyncio.Future[Any]] = {getter}
            if wake is not None:
                waiters.add(asyncio.ensure_future(wake.wait()))
            try:
                await asyncio.wait(
                    waiters, timeout=None if timeout == NEVER else timeout, return_when="FIRST_COMPLETED"
                )
            finally:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.cancel()
            if not getter.done() or getter.cancelled():
                return None
            msg = getter.result()
        else:
            msg = self._inbox.get_nowait()
        if msg is None:
            self._inbox.put_nowait(None)  # stays closed for the next caller too
            raise LinkClosed("the server closed the socket")
        return msg

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(REPLY_TIMEOUT_S):
                await self.ws.close()
        await asyncio.wait({self._reader}, timeout=REPLY_TIMEOUT_S)
        if not self._reader.done():
            self._reader.cancel()
            await asyncio.wait({self._reader})
        elif not self._reader.cancelled() and (exc := self._reader.exception()) is not None:
            raise exc


class Bot:
    """What kiosks and agents share: a seeded Random, a plan, a wake-up for control changes, crash capture."""

    label = "bot"

    def __init__(self, servers: Sequence[RunningServer], rng: random.Random, record: Record) -> None:
        self.servers = servers
        self.rng = rng
        self.rec = record
        self.wake = asyncio.Event()
        self.action = ""
        self.action_at = NEVER

    def uniform(self, bounds: Bounds) -> float:
        return self.rng.uniform(*bounds)

    def plan(self, action: str, delay: float) -> None:
        self.action, self.action_at = action, now() + delay

    def note(self, text: str) -> None:
        self.rec.notes.append(f"{self.label}: {text}")

    async def pause(self, seconds: float) -> None:
        """A think time (behaviour); cut short by a control change (stop, drain, close)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

    async def open_link(self, http: aiohttp.ClientSession, server: RunningServer, path: str) -> Link | None:
        """A WebSocket to ``server``; None (noted) when the server is too busy to take it now."""
        try:
            return await Link.open(http, server.ws_url(path))
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.rec.stats["connect_failures"] += 1
            self.note(f"cannot open {path} on {server.url}: {exc!r}")
            return None

    async def run(self) -> None:
        try:
            await self.live()
        except Exception:
            self.rec.failures.append(f"{self.label} crashed:\n{traceback.format_exc()}")

    async def live(self) -> None:
        raise NotImplementedError


# ------------------------------------------------------------------------------------------------ kiosks
class KioskBot(Bot):
    """A kiosk: asks for help, waits (or cancels, or walks away), talks, hangs up; drops its socket now and
    then. It has at most one request in flight and waits (bounded) for its answer."""

    def __init__(
        self,
        kiosk_id: str,
        secret: str,
        servers: Sequence[RunningServer],
        http: aiohttp.ClientSession,
        rng: random.Random,
        record: Record,
        behaviour: KioskBehaviour,
    ) -> None:
        super().__init__(servers, rng, record)
        self.label = self.kiosk_id = kiosk_id
        self.secret = secret
        self.http = http
        self.b = behaviour
        self.call: str | None = None
        self.joined = False
        self.known: set[str] = set()
        self.stopping = False
        self.late_refusals = 0
        """Cancels/hangups that crossed the call's end: their refusal is still on the way."""

    def stop(self) -> None:
        """Stop the behaviour: end the live call (hang up, cancel or just disconnect) and leave."""
        self.stopping = True
        self.wake.set()

    async def live(self) -> None:
        await self.pause(self.uniform(self.b.first_connect_s))  # kiosks do not all boot at the same moment
        while not self.stopping:
            link = await self._connect()
            if link is None:
                await self.pause(self.uniform(self.b.offline_s))
                continue
            try:
                await self._session(link)
            except LinkClosed as exc:
                self.rec.stats["kiosk_dropped_by_server"] += 1
                self.note(f"socket closed by the server: {exc}")
            finally:
                await link.close()
            self.call, self.joined = None, False  # the server ends it, or the next welcome resumes it
            if not self.stopping:
                await self.pause(self.uniform(self.b.offline_s))

    async def _connect(self) -> Link | None:
        """A greeted socket to a random server; None (noted) if that server did not greet the kiosk."""
        server = self.rng.choice(self.servers)
        link = await self.open_link(self.http, server, "/ws/kiosk")
        if link is None:
            return None
        try:
            await link.send(KioskHello(kiosk_id=self.kiosk_id, secret=self.secret))
            until = now() + REPLY_TIMEOUT_S
            while (msg := await link.next(until)) is not None:
                if isinstance(msg, Error):
                    raise AssertionError(f"{self.kiosk_id} refused by {server.url}: {msg}")
                self._handle(msg)
                if isinstance(msg, Welcome):
                    self.rec.stats["kiosk_connects"] += 1
                    return link
        except LinkClosed:
            pass
        except BaseException:
            await link.close()
            raise
        await link.close()
        self.rec.stats["kiosk_not_greeted"] += 1
        self.note(f"no welcome from {server.url} within {REPLY_TIMEOUT_S}s")
        return None

    async def _session(self, link: Link) -> None:
        drop_at = now() + self.rng.expovariate(1 / self.b.connection_mean_s)
        self._replan()
        while True:
            msg = await link.next(min(self.action_at, drop_at), self.wake)
            if msg is not None:
                if self._handle(msg):
                    self._replan()
                continue
            if self.stopping:
                await self._finish(link)
                return
            if now() >= drop_at:
                self.rec.stats["kiosk_random_disconnects"] += 1
                return
            if now() >= self.action_at:
                if not await self._act(link):
                    return
                self._replan()

    def _replan(self) -> None:
        b = self.b
        if self.call is None:
            self.plan("help", self.uniform(b.think_s))
        elif not self.joined:
            leave = self.rng.random() < b.p_leave_instead_of_cancel
            self.plan("leave" if leave else "cancel", self.uniform(b.patience_s))
        elif self.rng.random() < b.p_kiosk_hangs_up:
            self.plan("hangup", self.uniform(b.talk_s))
        else:
            self.plan("hangup", b.longest_call_s)

    async def _act(self, link: Link) -> bool:
        """Do the planned thing; False when the kiosk drops the socket."""
        if self.action == "help":
            return await self._ask_for_help(link)
        if self.action == "leave":
            self.rec.stats["kiosk_left_while_waiting"] += 1
            return False
        assert self.call is not None
        request = Cancel(call_id=self.call) if self.action == "cancel" else Hangup(call_id=self.call)
        return await self._end(link, request)

    async def _finish(self, link: Link) -> None:
        if self.call is None:
            return
        if self.rng.random() < 1 / 3:
            self.rec.stats["kiosk_final_disconnects"] += 1
            return
        await self._end(link, Hangup(call_id=self.call) if self.joined else Cancel(call_id=self.call))

    async def _ask_for_help(self, link: Link) -> bool:
        await link.send(HelpRequest(topic=self.rng.choice(self.b.topics)))
        self.rec.stats["help_requests"] += 1
        until = now() + REPLY_TIMEOUT_S
        while (msg := await link.next(until)) is not None:
            if isinstance(msg, Queued) and msg.call_id not in self.known:
                self._note_heard(msg)
                self._adopt(msg.call_id)
                self.rec.stats["calls_queued"] += 1
                return True
            if isinstance(msg, Error):  # the only request in flight is this one
                self.rec.stats[f"help_refused_{msg.code}"] += 1
                self.note(f"help request refused: {msg}")
                # a live call this kiosk does not know of: reconnect, the welcome names it
                return msg.code != ErrorCode.WRONG_STATE
            self._handle(msg)
        self.rec.unconfirmed.append(self.kiosk_id)
        self.note("no answer to a help request")
        return False

    async def _end(self, link: Link, request: Cancel | Hangup) -> bool:
        call_id = request.call_id
        await link.send(request)
        self.rec.stats["kiosk_cancels" if isinstance(request, Cancel) else "kiosk_hangups"] += 1
        until = now() + REPLY_TIMEOUT_S
        while self.call == call_id:
            msg = await link.next(until)
            if msg is None:
                self.note(f"no answer to {type(request).__name__} of {call_id}")
                return False
            if isinstance(msg, Error):  # it ended meanwhile (its call_ended is on the way)
                self.rec.stats[f"kiosk_end_refused_{msg.code}"] += 1
                self.call, self.joined = None, False
                return True
            self._handle(msg)
        self.late_refusals += 1  # the call ended before the server read our request
        return True

    def _note_heard(self, msg: ServerMessage) -> None:
        call_id = getattr(msg, "call_id", None)
        if call_id:
            self.rec.kiosk_heard.add((self.kiosk_id, call_id))

    def _adopt(self, call_id: str) -> None:
        self.call, self.joined = call_id, False
        if call_id not in self.known:
            self.known.add(call_id)
            self.rec.calls.setdefault(call_id, self.kiosk_id)

    def _handle(self, msg: ServerMessage) -> bool:
        """React to one message; True when this kiosk's live call changed."""
        self._note_heard(msg)
        if isinstance(msg, Welcome) and msg.call_id and msg.call_id != self.call:
            self.rec.stats["kiosk_resumed_calls"] += 1
            self._adopt(msg.call_id)
            return True
        if isinstance(msg, AgentJoined) and msg.call_id == self.call and not self.joined:
            self.joined = True
            return True
        if isinstance(msg, CallEnded):
            self.rec.kiosk_ended.append((self.kiosk_id, msg.call_id, msg.state.value, msg.reason))
            if msg.call_id == self.call:
                self.call, self.joined = None, False
                return True
        elif isinstance(msg, Queued) and msg.call_id not in self.known:
            self.note(f"queued for a call it never asked for: {msg}")
        elif isinstance(msg, Error) and self.late_refusals and msg.code == ErrorCode.WRONG_STATE:
            self.late_refusals -= 1
            self.rec.stats["kiosk_late_refusals"] += 1
        elif isinstance(msg, Error):
            self.rec.stats[f"kiosk_error_{msg.code}"] += 1
            self.note(f"error outside any request: {msg}")
        return False


# ------------------------------------------------------------------------------------------------ agents
Phase = Literal["idle", "ringing", "in_call", "wrap_up"]


class AgentBot(Bot):
    """An agent: goes available, and on each offer accepts, declines or ignores it; talks, hangs up (or waits
    for the kiosk to), wraps up; takes breaks; drops and re-opens its socket now and then."""

    def __init__(
        self,
        name: str,
        password: str,
        servers: Sequence[RunningServer],
        rng: random.Random,
        record: Record,
        behaviour: AgentBehaviour,
    ) -> None:
        super().__init__(servers, rng, record)
        self.label = self.name = name
        self.password = password
        self.b = behaviour
        self.phase: Phase = "idle"
        self.call: str | None = None
        self.over: set[str] = set()
        """Calls this agent is done with (declined, rung out, ended, wrapped up): later news is stale."""
        self.ended: set[str] = set()
        """Calls this agent heard end (or wrapped up): an offer of one of them is stale news."""
        self.wrapped: set[str] = set()
        self.want_available = True
        self.break_until = 0.0
        self.last_sent = ""
        self.draining = self.closing = self.resyncing = False
        self._actions: dict[str, Callable[[Link], Awaitable[None]]] = {
            "accept": self._accept,
            "decline": self._decline,
            "ring_over": self._ring_over,
            "hangup": self._hangup,
            "hangup_over": self._hangup_over,
            "wrap_up": self._wrap_up,
            "available": self._available,
            "nudge": self._nudge,
            "break": self._break,
        }

    # control from the test
    def drain(self) -> None:
        """No more breaks or dropped sockets; finish calls quickly."""
        self.draining = True
        self.wake.set()

    def resync(self) -> None:
        """Reconnect once: the welcome tells the server's view (e.g. a wrap-up still owed)."""
        self.resyncing = True
        self.wake.set()

    def close(self) -> None:
        self.closing = True
        self.wake.set()

    async def _login(self) -> aiohttp.ClientSession:
        for attempt in range(1, 4):
            try:
                async with asyncio.timeout(REPLY_TIMEOUT_S * 2):
                    return await login(self.rng.choice(self.servers), self.name, self.password)
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.note(f"sign-in attempt {attempt} failed: {exc!r}")
        raise AssertionError(f"{self.name} could not sign in")

    async def live(self) -> None:
        http = await self._login()
        try:
            while not self.closing:
                link = await self._connect(http)
                if link is None:
                    await self.pause(self.uniform(self.b.offline_s))
                    continue
                try:
                    await self._session(link)
                except LinkClosed as exc:
                    self.rec.stats["agent_dropped_by_server"] += 1
                    self.note(f"socket closed by the server: {exc}")
                finally:
                    await link.close()
                if self.resyncing:
                    self.resyncing = False
                elif not self.closing:
                    await self.pause(self.uniform(self.b.offline_s))
        finally:
            await http.close()

    async def _connect(self, http: aiohttp.ClientSession) -> Link | None:
        """A greeted socket to a random server; None (noted) if that server did not greet the agent."""
        server = self.rng.choice(self.servers)
        link = await self.open_link(http, server, "/ws/agent")
        if link is None:
            return None
        self.phase, self.call = "idle", None
        self.plan("", NEVER)
        until = now() + REPLY_TIMEOUT_S
        with contextlib.suppress(LinkClosed):
            while (msg := await link.next(until)) is not None:
                self._handle(msg)
                if isinstance(msg, Welcome):
                    self.rec.stats["agent_connects"] += 1
                    return link
        await link.close()
        self.rec.stats["agent_not_greeted"] += 1
        self.note(f"no welcome from {server.url} within {REPLY_TIMEOUT_S}s")
        return None

    async def _session(self, link: Link) -> None:
        drop_at = self._drop_time()
        while True:
            msg = await link.next(min(self.action_at, drop_at), self.wake)
            if msg is not None:
                self._handle(msg)
                continue
            if self.wake.is_set():
                self.wake.clear()
                if self.closing or self.resyncing:
                    return
                drop_at = self._drop_time()
                continue
            if now() >= drop_at:
                self.rec.stats["agent_random_disconnects"] += 1
                return
            if now() >= self.action_at:
                action = self.action
                self.plan("", NEVER)
                await self._actions[action](link)

    def _drop_time(self) -> float:
        return NEVER if self.draining else now() + self.rng.expovariate(1 / self.b.connection_mean_s)

    async def _send(self, link: Link, message: AgentInbound) -> None:
        self.last_sent = type(message).__name__
        await link.send(message)

    # ----------------------------------------------------------------------------- entering phases
    def _enter_idle(self, server_available: bool | None = None) -> None:
        self.phase, self.call = "idle", None
        if not self.want_available:
            self.plan("available", max(0.0, self.break_until - now()))
        elif server_available is False:
            self.plan("available", self.uniform(self.b.answer_s))
        elif not self.draining and self.rng.random() < self.b.p_break:
            self.plan("break", self.uniform((0.2, 2.0)))
        else:
            self.plan("nudge", self.b.nudge_s)

    def _enter_in_call(self, call_id: str) -> None:
        self.phase, self.call = "in_call", call_id
        if self.draining:
            self.plan("hangup", self.uniform((0.1, 1.0)))
        elif self.rng.random() < self.b.p_agent_hangs_up:
            self.plan("hangup", self.uniform(self.b.talk_s))
        else:
            self.plan("hangup", self.b.longest_call_s)

    def _enter_wrap_up(self, call_id: str) -> None:
        self.phase, self.call = "wrap_up", call_id
        self.plan("wrap_up", 0.1 if self.draining else self.uniform(self.b.wrap_up_s))

    # ------------------------------------------------------------------------------------ messages
    def _handle(self, msg: ServerMessage) -> None:
        call_id = getattr(msg, "call_id", None)
        if call_id:
            self.rec.agent_heard.add((self.name, call_id))
        if isinstance(msg, Welcome):
            self._on_welcome(msg)
        elif isinstance(msg, Offer):
            self._on_offer(msg)
        elif isinstance(msg, OfferRevoked):
            self.rec.stats["offers_revoked"] += 1
            self.over.add(msg.call_id)
            if self.phase == "ringing" and self.call == msg.call_id:
                self._enter_idle()
        elif isinstance(msg, CallAccepted):
            self._on_accepted(msg)
        elif isinstance(msg, CallEnded):
            self._on_ended(msg)
        elif isinstance(msg, AgentStateChanged):
            self._on_state(msg)
        elif isinstance(msg, Error):
            self._on_error(msg)

    def _on_welcome(self, msg: Welcome) -> None:
        state, call_id = msg.agent_state, msg.call_id
        if state == AgentState.RINGING and call_id:
            self.phase, self.call = "ringing", call_id  # the offer is sent again
            self.plan("ring_over", RING_GRACE_S)
        elif state == AgentState.IN_CALL and call_id:
            self._enter_in_call(call_id)
        elif state == AgentState.WRAP_UP and call_id:
            self._enter_wrap_up(call_id)
        else:
            self._enter_idle(server_available=state == AgentState.AVAILABLE)

    def _on_offer(self, msg: Offer) -> None:
        if msg.call_id in self.ended:  # a declined call may be offered again after the cooldown
            self.rec.stats["stale_offers"] += 1
            return
        self.rec.stats["offers_received"] += 1
        if self.phase in ("in_call", "wrap_up") and self.call != msg.call_id:
            self.rec.stats["offers_while_busy"] += 1
            self.note(f"offered {msg.call_id} while it believes it is {self.phase} with {self.call}")
        self.phase, self.call = "ringing", msg.call_id
        r = self.rng.random()
        if self.draining or r < self.b.p_accept:
            self.plan("accept", self.uniform(self.b.answer_s))
        elif r < self.b.p_accept + self.b.p_decline:
            self.plan("decline", self.uniform(self.b.answer_s))
        else:
            self.rec.stats["offers_ignored"] += 1
            self.plan("ring_over", msg.expires_in_s + RING_GRACE_S)

    def _on_accepted(self, msg: CallAccepted) -> None:
        if msg.call_id in self.over:
            self.rec.stats["stale_accepts"] += 1
            return
        self.rec.stats["calls_accepted"] += 1
        if self.phase in ("ringing", "idle") and self.call in (msg.call_id, None):
            self._enter_in_call(msg.call_id)
        else:
            self.note(f"accepted {msg.call_id} while {self.phase} with {self.call}")

    def _on_ended(self, msg: CallEnded) -> None:
        self.rec.agent_ended.append((self.name, msg.call_id, msg.state.value, msg.reason))
        self.over.add(msg.call_id)
        self.ended.add(msg.call_id)
        if msg.call_id != self.call and self.phase != "idle":
            return
        if msg.state == CallState.COMPLETED and msg.call_id not in self.wrapped:
            self._enter_wrap_up(msg.call_id)
        elif msg.call_id == self.call:
            self._enter_idle()

    def _on_state(self, msg: AgentStateChanged) -> None:
        if self.phase != "idle":
            return
        if msg.state == AgentState.WRAP_UP and msg.call_id and msg.call_id not in self.wrapped:
            self._enter_wrap_up(msg.call_id)
        elif msg.state == AgentState.IN_CALL and msg.call_id and msg.call_id not in self.over:
            self._enter_in_call(msg.call_id)
        elif (
            msg.state in (AgentState.AWAY, AgentState.OFFLINE)
            and self.want_available
            and self.action != "available"
        ):
            self.plan("available", self.uniform((0.5, 2.0)))  # e.g. set away after missed offers

    def _on_error(self, msg: Error) -> None:
        self.rec.stats[f"agent_error_{msg.code}"] += 1
        if self.last_sent == "Accept" and self.phase == "ringing":
            if self.call:
                self.over.add(self.call)  # the offer was gone (rung out, or the kiosk left)
            self._enter_idle()
        elif self.last_sent == "Hangup" and self.phase == "in_call" and self.call:
            self._enter_wrap_up(self.call)  # it had ended already; a wrap-up may be owed

    # ------------------------------------------------------------------------------------- actions
    async def _accept(self, link: Link) -> None:
        if self.phase == "ringing" and self.call:
            self.over.discard(self.call)  # offered again after a decline's cooldown: news of it is fresh
            await self._send(link, Accept(call_id=self.call))
            self.rec.stats["accepts_sent"] += 1
            self.plan("ring_over", RING_GRACE_S)

    async def _decline(self, link: Link) -> None:
        if self.phase == "ringing" and self.call:
            await self._send(link, Decline(call_id=self.call))
            self.rec.stats["declines_sent"] += 1
            self.over.add(self.call)
            self._enter_idle()

    async def _ring_over(self, link: Link) -> None:
        if self.phase == "ringing":
            self.rec.stats["offers_forgotten"] += 1
            self._enter_idle()

    async def _hangup(self, link: Link) -> None:
        if self.phase == "in_call" and self.call:
            await self._send(link, Hangup(call_id=self.call))
            self.rec.stats["agent_hangups"] += 1
            self.plan("hangup_over", REPLY_TIMEOUT_S)

    async def _hangup_over(self, link: Link) -> None:
        if self.phase == "in_call" and self.call:
            self.note(f"no word after hanging up {self.call}")
            self._enter_wrap_up(self.call)

    async def _wrap_up(self, link: Link) -> None:
        if self.phase == "wrap_up" and self.call:
            disposition = self.rng.choice(self.b.dispositions)
            await self._send(link, WrapUp(call_id=self.call, disposition=disposition))
            self.rec.stats["wrap_ups_sent"] += 1
            self.wrapped.add(self.call)
            self.over.add(self.call)
            self.ended.add(self.call)
            self._enter_idle()

    async def _available(self, link: Link) -> None:
        self.want_available = True
        await self._send(link, SetState(state="available"))
        self.plan("nudge", self.b.nudge_s)

    async def _nudge(self, link: Link) -> None:
        if self.phase == "idle" and self.want_available:
            self.rec.stats["agent_nudges"] += 1
            await self._send(link, SetState(state="available"))
        self.plan("nudge", self.b.nudge_s)

    async def _break(self, link: Link) -> None:
        if self.phase == "idle" and not self.draining:
            self.want_available = False
            self.break_until = now() + self.uniform(self.b.break_s)
            await self._send(link, SetState(state="away", reason="break"))
            self.rec.stats["agent_breaks"] += 1
            self.plan("available", self.break_until - now())
        else:
            self.plan("nudge", self.b.nudge_s)
