"""A client socket's message allowance: floods are refused and then cut off; ICE trickle bursts are not."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import aiohttp
import pytest

from signaling.handlers.inbound_limits import FLOOD_FACTOR, NOTICE_INTERVAL_S, InboundLimiter, Verdict
from signaling.protocol import (
    Accept,
    AgentJoined,
    Cancel,
    Error,
    ErrorCode,
    Heartbeat,
    HelpRequest,
    Ice,
    IceCandidate,
    KioskHello,
    Offer,
    Queued,
    Ringing,
    SdpType,
    SessionDescription,
    SetState,
    Welcome,
    decode_server,
    encode,
)
from signaling.settings import Settings
from tests.support import (
    WAIT_S,
    Client,
    RunningServer,
    connect_agent,
    connect_kiosk,
    redis_snapshot,
    refused_messages,
    running_server,
    wait_until,
)

RATE_LIMITED = ErrorCode.RATE_LIMITED.value
NEVER_REFILLS = 1e-6  # messages per second: a test's allowance is exactly its burst


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------------- the allowance
def test_a_burst_is_accepted_and_the_next_message_refused_with_a_notice() -> None:
    limiter = InboundLimiter(per_s=30, burst=60, clock=FakeClock())
    assert [limiter.check() for _ in range(60)] == [Verdict.ACCEPT] * 60
    assert limiter.check() is Verdict.REFUSE


def test_refusal_notices_are_sent_at_most_once_a_second() -> None:
    clock = FakeClock()
    limiter = InboundLimiter(per_s=0.01, burst=1, clock=clock)
    limiter.check()
    assert [limiter.check() for _ in range(3)] == [Verdict.REFUSE] + [Verdict.REFUSE_QUIETLY] * 2
    clock.now += NOTICE_INTERVAL_S
    assert limiter.check() is Verdict.REFUSE


def test_the_allowance_refills_at_the_configured_rate() -> None:
    clock = FakeClock()
    limiter = InboundLimiter(per_s=30, burst=60, clock=clock)
    for _ in range(60):
        limiter.check()
    clock.now += 1.0
    assert [limiter.check() for _ in range(31)] == [Verdict.ACCEPT] * 30 + [Verdict.REFUSE]


def test_a_client_that_keeps_flooding_is_disconnected_after_five_bursts_refused() -> None:
    limiter = InboundLimiter(per_s=30, burst=10, clock=FakeClock())
    verdicts = [limiter.check() for _ in range(10 + FLOOD_FACTOR * 10 + 1)]
    assert Verdict.DISCONNECT not in verdicts[:-1]
    assert verdicts[-1] is Verdict.DISCONNECT


def test_a_steady_flood_is_disconnected_although_a_message_gets_through_now_and_then() -> None:
    clock = FakeClock()
    limiter = InboundLimiter(per_s=30, burst=60, clock=clock)
    verdicts: list[Verdict] = []
    while Verdict.DISCONNECT not in verdicts and len(verdicts) < 10_000:
        clock.now += 0.005  # 200 messages a second against an allowance of 30
        verdicts.append(limiter.check())
    assert verdicts[-1] is Verdict.DISCONNECT
    assert verdicts.count(Verdict.ACCEPT) > 60  # it was let through at the allowed rate meanwhile


def test_a_client_that_slows_down_until_its_allowance_is_full_starts_afresh() -> None:
    clock = FakeClock()
    limiter = InboundLimiter(per_s=10, burst=10, clock=clock)
    for _ in range(10 + FLOOD_FACTOR * 10):  # one short of being cut off
        limiter.check()
    clock.now += 1.0  # full again
    verdicts = [limiter.check() for _ in range(10 + FLOOD_FACTOR * 10)]
    assert Verdict.DISCONNECT not in verdicts


def test_a_rate_of_nothing_is_refused_as_a_setting() -> None:
    with pytest.raises(ValueError, match="per_s > 0"):
        InboundLimiter(per_s=0, burst=60)


# ------------------------------------------------------------------------------------ over real sockets
async def test_a_flooding_kiosk_is_refused_and_its_call_is_untouched(settings: Settings) -> None:
    tight = dataclasses.replace(settings, client_messages_per_s=NEVER_REFILLS, client_message_burst=5)
    async with running_server(tight) as server:
        kiosk = await connect_kiosk(server, "k-1", await server.enroll("k-1"))
        await kiosk.send(HelpRequest(topic="cash"))
        call_id = (await kiosk.expect(Queued)).call_id
        before = await redis_snapshot(server)

        started = time.monotonic()
        for _ in range(4):  # the rest of the burst
            await kiosk.send(Heartbeat())
        for _ in range(20):
            await kiosk.send(Cancel(call_id=call_id))
        error = await kiosk.expect(Error)
        assert (error.code, error.ref) == (ErrorCode.RATE_LIMITED, "cancel")
        assert error.message == "too many messages; slow down"
        await wait_until(
            lambda: _at_least(refused_messages(server, RATE_LIMITED), 20), what="all 20 cancels refused"
        )
        elapsed = time.monotonic() - started
        assert await redis_snapshot(server) == before

        # the call still waits, and is rung: the kiosk's socket still serves it
        agent = await connect_agent(server, "alice", await server.add_agent("alice", skills=("cash",)))
        await agent.send(SetState(state="available"))
        assert (await agent.expect(Offer)).call_id == call_id
        await kiosk.expect(Ringing)  # sent after every refusal notice
        notices = [m for m in kiosk.received if isinstance(m, Error)]
        assert all(m.code is ErrorCode.RATE_LIMITED for m in notices)
        assert 1 <= len(notices) <= 1 + elapsed / NOTICE_INTERVAL_S
        assert not kiosk.closed.is_set()
        await agent.close()
        await kiosk.close()


async def test_a_client_that_keeps_flooding_is_closed_with_1008(server: RunningServer) -> None:
    other = await connect_kiosk(server, "k-other", await server.enroll("k-other"))
    secret = await server.enroll("k-flood")
    burst = server.services.settings.client_message_burst
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url("/ws/kiosk")) as ws:
        await ws.send_str(encode(KioskHello(kiosk_id="k-flood", secret=secret)))
        assert isinstance(decode_server((await ws.receive()).data), Welcome)
        for _ in range(burst + FLOOD_FACTOR * burst + 100):  # as fast as it can: far over 30 a second
            await ws.send_str(encode(Heartbeat()))
        closing = await _close_frame(ws)
    assert (closing.data, closing.extra) == (aiohttp.WSCloseCode.POLICY_VIOLATION, "too many messages")
    assert refused_messages(server, RATE_LIMITED) == FLOOD_FACTOR * burst + 1
    # everyone else is still served
    await other.send(HelpRequest(topic="cash"))
    assert (await other.expect(Queued)).position == 1
    await other.close()


async def _close_frame(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """The server's close frame, after the refusal notices before it."""
    async with asyncio.timeout(WAIT_S):
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                assert decode_server(msg.data) == Error(
                    code=ErrorCode.RATE_LIMITED, message="too many messages; slow down", ref="heartbeat"
                )
            else:
                return msg


