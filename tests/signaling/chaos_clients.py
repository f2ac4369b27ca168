"""Kiosks and agents for the chaos test: protocol-level bots (no media) whose connections drop now and then,
and whose server may be killed under them, and which resume every time, as docs/protocol.md ("Reconnecting
and resuming") tells a client to: the ``resume_token`` of the last welcome and the ``seq`` of the last
numbered message handled, in the kiosk's ``hello`` or the agent's ``/ws/agent?resume=…&last_seq=…``.

Each bot checks its own numbered messages as it handles them (``Stream``): within a session (which begins
at a welcome that did not resume) every message comes once, in order, with no gap, whatever the server and
however many resumes. Think times, offline times and reconnect backoff are behaviour, not synchronisation;
every wait for the server is bounded. What the bots heard goes into a ``Record`` for the checks against the
durable history.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field

import aiohttp

from signaling.protocol import (
    Accept,
    AgentInbound,
    AgentJoined,
    AgentState,
    AgentStateChanged,
    CallEnded,
    Cancel,
    Decline,
    Error,
    ErrorCode,
    Hangup,
    HelpRequest,
    KioskHello,
    KioskInbound,
    ProtocolError,
    Queued,
    ServerMessage,
    SetState,
    Welcome,
    WrapUp,
    decode_server,
    encode,
    split_seq,
)
from signaling.settings import Settings
from tests.support import cut

REPLY_TIMEOUT_S = 5.0
"""The longest a bot waits for the server's answer to one request (or for its welcome)."""
RECONNECT_DELAYS_S = (0.0, 0.1, 0.3, 0.6, 1.0, 1.5)
"""Before each attempt to reconnect: the protocol's 0, 0.3, 1.2, 2.7, 4.8 s then every 7 s, made faster
(the test has a reconnect grace period to keep, and a time budget)."""
JITTER = 0.25
GRACE_S = Settings().reconnect_grace_s
GRACE_MARGIN_S = 5.0
"""A reconnect this much within the grace period must resume (the margin absorbs clock and reaper lag)."""
TRACE_LENGTH = 40
"""Messages each party remembers, for the evidence of a problem in its stream."""
NEVER = math.inf
Bounds = tuple[float, float]
Item = tuple[int | None, ServerMessage]


def now() -> float:
    return asyncio.get_running_loop().time()


def ws_url(server: str, path: str) -> str:
    return "ws" + server.removeprefix("http") + path


def kind_of(msg: ServerMessage) -> str:
    return str(msg.__struct_config__.tag)


@dataclass
class Servers:
    """The servers' base URLs and which of them run now (the chaos keeps ``live`` up to date, as a load
    balancer's health checks would)."""

    urls: list[str]
    live: set[int] = field(default_factory=set)

    def pick(self, rng: random.Random) -> str:
        """A random live server (any, while none is: the attempt fails and the bot backs off)."""
        choices = sorted(self.live) or list(range(len(self.urls)))
        return self.urls[rng.choice(choices)]


@dataclass(frozen=True)
class Gap:
    """Numbered messages a party never got, though later ones came on the same connection."""

    party: str
    first: int
    last: int
    connected_s: float
    """When that connection was greeted (the record's clock)."""
    noticed_s: float
    problem: str
    """As it is in ``Record.stream_problems``."""


