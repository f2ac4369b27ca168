"""A stand-in for the agent's browser in Python tests: a real aiortc peer that answers the kiosk's offer."""

from __future__ import annotations

import asyncio
import contextlib

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from media import LatestFrameConsumer, SyntheticAudioTrack, SyntheticVideoTrack
from signaling.protocol import CallAccepted, Ice, SdpType, SessionDescription
from tests.support import Client


class AgentPeer:
    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no public STUN: local only
        self.video = SyntheticVideoTrack(width=320, height=240)
        self.audio = SyntheticAudioTrack()
        self.consumers: dict[str, LatestFrameConsumer] = {}
        self.chat_received: asyncio.Queue[str] = asyncio.Queue()
        self.chat: RTCDataChannel | None = None
        self.chat_open = asyncio.Event()
        self.control: RTCDataChannel | None = None
        self.control_received: asyncio.Queue[str | bytes] = asyncio.Queue()
        """Every ``control`` message but heartbeats (the kiosk's answers to the agent's actions)."""
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_channel)

    def _on_track(self, track: MediaStreamTrack) -> None:
        consumer = LatestFrameConsumer(track)
        consumer.start()
        self.consumers[track.kind] = consumer

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label == "chat":
            self.chat = channel
            channel.on("message", lambda m: self.chat_received.put_nowait(m))
            self.chat_open.set()
        elif channel.label == "control":  # answer the kiosk's heartbeats, as the console does
            self.control = channel
            channel.on("message", self._control_message)

    def _control_message(self, message: str | bytes) -> None:
        if message == '{"type":"heartbeat"}':
            assert self.control is not None
            self.control.send(message)
        else:
            self.control_received.put_nowait(message)

    async def answer(self, agent: Client, accepted: CallAccepted) -> None:
        """Wait for the kiosk's offer, answer it with media, and send the end-of-candidates marker."""
        offer = await agent.expect(SessionDescription, where=lambda m: m.call_id == accepted.call_id)
        assert offer.sdp_type is SdpType.OFFER
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        self.pc.addTrack(self.video)
        self.pc.addTrack(self.audio)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        sdp = self.pc.localDescription.sdp
        await agent.send(SessionDescription(call_id=accepted.call_id, sdp_type=SdpType.ANSWER, sdp=sdp))
        await agent.send(Ice(call_id=accepted.call_id, candidate=None))

    async def close(self) -> None:
        for consumer in self.consumers.values():
            await consumer.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.pc.close()
