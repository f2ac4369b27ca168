"""Media forced through a real TURN relay (coturn on loopback): it flows, it stops when the relay dies, and it
flows again through new peer connections once the relay is back (aiortc has no ICE restart).

aiortc notices a dead relay only after RFC 7675 consent expires (6 failed checks about 5 s apart: about 30 s)
and then reports nothing until giving up the TURN allocation has timed out too (about 64 s more), so what a
user notices first, frames that stop, is what these tests watch. Closing a peer connection whose TURN server
is gone waits for that same timeout, so the broken call is closed once the relay is back (then it is quick).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from av import VideoFrame
from playwright.async_api import Page, async_playwright

from bench.browser import CHROMIUM, CHROMIUM_ARGS
from media import LatestFrameConsumer, SyntheticVideoTrack, read_frame_counter
from tests.support import wait_until
from tests.turn_server import TurnAuth, TurnServer

pytestmark = pytest.mark.timeout(30)

CONNECT_S = 10.0
QUIET_S = 1.0  # no frame for this long (30 would have been sent): the stream has stopped
STALL_S = 5.0  # frames must stop within this long of the relay's death

# Chromium's side of a relay-only call: it offers to receive video and returns its offer once gathered.
BROWSER_OFFER = """async (iceServers) => {
  const pc = new RTCPeerConnection({iceServers, iceTransportPolicy: 'relay'});
  window.pc = pc;
  pc.addTransceiver('video', {direction: 'recvonly'});
  const gathered = new Promise((resolve) => {
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered;
  return pc.localDescription.sdp;
}"""
BROWSER_ANSWER = "(sdp) => window.pc.setRemoteDescription({type: 'answer', sdp})"
# What Chromium's getStats says about the call: the selected pair's candidate types and the frames decoded.
BROWSER_STATS = """async () => {
  const stats = await window.pc.getStats();
  const seen = {framesDecoded: 0, local: null, remote: null};
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      seen.local = stats.get(pair.localCandidateId).candidateType;
      seen.remote = stats.get(pair.remoteCandidateId).candidateType;
    }
    if (s.type === 'inbound-rtp' && s.kind === 'video') seen.framesDecoded = s.framesDecoded;
  });
  return seen;
}"""


async def _decoded_through_a_pair(page: Page, frames: int) -> dict[str, Any] | None:
    """Chromium's stats once it decoded ``frames`` and reports its selected candidate pair (which may come
    a moment after the first frames), else None."""
    seen: dict[str, Any] = await page.evaluate(BROWSER_STATS)
    return seen if seen["framesDecoded"] >= frames and seen["local"] is not None else None


@dataclass
class RelayedCall:
    """Synthetic video from ``sender`` to ``receiver``, both allowed to use relayed candidates only."""

    sender: RTCPeerConnection
    receiver: RTCPeerConnection
    source: SyntheticVideoTrack
    video: LatestFrameConsumer  # what the receiving side gets

    async def close(self) -> None:
        await self.video.stop()
        with contextlib.suppress(TimeoutError):  # bounded: aiortc waits ~64 s for a dead TURN server
            async with asyncio.timeout(5):
                await asyncio.gather(self.sender.close(), self.receiver.close())
        self.source.stop()


def relay_only(turn: TurnServer) -> RTCConfiguration:
    # the enum, not the string: aiortc 1.16 looks the policy up in a dict keyed by the enum
    return RTCConfiguration(iceServers=[turn.ice_server()], iceTransportPolicy=RTCIceTransportPolicy.RELAY)


async def open_call(turn: TurnServer) -> RelayedCall:
    """Connect two relay-only peers through ``turn`` and start consuming the video they carry."""
    sender, receiver = RTCPeerConnection(relay_only(turn)), RTCPeerConnection(relay_only(turn))
    source = SyntheticVideoTrack(width=320, height=240)
    video = sender.addTransceiver(source, direction="sendonly")
    vp8 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/VP8"]
    video.setCodecPreferences(vp8)
    track: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
    receiver.on("track", track.set_result)
    try:
        async with asyncio.timeout(CONNECT_S):
            await sender.setLocalDescription(await sender.createOffer())  # gathers (allocates on the relay)
            await receiver.setRemoteDescription(sender.localDescription)
            await receiver.setLocalDescription(await receiver.createAnswer())
            await sender.setRemoteDescription(receiver.localDescription)
            consumer = LatestFrameConsumer(await track)
    except BaseException:
        await asyncio.gather(sender.close(), receiver.close())
        source.stop()
        raise
    consumer.start()
    return RelayedCall(sender, receiver, source, consumer)


@contextlib.asynccontextmanager
async def relayed_call(turn: TurnServer) -> AsyncIterator[RelayedCall]:
    call = await open_call(turn)
    try:
        yield call
    finally:
        await call.close()


def candidate_types(pc: RTCPeerConnection) -> list[str]:
    """The types of the candidates a peer offered in its description."""
    lines = pc.localDescription.sdp.splitlines()
    return [line.split(" typ ")[1].split()[0] for line in lines if line.startswith("a=candidate:")]


def selected_pair(pc: RTCPeerConnection) -> Any:
    """The candidate pair aiortc's ICE nominated (aioice's; aiortc has no public API for it)."""
    ice = pc.getTransceivers()[0].receiver.transport.transport
    return ice._connection._nominated[1]


async def counters_received(video: LatestFrameConsumer, n: int) -> list[int]:
    """The frame counters of the next ``n`` frames that arrive (each read as it is the latest); every one
    must carry its counter intact."""
    counters: list[int] = []
    for _ in range(n):
        frame = await video.wait_for_frames(video.frame_count + 1, CONNECT_S)
        assert isinstance(frame, VideoFrame)
        counter = read_frame_counter(frame)
        assert counter is not None, f"frame {len(counters)} arrived without a readable counter"
        counters.append(counter)
    return counters


async def wait_for_stall(video: LatestFrameConsumer, timeout: float) -> None:
    """Wait until no frame has arrived for ``QUIET_S`` (bounded by ``timeout``)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                await video.wait_for_frames(video.frame_count + 1, QUIET_S)
            except TimeoutError:
                return


