"""Bad input gets a typed error, changes nothing, and leaves everyone else served."""

from __future__ import annotations

import aiohttp
import pytest

from signaling.handlers.inbound_limits import MAX_FRAME_BYTES
from signaling.protocol import (
    MAX_MESSAGE_BYTES,
    Accept,
    Cancel,
    Error,
    ErrorCode,
    Hangup,
    HelpRequest,
    KioskHello,
    Offer,
    Queued,
    SdpType,
    SessionDescription,
    SetState,
    WrapUp,
    encode,
)
from tests.support import RunningServer, connect_agent, connect_kiosk, redis_snapshot


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", ErrorCode.BAD_JSON),
        ('{"type": "teleport"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "help_request"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "help_request", "topic": 7}', ErrorCode.BAD_MESSAGE),
        ('{"type": "help_request", "topic": "cash", "extra": 1}', ErrorCode.BAD_MESSAGE),
        ('{"type": "help_request", "topic": "weather"}', ErrorCode.UNKNOWN_TOPIC),
        ('{"type": "accept", "call_id": "c"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "hangup", "call_id": "no-such-call"}', ErrorCode.UNKNOWN_CALL),
        ('{"type": "sdp", "call_id": "x", "sdp_type": "offer", "sdp": "v=0"}', ErrorCode.UNKNOWN_CALL),
        ("[1, 2, 3]", ErrorCode.BAD_MESSAGE),
    ],
)
async def test_a_kiosks_bad_message_gets_a_typed_error_and_changes_nothing(
    server: RunningServer, raw: str, code: ErrorCode
) -> None:
    kiosk = await connect_kiosk(server, "k-bad", await server.enroll("k-bad"))
    before = await redis_snapshot(server)
    await kiosk.send_raw(raw)
    error = await kiosk.expect(Error)
    assert error.code is code
    assert error.message
    assert await redis_snapshot(server) == before
    # the connection stays usable
    await kiosk.send(HelpRequest(topic="cash"))
    assert (await kiosk.expect(Queued)).position == 1
    await kiosk.close()


