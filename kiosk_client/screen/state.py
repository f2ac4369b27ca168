"""What the kiosk's screen shows, derived from the kiosk's call events and the agent's actions (no Qt).

The window draws a ``ScreenState`` and calls its methods for what the customer does; the kiosk program's
events (``EventLog.subscribe``) move it on. Keeping this apart from the widgets lets the flow be reasoned
about, and tested, on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from kiosk_client.control import AgentAction, RequestIdPhoto, ShowDocument, ShowMessage

Page = Literal["offline", "home", "waiting", "call", "survey", "thanks"]
WaitPhase = Literal["sending", "queued", "ringing", "transferring"]
Link = Literal["ok", "reconnecting", "media_lost"]

_ENDINGS = {
    "kiosk_cancelled": "thanks.cancelled",
    "timed_out": "thanks.unanswered",
    "failed": "thanks.lost",
}


@dataclass(frozen=True)
class ChatLine:
    who: Literal["you", "agent"]
    text: str


@dataclass
class ScreenState:
    page: Page = "offline"
    topics: tuple[str, ...] = ()
    topic: str | None = None
    phase: WaitPhase = "sending"
    position: int | None = None
    estimated_wait_s: int | None = None
    agent: str | None = None
    media_connected: bool = False
    link: Link = "ok"
    chat: list[ChatLine] = field(default_factory=list)
    thanks: str = "thanks.ended"
    """The text key of the thank-you page (how the call ended)."""
    refusal: str | None = None
    """Why the last help request was refused (shown on the home page)."""
    video_help: bool = True
    offer: str | None = None
    """A fault the host reported: the home page offers help for it."""
    message: ShowMessage | None = None
    document: ShowDocument | None = None
    consent: RequestIdPhoto | None = None
    _listeners: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # ------------------------------------------------------------------ the kiosk program's events
    def kiosk_event(self, record: dict[str, Any]) -> None:
        handler = getattr(self, "_on_" + record["event"], None)
        if handler is not None:
            handler(record)
            self._changed()

    def _on_signed_in(self, record: dict[str, Any]) -> None:
        self.link = "ok"
        if self.page == "offline":
            self.page = "waiting" if record.get("call_id") else "home"
            self.phase = "queued"

    def _on_reconnecting(self, record: dict[str, Any]) -> None:
        self.link = "reconnecting"

    def _on_reconnected(self, record: dict[str, Any]) -> None:
        self.link = "ok"
        if self.page == "offline":
            self.page = "home"

    def _on_queued(self, record: dict[str, Any]) -> None:
        self.page, self.phase = "waiting", "queued"
        self.position, self.estimated_wait_s = record["position"], record["estimated_wait_s"]

    def _on_ringing(self, record: dict[str, Any]) -> None:
        self.page, self.phase = "waiting", "ringing"

    def _on_transferring(self, record: dict[str, Any]) -> None:
        self.page, self.phase = "waiting", "transferring"
        self.media_connected = False

    def _on_agent_joined(self, record: dict[str, Any]) -> None:
        if self.page != "call":
            self.chat = []
        self.page, self.agent, self.media_connected = "call", record.get("agent") or None, False

    def _on_connected(self, record: dict[str, Any]) -> None:
        self.media_connected, self.link = True, "ok"

    def _on_media_lost(self, record: dict[str, Any]) -> None:
        if self.link == "ok":
            self.link = "media_lost"

    def _on_media_restored(self, record: dict[str, Any]) -> None:
        self.link = "ok"

    def _on_chat_received(self, record: dict[str, Any]) -> None:
        self.chat.append(ChatLine("agent", record.get("text", "")))

    def _on_chat_sent(self, record: dict[str, Any]) -> None:
        self.chat.append(ChatLine("you", record.get("text", "")))

    def _on_ended(self, record: dict[str, Any]) -> None:
        talked = self.page == "call"
        self._clear_call()
        if talked and record.get("state") == "completed":
            self.page = "survey"
            return
        self.page = "thanks"
        self.thanks = _ENDINGS.get(
            record.get("reason", ""), _ENDINGS.get(record.get("state", ""), "thanks.ended")
        )

    def _on_call_lost(self, record: dict[str, Any]) -> None:
        self._clear_call()
        self.page, self.thanks = "thanks", "thanks.lost"

    def _on_error(self, record: dict[str, Any]) -> None:
        if record.get("ref") == "help_request":
            self._clear_call()
            self.page, self.refusal = "home", record.get("message") or "error"

    def _on_video_help(self, record: dict[str, Any]) -> None:
        self.video_help = bool(record.get("available"))

    def _on_survey_sent(self, record: dict[str, Any]) -> None:
        self.page, self.thanks = "thanks", "thanks.survey"

    def _clear_call(self) -> None:
        self.message = self.document = self.consent = None
        self.position = self.estimated_wait_s = None
        self.media_connected, self.link = False, "ok"

    # ------------------------------------------------------------------ the agent's actions
    def agent_action(self, action: AgentAction) -> None:
        if isinstance(action, ShowMessage):
            self.message = action
        elif isinstance(action, ShowDocument):
            self.document = action
        else:
            return  # a photo request is asked through ``asking_consent``
        self._changed()

    def asking_consent(self, request: RequestIdPhoto | None) -> None:
        self.consent = request
        self._changed()

    # ------------------------------------------------------------------ what the customer does
    def help_asked(self, topic: str) -> None:
        self.page, self.phase, self.topic = "waiting", "sending", topic
        self.refusal = self.offer = None
        self._changed()

    def help_offered(self, fault: str) -> None:
        if self.page in ("home", "thanks", "offline"):
            self.offer = fault
            self._changed()

    def offer_declined(self) -> None:
        self.offer = None
        self._changed()

    def dismiss(self, what: Literal["message", "document"]) -> None:
        setattr(self, what, None)
        self._changed()

    def start_over(self) -> None:
        """Back to the first page for the next customer."""
        self._clear_call()
        self.page, self.topic, self.agent, self.chat = "home", None, None, []
        self.refusal = None
        self._changed()
