"""One kiosk's life on the service: sign in, ask for help, carry the call, report every event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiortc.mediastreams import MediaStreamTrack

from kiosk_client.call_stats import CallStatsCollector
from kiosk_client.control import CONSENT_POLICIES, AgentAction, AgentActions, ConsentName
from kiosk_client.events import EventLog, describe
from kiosk_client.peer import KioskPeer
from kiosk_client.resume_state import CallMedia
from kiosk_client.signaling_client import KioskSignaling, SignalingError, reconnect_delays
from kiosk_client.telemetry import CpuMeter, device_health, network_info, read_faults
from media import DeviceUnavailable, MediaSource, open_media, probe_device
from media.devices import DeviceReport, check_devices
from media.privacy import PrivacySwitches
from signaling.protocol import (
    MAX_FAULTS,
    AgentJoined,
    CallEnded,
    CallStats,
    Cancel,
    Error,
    Hangup,
    HelpRequest,
    Ice,
    IceServer,
    MediaStatus,
    Queued,
    Ringing,
    SdpType,
    ServerMessage,
    SessionDescription,
    Survey,
    Telemetry,
    Transferring,
)

log = logging.getLogger(__name__)

APP_VERSION = "0.1.0"
FIRST_CONNECT_S = 8.0
"""How long the first media connection of a call may take before the kiosk offers again."""
RECONNECT_CONNECT_S = 3.0
"""The same, for a connection that replaces a broken one."""
OFFER_GATHER_S = 3.0
MEDIA_REPORT_S = 5.0
TELEMETRY_S = 5.0
"""How often the kiosk checks its devices and reports its telemetry (also its heartbeat), unless the
server's welcome says otherwise."""


@dataclass(frozen=True)
class KioskOptions:
    server: str
    kiosk_id: str
    secret: str
    media: Literal["synthetic", "device"] = "synthetic"
    request_help: str | None = None
    language: str = "en"
    context: dict[str, str] = field(default_factory=dict)
    record_to: Path | None = None
    events: Path | None = None
    say: tuple[str, ...] = ()
    """Chat lines sent as soon as the chat channel opens (scripted kiosks, demos)."""
    echo_chat: bool = False
    """Answer every chat line the agent sends (demo kiosks)."""
    exit_after_call: bool = True
    show: Callable[[str], None] | None = None
    """Where to show what a customer reads (the text screen); None when headless."""
    ca_file: Path | None = None
    """The authority to trust for a ``wss://`` server; None: the system's."""
    video_device: str = "/dev/video0"
    """The camera, with ``media="device"`` (V4L2)."""
    audio_device: str = "default"
    """The microphone, with ``media="device"`` (ALSA)."""
    speaker_device: str | None = None
    """Where the agent's voice is played (ALSA); None: not played (synthetic media, test kiosks)."""
    faults_file: Path | None = None
    """Where the kiosk's host application writes its current faults, one a line (see telemetry.py)."""
    survey: tuple[int, str] | None = None
    """Headless runs: the satisfaction survey (rating 1-5, comment) sent when the call ends."""
    id_photo_consent: ConsentName = "refuse"
    """Headless runs: the answer to an agent's request for an ID photo (a screen asks the customer)."""


