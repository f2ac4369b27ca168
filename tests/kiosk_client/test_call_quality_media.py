"""Call quality with real media: a kiosk program (aiortc) in a call reports the stats it measures, and a
path that loses packets (a UDP relay between the two peers that drops some of the media) raises an alert.

The relay sits in the middle of the only path: each side is told (by rewriting the candidates of the
offer and the answer) that the other is at the relay. It forwards ICE and DTLS untouched and drops a share
of the SRTP/SRTCP packets (first byte 128-191, RFC 7983), both ways.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from kiosk_client import session as kiosk_session
from kiosk_client.session import KioskOptions, KioskRunner
from media import LatestFrameConsumer, SyntheticAudioTrack, SyntheticVideoTrack
from signaling.protocol import Accept, CallAccepted, Ice, Offer, SdpType, SessionDescription, SetState
from signaling.settings import Settings
from tests.support import Client, RunningServer, connect_agent, wait_until

MEDIA_WAIT_S = 20.0
REPORT_S = 1.0
"""The kiosk reports every second here (5 s in service), so three samples take seconds, not 15 s."""
CANDIDATE = re.compile(r"^a=candidate:\S+ 1 udp \d+ (?P<ip>[\d.]+) (?P<port>\d+) typ host[^\r\n]*", re.M)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, quality_poor_samples=3)


@pytest.fixture(autouse=True)
def fast_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kiosk_session, "MEDIA_REPORT_S", REPORT_S)
    monkeypatch.setattr("kiosk_client.call_stats.MIN_INTERVAL_S", 0.5)


class _Side(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.on_datagram(data, addr)


@dataclass
class LossyRelay:
    """Two sockets: ``front`` faces the agent's peer, ``back`` the kiosk's; media packets are dropped
    with probability ``loss`` (seeded: the same packets each run)."""

    ip: str
    loss: float
    kiosk: tuple[str, int] | None = None
    agent: tuple[str, int] | None = None
    dropped: int = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._random = random.Random(7)
        self.front, _ = await loop.create_datagram_endpoint(lambda: _Side(self._from_agent), (self.ip, 0))
        self.back, _ = await loop.create_datagram_endpoint(lambda: _Side(self._from_kiosk), (self.ip, 0))

    def address(self, transport: Any) -> tuple[str, int]:
        host, port = transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def _drop(self, data: bytes) -> bool:
        if data and 128 <= data[0] <= 191 and self._random.random() < self.loss:
            self.dropped += 1
            return True
        return False

    def _from_agent(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.kiosk is not None and not self._drop(data):
            self.back.sendto(data, self.kiosk)

    def _from_kiosk(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.agent is not None and not self._drop(data):
            self.front.sendto(data, self.agent)

    def close(self) -> None:
        self.front.close()
        self.back.close()


def through_relay(sdp: str, to: tuple[str, int]) -> tuple[str, tuple[str, int]]:
    """The SDP with one host candidate left, moved to ``to``; and the address it had."""
    match = CANDIDATE.search(sdp)
    assert match is not None, "no UDP host candidate in the SDP"
    real = (match["ip"], int(match["port"]))
    kept = match[0].replace(f" {real[0]} {real[1]} ", f" {to[0]} {to[1]} ")
    lines = [kept if line == match[0] else line for line in sdp.split("\r\n")]
    lines = [line for line in lines if not line.startswith("a=candidate:") or line == kept]
    return "\r\n".join(lines), real


def host_ip() -> str:
    """The address aiortc's host candidates use here (its first IPv4 interface but loopback)."""
    import aioice.ice

    return next(a for a in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False))