async def test_an_ice_trickle_burst_at_call_start_is_not_limited(server: RunningServer) -> None:
    kiosk = await connect_kiosk(server, "k-1", await server.enroll("k-1"))
    agent = await connect_agent(server, "alice", await server.add_agent("alice", skills=("cash",)))
    await kiosk.send(HelpRequest(topic="cash"))
    await agent.send(SetState(state="available"))
    call_id = (await agent.expect(Offer)).call_id
    await agent.send(Accept(call_id=call_id))
    await kiosk.expect(AgentJoined)

    await _offer_and_trickle(kiosk, call_id, SdpType.OFFER, 40)
    await _expect_offer_and_trickle(agent, 40)
    await _offer_and_trickle(agent, call_id, SdpType.ANSWER, 40)
    await _expect_offer_and_trickle(kiosk, 40)
    assert refused_messages(server, RATE_LIMITED) == 0
    assert not [m for m in kiosk.received + agent.received if isinstance(m, Error)]
    await agent.close()
    await kiosk.close()


async def _offer_and_trickle(client: Client, call_id: str, sdp_type: SdpType, candidates: int) -> None:
    await client.send(SessionDescription(call_id=call_id, sdp_type=sdp_type, sdp="v=0"))
    for n in range(candidates):
        candidate = f"candidate:{n} 1 udp 2122260223 192.0.2.{n} {50000 + n} typ host"
        await client.send(Ice(call_id=call_id, candidate=IceCandidate(candidate, sdpMid="0")))


async def _expect_offer_and_trickle(client: Client, candidates: int) -> None:
    await client.expect(SessionDescription)
    for _ in range(candidates):
        await client.expect(Ice)


async def _at_least(value: float, wanted: float) -> bool:
    return value >= wanted