@pytest.mark.parametrize("pad", ["x", "\u00e9", "\U0001f600"], ids=["ascii", "2-byte", "4-byte"])
async def test_a_frame_over_the_protocol_limit_is_a_typed_error_and_the_socket_stays_usable(
    server: RunningServer, pad: str
) -> None:
    kiosk = await connect_kiosk(server, "k-big", await server.enroll("k-big"))
    before = await redis_snapshot(server)
    # 100 KiB of UTF-8 (the limit counts bytes, not characters)
    await kiosk.send_raw('{"type":"help_request","topic":"' + pad * (100 * 1024 // len(pad.encode())) + '"}')
    error = await kiosk.expect(Error)
    assert (error.code, error.ref) == (ErrorCode.TOO_LARGE, "help_request")
    assert str(MAX_MESSAGE_BYTES) in error.message
    assert await redis_snapshot(server) == before
    await kiosk.send(HelpRequest(topic="cash"))
    assert (await kiosk.expect(Queued)).position == 1
    assert not kiosk.closed.is_set()
    await kiosk.close()


async def test_an_absurdly_large_frame_closes_only_that_connection(server: RunningServer) -> None:
    other = await connect_kiosk(server, "k-other", await server.enroll("k-other"))
    kiosk = await connect_kiosk(server, "k-big", await server.enroll("k-big"))
    await kiosk.send_raw('{"type":"heartbeat","pad":"' + "x" * MAX_FRAME_BYTES + '"}')
    await kiosk.closed.wait()
    assert kiosk.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    await other.send(HelpRequest(topic="cash"))
    assert (await other.expect(Queued)).position == 1
    await other.close()
    await kiosk.close()


async def test_a_wrong_kiosk_secret_is_refused_with_a_typed_error(server: RunningServer) -> None:
    await server.enroll("k-1")
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url("/ws/kiosk")) as ws:
        await ws.send_json({"type": "hello", "kiosk_id": "k-1", "secret": "guess"})
        reply = await ws.receive_json()
        assert (reply["type"], reply["code"]) == ("error", "auth_failed")
        assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4401


async def test_a_kiosk_must_say_hello_first(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url("/ws/kiosk")) as ws:
        await ws.send_json({"type": "help_request", "topic": "cash"})
        reply = await ws.receive_json()
        assert (reply["type"], reply["code"]) == ("error", "auth_required")


async def test_a_wrong_password_is_refused_and_an_anonymous_agent_socket_too(server: RunningServer) -> None:
    await server.add_agent("alice")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/login", json={"username": "alice", "password": "nope"}) as r:
            assert r.status == 401
            assert (await r.json())["code"] == "auth_failed"
        async with http.post(f"{server.url}/api/login", data="username=alice") as r:
            assert r.status == 400
        async with http.get(server.ws_url("/ws/agent")) as r:
            assert r.status == 401
            assert (await r.json())["code"] == "auth_required"


async def test_messages_that_do_not_fit_the_calls_state_are_refused(server: RunningServer) -> None:
    kiosk = await connect_kiosk(server, "k-1", await server.enroll("k-1"))
    alice = await connect_agent(server, "alice", await server.add_agent("alice", skills=("cash",)))
    mallory = await connect_agent(server, "mallory", await server.add_agent("mallory", skills=("cash",)))
    await kiosk.send(HelpRequest(topic="cash"))
    call_id = (await kiosk.expect(Queued)).call_id

    # a second request while one is live; signaling before anyone accepted
    await kiosk.send(HelpRequest(topic="cash"))
    assert (await kiosk.expect(Error)).code is ErrorCode.WRONG_STATE
    await kiosk.send(SessionDescription(call_id=call_id, sdp_type=SdpType.OFFER, sdp="v=0"))
    assert (await kiosk.expect(Error)).code is ErrorCode.WRONG_STATE

    await alice.send(SetState(state="available"))
    offer = await alice.expect(Offer)
    # another agent cannot take, hang up, or signal into alice's call
    for msg in (
        Accept(call_id=offer.call_id),
        Hangup(call_id=offer.call_id),
        SessionDescription(call_id=offer.call_id, sdp_type=SdpType.ANSWER, sdp="v=0"),
    ):
        await mallory.send(msg)
        assert (await mallory.expect(Error)).code in (ErrorCode.UNKNOWN_CALL, ErrorCode.WRONG_STATE)
    # nothing to wrap up yet, and an unknown disposition is refused
    await alice.send(WrapUp(call_id=offer.call_id, disposition="resolved"))
    assert (await alice.expect(Error)).code is ErrorCode.WRONG_STATE
    await alice.send(WrapUp(call_id=offer.call_id, disposition="made-up"))
    assert (await alice.expect(Error)).code is ErrorCode.UNKNOWN_DISPOSITION
    # the kiosk sends offers, never answers
    await alice.send(Accept(call_id=offer.call_id))
    await kiosk.send(SessionDescription(call_id=call_id, sdp_type=SdpType.ANSWER, sdp="v=0"))
    assert (await kiosk.expect(Error)).code is ErrorCode.BAD_MESSAGE
    # a kiosk cannot cancel another kiosk's call
    other = await connect_kiosk(server, "k-2", await server.enroll("k-2"))
    await other.send(Cancel(call_id=call_id))
    assert (await other.expect(Error)).code is ErrorCode.UNKNOWN_CALL
    for client in (kiosk, alice, mallory, other):
        await client.close()


async def test_the_protocol_version_is_checked(server: RunningServer) -> None:
    secret = await server.enroll("k-1")
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url("/ws/kiosk")) as ws:
        await ws.send_str(encode(KioskHello(kiosk_id="k-1", secret=secret, protocol=99)))
        reply = await ws.receive_json()
        assert (reply["type"], reply["code"]) == ("error", "unsupported_version")