class KioskRunner:
    def __init__(self, options: KioskOptions, source: MediaSource | None = None) -> None:
        self.options = options
        self.events = EventLog(options.events, self._show if options.show else None)
        self._source = source
        self._owns_source = source is None
        self.signaling = KioskSignaling(
            options.server, options.kiosk_id, options.secret, APP_VERSION, ca_file=options.ca_file
        )
        self.peer: KioskPeer | None = None
        self.call_id: str | None = None
        self.result: CallEnded | None = None
        self.refusal: Error | None = None
        """Why the help request was refused (queue closed or full...), if it was."""
        self._offer: asyncio.Future[str] | None = None
        self._prepared_for: tuple[list[IceServer], str] | None = None
        self._media_watch: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.on_event: Callable[[str], None] | None = None
        self._failures: dict[str, DeviceUnavailable] = {}
        """Why each device that could not be opened failed ("video", "audio")."""
        self._cpu = CpuMeter()
        self._started = time.monotonic()
        self._reporter: asyncio.Task[None] | None = None
        self.resume_media: CallMedia | None = None
        """A call whose media an earlier run of this program carried (state file): offered again when the
        session resumes into it."""
        self.on_call_media: Callable[[CallMedia | None], None] | None = None
        """Told when a call's media starts and when the call ends (the state file keeps it)."""
        self.device_report: DeviceReport | None = None
        self.host_faults: Callable[[], list[str]] = list
        """The faults the host application reported through the host API (reported to IT with the
        faults file's)."""
        """What the start-up device check found (None until it ran, or with a source given)."""
        self.video_help: bool | None = None
        """Whether this kiosk's own devices allow video help, as its last check found (None: not checked)."""
        self.actions = AgentActions(self._camera, CONSENT_POLICIES[options.id_photo_consent])
        """The agent's actions on this kiosk (show a message or document, ask for an ID photo): the hook
        for the screen and the host API is ``actions.subscribe(callback)``; ``actions.consent`` asks
        the customer before a photo is taken."""
        self.actions.subscribe(self._action_received)
        self.privacy = PrivacySwitches()
        """The customer's mute and camera switches (the screen sets them; every connection of a call
        honours them)."""

    def _show(self, record: dict[str, Any]) -> None:
        text = describe(record)
        if text is not None and self.options.show is not None:
            self.options.show(text)

    async def run(self) -> CallEnded | None:
        """Run until the call ends (or forever when not asking for help); returns how the call ended."""
        try:
            if self._source is None:
                if self.options.media == "device":
                    await self._check_devices()
                await self._open_source()
            welcome = await self.signaling.connect()
            self.call_id = welcome.call_id  # a session resumed after a restart (state file) goes on
            self.events.write(
                "signed_in", kiosk_id=self.options.kiosk_id, resumed=welcome.resumed, call_id=welcome.call_id
            )
            await self._report()  # before any help request: the server judges it by this report
            await self._resume_call_media(welcome.call_id if welcome.resumed else None)
            self._reporter = asyncio.create_task(self._report_every(), name="kiosk-telemetry")
            o = self.options
            if o.request_help and self.call_id is None:
                await self.request_help(o.request_help, o.language, o.context)
            while True:
                async for message in self.signaling.messages():
                    if await self._handle(message):
                        return self.result
                if self.signaling.replaced:
                    self.events.write("error", code="replaced", message="another connection of this kiosk")
                    return self.result
                if not await self._reconnect() and self.options.exit_after_call:
                    return self.result
        finally:
            await self.close()

    async def _resume_call_media(self, call_id: str | None) -> None:
        """After a restart in the middle of a call: offer media again over a new connection (the agent's
        console swaps its connection, as after a broken path)."""
        saved, self.resume_media = self.resume_media, None
        if saved is None or call_id is None or saved.call_id != call_id:
            self._call_media(None)
            return
        self.events.write("media_resuming", call_id=call_id)
        ice = (saved.ice_servers, saved.ice_transport_policy)
        peer = await self._replace_peer(call_id, ice)
        self._media_watch = asyncio.create_task(self._keep_media(call_id, ice, peer, RECONNECT_CONNECT_S))

    def _call_media(self, call: CallMedia | None) -> None:
        if self.on_call_media is not None:
            try:
                self.on_call_media(call)
            except OSError as exc:  # a state file that cannot be written must not break the call
                log.warning("could not keep the call in the state file: %s", exc)

    async def _reconnect(self) -> bool:
        """The socket dropped: connect again with backoff. The server keeps this kiosk's queue place or
        call for its grace period (media, peer to peer, carries on meanwhile); False if the call is gone."""
        self.events.write("reconnecting", call_id=self.call_id)
        for delay in reconnect_delays():
            await asyncio.sleep(delay)  # backoff between attempts, not synchronisation
            try:
                welcome = await self.signaling.connect()
            except SignalingError as exc:
                if exc.fatal:
                    raise
                log.info("reconnect failed: %s", exc)
                continue
            self.events.write("reconnected", call_id=welcome.call_id, resumed=welcome.resumed)
            await self._report()
            if welcome.resumed:
                return True  # what the server said meanwhile follows (a call that ended says so)
            if self.call_id is not None and welcome.call_id != self.call_id:
                # the call ended while we were away (the grace period ran out, or the agent hung up)
                self.events.write("call_lost", call_id=self.call_id, reason="ended while disconnected")
                await self._end_peer()
                self.call_id = None
                return False
            return True
        raise AssertionError("reconnect_delays never ends")

    # ------------------------------------------------------------------------ devices and telemetry
    async def _open_source(self) -> None:
        """Open the camera and microphone (or synthetic stand-ins). A device that does not open is not
        fatal: the kiosk reports it (and offers no video help) and tries again at each check."""
        o = self.options
        if o.media == "synthetic":
            self._source = open_media("synthetic")
            return
        try:  # opening a device blocks: off the event loop
            self._source = await asyncio.to_thread(open_media, "device", o.video_device, o.audio_device)
            self._failures = {}
            return
        except DeviceUnavailable as exc:
            log.warning("%s", exc)
            self._failures = {exc.kind: exc}
        other: tuple[Literal["video", "audio"], str] = (
            ("audio", o.audio_device) if "video" in self._failures else ("video", o.video_device)
        )
        try:  # which of the two works too, for IT
            await asyncio.to_thread(probe_device, *other)
        except DeviceUnavailable as exc:
            self._failures[exc.kind] = exc

    async def _check_devices(self) -> None:
        """At start-up: which of the camera, microphone and speaker work (the log, the event log)."""
        o = self.options
        report = await asyncio.to_thread(
            check_devices, o.video_device, o.audio_device, o.speaker_device, media_kind=o.media
        )
        for line in report.lines():
            log.info("device check: %s", line)
        self.device_report = report
        self.events.write(
            "device_check",
            all_working=report.all_working,
            devices={
                c.role: {"device": c.device, "working": c.working, "detail": c.detail} for c in report.checks
            },
        )

    async def _recheck_devices(self) -> None:
        """Outside a call, open again devices that failed or stopped delivering."""
        source = self._source
        if self.options.media != "device" or not self._owns_source or self.peer is not None:
            return
        if source is not None and all(source.live):
            return
        if source is not None:
            self._source = None
            await source.close()
        await self._open_source()

    async def _report(self) -> None:
        """Send the kiosk's telemetry (a dropped connection skips it: the next one is sent on reconnect)."""
        o = self.options
        camera, microphone = device_health(
            o.media, self._source, self._failures, (o.video_device, o.audio_device)
        )
        self._video_help_is(camera.working and microphone.working, camera.detail or microphone.detail)
        telemetry = Telemetry(
            camera=camera,
            microphone=microphone,
            network=network_info(),
            app_version=APP_VERSION,
            uptime_s=round(time.monotonic() - self._started, 1),
            cpu_pct=self._cpu.sample(),
            faults=(read_faults(o.faults_file) + self.host_faults())[:MAX_FAULTS],
        )
        with contextlib.suppress(SignalingError, ConnectionError):
            await self.signaling.send(telemetry)

    async def _report_every(self) -> None:
        while True:
            welcome = self.signaling.welcome
            every = welcome.telemetry_s if welcome is not None and welcome.telemetry_s else TELEMETRY_S
            await asyncio.sleep(max(0.1, every))  # a periodic timer, not synchronisation
            try:
                await self._recheck_devices()
                await self._report()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round tries again; telemetry must not stop for good
                log.exception("device check or telemetry failed")

    def _video_help_is(self, available: bool, why: str) -> None:
        if available != self.video_help and (self.video_help is not None or not available):
            self.events.write("video_help", available=available, reason="" if available else why)
        self.video_help = available

    async def _handle(self, message: ServerMessage) -> bool:
        """Act on one server message; True when this run is over."""
        if isinstance(message, Queued):
            self.call_id = message.call_id
            self.events.write(
                "queued",
                call_id=message.call_id,
                position=message.position,
                estimated_wait_s=message.estimated_wait_s,
            )
        elif isinstance(message, Transferring):
            self.events.write("transferring", call_id=message.call_id, to_topic=message.to_topic)
            await self._end_peer()  # the next agent gets a fresh connection
        elif isinstance(message, Ringing):
            self.events.write("ringing", call_id=message.call_id)
            await self._prepare_call(message.call_id, (message.ice_servers, message.ice_transport_policy))
        elif isinstance(message, AgentJoined):
            await self._start_call(message)
        elif isinstance(message, SessionDescription) and message.sdp_type is SdpType.ANSWER and self.peer:
            try:
                await self.peer.apply_answer(message.sdp)
            except Exception as exc:  # an answer to an offer this kiosk has since replaced
                log.info("ignoring an answer that does not fit the current connection: %s", exc)
        elif isinstance(message, Ice) and self.peer is not None:
            await self.peer.add_candidate(message.candidate)
        elif isinstance(message, CallEnded):
            self.result = message
            self.events.write(
                "ended", call_id=message.call_id, state=message.state.value, reason=message.reason
            )
            await self._end_peer()
            self.privacy.microphone = self.privacy.camera = True  # the next customer starts unmuted
            self._call_media(None)
            if self.options.survey is not None:
                await self.send_survey(*self.options.survey)
            return self.options.exit_after_call
        elif isinstance(message, Error):
            self.events.write("error", code=message.code.value, message=message.message, ref=message.ref)
            log.warning("server refused a message: %s (%s)", message.message, message.code.value)
            if message.ref == "help_request":
                self.refusal = message
                return self.options.exit_after_call
        return False

    async def _prepare_call(self, call_id: str, ice: tuple[list[IceServer], str]) -> None:
        """While an agent is rung: build the peer connection and gather candidates for the offer."""
        self.call_id = call_id
        if self.peer is not None and self._offer is not None and self._prepared_for == ice:
            return  # rung again after a decline: the prepared offer still serves
        await self._end_peer()
        self.peer = self._new_peer(ice, record=True)
        self._prepared_for = ice
        self._offer = asyncio.ensure_future(self.peer.make_offer())

    def _new_peer(self, ice: tuple[list[IceServer], str], record: bool) -> KioskPeer:
        assert self._source is not None
        peer = KioskPeer(
            self._source,
            ice[0],
            policy=ice[1],
            record_to=self.options.record_to if record else None,
            on_chat=self._chat_received,
            on_state=self._peer_state,
            on_control=lambda message: self.actions.receive(message, peer.control),
            privacy=self.privacy,
            speaker=self.options.speaker_device,
        )
        peer.chat.on("open", self._chat_opened)
        return peer

    async def _start_call(self, joined: AgentJoined) -> None:
        self.events.write("agent_joined", call_id=joined.call_id, agent=joined.agent_name)
        ice = (joined.ice_servers, joined.ice_transport_policy)
        await self._prepare_call(joined.call_id, ice)  # a no-op when prepared while ringing
        assert self._offer is not None
        assert self.peer is not None
        sdp = await self._offer
        await self.signaling.send(SessionDescription(call_id=joined.call_id, sdp_type=SdpType.OFFER, sdp=sdp))
        self._media_watch = asyncio.create_task(self._keep_media(joined.call_id, ice, self.peer))
        self._call_media(CallMedia(joined.call_id, list(ice[0]), ice[1]))

    async def _keep_media(
        self, call_id: str, ice: tuple[list[IceServer], str], peer: KioskPeer, wait_s: float = FIRST_CONNECT_S
    ) -> None:
        """For the whole call: when the media path breaks (heartbeats stop) or a new connection does not
        come up in time, offer again over a new peer connection (aiortc has no ICE restart)."""
        lost_at: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with asyncio.timeout(wait_s):
                    await peer.alive.wait()
            except TimeoutError:
                log.info("call %s: no media after %.0f s; offering again", call_id, wait_s)
                if lost_at is None:  # never connected, or broken before the first heartbeat
                    lost_at = loop.time()
                    self.events.write("media_lost", call_id=call_id, reason="not_connected")
            else:
                if lost_at is not None:
                    took_ms = round((loop.time() - lost_at) * 1000)
                    self.events.write("media_restored", call_id=call_id, took_ms=took_ms)
                    lost_at = None
                await self._report_while_flowing(call_id, peer)
                lost_at = loop.time()
                self.events.write("media_lost", call_id=call_id)
                await self._report_media(call_id, flowing=False)
            wait_s = RECONNECT_CONNECT_S
            peer = await self._replace_peer(call_id, ice)

    async def _report_while_flowing(self, call_id: str, peer: KioskPeer) -> None:
        """Tell the server every few seconds that the media flows, until it stops: while it does, a call
        whose agent lost the server is kept (the two still talk peer to peer)."""
        collector = peer.stats_collector()
        while not peer.lost.is_set():
            await self._report_media(call_id, flowing=True)
            await self._report_stats(call_id, collector)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MEDIA_REPORT_S):
                    await peer.lost.wait()

    async def _report_media(self, call_id: str, *, flowing: bool) -> None:
        with contextlib.suppress(SignalingError, ConnectionError):  # reconnecting: the next report will do
            await self.signaling.send(MediaStatus(call_id=call_id, flowing=flowing))

    async def _report_stats(self, call_id: str, collector: CallStatsCollector) -> None:
        """The call's quality over the last interval (none the first time: no interval has passed)."""
        try:
            stats = await collector.sample()
        except (AttributeError, KeyError, ValueError) as exc:  # aiortc's stats of a closing connection
            log.debug("call %s: no stats this time (%r)", call_id, exc)
            return
        if stats is None:
            return
        with contextlib.suppress(SignalingError, ConnectionError):
            await self.signaling.send(CallStats(call_id=call_id, stats=stats))

    async def _replace_peer(self, call_id: str, ice: tuple[list[IceServer], str]) -> KioskPeer:
        old, self.peer = self.peer, self._new_peer(ice, record=False)
        self._offer, self._prepared_for = None, None
        if old is not None:  # over a dead path aiortc's close takes a minute: not on the way of the new one
            closing = asyncio.create_task(old.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        peer = self.peer
        try:
            async with asyncio.timeout(OFFER_GATHER_S):  # a TURN server that is down never answers
                sdp = await peer.make_offer()
            await self.signaling.send(SessionDescription(call_id=call_id, sdp_type=SdpType.OFFER, sdp=sdp))
        except (TimeoutError, SignalingError) as exc:
            log.info("call %s: could not offer again yet (%s)", call_id, exc or "timed out")
        except Exception:  # the next attempt starts afresh; the call must not lose its media for good
            log.exception("call %s: offering again failed", call_id)
        return peer

    def _discard_prepared(self) -> None:
        if self._offer is not None:
            self._offer.cancel()
            self._offer = None
        self._prepared_for = None

    def _chat_opened(self) -> None:
        for line in self.options.say:
            self.send_chat(line)

    def _chat_received(self, text: str) -> None:
        self.events.write("chat_received", call_id=self.call_id, text=text)
        if self.options.echo_chat:
            self.send_chat(f"Thank you, I read: {text}")

    def _peer_state(self, state: str) -> None:
        if state in ("connected", "failed"):
            self.events.write(state, call_id=self.call_id)

    def send_chat(self, text: str) -> None:
        if self.peer is not None and self.peer.chat.readyState == "open":
            self.peer.send_chat(text)
            self.events.write("chat_sent", call_id=self.call_id, text=text)

    def _camera(self) -> MediaStreamTrack:
        assert self._source is not None
        return self._source.subscribe_video()

    def _action_received(self, action: AgentAction) -> None:
        self.events.write("agent_action", call_id=self.call_id, action=action.__struct_config__.tag)

    async def send_survey(self, rating: int, comment: str = "") -> None:
        """The customer's rating (1-5) of the call that just ended, with an optional comment (the kiosk
        screen calls this; a refusal comes back as an ``error`` event)."""
        if self.call_id is not None:
            await self.signaling.send(Survey(call_id=self.call_id, rating=rating, comment=comment))
            self.events.write("survey_sent", call_id=self.call_id, rating=rating)

    async def faults_changed(self) -> None:
        """The host reported or cleared a fault (host API): IT sees it now, not at the next report."""
        await self._report()

    async def request_help(
        self, topic: str, language: str, context: dict[str, str], device_fault: str | None = None
    ) -> None:
        """Ask for a person (the host API calls this too); a device fault raises the call's priority."""
        await self.signaling.send(
            HelpRequest(topic=topic, language=language, context=context, device_fault=device_fault)
        )

    async def cancel_help(self) -> None:
        """The customer stopped waiting: the call leaves the queue (it ends as abandoned)."""
        if self.call_id is not None:
            await self.signaling.send(Cancel(call_id=self.call_id))

    def set_privacy(self, *, microphone: bool | None = None, camera: bool | None = None) -> None:
        """The customer's mute and camera switches (the screen's buttons); the agent is told."""
        if microphone is not None:
            self.privacy.microphone = microphone
        if camera is not None:
            self.privacy.camera = camera
        self.events.write(
            "privacy", call_id=self.call_id, microphone=self.privacy.microphone, camera=self.privacy.camera
        )
        if self.peer is not None:
            self.peer.send_privacy()

    def subscribe_camera(self) -> MediaStreamTrack:
        """A new subscription to the kiosk's camera (the screen's self-view); stop it when done."""
        return self._camera()

    async def hang_up(self) -> None:
        if self.call_id is not None:
            await self.signaling.send(Hangup(call_id=self.call_id))

    async def _end_peer(self) -> None:
        if self._media_watch is not None:
            self._media_watch.cancel()
            self._media_watch = None
        self._discard_prepared()
        if self.peer is not None:
            await self.peer.close()
            self.peer = None

    async def close(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter
            self._reporter = None
        await self._end_peer()
        await self.actions.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        await self.signaling.close()
        if self._owns_source and self._source is not None:
            await self._source.close()
            self._source = None
