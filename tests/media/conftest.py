"""Fixtures for the media tests: a real pair of aiortc peers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender

from media import SyntheticAudioTrack, SyntheticVideoTrack
from tests.media.media_test_support import Loopback


@pytest.fixture
async def loopback() -> AsyncIterator[Loopback]:
    """Synthetic kiosk media sent over VP8/Opus from one in-process peer to another."""
    # An empty ICE server list: aiortc's default would contact a public STUN server.
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    video_source, audio_source = SyntheticVideoTrack(), SyntheticAudioTrack()
    video = sender.addTransceiver(video_source, direction="sendonly")
    vp8 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/VP8"]
    video.setCodecPreferences(vp8)
    sender.addTransceiver(audio_source, direction="sendonly")
    try:
        async with asyncio.timeout(10):
            await sender.setLocalDescription(await sender.createOffer())  # waits for gathering
            await receiver.setRemoteDescription(sender.localDescription)
            await receiver.setLocalDescription(await receiver.createAnswer())
            await sender.setRemoteDescription(receiver.localDescription)
        remote = {t.receiver.track.kind: t.receiver.track for t in receiver.getTransceivers()}
        yield Loopback(sender, receiver, video_source, audio_source, remote["video"], remote["audio"])
    finally:
        async with asyncio.timeout(10):
            await sender.close()
            await receiver.close()
        video_source.stop()
        audio_source.stop()
