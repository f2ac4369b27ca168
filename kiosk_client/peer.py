"""The kiosk's side of one call: an aiortc peer connection that offers video, audio, ``chat`` and ``control``.

aiortc gathers every ICE candidate before ``localDescription`` is set, so the offer carries them all; the
browser's trickled candidates, and its final end-of-candidates marker, are fed back with ``add_candidate``.
Remote media is consumed to the latest frame (or recorded), so nothing builds up in aiortc's queues.

aiortc takes half a minute to notice a dead path (and about 90 s over a dead TURN relay), and has no ICE
restart. So both ends send a heartbeat on the ``control`` channel twice a second; ``alive`` is set when the
first arrives and ``lost`` when none has for ``SILENCE_S``; the call then goes on over a new peer connection
(kiosk_client/session.py). Candidates of an earlier connection (another ICE username fragment) are dropped.
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
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp

from kiosk_client.call_stats import CallStatsCollector, CountingTrack
from kiosk_client.control import CustomerPrivacy, encode_control
from media import DeviceUnavailable, LatestFrameConsumer, MediaSource, Recorder
from media.playback import Speaker
from media.privacy import GatedTrack, PrivacySwitches
from signaling.protocol import IceCandidate, IceServer

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0
HEARTBEAT_S = 0.5
SILENCE_S = 2.0
"""No heartbeat for this long: the media path is broken (detected within SILENCE_S + HEARTBEAT_S)."""
HEARTBEAT = '{"type":"heartbeat"}'


def ice_configuration(servers: list[IceServer], policy: str = "all") -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in servers],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY if policy == "relay" else RTCIceTransportPolicy.ALL,
    )


class KioskPeer:
    def __init__(
        self,
        source: MediaSource,
        ice_servers: list[IceServer],
        *,
        policy: str = "all",
        record_to: Path | None = None,
        on_chat: Callable[[str], None] | None = None,
        on_state: Callable[[str], None] | None = None,
        on_control: Callable[[str | bytes], None] | None = None,
        privacy: PrivacySwitches | None = None,
        speaker: str | None = None,
    ) -> None:
        self.pc = RTCPeerConnection(ice_configuration(ice_servers, policy))
        self._source = source
        self._record_to = record_to
        self._on_chat = on_chat or (lambda _text: None)
        self._on_state = on_state or (lambda _state: None)
        self._on_control = on_control or (lambda _message: None)
        """Every ``control`` message but heartbeats: the agent's actions (kiosk_client/control.py)."""
        self.chat: RTCDataChannel = self.pc.createDataChannel("chat")
        self.control: RTCDataChannel = self.pc.createDataChannel("control")
        self.chat_open = asyncio.Event()
        self.consumers: dict[str, LatestFrameConsumer] = {}
        self.recorder: Recorder | None = Recorder(record_to) if record_to is not None else None
        self._speaker_device = speaker
        self.speaker: Speaker | None = None
        """Plays the agent's voice on the kiosk's speaker (ALSA), when a speaker device is set."""
        self._recorder_started = False
        self._closed = False
        # fresh relay subscriptions per call, stopped when it ends, so nothing queues up between calls
        switches = self.privacy = privacy if privacy is not None else PrivacySwitches()
        self.sent_video = CountingTrack(GatedTrack(source.subscribe_video(), lambda: switches.camera))
        """The camera track as sent, counting its frames (for the call's quality reports)."""
        sent_audio = GatedTrack(source.subscribe_audio(), lambda: switches.microphone)
        self._local_tracks: list[MediaStreamTrack] = [self.sent_video, sent_audio]
        for track in self._local_tracks:
            self.pc.addTrack(track)
        self.chat.on("open", self.chat_open.set)
        self.chat.on("message", self._chat_message)
        self.alive = asyncio.Event()
        """The far end's first heartbeat arrived: media flows both ways."""
        self.lost = asyncio.Event()
        """Its heartbeats stopped: the path is broken."""
        self._heard_at = 0.0
        self._heartbeat: asyncio.Task[None] | None = None
        self.control.on("open", self._control_open)
        self.control.on("message", self._control_message)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._state_changed)

    def stats_collector(self) -> CallStatsCollector:
        """A reader of this connection's quality figures, from now on (``sample()`` every 5 s)."""
        return CallStatsCollector(self.pc, self.consumers, self.sent_video)

    def _control_open(self) -> None:
        self._heartbeat = asyncio.ensure_future(self._beat())
        if not (self.privacy.microphone and self.privacy.camera):  # a new connection of the same call
            self.send_privacy()

    def send_privacy(self) -> None:
        """Tell the agent whether the customer is muted or has the camera off."""
        if self.control.readyState == "open":
            message = CustomerPrivacy(microphone=self.privacy.microphone, camera=self.privacy.camera)
            self.control.send(encode_control(message))

    def _control_message(self, message: str | bytes) -> None:
        self._heard_at = asyncio.get_running_loop().time()
        self.alive.set()
        if message != HEARTBEAT:
            self._on_control(message)

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while not self._closed:
            if self.control.readyState == "open":
                self.control.send(HEARTBEAT)
            await asyncio.sleep(HEARTBEAT_S)  # the heartbeat's period
            last = self._heard_at if self.alive.is_set() else started
            if loop.time() - last > SILENCE_S and self.alive.is_set() and not self.lost.is_set():
                log.warning("no heartbeat from the agent's browser for %.1f s", loop.time() - last)
                self.lost.set()

    def _chat_message(self, message: str | bytes) -> None:
        self._on_chat(message.decode() if isinstance(message, bytes) else message)

    def _state_changed(self) -> None:
        self._on_state(self.pc.connectionState)

    def _on_track(self, track: MediaStreamTrack) -> None:
        log.info("receiving the agent's %s", track.kind)
        if self.recorder is not None:
            self.recorder.add_track(track)
        elif track.kind == "audio" and self._speaker_device is not None and self._play(track):
            return
        else:
            consumer = LatestFrameConsumer(track)
            consumer.start()
            self.consumers[track.kind] = consumer

    def _play(self, track: MediaStreamTrack) -> bool:
        assert self._speaker_device is not None
        speaker = Speaker(track, self._speaker_device)
        try:
            speaker.start()
        except DeviceUnavailable as exc:  # the call goes on: chat, video, and the agent hears the customer
            log.warning("the agent's voice cannot be played: %s", exc)
            return False
        self.speaker = speaker
        return True

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
        if not self._current(candidate):
            log.debug("dropping a candidate of an earlier connection")
            return
        parsed = candidate_from_sdp(text)
        parsed.sdpMid = candidate.sdpMid
        parsed.sdpMLineIndex = candidate.sdpMLineIndex
        await self.pc.addIceCandidate(parsed)

    def _current(self, candidate: IceCandidate) -> bool:
        """Whether the candidate belongs to this connection's answer (same ICE username fragment)."""
        remote = self.pc.remoteDescription
        if remote is None:
            return False
        if candidate.usernameFragment is None:
            return True
        return f"a=ice-ufrag:{candidate.usernameFragment}" in remote.sdp

    def send_chat(self, text: str) -> None:
        self.chat.send(text)

    async def close(self) -> None:
        """Close everything this call opened; idempotent and bounded."""
        if self._closed:
            return
        self._closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for consumer in self.consumers.values():
            await consumer.stop()
        if self.speaker is not None:
            await self.speaker.stop()
        if self.recorder is not None:
            await self.recorder.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.pc.close()
        for track in self._local_tracks:
            track.stop()
