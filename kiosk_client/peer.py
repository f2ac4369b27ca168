"""The kiosk's side of one call: an aiortc peer connection that offers video, audio, ``chat`` and ``control``.

aiortc gathers every ICE candidate before ``localDescription`` is set, so the offer carries them all; the
browser's trickled candidates, and its final end-of-candidates marker, are fed back with ``add_candidate``.
Remote media is consumed to the latest frame (or recorded), so nothing builds up in aiortc's queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from media import LatestFrameConsumer, MediaSource, Recorder
from signaling.protocol import IceCandidate, IceServer

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0


def ice_configuration(servers: list[IceServer]) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in servers]
    )


class KioskPeer:
    def __init__(
        self,
        source: MediaSource,
        ice_servers: list[IceServer],
        *,
        record_to: Path | None = None,
        on_chat: Callable[[str], None] | None = None,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        self.pc = RTCPeerConnection(ice_configuration(ice_servers))
        self._source = source
        self._record_to = record_to
        self._on_chat = on_chat or (lambda _text: None)
        self._on_state = on_state or (lambda _state: None)
        self.chat: RTCDataChannel = self.pc.createDataChannel("chat")
        self.control: RTCDataChannel = self.pc.createDataChannel("control")
        self.chat_open = asyncio.Event()
        self.consumers: dict[str, LatestFrameConsumer] = {}
        self.recorder: Recorder | None = Recorder(record_to) if record_to is not None else None
        self._recorder_started = False
        self._closed = False
        # fresh relay subscriptions per call, stopped when it ends, so nothing queues up between calls
        self._local_tracks = [source.subscribe_video(), source.subscribe_audio()]
        for track in self._local_tracks:
            self.pc.addTrack(track)
        self.chat.on("open", self.chat_open.set)
        self.chat.on("message", self._chat_message)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._state_changed)

    def _chat_message(self, message: str | bytes) -> None:
        self._on_chat(message.decode() if isinstance(message, bytes) else message)

    def _state_changed(self) -> None:
        self._on_state(self.pc.connectionState)

    def _on_track(self, track: MediaStreamTrack) -> None:
        log.info("receiving the agent's %s", track.kind)
        if self.recorder is not None:
            self.recorder.add_track(track)
        else:
            consumer = LatestFrameConsumer(track)
            consumer.start()
            self.consumers[track.kind] = consumer

    async def make_offer(self) -> str:
        offer = await self.pc.createOffer()
        await self.pc.setLocalDescription(offer)  # returns once ICE gathering is complete
        return str(self.pc.localDescription.sdp)

    async def apply_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        if self.recorder is not None and not self._recorder_started:
            self._recorder_started = True
            await self.recorder.start()

    async def add_candidate(self, candidate: IceCandidate | None) -> None:
        if candidate is None:
            await self.pc.addIceCandidate(None)
            return
        text = candidate.candidate.removeprefix("candidate:")
        if not text:  # an empty candidate string is the browser's end-of-generation marker
            return
        parsed = candidate_from_sdp(text)
        parsed.sdpMid = candidate.sdpMid
        parsed.sdpMLineIndex = candidate.sdpMLineIndex
        await self.pc.addIceCandidate(parsed)

    def send_chat(self, text: str) -> None:
        self.chat.send(text)

    async def close(self) -> None:
        """Close everything this call opened; idempotent and bounded."""
        if self._closed:
            return
        self._closed = True
        for consumer in self.consumers.values():
            await consumer.stop()
        if self.recorder is not None:
            await self.recorder.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.pc.close()
        for track in self._local_tracks:
            track.stop()