@dataclass
class Record:
    """What the clients saw and did, for the checks at the end and the summary."""

    t0: float = field(default_factory=now)
    """When the behaviour began, on the loop's clock (the clients' times count from here)..."""
    t0_wall: float = field(default_factory=time.time)
    """...and on the wall clock (to place the history's event times on the same scale)."""
    stats: Counter[str] = field(default_factory=Counter)
    calls: dict[str, str] = field(default_factory=dict)
    """Every call id a kiosk heard of (welcome, queued, ringing, joined, ended) -> the first that did."""
    kiosk_heard: set[tuple[str, str]] = field(default_factory=set)
    agent_heard: set[tuple[str, str]] = field(default_factory=set)
    kiosk_ended: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(kiosk, call, state, reason) of each ``call_ended`` a kiosk handled."""
    agent_ended: list[tuple[str, str, str, str]] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    """Kiosks whose help request got no answer (a call may exist that the kiosk never heard of)."""
    stream_problems: list[str] = field(default_factory=list)
    """Numbered messages missing, repeated or out of order in a session (with the party's last messages)."""
    gaps: list[Gap] = field(default_factory=list)
    refused_resumes: list[str] = field(default_factory=list)
    """Reconnects well within the grace period that started a new session instead of resuming."""
    notes: list[str] = field(default_factory=list)
    """Client-side surprises worth a look (informational)."""
    failures: list[str] = field(default_factory=list)
    """A bot crashed: the test fails."""

    def clock(self) -> float:
        return now() - self.t0


# ----------------------------------------------------------------------------------------- the stream
class Stream:
    """One party's numbered messages, as it handles them, across all its connections.

    A welcome with ``resumed: false`` starts a new session, whose messages count on from the welcome's
    ``seq``; a resumed one goes on from the ``last_seq`` the client gave. Either way each next numbered
    message must be the last one's ``seq`` + 1."""

    def __init__(self, party: str, rec: Record) -> None:
        self.party = party
        """The party's address: ``kiosk:ID`` or ``agent:NAME``."""
        self.rec = rec
        self.token: str | None = None
        self.last_seq = 0
        self.session = 0
        self.greeted = False
        self.greeted_s = 0.0
        self.lost_at: float | None = None
        self.goodbye = False
        self.trace: deque[str] = deque(maxlen=TRACE_LENGTH)

    def hello(self) -> tuple[str | None, int]:
        """What a new connection asks to resume: the last welcome's token and the last seq handled."""
        self.greeted = False
        return self.token, self.last_seq

    def lost(self, *, goodbye: bool = False) -> None:
        """The connection is gone (``goodbye``: the client closed it normally)."""
        if self.lost_at is None:
            self.lost_at = now()
        self.goodbye = self.goodbye or goodbye

    def hear(self, seq: int | None, msg: ServerMessage, server: str) -> None:
        if isinstance(msg, Welcome):
            self._welcome(msg, server)
        elif seq is not None:
            self._numbered(seq, msg, server)
        call_id = getattr(msg, "call_id", None) or ""
        self.trace.append(
            f"{self.rec.clock():7.2f}s {server.rsplit(':', 1)[-1]} session {self.session} "
            f"seq {seq if seq is not None else '-'} {kind_of(msg)} {call_id}"
            + (f" (seq {msg.last_seq}, resumed {msg.resumed})" if isinstance(msg, Welcome) else "")
        )

    def _welcome(self, msg: Welcome, server: str) -> None:
        asked = self.token is not None
        away = now() - self.lost_at if self.lost_at is not None else 0.0
        if msg.resumed:
            self.rec.stats["sessions_resumed"] += 1
            if not asked or msg.resume_token != self.token:
                self._problem(f"resumed a session it did not ask for (token {msg.resume_token})", server)
            elif msg.last_seq < self.last_seq:
                self._problem(f"resumed at seq {msg.last_seq}, below the {self.last_seq} it had", server)
        else:
            if asked:
                self.rec.stats["resumes_refused"] += 1
                if not self.goodbye and away < GRACE_S - GRACE_MARGIN_S:
                    self.rec.refused_resumes.append(
                        f"{self.party} reconnected to {server} {away:.1f}s after losing its connection, "
                        f"asked to resume after seq {self.last_seq}; the welcome started a new session "
                        f"(seq {msg.last_seq}) at {self.rec.clock():.2f}s\n" + self._evidence()
                    )
            self.session += 1
            self.last_seq = msg.last_seq
        self.token = msg.resume_token
        self.greeted, self.lost_at, self.goodbye = True, None, False
        self.greeted_s = self.rec.clock()

    def _numbered(self, seq: int, msg: ServerMessage, server: str) -> None:
        expected = self.last_seq + 1
        if not self.greeted:
            self._problem(f"numbered message {seq} ({kind_of(msg)}) before the welcome", server)
        elif seq > expected:
            text = f"got seq {seq} ({kind_of(msg)}) after {self.last_seq}: {seq - expected} missing"
            problem = self._problem(text, server)
            self.rec.gaps.append(
                Gap(self.party, expected, seq - 1, self.greeted_s, self.rec.clock(), problem)
            )
        elif seq < expected:
            self._problem(f"got seq {seq} ({kind_of(msg)}) again, after {self.last_seq}", server)
        self.last_seq = max(self.last_seq, seq)

    def _problem(self, text: str, server: str) -> str:
        problem = (
            f"{self.party} session {self.session} on {server} at {self.rec.clock():.2f}s: {text}\n"
            + self._evidence()
        )
        self.rec.stream_problems.append(problem)
        return problem

    def _evidence(self) -> str:
        return "\n".join(f"      {line}" for line in list(self.trace)[-12:])


# ------------------------------------------------------------------------------------------- the link
class LinkClosed(Exception):
    """The WebSocket closed under the bot."""


class Link:
    """One WebSocket to one server; every message, with its ``seq``, in arrival order, none skipped."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, server: str) -> None:
        self.ws = ws
        self.server = server
        self._inbox: asyncio.Queue[Item | None] = asyncio.Queue()
        self._error: ProtocolError | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    seq, body = split_seq(frame.data)
                    self._inbox.put_nowait((seq, decode_server(body)))
        except ProtocolError as exc:  # a message the client cannot read: the bot fails with it
            self._error = exc
        except (aiohttp.ClientError, ConnectionError):
            pass  # the connection broke: the bot finds the inbox closed
        finally:
            self._inbox.put_nowait(None)

    async def send(self, message: KioskInbound | AgentInbound) -> None:
        try:
            await self.ws.send_str(encode(message))
        except (ConnectionError, aiohttp.ClientError) as exc:
            raise LinkClosed(str(exc)) from exc

    async def next(self, until: float, wake: asyncio.Event) -> Item | None:
        """The next message; None once the loop clock reaches ``until`` or ``wake`` is set first. Raises
        LinkClosed when the socket has closed (after every message that came before)."""
        if self._inbox.empty():
            timeout = until - now()
            if timeout <= 0 or wake.is_set():
                return None
            getter = asyncio.ensure_future(self._inbox.get())
            waker = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait(
                    {getter, waker},
                    timeout=None if timeout == NEVER else timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for waiter in (getter, waker):
                    if not waiter.done():
                        waiter.cancel()
            if not getter.done() or getter.cancelled():
                return None
            item = getter.result()
        else:
            item = self._inbox.get_nowait()
        if item is None:
            self._inbox.put_nowait(None)  # stays closed for the next caller too
            if self._error is not None:
                raise self._error
            raise LinkClosed("the socket closed")
        return item

    async def cut(self) -> None:
        """Break the TCP connection without a close frame, as a failing network does."""
        if not self.ws.closed:
            cut(self.ws)
        await self._finish()

    async def close(self) -> None:
        """Say goodbye: a close frame with 1000."""
        with contextlib.suppress(TimeoutError, ConnectionError, aiohttp.ClientError):
            async with asyncio.timeout(REPLY_TIMEOUT_S):
                await self.ws.close()
        await self._finish()

    async def _finish(self) -> None:
        await asyncio.wait({self._reader}, timeout=REPLY_TIMEOUT_S)
        if not self._reader.done():
            self._reader.cancel()
            await asyncio.wait({self._reader})
        with contextlib.suppress(TimeoutError, ConnectionError, aiohttp.ClientError):
            async with asyncio.timeout(1.0):
                await self.ws.close()  # releases the connection; a no-op when already closed


# -------------------------------------------------------------------------------------------- the bot
class Bot:
    """What kiosks and agents share: a seeded Random, one plan (the next thing to do, and when), a wake-up
    for control changes, reconnecting with backoff to a random live server, crash capture."""

    def __init__(self, label: str, servers: Servers, rng: random.Random, record: Record) -> None:
        self.label = label
        self.servers = servers
        self.rng = rng
        self.rec = record
        self.stream = Stream(label, record)
        self.wake = asyncio.Event()
        self._never = asyncio.Event()
        self.action = ""
        self.action_at = NEVER

    def uniform(self, bounds: Bounds) -> float:
        return self.rng.uniform(*bounds)

    def plan(self, action: str, delay: float) -> None:
        self.action, self.action_at = action, now() + delay

    def note(self, text: str) -> None:
        self.rec.notes.append(f"{self.rec.clock():7.2f}s {self.label}: {text}")

    async def pause(self, seconds: float) -> None:
        """A think time (behaviour); cut short by a control change."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

    async def run(self) -> None:
        try:
            await self.live()
        except Exception:
            self.rec.failures.append(f"{self.label} crashed:\n{traceback.format_exc()}")

    async def live(self) -> None:
        raise NotImplementedError

    async def open(self, server: str) -> Link | None:
        """A new connection that asked to resume; None when the server could not be reached."""
        raise NotImplementedError

    def receive(self, link: Link, seq: int | None, msg: ServerMessage) -> bool:
        """Handle one message; True when the bot's plan must change."""
        raise NotImplementedError

    async def connect(self) -> Link:
        """A greeted connection to a random live server, retrying with the protocol's backoff."""
        for attempt in itertools.count():
            delay = RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)]
            await asyncio.sleep(delay * self.rng.uniform(1 - JITTER, 1 + JITTER))  # the backoff: behaviour
            link = await self.open(self.servers.pick(self.rng))
            if link is not None and await self._greeted(link):
                self.rec.stats["connects"] += 1
                if attempt:
                    self.rec.stats["connects_after_retries"] += 1
                return link
        raise AssertionError("unreachable")

    async def _greeted(self, link: Link) -> bool:
        until = now() + REPLY_TIMEOUT_S
        try:
            while (item := await link.next(until, self._never)) is not None:
                seq, msg = item
                if isinstance(msg, Error):
                    if msg.code in (ErrorCode.AUTH_FAILED, ErrorCode.AUTH_REQUIRED):
                        raise AssertionError(f"{self.label} refused by {link.server}: {msg}")
                    self.rec.stats[f"greeting_refused_{msg.code}"] += 1
                    break
                self.receive(link, seq, msg)
                if isinstance(msg, Welcome):
                    return True
        except LinkClosed:
            pass
        self.rec.stats["not_greeted"] += 1
        await link.cut()
        return False


