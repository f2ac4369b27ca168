"""The agent's actions over the ``control`` data channel, between a real aiortc kiosk program and a real
aiortc agent peer: a message shown on the kiosk, and an ID photo sent only with the customer's consent."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec

from kiosk_client.control import AgentAction, ConsentName, RequestIdPhoto, ShowMessage, encode_control
from kiosk_client.session import KioskOptions, KioskRunner
from media import MediaSource, SyntheticAudioTrack, SyntheticVideoTrack
from media.still import decode_jpeg
from signaling.protocol import Accept, CallAccepted, Offer, SetState
from tests.agent_peer import AgentPeer
from tests.support import RunningServer, connect_agent

WAIT_S = 20.0
WIDTH, HEIGHT = 1280, 720


@asynccontextmanager
async def call_with_actions(
    server: RunningServer, kiosk_id: str, consent: ConsentName
) -> AsyncIterator[tuple[KioskRunner, AgentPeer, list[AgentAction]]]:
    secret = await server.enroll(kiosk_id)
    agent = await connect_agent(server, "bob", await server.add_agent("bob", skills=("cash",)))
    await agent.send(SetState(state="available"))
    source = MediaSource(SyntheticVideoTrack(WIDTH, HEIGHT), SyntheticAudioTrack())
    options = KioskOptions(
        server=server.url, kiosk_id=kiosk_id, secret=secret, request_help="cash", id_photo_consent=consent
    )
    runner = KioskRunner(options, source=source)
    seen: list[AgentAction] = []
    runner.actions.subscribe(seen.append)
    kiosk_task = asyncio.create_task(runner.run())
    peer = AgentPeer()
    try:
        offer = await agent.expect(Offer)
        await agent.send(Accept(call_id=offer.call_id))
        await peer.answer(agent, await agent.expect(CallAccepted))
        assert runner.peer is not None
        await asyncio.wait_for(runner.peer.alive.wait(), WAIT_S)
        yield runner, peer, seen
    finally:
        kiosk_task.cancel()
        await asyncio.gather(kiosk_task, return_exceptions=True)
        await peer.close()
        await agent.close()
        await source.close()


async def _next(peer: AgentPeer) -> str | bytes:
    return await asyncio.wait_for(peer.control_received.get(), WAIT_S)


async def test_with_consent_the_agent_receives_a_full_resolution_id_photo_and_shows_a_message(
    server: RunningServer,
) -> None:
    async with call_with_actions(server, "k-photo", "grant") as (_runner, peer, seen):
        assert peer.control is not None
        peer.control.send(encode_control(ShowMessage(text="Please insert your card")))
        peer.control.send(encode_control(RequestIdPhoto(request_id="r1", reason="verify identity")))
        header = msgspec.json.decode(await _next(peer))
        assert (header["type"], header["request_id"]) == ("id_photo", "r1")
        jpeg = b""
        while len(jpeg) < header["size"]:
            chunk = await _next(peer)
            assert isinstance(chunk, bytes)
            jpeg += chunk
        assert hashlib.sha256(jpeg).hexdigest() == header["sha256"]
        picture = decode_jpeg(jpeg)
        assert (picture.width, picture.height) == (WIDTH, HEIGHT) == (header["width"], header["height"])
        assert [type(a).__name__ for a in seen] == ["ShowMessage", "RequestIdPhoto"]
        assert isinstance(seen[0], ShowMessage)
        assert seen[0].text == "Please insert your card"


async def test_without_consent_the_refusal_is_reported_and_no_picture_is_sent(
    server: RunningServer,
) -> None:
    async with call_with_actions(server, "k-private", "refuse") as (runner, peer, seen):
        assert peer.control is not None
        peer.control.send(encode_control(RequestIdPhoto(request_id="r2", reason="verify identity")))
        refusal = msgspec.json.decode(await _next(peer))
        assert (refusal["type"], refusal["request_id"]) == ("id_photo_refused", "r2")
        await runner.actions.drain()
        assert peer.control_received.empty(), "nothing of a picture follows a refusal"
        assert [type(a).__name__ for a in seen] == ["RequestIdPhoto"]
