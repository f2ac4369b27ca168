"""What the agent may do on the kiosk, over the call's ``control`` data channel (which also carries both
ends' heartbeats).

Agent → kiosk: ``show_message {text}``, ``show_document {title, text | url}`` (``url``: a path on the
service's own origin, such as ``/documents/fees.html``), ``request_id_photo {request_id, reason}``.
Kiosk → agent: ``privacy {microphone, camera}`` when the customer mutes or turns the camera off or on.
Kiosk → agent, for a photo request: ``id_photo_refused {request_id, reason}``, or, only after the
customer's consent, ``id_photo {request_id, size, sha256, width, height, mime}`` followed by the JPEG in
binary messages of at most ``CHUNK_BYTES``, in order, ``size`` bytes in all (the channel is reliable and
ordered); the receiver checks the SHA-256 before showing it.

Every action received (photo requests included) is handed to ``AgentActions``' subscribers: the kiosk's
screen and its host API show or relay them. Consent is asked of ``AgentActions.consent``: headless, a fixed
policy (refuse unless configured otherwise); a screen replaces it with one that asks the customer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, Protocol, TypeAlias

import msgspec
from aiortc.mediastreams import MediaStreamTrack

from media.still import capture_frame, encode_jpeg

log = logging.getLogger(__name__)

CHUNK_BYTES = 16 * 1024
MAX_CONTROL_BYTES = 64 * 1024
RequestId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
SameOriginPath = Annotated[str, msgspec.Meta(max_length=500, pattern=r"^/(?![/\\])[^\s]*$")]


class _Control(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, omit_defaults=True):
    pass


class ControlHeartbeat(_Control, tag="heartbeat"):
    pass


class ShowMessage(_Control, tag="show_message"):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class ShowDocument(_Control, tag="show_document"):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    text: Annotated[str, msgspec.Meta(max_length=20000)] | None = None
    url: SameOriginPath | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.url is None):
            raise ValueError("a document has either text or a url")


class RequestIdPhoto(_Control, tag="request_id_photo"):
    request_id: RequestId
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class IdPhotoRefused(_Control, tag="id_photo_refused"):
    request_id: RequestId
    reason: str


class CustomerPrivacy(_Control, tag="privacy"):
    """Kiosk → agent: the customer muted or turned off the camera (sent on change, and when a new
    connection of the call opens while either is off)."""

    microphone: bool
    camera: bool


class IdPhoto(_Control, tag="id_photo"):
    request_id: RequestId
    size: int
    sha256: str
    width: int
    height: int
    mime: str = "image/jpeg"


AgentAction: TypeAlias = ShowMessage | ShowDocument | RequestIdPhoto
_decoder = msgspec.json.Decoder(ControlHeartbeat | ShowMessage | ShowDocument | RequestIdPhoto)
_encoder = msgspec.json.Encoder()


class ConsentPolicy(Protocol):
    """Asks the customer whether the agent may take a photo of their ID; True only on their consent."""

    def __call__(self, request: RequestIdPhoto) -> Awaitable[bool]: ...


async def refuse(request: RequestIdPhoto) -> bool:
    return False


async def grant(request: RequestIdPhoto) -> bool:
    """Headless kiosks configured to consent (demos, tests): there is no customer to ask."""
    return True


CONSENT_POLICIES: dict[str, ConsentPolicy] = {"refuse": refuse, "grant": grant}


class Channel(Protocol):
    """The part of an ``RTCDataChannel`` the photo is sent over."""

    @property
    def readyState(self) -> str: ...

    def send(self, data: str | bytes) -> None: ...


def encode_control(message: _Control) -> str:
    return _encoder.encode(message).decode()


def decode_action(raw: str | bytes) -> AgentAction | None:
    """An agent's action, or None for a heartbeat; ValueError for anything else."""
    if len(raw) > MAX_CONTROL_BYTES:
        raise ValueError("control message too large")
    try:
        message = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    return None if isinstance(message, ControlHeartbeat) else message


class AgentActions:
    """The agent's actions on this kiosk: decoded, handed to subscribers, photo requests carried out.

    ``subscribe(callback)`` is the hook for the kiosk's screen and host API; ``consent`` the policy asked
    before any photo is taken."""

    def __init__(self, camera: Callable[[], MediaStreamTrack], consent: ConsentPolicy = refuse) -> None:
        self._camera = camera
        """A new subscription to the kiosk's camera (stopped after one frame)."""
        self.consent = consent
        self._listeners: list[Callable[[AgentAction], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, listener: Callable[[AgentAction], None]) -> Callable[[], None]:
        """Call ``listener`` with every action the agent sends; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def receive(self, raw: str | bytes, channel: Channel) -> None:
        """One message from the agent's ``control`` channel."""
        try:
            action = decode_action(raw)
        except ValueError as exc:
            log.warning("ignoring a control message the kiosk does not understand: %s", exc)
            return
        if action is None:
            return
        for listener in list(self._listeners):
            listener(action)
        if isinstance(action, RequestIdPhoto):
            task = asyncio.create_task(self._photo(action, channel), name="kiosk-id-photo")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _photo(self, request: RequestIdPhoto, channel: Channel) -> None:
        if not await self.consent(request):
            _send(channel, IdPhotoRefused(request_id=request.request_id, reason="declined by the customer"))
            return
        track = self._camera()
        try:
            frame = await capture_frame(track)
        except (TimeoutError, TypeError) as exc:
            log.warning("no picture from the camera for the ID photo: %s", exc)
            _send(channel, IdPhotoRefused(request_id=request.request_id, reason="the camera gave no picture"))
            return
        finally:
            track.stop()
        jpeg = await asyncio.to_thread(encode_jpeg, frame)
        header = IdPhoto(
            request_id=request.request_id,
            size=len(jpeg),
            sha256=hashlib.sha256(jpeg).hexdigest(),
            width=frame.width,
            height=frame.height,
        )
        if _send(channel, header):
            for start in range(0, len(jpeg), CHUNK_BYTES):
                channel.send(jpeg[start : start + CHUNK_BYTES])

    async def drain(self) -> None:
        """Wait for the photo requests under way (tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _send(channel: Channel, message: _Control) -> bool:
    if channel.readyState != "open":
        return False
    channel.send(encode_control(message))
    return True


ConsentName: TypeAlias = Literal["refuse", "grant"]