# ------------------------------------------------------------------------------------------- kiosks
@dataclass(frozen=True)
class KioskBehaviour:
    topics: tuple[str, ...] = ("cash", "cards", "deposits")
    first_connect_s: Bounds = (0.0, 3.0)
    think_s: Bounds = (0.5, 5.0)
    """Between one call and the next."""
    patience_s: Bounds = (2.0, 15.0)
    """Waiting for an agent before giving up (cancel, or say goodbye)."""
    p_leave: float = 0.1
    """Giving up by closing the socket normally (the server ends the waiting call) instead of cancelling."""
    p_hangs_up: float = 0.5
    """Otherwise the kiosk waits for the agent to hang up (or for ``longest_call_s``)."""
    talk_s: Bounds = (0.5, 3.0)
    longest_call_s: float = 8.0
    cut_mean_s: float = 12.0
    """Mean time between dropped connections (exponential), whatever the kiosk is doing."""
    offline_s: Bounds = (0.0, 1.5)
    """How long its network stays away after a drop."""


class KioskBot(Bot):
    """A kiosk: asks for help, waits (or cancels, or leaves), talks, hangs up; loses its connection now and
    then and resumes. At most one request of it is in flight."""

    def __init__(
        self,
        kiosk_id: str,
        secret: str,
        servers: Servers,
        http: aiohttp.ClientSession,
        rng: random.Random,
        record: Record,
        behaviour: KioskBehaviour,
    ) -> None:
        super().__init__(f"kiosk:{kiosk_id}", servers, rng, record)
        self.kiosk_id = kiosk_id
        self.secret = secret
        self.http = http
        self.b = behaviour
        self.call: str | None = None
        self.joined = False
        self.pending = False
        """A help request is on its way, unanswered."""
        self.ending: str | None = None
        """The call this kiosk asked to end (cancel or hang up), until it hears the call ended."""
        self.over: set[str] = set()
        """Calls this kiosk heard end: later news of them is stale."""
        self.stopping = False

    def stop(self) -> None:
        """Stop the behaviour: end the live call, then leave (close normally)."""
        self.stopping = True
        self.wake.set()

    async def live(self) -> None:
        await self.pause(self.uniform(self.b.first_connect_s))  # kiosks do not all boot at once
        while not await self.session(await self.connect()):
            pass

    async def open(self, server: str) -> Link | None:
        try:
            async with asyncio.timeout(REPLY_TIMEOUT_S):
                ws = await self.http.ws_connect(ws_url(server, "/ws/kiosk"))
        except (aiohttp.ClientError, OSError, TimeoutError):
            self.rec.stats["kiosk_connect_failures"] += 1
            return None
        link = Link(ws, server)
        token, last_seq = self.stream.hello()
        hello = KioskHello(kiosk_id=self.kiosk_id, secret=self.secret, resume_token=token, last_seq=last_seq)
        try:
            await link.send(hello)
        except LinkClosed:
            await link.cut()
            return None
        return link

    async def session(self, link: Link) -> bool:
        """Until the connection is lost (False) or the kiosk has left for good (True)."""
        cut_at = NEVER if self.stopping else now() + self.rng.expovariate(1 / self.b.cut_mean_s)
        self.replan()
        try:
            while True:
                item = await link.next(min(self.action_at, cut_at), self.wake)
                if item is not None:
                    if self.receive(link, *item):
                        self.replan()
                elif self.wake.is_set():
                    self.wake.clear()
                    cut_at = NEVER
                    self.replan()
                elif now() >= cut_at or (self.action == "cut" and now() >= self.action_at):
                    self.rec.stats["kiosk_cuts"] += 1
                    await self._drop(link)
                    return False
                elif now() >= self.action_at:
                    done = await self.act(link)
                    if done is not None:
                        return done
        except LinkClosed:
            self.rec.stats["kiosk_connections_lost"] += 1
            await link.cut()
            self.stream.lost()
            return False

    async def _drop(self, link: Link) -> None:
        await link.cut()
        self.stream.lost()
        await asyncio.sleep(self.uniform(self.b.offline_s))  # the network is away: behaviour

    def replan(self) -> None:
        b = self.b
        if self.pending or self.ending:
            if self.action != "no_reply":
                self.plan("no_reply", REPLY_TIMEOUT_S)
        elif self.stopping:
            self.plan("end" if self.call else "bye", 0.0)
        elif self.call is None:
            self.plan("help", self.uniform(b.think_s))
        elif not self.joined:
            self.plan("leave" if self.rng.random() < b.p_leave else "cancel", self.uniform(b.patience_s))
        elif self.rng.random() < b.p_hangs_up:
            self.plan("hangup", self.uniform(b.talk_s))
        else:
            self.plan("hangup", b.longest_call_s)

    async def act(self, link: Link) -> bool | None:
        """Do the planned thing; True/False when the session is over (as ``session`` returns)."""
        action = self.action
        self.plan("", NEVER)
        if action == "help":
            await link.send(HelpRequest(topic=self.rng.choice(self.b.topics)))
            self.pending = True
            self.rec.stats["help_requests"] += 1
        elif action in ("cancel", "hangup", "end") and self.call:
            hangup = self.joined or action == "hangup"
            await link.send(Hangup(call_id=self.call) if hangup else Cancel(call_id=self.call))
            self.ending = self.call
            self.rec.stats["kiosk_hangups" if hangup else "kiosk_cancels"] += 1
        elif action in ("leave", "bye"):
            await link.close()
            self.stream.lost(goodbye=True)
            self.rec.stats[f"kiosk_{action}s"] += 1
            if action == "bye":
                return True
            await asyncio.sleep(self.uniform(self.b.offline_s))  # away for a moment: behaviour
            return False
        elif action == "no_reply":
            self._no_reply()
        self.replan()
        return None

    def _no_reply(self) -> None:
        if self.pending:
            self.pending = False
            self.rec.unconfirmed.append(self.kiosk_id)
            self.note("no answer to a help request")
        if self.ending:
            self.note(f"asked to end {self.ending}; heard nothing of it")
            self.rec.stats["kiosk_ends_unconfirmed"] += 1
            self.call, self.joined, self.ending = None, False, None

    # ------------------------------------------------------------------------------------- messages
    def receive(self, link: Link, seq: int | None, msg: ServerMessage) -> bool:
        self.stream.hear(seq, msg, link.server)
        call_id = getattr(msg, "call_id", None)
        if call_id:
            self.rec.kiosk_heard.add((self.kiosk_id, call_id))
            self.rec.calls.setdefault(call_id, self.kiosk_id)
        if isinstance(msg, Welcome):
            return self._on_welcome(msg)
        if isinstance(msg, Queued):
            return self._on_queued(msg)
        if isinstance(msg, AgentJoined) and msg.call_id == self.call and not self.joined:
            self.joined = True
            return True
        if isinstance(msg, CallEnded):
            return self._on_ended(msg)
        if isinstance(msg, Error):
            return self._on_error(msg)
        return False

    def _on_welcome(self, msg: Welcome) -> bool:
        if msg.call_id:
            if msg.call_id != self.call:
                self.rec.stats["kiosk_calls_learnt_from_welcome"] += 1
                self.call, self.joined = msg.call_id, False
            if self.ending == msg.call_id:  # the request to end it went down with the last connection
                self.rec.stats["kiosk_ends_lost_with_connection"] += 1
            self.pending, self.ending = False, None
            return True
        if self.pending:  # no call: the request never reached a server (or was refused unheard)
            self.pending = False
            self.rec.unconfirmed.append(self.kiosk_id)
        if not msg.resumed and self.call:  # a new session: what the kiosk believed is replaced
            self.rec.stats["kiosk_calls_ended_unheard"] += 1
            self.call, self.joined, self.ending = None, False, None
        return True

    def _on_queued(self, msg: Queued) -> bool:
        if msg.call_id == self.call:
            return False
        if self.pending and msg.call_id not in self.over:
            self.pending = False
            self.call, self.joined = msg.call_id, False
            self.rec.stats["calls_queued"] += 1
            return True
        self.rec.stats["kiosk_stale_positions"] += 1
        return False

    def _on_ended(self, msg: CallEnded) -> bool:
        self.rec.kiosk_ended.append((self.kiosk_id, msg.call_id, msg.state.value, msg.reason))
        self.over.add(msg.call_id)
        if msg.call_id == self.ending:
            self.ending = None
        if msg.call_id == self.call:
            self.call, self.joined = None, False
            return True
        return False

    def _on_error(self, msg: Error) -> bool:
        self.rec.stats[f"kiosk_error_{msg.code}"] += 1
        if msg.ref == "help_request" and self.pending:
            self.pending = False
            if msg.code == ErrorCode.WRONG_STATE:  # a live call it does not know of: the welcome names it
                self.note(f"help refused: {msg.message}")
                self.plan("cut", 0.0)
                return False
            return True
        if msg.ref in ("cancel", "hangup") and msg.code in (ErrorCode.WRONG_STATE, ErrorCode.UNKNOWN_CALL):
            # the call had ended already: its call_ended is on the way (the kiosk waits for it, bounded),
            # or came before this refusal
            self.rec.stats["kiosk_ends_crossed" if self.ending else "kiosk_late_refusals"] += 1
            return False
        if msg.code != ErrorCode.UNAVAILABLE:  # unavailable: Redis is away; the server closes the socket
            self.note(f"error outside any request: {msg}")
        return False


