"""Shared machinery of the authorisation tests: one server per test module, a call brought to a stage with
parties of its own, and the checks that a refused message changed nothing and reached no one.

A message "reached no one" when each party's next message after the attempt is the answer to a probe it
sends itself: a message the server delivers the same way (numbered, through the party's outbox) as any
leak would have been, so a leak could not arrive after it.

The matrices have well over a hundred cases, so a module shares one server (starting one runs the database
migrations), each case with parties of its own names (``alice7``, ``k7-own``…); timers are set far beyond
a module's length, so nothing but the message under test changes Redis during a case.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from yarl import URL

from signaling.auth import COOKIE_NAME
from signaling.protocol import (
    Accept,
    AgentJoined,
    AgentStateChanged,
    CallAccepted,
    CallEnded,
    Cancel,
    Hangup,
    HelpRequest,
    Offer,
    Queued,
    Ringing,
    ServerMessage,
    SetState,
)
from signaling.routing.keys import agent_address, kiosk_address
from signaling.settings import Settings
from signaling.store import passwords
from tests.support import (
    WAIT_S,
    Client,
    RunningServer,
    connect_agent,
    connect_kiosk,
    forget_prefix,
    free_port,
    running_server,
)

TOPIC = "cash"
OTHER_TOPIC = "cards"
PROBE = "probe"
QUIET_S = 3600.0
"""Presence, reservations, wrap-ups and the reconnect grace last this long: longer than any module."""

_numbers = itertools.count(1)


def unique(name: str) -> str:
    """``name`` with a number no other case of the run uses (``alice`` → ``alice7``)."""
    return f"{name}{next(_numbers)}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_server(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServer]:
    """One server for the module's cases, on a Redis prefix of its own (deleted afterwards). Passwords are
    hashed with cheap argon2 parameters: the cases sign in hundreds of accounts; hashing is not theirs."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = Settings(
        port=free_port(),
        data_dir=Path(tmp_path_factory.mktemp("authz")) / "data",
        redis_url=redis_url,
        redis_prefix=prefix,
        kiosk_presence_ttl_s=QUIET_S,
        agent_presence_ttl_s=QUIET_S,
        reservation_timeout_s=QUIET_S,
        wrap_up_s=QUIET_S,
        reconnect_grace_s=QUIET_S,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        async with running_server(settings) as server:
            yield server
    forget_prefix(redis_url, prefix)


RECORDS_OF_REFUSALS = (b":audit:", b":login_failures:")
"""Keys that record a refused attempt (the audit log's head, sign-in throttling): writing them is the
point of a refusal, not a change of the state it protects."""


async def state_snapshot(server: RunningServer, *leave_out: str) -> dict[bytes, bytes]:
    """Every key of the server's prefix, DUMPed, as ``redis_snapshot`` takes it (streams left out: the
    history log only grows), in one round trip (a module's server holds many keys); but records of
    refusals and the keys starting with one of ``leave_out`` (after the prefix)."""
    redis, prefix = server.services.redis, server.services.keys.prefix
    skipped = tuple(f"{prefix}:{name}".encode() for name in leave_out)
    every = [k if isinstance(k, bytes) else k.encode() for k in await redis.keys(f"{prefix}:*")]
    keys = sorted(
        key
        for key in every
        if not any(part in key for part in RECORDS_OF_REFUSALS) and not key.startswith(skipped)
    )
    async with redis.pipeline(transaction=True) as pipe:
        for key in keys:
            pipe.type(key)
            pipe.dump(key)
        replies = await pipe.execute()
    kinds, values = replies[0::2], replies[1::2]
    return {k: v or b"" for k, kind, v in zip(keys, kinds, values, strict=True) if kind != b"stream"}


async def settle(server: RunningServer, client: Client, address: str) -> None:
    """Wait until ``client`` has received every numbered message posted to it so far."""
    await server.services.delivery.outbox.flushed()
    raw = await server.services.redis.hget(f"{server.services.keys.prefix}:outseq", address)
    last = int(raw or 0)
    async with asyncio.timeout(WAIT_S):
        while last and not (client.seqs and client.seqs[-1] >= last):  # noqa: ASYNC110
            # a bounded re-check of what the client's reader records (it has no event to await)
            await asyncio.sleep(0.002)


async def new_agent(
    server: RunningServer, name: str, role: str = "agent", skills: tuple[str, ...] = (TOPIC,)
) -> Client:
    """A signed-in console, its first state received (so nothing of its sign-in is still on the way)."""
    password = await server.add_agent(name, role=role, skills=skills)
    client = await connect_agent(server, name, password)
    await client.expect(AgentStateChanged)
    await settle(server, client, agent_address(name))
    return client


def session_token(client: Client, server: RunningServer) -> str:
    return session_token_of(client.http, server)


def session_token_of(http: aiohttp.ClientSession, server: RunningServer) -> str:
    cookie = http.cookie_jar.filter_cookies(URL(server.url)).get(COOKIE_NAME)
    assert cookie is not None, "no session cookie"
    return cookie.value


async def anonymous_kiosk_socket(server: RunningServer) -> Client:
    """A socket on ``/ws/kiosk`` that never said hello."""
    http = aiohttp.ClientSession()
    try:
        ws = await http.ws_connect(server.ws_url("/ws/kiosk"))
    except BaseException:
        await http.close()
        raise
    return Client(http, ws)


class Stage(enum.IntEnum):
    """How far the call under attack has gone: each stage is the one where its rightful party may act."""

    QUEUED = 1
    RESERVED = 2
    """Ringing at the call's agent."""
    CONNECTING = 3
    """The agent accepted: the call's signalling is open."""
    WRAP_UP = 4
    """The call ended; its agent is wrapping it up."""