@pytest.mark.parametrize("auth", list(TurnAuth))
async def test_relay_only_peers_carry_video_through_the_turn_server(tmp_path: Path, auth: TurnAuth) -> None:
    async with TurnServer(tmp_path, auth=auth) as turn, relayed_call(turn) as call:
        counters = await counters_received(call.video, 15)

        assert candidate_types(call.sender) == ["relay"]
        assert candidate_types(call.receiver) == ["relay"]
        sent, received = selected_pair(call.sender), selected_pair(call.receiver)
        assert (sent.local_candidate.type, sent.remote_candidate.type) == ("relay", "relay")
        assert sent.local_addr == received.remote_addr  # one relayed path, seen from both ends
        assert all(b > a for a, b in itertools.pairwise(counters)), counters


async def test_the_relay_refuses_an_expired_rest_credential(tmp_path: Path) -> None:
    async with TurnServer(tmp_path) as turn:
        stale = RTCConfiguration(
            iceServers=[turn.ice_server(ttl_s=-60)], iceTransportPolicy=RTCIceTransportPolicy.RELAY
        )
        pc = RTCPeerConnection(stale)
        try:
            pc.addTransceiver("video", direction="recvonly")
            async with asyncio.timeout(CONNECT_S):
                await pc.setLocalDescription(await pc.createOffer())

            assert candidate_types(pc) == []  # no allocation, so nothing a relay-only peer could use
        finally:
            await pc.close()


async def test_video_stops_when_the_relay_dies_and_flows_through_new_connections_once_it_is_back(
    tmp_path: Path,
) -> None:
    async with TurnServer(tmp_path) as turn:
        broken = await open_call(turn)
        try:
            await broken.video.wait_for_frames(10, CONNECT_S)

            await turn.stop()
            stopped_at = time.monotonic()
            await wait_for_stall(broken.video, STALL_S)
            assert broken.video.last_frame_at is not None
            assert broken.video.last_frame_at - stopped_at < 0.5  # nothing got through once the relay died

            await turn.start()  # the same port: the kiosk's ICE servers are still right
            restarted_at = time.monotonic()
        finally:
            await broken.close()
        async with relayed_call(turn) as call:
            counters = await counters_received(call.video, 10)
            reconnect_s = time.monotonic() - restarted_at

    assert turn.starts == 2
    assert counters[0] < 30  # a new stream from a new source, not the broken call's
    assert reconnect_s < 5, f"frames flowed again {reconnect_s:.1f}s after the relay was back"


@pytest.mark.browser
async def test_chromium_relay_only_receives_the_kiosk_video_through_the_turn_server(tmp_path: Path) -> None:
    if not CHROMIUM.exists():  # `make test` installs Debian's chromium; a missing browser is a failure
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (or set KIOSK_ASSIST_CHROMIUM)")
    async with TurnServer(tmp_path) as turn, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        kiosk = RTCPeerConnection(relay_only(turn))
        source = SyntheticVideoTrack(width=320, height=240)
        try:
            page = await browser.new_page()
            offer = await page.evaluate(BROWSER_OFFER, [turn.browser_ice_server(name="agent")])
            await kiosk.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            kiosk.addTrack(source)
            async with asyncio.timeout(CONNECT_S):
                await kiosk.setLocalDescription(await kiosk.createAnswer())
            await page.evaluate(BROWSER_ANSWER, kiosk.localDescription.sdp)
            seen = await wait_until(lambda: _decoded_through_a_pair(page, 30), CONNECT_S, "frames decoded")
        finally:
            async with asyncio.timeout(5):
                await kiosk.close()
            source.stop()
            await browser.close()

    assert [line for line in offer.splitlines() if line.startswith("a=candidate:")]
    assert all(" typ relay " in line for line in offer.splitlines() if line.startswith("a=candidate:"))
    assert (seen["local"], seen["remote"]) == ("relay", "relay")
    assert candidate_types(kiosk) == ["relay"]
