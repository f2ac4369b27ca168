"""The wire protocol between kiosks, agent consoles and the signaling server.

Every message is a JSON object with a ``type`` tag. This module is the single place where messages are
defined, encoded and decoded; it imports nothing else of the server, so the kiosk client depends on it
alone. ``docs/protocol.md`` is generated from these types (``python -m signaling.protocol_docs``).
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal, TypeAlias

import msgspec

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Sdp = Annotated[str, msgspec.Meta(min_length=1, max_length=60000)]
Context = Annotated[dict[ShortText, Text], msgspec.Meta(max_length=32)]
ResumeToken = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53)]

SEQ_FIELD = '{"seq":'
"""Messages a party must not miss (everything about its calls and state) come numbered: ``seq`` is their
first field, counting up per party. Replies to the party's own requests (errors), its welcome and queue
position updates come unnumbered."""


class ErrorCode(enum.StrEnum):
    """Machine-readable reasons a message was refused."""

    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    TOO_LARGE = "too_large"
    UNSUPPORTED_VERSION = "unsupported_version"
    AUTH_REQUIRED = "auth_required"
    AUTH_FAILED = "auth_failed"
    FORBIDDEN = "forbidden"
    CROSS_SITE = "cross_site"
    """HTTP only: a state-changing request from another site, or without the session's CSRF token."""
    WRONG_STATE = "wrong_state"
    UNKNOWN_CALL = "unknown_call"
    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_DISPOSITION = "unknown_disposition"
    QUEUE_CLOSED = "queue_closed"
    QUEUE_FULL = "queue_full"
    AGENT_UNAVAILABLE = "agent_unavailable"
    ALREADY_CONNECTED = "already_connected"
    RATE_LIMITED = "rate_limited"
    ACCOUNT_LOCKED = "account_locked"
    KIOSK_DEGRADED = "kiosk_degraded"
    """The kiosk's own telemetry says its camera or microphone does not work: no video help until fixed."""
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class CallState(enum.StrEnum):
    QUEUED = "queued"
    RESERVED = "reserved"
    CONNECTING = "connecting"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    TIMED_OUT = "timed_out"
    FAILED = "failed"


TERMINAL_CALL_STATES = frozenset(
    {CallState.COMPLETED, CallState.ABANDONED, CallState.TIMED_OUT, CallState.FAILED}
)


class AgentState(enum.StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    AWAY = "away"
    RINGING = "ringing"
    IN_CALL = "in_call"
    WRAP_UP = "wrap_up"


class EndReason(enum.StrEnum):
    """Why a call reached its terminal state."""

    AGENT_HANGUP = "agent_hangup"
    KIOSK_HANGUP = "kiosk_hangup"
    KIOSK_CANCELLED = "kiosk_cancelled"
    KIOSK_DISCONNECTED = "kiosk_disconnected"
    AGENT_DISCONNECTED = "agent_disconnected"
    MEDIA_FAILED = "media_failed"
    KIOSK_REVOKED = "kiosk_revoked"
    """An administrator revoked the kiosk's credential."""
    KIOSK_CREDENTIAL_ROTATED = "kiosk_credential_rotated"
    """An administrator replaced the kiosk's secret; the connection that used the old one was closed."""


class SdpType(enum.StrEnum):
    OFFER = "offer"
    ANSWER = "answer"


class _Msg(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, omit_defaults=True):
    pass


class IceServer(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class IceCandidate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A trickled ICE candidate as the browser's ``RTCIceCandidate.toJSON()`` gives it."""

    candidate: Annotated[str, msgspec.Meta(max_length=1000)]
    sdpMid: str | None = None
    sdpMLineIndex: int | None = None
    usernameFragment: str | None = None


# ----------------------------------------------------------------------------------- both directions
class SessionDescription(_Msg, tag="sdp"):
    """An SDP offer (kiosk → agent) or answer (agent → kiosk), relayed by the server."""

    call_id: Id
    sdp_type: SdpType
    sdp: Sdp


class Ice(_Msg, tag="ice"):
    """A trickled ICE candidate; ``candidate: null`` is the end-of-candidates marker."""

    call_id: Id
    candidate: IceCandidate | None = None


class Hangup(_Msg, tag="hangup"):
    call_id: Id


# --------------------------------------------------------------------------------- kiosk → server
class KioskHello(_Msg, tag="hello"):
    """First message on ``/ws/kiosk``: the kiosk's device credential."""

    kiosk_id: Id
    secret: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    protocol: int = PROTOCOL_VERSION
    app_version: Annotated[str, msgspec.Meta(max_length=64)] = ""
    resume_token: ResumeToken | None = None
    """From the last ``welcome``, when reconnecting: resume that session."""
    last_seq: Seq = 0
    """The ``seq`` of the last message received in that session."""


class HelpRequest(_Msg, tag="help_request"):
    """Ask for a person. A device fault (reported by the kiosk's host) raises the call's priority."""

    topic: ShortText
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=16)] = "en"
    context: Context = {}
    device_fault: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class Cancel(_Msg, tag="cancel"):
    call_id: Id