class RelayedAgentPeer:
    """The agent's side (an aiortc peer standing in for the browser), reachable only through the relay."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.consumers: list[LatestFrameConsumer] = []
        self.pc.on("track", self._track)
        self.pc.on("datachannel", self._channel)

    def _track(self, track: Any) -> None:
        consumer = LatestFrameConsumer(track)
        consumer.start()
        self.consumers.append(consumer)

    def _channel(self, channel: Any) -> None:
        if channel.label == "control":  # answer the kiosk's heartbeats, as the console does
            channel.on("message", lambda _m: channel.send('{"type":"heartbeat"}'))

    async def answer(self, agent: Client, call_id: str, relay: LossyRelay) -> None:
        offer = await agent.expect(SessionDescription, where=lambda m: m.call_id == call_id)
        offer_sdp, relay.kiosk = through_relay(offer.sdp, relay.address(relay.front))
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        self.pc.addTrack(SyntheticVideoTrack(width=320, height=240))
        self.pc.addTrack(SyntheticAudioTrack())
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer_sdp, relay.agent = through_relay(self.pc.localDescription.sdp, relay.address(relay.back))
        await agent.send(SessionDescription(call_id=call_id, sdp_type=SdpType.ANSWER, sdp=answer_sdp))
        await agent.send(Ice(call_id=call_id, candidate=None))

    async def close(self) -> None:
        for consumer in self.consumers:
            await consumer.stop()
        async with asyncio.timeout(5):
            await self.pc.close()


@dataclass
class Call:
    call_id: str
    runner: KioskRunner
    relay: LossyRelay


@asynccontextmanager
async def _call(server: RunningServer, tmp_path: Path, loss: float) -> AsyncIterator[Call]:
    secret = await server.enroll("k-quality", "Main street")
    password = await server.add_agent("quinn", skills=("cash",))
    agent = await connect_agent(server, "quinn", password)
    await agent.send(SetState(state="available"))
    runner = KioskRunner(
        KioskOptions(server=server.url, kiosk_id="k-quality", secret=secret, request_help="cash")
    )
    kiosk_task = asyncio.create_task(runner.run())
    peer, relay = RelayedAgentPeer(), LossyRelay(ip=host_ip(), loss=loss)
    await relay.start()
    try:
        offer = await agent.expect(Offer)
        await agent.send(Accept(call_id=offer.call_id))
        accepted = await agent.expect(CallAccepted)
        await peer.answer(agent, accepted.call_id, relay)
        yield Call(accepted.call_id, runner, relay)
    finally:
        await runner.hang_up()
        await asyncio.wait_for(kiosk_task, MEDIA_WAIT_S)
        await peer.close()
        relay.close()
        await agent.close()


async def _kiosk_samples(server: RunningServer, call_id: str, n: int) -> list[dict[str, Any]] | None:
    samples = [s for s in await server.services.quality.samples(call_id) if s["party"] == "kiosk"]
    return samples if len(samples) >= n else None


async def test_a_kiosk_in_a_call_reports_the_media_it_measures(server: RunningServer, tmp_path: Path) -> None:
    async with _call(server, tmp_path, loss=0.0) as call:
        call_id = call.call_id
        samples = await wait_until(lambda: _kiosk_samples(server, call_id, 3), MEDIA_WAIT_S)
        last = samples[-1]
        assert last["fps"] > 10  # the agent's synthetic camera, decoded by the kiosk
        assert last["width"] == 320
        assert last["fps_sent"] > 10
        assert last["bitrate_kbps"] > 0
        assert last["cpu_pct"] > 0
        assert last["audio_loss_pct"] == 0
        assert last["mos"] > 4
        live = await server.services.quality.live_calls()
        assert [c["call_id"] for c in live] == [call.call_id]
        assert not await server.services.alerts.open()


async def test_a_call_over_a_lossy_path_raises_a_quality_alert(server: RunningServer, tmp_path: Path) -> None:
    async with _call(server, tmp_path, loss=0.3) as call:
        call_id = call.call_id

        async def alert() -> dict[str, Any] | None:
            alerts = await server.services.alerts.open()
            return next((a for a in alerts if a["call_id"] == call_id), None)

        raised = await wait_until(alert, MEDIA_WAIT_S, what="the quality alert")
        assert raised["kind"] == "call_quality"
        assert call.relay.dropped > 0
        samples = await server.services.quality.samples(call.call_id)
        poor = [s for s in samples if s["party"] == "kiosk" and s["mos"] is not None and s["mos"] < 3.1]
        assert len(poor) >= 3
        assert all(s["audio_loss_pct"] > 10 for s in poor)