@dataclass
class Scene:
    """A call of its own kiosk (``k<n>-own``) that its own agent (``alice<n>``, skill cash) is rung for,
    in the given stage, and the other parties a case connects (``bystanders``)."""

    server: RunningServer
    stage: Stage
    n: int
    kiosk: Client
    kiosk_secret: str
    alice: Client
    call_id: str
    bystanders: dict[str, Client] = field(default_factory=dict)
    """Other connected parties (by address), each of which must hear nothing of the attempt."""
    marks: dict[str, int] = field(default_factory=dict)

    @classmethod
    async def build(cls, server: RunningServer, stage: Stage) -> Scene:
        n = next(_numbers)
        secret = await server.enroll(f"k{n}-own")
        kiosk = await connect_kiosk(server, f"k{n}-own", secret)
        try:
            alice = await new_agent(server, f"alice{n}")
        except BaseException:
            await kiosk.close()
            raise
        scene = cls(server, stage, n, kiosk, secret, alice, "")
        try:
            await kiosk.send(HelpRequest(topic=TOPIC))
            scene.call_id = (await kiosk.expect(Queued)).call_id
            await scene.advance()
        except BaseException:
            await scene.close()
            raise
        return scene

    @property
    def kiosk_id(self) -> str:
        return f"k{self.n}-own"

    @property
    def agent_name(self) -> str:
        return f"alice{self.n}"

    def name(self, base: str) -> str:
        """The name of another party of this scene (``mallory`` → ``mallory7``)."""
        return f"{base}{self.n}"

    async def advance(self) -> None:
        kiosk, alice, call_id = self.kiosk, self.alice, self.call_id
        if self.stage >= Stage.RESERVED:
            await alice.send(SetState(state="available"))
            await alice.expect(Offer, where=lambda m: m.call_id == call_id)
            await kiosk.expect(Ringing)
        if self.stage >= Stage.CONNECTING:
            await alice.send(Accept(call_id=call_id))
            await alice.expect(CallAccepted)
            await kiosk.expect(AgentJoined)
        if self.stage >= Stage.WRAP_UP:
            await alice.send(Hangup(call_id=call_id))
            await alice.expect(AgentStateChanged, where=lambda m: m.state == "wrap_up")
            await kiosk.expect(CallEnded)
        await self.settle()

    @property
    def parties(self) -> dict[str, Client]:
        own = {kiosk_address(self.kiosk_id): self.kiosk, agent_address(self.agent_name): self.alice}
        return own | self.bystanders

    async def add_bystander(self, address: str, client: Client) -> Client:
        self.bystanders[address] = client
        await settle(self.server, client, address)
        return client

    async def settle(self) -> None:
        for address, client in self.parties.items():
            if not client.closed.is_set():
                await settle(self.server, client, address)

    def mark(self) -> None:
        """Remember where each party's messages stand before the attempt."""
        self.marks = {address: len(client.received) for address, client in self.parties.items()}

    async def assert_nobody_heard(self, own: dict[str, list[ServerMessage]] | None = None) -> None:
        """Every party still connected probes itself; the probe's answer must be the first thing it
        received after the mark (``own``: what some parties were rightly told first, such as the error
        answering the attempt)."""
        expected = own or {}
        for address, client in self.parties.items():  # agents first: a kiosk's probe ends the call
            if address.startswith("agent:") and not client.closed.is_set():
                heard = await probe_agent(client, self.marks[address])
                assert heard == expected.get(address, []), f"{address} received {heard}"
        for address, client in self.parties.items():
            if address.startswith("kiosk:") and not client.closed.is_set():
                live = self.call_id if address == kiosk_address(self.kiosk_id) and self.live else None
                heard = await probe_kiosk(client, self.marks[address], live)
                assert heard == expected.get(address, []), f"{address} received {heard}"

    @property
    def live(self) -> bool:
        return self.stage < Stage.WRAP_UP

    async def close(self) -> None:
        for client in self.parties.values():
            await client.close()


async def probe_agent(client: Client, mark: int) -> list[ServerMessage]:
    """An agent asks to be away: its state (or next state) comes back, numbered. Returns what it
    received after ``mark`` and before that answer."""
    await client.send(SetState(state="away", reason=PROBE))
    answer = await client.expect(AgentStateChanged, where=_probe_answer)
    return _between(client, mark, answer)


def _probe_answer(message: AgentStateChanged) -> bool:
    return message.reason == PROBE or PROBE in (message.next_state or "")


async def probe_kiosk(client: Client, mark: int, live_call: str | None) -> list[ServerMessage]:
    """A kiosk ends its call (asking for help first when it has none): the call's end comes back,
    numbered. Returns what it received after ``mark`` and before that (but its new call's queue entry)."""
    call_id = live_call
    if call_id is None:
        await client.send(HelpRequest(topic=TOPIC))
        call_id = (await client.expect(Queued)).call_id
    await client.send(Cancel(call_id=call_id))
    answer = await client.expect(CallEnded, where=lambda m: m.call_id == call_id)
    return [m for m in _between(client, mark, answer) if not _own_entry(m, call_id)]


def _own_entry(message: ServerMessage, call_id: str) -> bool:
    return isinstance(message, Queued) and message.call_id == call_id


def _between(client: Client, mark: int, answer: ServerMessage) -> list[ServerMessage]:
    end = next(i for i, m in enumerate(client.received) if m is answer)
    return client.received[mark:end]