class Heartbeat(_Msg, tag="heartbeat"):
    pass


class DeviceHealth(msgspec.Struct, forbid_unknown_fields=True):
    """A capture device as the kiosk last checked it."""

    present: bool
    """The device is there (plugged in, its node exists)."""
    working: bool
    """It opened and delivers (for a kiosk in a call: its frames still flow)."""
    detail: Annotated[str, msgspec.Meta(max_length=200)] = ""
    """Why it does not work, in words for IT (empty when it works)."""


NetworkKind: TypeAlias = Literal["ethernet", "wifi", "cellular", "vpn", "other"]


class NetworkInfo(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The kiosk's network link, as far as the kiosk can tell (the interface of its default route)."""

    kind: NetworkKind
    interface: Annotated[str, msgspec.Meta(max_length=32)] = ""


Fault = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
MAX_FAULTS = 16
MAX_UPTIME_S = 10 * 365 * 24 * 3600


class Telemetry(_Msg, tag="telemetry"):
    """The kiosk's device health, sent when it connects and then every ``telemetry_s`` of its welcome (5 s;
    it doubles as its heartbeat).
    A kiosk whose camera or microphone does not work is shown degraded and offers no video help (its
    ``help_request`` is refused with ``kiosk_degraded``) until a later report says they work."""

    camera: DeviceHealth
    microphone: DeviceHealth
    network: NetworkInfo | None = None
    """Omitted when the kiosk cannot tell."""
    app_version: Annotated[str, msgspec.Meta(max_length=64)] = ""
    uptime_s: Annotated[float, msgspec.Meta(ge=0, le=MAX_UPTIME_S)] = 0.0
    """How long the kiosk program has run."""
    cpu_pct: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    """The machine's CPU use over the last interval, all cores together (0-100)."""
    faults: Annotated[list[Fault], msgspec.Meta(max_length=MAX_FAULTS)] = []
    """Faults the kiosk's host machine reports (a jammed card reader, low cash…), as it words them."""


class MediaStatus(_Msg, tag="media_status"):
    """The kiosk's report, every few seconds in a call, of whether media flows both ways (heartbeats on the
    ``control`` data channel arrive). While it does, a call whose agent lost the server is kept."""

    call_id: Id
    flowing: bool


Ms = Annotated[float, msgspec.Meta(ge=0, le=60_000)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Fps = Annotated[float, msgspec.Meta(ge=0, le=240)]
Kbps = Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]
Pixels = Annotated[int, msgspec.Meta(ge=0, le=16384)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class QualityStats(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One party's view of its call over the last interval (5 s); a figure it cannot measure is omitted.

    Received media: ``fps``, ``bitrate_kbps``, ``width``/``height``, the loss figures (packets lost as a
    percentage of those sent in the interval). ``rtt_ms`` is the selected candidate pair's (or RTCP's)."""

    rtt_ms: Ms | None = None
    jitter_ms: Ms | None = None
    jitter_buffer_ms: Ms | None = None
    audio_loss_pct: Percent | None = None
    video_loss_pct: Percent | None = None
    packets_lost: Count | None = None
    """Packets lost since the call began (audio and video)."""
    fps: Fps | None = None
    bitrate_kbps: Kbps | None = None
    width: Pixels | None = None
    height: Pixels | None = None
    fps_sent: Fps | None = None
    bitrate_sent_kbps: Kbps | None = None
    freezes: Count | None = None
    """Video freezes since the call began (the browser's ``freezeCount``)."""
    candidate_type: Literal["host", "srflx", "prflx", "relay"] | None = None
    """The local candidate of the selected ICE pair."""
    limitation: Literal["none", "cpu", "bandwidth", "other"] | None = None
    """Why the sent video is held back (the browser's ``qualityLimitationReason``)."""
    cpu_pct: Annotated[float, msgspec.Meta(ge=0, le=6400)] | None = None
    """The sending program's own CPU use (100 = one core)."""


MAX_SURVEY_COMMENT = 500
Rating = Annotated[int, msgspec.Meta(ge=1, le=5)]


class Survey(_Msg, tag="survey"):
    """After the call: the customer's one-tap satisfaction rating (1-5) and an optional comment.
    Accepted from the call's own kiosk only, once, after the call ended (while the server still knows
    the call: a day). History keeps the comment only where customer context is kept (``store_context``)."""

    call_id: Id
    rating: Rating
    comment: Annotated[str, msgspec.Meta(max_length=MAX_SURVEY_COMMENT)] = ""


class CallStats(_Msg, tag="call_stats"):
    """Every 5 s during a call, from the kiosk and from the agent's console: how the call's media fares.
    Only the call's own parties may send it, and only while the call is connected (``connecting``)."""

    call_id: Id
    stats: QualityStats


# --------------------------------------------------------------------------------- agent → server
class SetState(_Msg, tag="set_state"):
    """Asked while ringing, in a call or in wrap-up, the change is kept and applied when that work ends."""

    state: Literal["available", "away", "offline"]
    reason: Annotated[str, msgspec.Meta(max_length=64)] = ""


class Accept(_Msg, tag="accept"):
    call_id: Id


class Decline(_Msg, tag="decline"):
    call_id: Id


class WrapUp(_Msg, tag="wrap_up"):
    call_id: Id
    disposition: ShortText
    notes: Text = ""


class ExtendWrapUp(_Msg, tag="extend_wrap_up"):
    """More time to wrap up the call (once per call)."""

    call_id: Id


class Transfer(_Msg, tag="transfer"):
    """Hand the call on, cold: to another queue (``to_topic``) and/or a named free agent (``to_agent``);
    the notes travel with the call. The kiosk stays connected."""

    call_id: Id
    to_topic: ShortText | None = None
    to_agent: Id | None = None
    notes: Text = ""


# --------------------------------------------------------------------------------- server → client
class Welcome(_Msg, tag="welcome"):
    """Sent once the connection is authenticated."""

    protocol: int
    identity: str
    role: Literal["kiosk", "agent", "supervisor", "admin"]
    display_name: str = ""
    topics: list[str] = []
    dispositions: list[str] = []
    agent_state: AgentState | None = None
    call_id: str | None = None
    """A live call this party resumes after reconnecting (its state follows in the next messages)."""
    resume_token: str = ""
    """Give it back (with the last ``seq`` received) when reconnecting, to resume this session."""
    last_seq: int = 0
    """The ``seq`` of the last message of this party before this welcome: a new session's messages count
    on from here; a resumed one's missed messages (``seq`` above the client's ``last_seq``) follow now."""
    resumed: bool = False
    """True: the session goes on; every message sent meanwhile follows, in order. False: a new session;
    whatever the client believed is replaced by the state this server tells it now."""
    telemetry_s: float | None = None
    """To a kiosk: send ``telemetry`` this often (seconds); a kiosk silent for three times as long is
    shown offline."""


class Queued(_Msg, tag="queued"):
    """The kiosk's call is waiting; sent on entry and whenever position or estimate change."""

    call_id: Id
    position: int
    estimated_wait_s: int


class AgentStateChanged(_Msg, tag="agent_state"):
    state: AgentState
    reason: str = ""
    call_id: str | None = None  # the call being offered, handled or wrapped up
    next_state: str | None = None
    """Asked for during the current work ("away:lunch", "offline"); applied when it ends."""
    wrap_up_ends_in_s: float | None = None
    """In wrap-up: when the server ends it on its own (the agent may extend it once)."""
    wrap_up_extendable: bool | None = None
    """In wrap-up: whether the agent may still ask for more time (``extend_wrap_up``)."""


class Offer(_Msg, tag="offer"):
    """A call ringing at this agent until ``expires_in_s`` runs out."""

    call_id: Id
    kiosk_id: Id
    location: str
    topic: str
    language: str
    waited_s: float
    expires_in_s: float
    context: dict[str, str] = {}
    priority: int = 0
    notes: str = ""
    """Notes from agents who transferred the call."""


class OfferRevoked(_Msg, tag="offer_revoked"):
    call_id: Id
    reason: str


class Ringing(_Msg, tag="ringing"):
    """To the kiosk: an agent is being rung for this call. The kiosk may prepare its peer connection and
    offer with these ICE servers now, so that media starts as soon as the agent accepts."""

    call_id: Id
    ice_servers: list[IceServer]
    ice_transport_policy: Literal["all", "relay"] = "all"
    """``relay``: use relayed (TURN) candidates only."""


class Transferring(_Msg, tag="transferring"):
    """To the kiosk: the agent handed the call on; stay connected, another agent will join."""

    call_id: Id
    to_topic: str


class AgentJoined(_Msg, tag="agent_joined"):
    """To the kiosk: an agent accepted; make the WebRTC offer with these ICE servers."""

    call_id: Id
    agent_name: str
    ice_servers: list[IceServer]
    ice_transport_policy: Literal["all", "relay"] = "all"
    """``relay``: use relayed (TURN) candidates only."""


class CallAccepted(_Msg, tag="call_accepted"):
    """To the agent: the accept took; expect the kiosk's SDP offer."""

    call_id: Id
    kiosk_id: Id
    ice_servers: list[IceServer]
    ice_transport_policy: Literal["all", "relay"] = "all"
    """``relay``: use relayed (TURN) candidates only."""


class CallEnded(_Msg, tag="call_ended"):
    call_id: Id
    state: CallState
    reason: str


WrapUpBy: TypeAlias = Literal["agent", "timer", "supervisor"]


class WrapUpDone(_Msg, tag="wrap_up_done"):
    call_id: Id
    by: WrapUpBy = "agent"
    """Who ended the wrap-up: the agent filing it, its timer running out, or a supervisor."""


class Error(_Msg, tag="error"):
    code: ErrorCode
    message: str
    ref: str | None = None  # the ``type`` of the message that was refused, when known


KioskInbound: TypeAlias = (
    KioskHello
    | HelpRequest
    | Cancel
    | Heartbeat
    | Telemetry
    | MediaStatus
    | CallStats
    | Survey
    | SessionDescription
    | Ice
    | Hangup
)
AgentInbound: TypeAlias = (
    SetState
    | Accept
    | Decline
    | SessionDescription
    | Ice
    | Hangup
    | WrapUp
    | ExtendWrapUp
    | Transfer
    | CallStats
    | Heartbeat
)
ServerMessage: TypeAlias = (
    Welcome
    | Queued
    | AgentStateChanged
    | Offer
    | OfferRevoked
    | Ringing
    | Transferring
    | AgentJoined
    | CallAccepted
    | SessionDescription
    | Ice
    | CallEnded
    | WrapUpDone
    | Error
)
Message: TypeAlias = KioskInbound | AgentInbound | ServerMessage


class ProtocolError(Exception):
    """A message that could not be accepted; carries the typed error to send back."""

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref

    def to_message(self) -> Error:
        return Error(code=self.code, message=self.message, ref=self.ref)


_encoder = msgspec.json.Encoder()
_kiosk_decoder = msgspec.json.Decoder(KioskInbound)
_agent_decoder = msgspec.json.Decoder(AgentInbound)
_server_decoder = msgspec.json.Decoder(ServerMessage)


def split_seq(raw: str) -> tuple[int | None, str]:
    """A received message's ``seq`` (None when unnumbered) and the message without it, to decode."""
    if not raw.startswith(SEQ_FIELD):
        return None, raw
    end = raw.find(",", len(SEQ_FIELD), len(SEQ_FIELD) + 20)
    if end < 0 or not raw[len(SEQ_FIELD) : end].isdigit():
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "malformed seq")
    return int(raw[len(SEQ_FIELD) : end]), "{" + raw[end + 1 :]


def encode(message: Message) -> str:
    return _encoder.encode(message).decode()


def _decode(decoder: msgspec.json.Decoder[Any], raw: str | bytes) -> Any:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"message exceeds {MAX_MESSAGE_BYTES} bytes")
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, str(exc), _peek_type(raw)) from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"not valid JSON: {exc}") from None


def _peek_type(raw: str | bytes) -> str | None:
    try:
        obj = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):  # a string of bytes that are not UTF-8
        return None
    kind = obj.get("type") if isinstance(obj, dict) else None
    return kind if isinstance(kind, str) else None


def decode_kiosk(raw: str | bytes) -> KioskInbound:
    result: KioskInbound = _decode(_kiosk_decoder, raw)
    return result


def decode_agent(raw: str | bytes) -> AgentInbound:
    result: AgentInbound = _decode(_agent_decoder, raw)
    return result


def decode_server(raw: str | bytes) -> ServerMessage:
    """A server message, numbered or not (see ``split_seq`` for its number)."""
    if isinstance(raw, str):
        raw = split_seq(raw)[1]
    result: ServerMessage = _decode(_server_decoder, raw)
    return result