# ------------------------------------------------------------------------------------------- agents
@dataclass(frozen=True)
class AgentBehaviour:
    p_accept: float = 0.65
    p_decline: float = 0.15
    """The rest of the offers are ignored (they ring out)."""
    answer_s: Bounds = (0.1, 1.0)
    p_hangs_up: float = 0.6
    """Otherwise the agent waits for the kiosk to hang up (or for ``longest_call_s``)."""
    talk_s: Bounds = (0.5, 3.0)
    longest_call_s: float = 6.0
    wrap_up_s: Bounds = (0.2, 1.5)
    dispositions: tuple[str, ...] = ("resolved", "follow_up", "escalated")
    back_s: Bounds = (0.3, 1.5)
    """Set away (e.g. after missed offers) or offline: available again after this long."""
    cut_mean_s: float = 15.0
    offline_s: Bounds = (0.0, 1.5)


class AgentBot(Bot):
    """An agent, driven by the state the server tells it (``agent_state``): on each offer accepts, declines
    or lets it ring out; talks, hangs up (or waits for the kiosk to), wraps up; loses its connection now and
    then and resumes."""

    def __init__(
        self,
        name: str,
        password: str,
        servers: Servers,
        rng: random.Random,
        record: Record,
        behaviour: AgentBehaviour,
    ) -> None:
        super().__init__(f"agent:{name}", servers, rng, record)
        self.name = name
        self.password = password
        self.b = behaviour
        self.http: aiohttp.ClientSession | None = None
        self.state = AgentState.OFFLINE
        self.call: str | None = None
        self.planned_for: tuple[AgentState, str | None] | None = None
        """The state the current plan was made for; the same state told again changes nothing."""
        self.draining = self.closing = False

    def drain(self) -> None:
        """No more dropped connections; take every offer and finish calls quickly."""
        self.draining = True
        self.wake.set()

    def close(self) -> None:
        """Leave: close the connection normally."""
        self.closing = True
        self.wake.set()

    async def live(self) -> None:
        try:
            while not await self.session(await self.connect()):
                pass
        finally:
            if self.http is not None:
                await self.http.close()

    async def _sign_in(self, server: str) -> aiohttp.ClientSession | None:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        try:
            async with (
                asyncio.timeout(REPLY_TIMEOUT_S),
                http.post(
                    f"{server}/api/login", json={"username": self.name, "password": self.password}
                ) as r,
            ):
                if r.status == 200:
                    return http
                self.rec.stats[f"agent_sign_in_{r.status}"] += 1
        except (aiohttp.ClientError, OSError, TimeoutError):
            self.rec.stats["agent_sign_in_failures"] += 1
        await http.close()
        return None

    async def open(self, server: str) -> Link | None:
        if self.http is None:
            self.http = await self._sign_in(server)
            if self.http is None:
                return None
        token, last_seq = self.stream.hello()
        query = f"?resume={token}&last_seq={last_seq}" if token else ""
        try:
            async with asyncio.timeout(REPLY_TIMEOUT_S):
                ws = await self.http.ws_connect(ws_url(server, "/ws/agent" + query))
        except aiohttp.WSServerHandshakeError as exc:
            self.rec.stats[f"agent_handshake_{exc.status}"] += 1
            if exc.status == 401:  # the staff session is gone: sign in again
                await self.http.close()
                self.http = None
            return None
        except (aiohttp.ClientError, OSError, TimeoutError):
            self.rec.stats["agent_connect_failures"] += 1
            return None
        return Link(ws, server)

    def _next_cut(self) -> float:
        return NEVER if self.draining else now() + self.rng.expovariate(1 / self.b.cut_mean_s)

    async def session(self, link: Link) -> bool:
        """Until the connection is lost (False) or the agent has left (True)."""
        self.planned_for = None  # on a new connection, what the current state asks for is done again
        cut_at = self._next_cut()
        self.replan()
        try:
            while True:
                item = await link.next(min(self.action_at, cut_at), self.wake)
                if item is not None:
                    self.receive(link, *item)
                    self.replan()
                elif self.wake.is_set():
                    self.wake.clear()
                    if self.closing:
                        await link.close()
                        self.stream.lost(goodbye=True)
                        return True
                    cut_at, self.planned_for = self._next_cut(), None
                    self.replan()
                elif now() >= cut_at:
                    self.rec.stats["agent_cuts"] += 1
                    await link.cut()
                    self.stream.lost()
                    await asyncio.sleep(self.uniform(self.b.offline_s))  # the network is away: behaviour
                    return False
                elif now() >= self.action_at:
                    await self.act(link)
        except LinkClosed:
            self.rec.stats["agent_connections_lost"] += 1
            await link.cut()
            self.stream.lost()
            return False

    def replan(self) -> None:
        key = (self.state, self.call)
        if key == self.planned_for:
            return
        self.planned_for = key
        b, fast = self.b, self.draining
        if self.state == AgentState.RINGING and self.call:
            r = self.rng.random()
            if fast or r < b.p_accept:
                self.plan("accept", self.uniform(b.answer_s))
            elif r < b.p_accept + b.p_decline:
                self.plan("decline", self.uniform(b.answer_s))
            else:
                self.rec.stats["offers_ignored"] += 1
                self.plan("", NEVER)  # it rings out: the server says so
        elif self.state == AgentState.IN_CALL and self.call:
            talk = self.uniform(b.talk_s) if self.rng.random() < b.p_hangs_up else b.longest_call_s
            self.plan("hangup", self.uniform((0.1, 0.5)) if fast else talk)
        elif self.state == AgentState.WRAP_UP and self.call:
            self.plan("wrap_up", 0.1 if fast else self.uniform(b.wrap_up_s))
        elif self.state in (AgentState.AWAY, AgentState.OFFLINE):
            self.plan("available", self.uniform(b.back_s))
        else:
            self.plan("", NEVER)

    async def act(self, link: Link) -> None:
        action, call_id = self.action, self.call or ""
        self.plan("again", REPLY_TIMEOUT_S)  # no answer that changes the state: do it again
        if action == "accept":
            await link.send(Accept(call_id=call_id))
        elif action == "decline":
            await link.send(Decline(call_id=call_id))
        elif action == "hangup":
            await link.send(Hangup(call_id=call_id))
        elif action == "wrap_up":
            await link.send(WrapUp(call_id=call_id, disposition=self.rng.choice(self.b.dispositions)))
        elif action == "available":
            await link.send(SetState(state="available"))
        elif action == "again":
            self.rec.stats["agent_retries"] += 1
            self.planned_for = None
            self.replan()
            return
        self.rec.stats[f"agent_{action}"] += 1

    def receive(self, link: Link, seq: int | None, msg: ServerMessage) -> bool:
        self.stream.hear(seq, msg, link.server)
        call_id = getattr(msg, "call_id", None)
        if call_id:
            self.rec.agent_heard.add((self.name, call_id))
        if isinstance(msg, Welcome) and not msg.resumed:  # a new session: the server's state replaces ours
            self.state, self.call = msg.agent_state or AgentState.OFFLINE, msg.call_id
        elif isinstance(msg, AgentStateChanged):
            self.state, self.call = msg.state, msg.call_id
        elif isinstance(msg, CallEnded):
            self.rec.agent_ended.append((self.name, msg.call_id, msg.state.value, msg.reason))
        elif isinstance(msg, Error):
            self.rec.stats[f"agent_error_{msg.code}"] += 1
        return True
