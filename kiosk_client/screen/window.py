"""The kiosk's full-screen window: the pages, the panels over them, the keypad, and the kiosk program
behind them.

The window follows a ``KioskRunner``: its call events move the ``ScreenState`` on; the customer's choices
call the runner (ask for help, cancel, mute, chat, hang up, rate the call). It asks the customer before an
ID photo is taken (``runner.actions.consent``) and shows what the agent sends (a message, a document).
Pages that wait on the customer return to the start on their own, ready for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Literal

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeyEvent, QResizeEvent
from PySide6.QtWidgets import QPushButton, QStackedWidget, QVBoxLayout, QWidget

from kiosk_client.control import AgentAction, RequestIdPhoto, ShowDocument
from kiosk_client.host_events import HostEvents
from kiosk_client.screen.documents import DocumentError, fetch_document
from kiosk_client.screen.pages import (
    ENTER_KEYS,
    CallPage,
    Dialog,
    HomePage,
    Page,
    SurveyPage,
    ThanksPage,
    WaitingPage,
)
from kiosk_client.screen.state import ScreenState
from kiosk_client.screen.style import STYLE
from kiosk_client.screen.texts import Texts, languages
from kiosk_client.session import KioskRunner
from kiosk_client.signaling_client import SignalingError
from media import LatestFrameConsumer

log = logging.getLogger(__name__)

REFRESH_MS = 80
"""The call page redraws its videos 12.5 times a second (each time the newest frame only)."""
CONSENT_TIMEOUT_S = 60.0
"""A photo request the customer does not answer is refused."""
IDLE_RESET_MS = {"survey": 60_000, "thanks": 15_000}
"""Pages waiting on the customer go back to the start after this long (the customer may have left)."""


class KioskWindow(QWidget):
    def __init__(
        self, runner: KioskRunner, host_events: HostEvents | None = None, fault_topic: str = "other"
    ) -> None:
        super().__init__()
        self.setObjectName("kiosk-screen")
        self.setWindowTitle("Kiosk Assist")
        self.setStyleSheet(STYLE)
        self.runner = runner
        self.fault_topic = fault_topic
        """The topic of a call the customer accepts when the screen offers help for a fault."""
        self.state = ScreenState()
        self.default_language = runner.options.language if runner.options.language in languages() else "en"
        self.texts = Texts(self.default_language)
        self._tasks: set[asyncio.Task[None]] = set()
        self._self_view: LatestFrameConsumer | None = None
        self._consent: asyncio.Future[bool] | None = None
        self._dialog_kind: Literal["message", "document", "consent", "offer"] | None = None

        self.home = HomePage(self._ask_help, self._next_language)
        self.waiting = WaitingPage(lambda: self._run(runner.cancel_help()))
        self.call = CallPage(
            self._remote_frame,
            self._self_frame,
            toggle_mute=self._toggle_mute,
            toggle_camera=self._toggle_camera,
            hang_up=lambda: self._run(runner.hang_up()),
            send_chat=runner.send_chat,
        )
        for index, button in enumerate(self.call.quick):
            button.clicked.connect(lambda _=False, i=index: runner.send_chat(self.call.quick_reply(i)))
        self.survey = SurveyPage(self._rate, self.state.start_over)
        self.thanks = ThanksPage(self.state.start_over)
        self.pages: dict[str, Page] = {
            "offline": self.home,
            "home": self.home,
            "waiting": self.waiting,
            "call": self.call,
            "survey": self.survey,
            "thanks": self.thanks,
        }
        self.stack = QStackedWidget()
        for page in (self.home, self.waiting, self.call, self.survey, self.thanks):
            self.stack.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        self.dialog = Dialog("dialog", self)
        self.dialog.ok.clicked.connect(lambda: self._dialog_answer(True))
        self.dialog.other.clicked.connect(lambda: self._dialog_answer(False))

        self._refresh = QTimer(self)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self._redraw_videos)
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.timeout.connect(self.state.start_over)
        self._page = ""

        self.state.subscribe(self._render)
        runner.events.subscribe(self.state.kiosk_event)
        runner.actions.subscribe(self._agent_action)
        runner.actions.consent = self.ask_consent
        if host_events is not None:
            host_events.watch(self._host_event)
        self._render()

    # ------------------------------------------------------------------------------ drawing
    def _render(self) -> None:
        state = self.state
        welcome = self.runner.signaling.welcome
        if welcome is not None and tuple(welcome.topics) != state.topics:
            state.topics = tuple(welcome.topics)
        page = self.pages[state.page]
        page.show_state(self.texts, state)
        if self._page != state.page:
            self._entered(state.page)
        self.stack.setCurrentWidget(page)
        self._show_dialog()

    def _entered(self, page: str) -> None:
        left = self._page
        self._page = page
        if page == "call":
            self._start_self_view()
            self.call.show_privacy(self.texts, self.runner.privacy.microphone, self.runner.privacy.camera)
            self._refresh.start()
        elif left == "call":
            self._refresh.stop()
            self._stop_self_view()
        if page in ("home", "offline") and left not in ("home", "offline", ""):
            self._set_language(self.default_language)  # the next customer starts afresh
        if page in IDLE_RESET_MS:
            self._idle.start(IDLE_RESET_MS[page])
        else:
            self._idle.stop()
        if page == "survey":
            self.survey.comment.clear()
        target = self.pages[page]
        (target.keys.get(Qt.Key.Key_1) or target).setFocus()

    def _show_dialog(self) -> None:
        state, t = self.state, self.texts
        if state.consent is None and self._consent is not None and not self._consent.done():
            self._consent.set_result(False)  # the call ended while the customer was being asked
        if state.consent is not None:
            if self._dialog_kind != "consent":
                body = "\n\n".join(
                    (t("consent.asked"), t("consent.reason", reason=state.consent.reason), t("consent.hold"))
                )
                self._open("consent", t("consent.title"), body, t("consent.allow"), t("consent.deny"))
        elif state.message is not None:
            if self._dialog_kind != "message":
                self._open("message", t("message.title"), state.message.text, t("message.ok"))
        elif state.document is not None:
            if self._dialog_kind != "document":
                self._open_document(state.document)
        elif state.offer is not None and state.page == "home":
            if self._dialog_kind != "offer":
                body = t("home.offer.text", fault=state.offer)
                self._open(
                    "offer", t("home.offer.title"), body, t("home.offer.accept"), t("home.offer.decline")
                )
        elif self._dialog_kind is not None:
            self._dialog_kind = None
            self.dialog.hide()

    def _open(
        self, kind: Literal["message", "document", "consent", "offer"], *text: str, html: bool = False
    ) -> None:
        self._dialog_kind = kind
        title, body, ok, *other = text
        self.dialog.setProperty("kind", kind)
        self.dialog.open(title, body, ok, other[0] if other else None, html=html)

    def _open_document(self, document: ShowDocument) -> None:
        t = self.texts
        if document.text is not None:
            self._open("document", document.title, document.text, t("document.close"))
            return
        self._open("document", document.title, t("document.loading"), t("document.close"))
        assert document.url is not None
        self._run(self._load_document(document, document.url))

    async def _load_document(self, document: ShowDocument, path: str) -> None:
        o = self.runner.options
        try:
            body, html = await fetch_document(o.server, path, o.ca_file)
        except DocumentError as exc:
            log.warning("could not show the agent's document %s: %s", path, exc)
            body, html = self.texts("document.failed"), False
        if self.state.document is document:
            self._open("document", document.title, body, self.texts("document.close"), html=html)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._dialog_kind is not None:
            self._dialog_kind = None
            self._show_dialog()

    # ------------------------------------------------------------------------------ video
    def _remote_frame(self) -> object | None:
        peer = self.runner.peer
        consumer = peer.consumers.get("video") if peer is not None else None
        return consumer.latest if consumer is not None else None

    def _self_frame(self) -> object | None:
        return self._self_view.latest if self._self_view is not None else None

    def _start_self_view(self) -> None:
        if self._self_view is None:
            try:
                self._self_view = LatestFrameConsumer(self.runner.subscribe_camera())
            except (AssertionError, RuntimeError):  # no camera open (yet)
                return
            self._self_view.start()

    def _stop_self_view(self) -> None:
        consumer, self._self_view = self._self_view, None
        if consumer is not None:
            consumer.track.stop()
            self._run(consumer.stop())

    def _redraw_videos(self) -> None:
        self.call.remote.refresh()
        self.call.self_view.refresh()

    # ------------------------------------------------------------------------------ the customer
    def _ask_help(self, topic: str) -> None:
        fault = self.state.offer
        self.state.help_asked(topic)
        self._run(self.runner.request_help(topic, self.texts.language, {}, fault))

    def _next_language(self) -> None:
        spoken = languages()
        self._set_language(spoken[(spoken.index(self.texts.language) + 1) % len(spoken)])
        self._render()

    def _set_language(self, language: str) -> None:
        self.texts = Texts(language)
        for page in (self.home, self.waiting, self.call, self.survey, self.thanks):
            page.retranslate(self.texts, self.state)

    def _toggle_mute(self) -> None:
        privacy = self.runner.privacy
        self.runner.set_privacy(microphone=not privacy.microphone)
        self.call.show_privacy(self.texts, privacy.microphone, privacy.camera)

    def _toggle_camera(self) -> None:
        privacy = self.runner.privacy
        self.runner.set_privacy(camera=not privacy.camera)
        self.call.show_privacy(self.texts, privacy.microphone, privacy.camera)

    def _rate(self, rating: int, comment: str) -> None:
        self._run(self.runner.send_survey(rating, comment))

    def _dialog_answer(self, ok: bool) -> None:
        kind = self._dialog_kind
        if kind == "consent":
            if self._consent is not None and not self._consent.done():
                self._consent.set_result(ok)
        elif kind in ("message", "document"):
            self.state.dismiss(kind)
        elif kind == "offer":
            if ok:
                self._ask_help(self.fault_topic)
            else:
                self.state.offer_declined()

    async def ask_consent(self, request: RequestIdPhoto) -> bool:
        """The consent policy while the screen runs: the customer answers (no answer: refused)."""
        loop = asyncio.get_running_loop()
        self._consent = loop.create_future()
        self.state.asking_consent(request)
        try:
            async with asyncio.timeout(CONSENT_TIMEOUT_S):
                return await self._consent
        except TimeoutError:
            return False
        finally:
            self._consent = None
            self.state.asking_consent(None)

    def _agent_action(self, action: AgentAction) -> None:
        self.state.agent_action(action)

    def _host_event(self, record: dict[str, object]) -> None:
        if record.get("event") == "help_offered":
            self.state.help_offered(str(record.get("device_fault") or ""))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """The PIN pad: digits, Enter and Cancel press the button that carries them."""
        key = Qt.Key(event.key())
        keys = self.dialog.keys if self._dialog_kind is not None else self.pages[self.state.page].keys
        button = keys.get(key)
        if button is None and key in ENTER_KEYS:
            focused = self.focusWidget()
            button = focused if isinstance(focused, QPushButton) else None
        if button is not None and button.isVisible() and button.isEnabled():
            button.click()
            event.accept()
            return
        super().keyPressEvent(event)

    # ------------------------------------------------------------------------------ tasks
    def _run(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except (SignalingError, ConnectionError) as exc:  # reconnecting: the customer sees the banner
            log.warning("the service did not take the customer's request: %s", exc)

    async def aclose(self) -> None:
        self._refresh.stop()
        self._idle.stop()
        consumer, self._self_view = self._self_view, None
        if consumer is not None:
            consumer.track.stop()
            await consumer.stop()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
