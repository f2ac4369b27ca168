"""The pages of the kiosk's screen, each a widget that draws one part of ``ScreenState``.

Every button the customer can press carries a keypad number (or Enter / Cancel), so a customer who uses
the machine's PIN pad reaches everything a touch does: ``Page.keys`` maps keys to buttons, and the window
presses the button for a key. ``retranslate`` sets every text in the chosen language; ``show_state``
draws the state.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from kiosk_client.screen.state import ScreenState
from kiosk_client.screen.texts import Texts
from kiosk_client.screen.video import FrameSource, VideoView

CHAT_WIDTH = 340
MAX_TOPICS = 8
"""Topics numbered 1-8 on the keypad; 0 changes the language."""
DIGITS = [getattr(Qt.Key, f"Key_{n}") for n in range(10)]
ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
CANCEL_KEYS = (Qt.Key.Key_Escape, Qt.Key.Key_Cancel)


def _label(name: str, role: str = "") -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    if role:
        label.setProperty("role", role)
    return label


def _button(name: str, role: str = "") -> QPushButton:
    button = QPushButton()
    button.setObjectName(name)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    if role:
        button.setProperty("role", role)
    return button


def keyed(key: str, text: str) -> str:
    """A button's text with the keypad key that presses it."""
    return f"{key}  {text}"


class Page(QWidget):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.keys: dict[Qt.Key, QPushButton] = {}

    def retranslate(self, t: Texts, state: ScreenState) -> None:
        raise NotImplementedError

    def show_state(self, t: Texts, state: ScreenState) -> None:
        self.retranslate(t, state)


class HomePage(Page):
    def __init__(self, ask: Callable[[str], None], switch_language: Callable[[], None]) -> None:
        super().__init__("home")
        self._ask = ask
        self.title = _label("home-title", "title")
        self.subtitle = _label("home-subtitle", "subtitle")
        self.notice = _label("home-notice", "notice")
        self.language = _button("language", "secondary")
        self.language.clicked.connect(switch_language)
        self.keys[Qt.Key.Key_0] = self.language
        self._grid = QGridLayout()
        self._grid.setSpacing(24)
        self.topic_buttons: dict[str, QPushButton] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(64, 32, 64, 32)
        layout.setSpacing(20)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.notice)
        layout.addLayout(self._grid, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.language)
        layout.addLayout(row)

    def _set_topics(self, topics: tuple[str, ...]) -> None:
        if tuple(self.topic_buttons) == topics[:MAX_TOPICS]:
            return
        for button in self.topic_buttons.values():
            self._grid.removeWidget(button)
            button.deleteLater()
        self.topic_buttons = {}
        self.keys = {Qt.Key.Key_0: self.language}
        for index, topic in enumerate(topics[:MAX_TOPICS]):
            button = _button(f"topic-{topic}", "topic")
            button.clicked.connect(lambda _=False, chosen=topic: self._ask(chosen))
            self._grid.addWidget(button, index // 2, index % 2)
            self.topic_buttons[topic] = button
            self.keys[DIGITS[index + 1]] = button

    def retranslate(self, t: Texts, state: ScreenState) -> None:
        self._set_topics(state.topics)
        self.title.setText(t("home.title"))
        self.subtitle.setText(t("home.subtitle"))
        for index, (topic, button) in enumerate(self.topic_buttons.items()):
            button.setText(keyed(str(index + 1), t.topic(topic)))
        self.language.setText(keyed("0", t("home.language") + ": " + t("language.name")))

    def show_state(self, t: Texts, state: ScreenState) -> None:
        self.retranslate(t, state)
        if state.page == "offline" or state.link == "reconnecting":
            notice = t("offline")
        elif state.refusal is not None:
            notice = t("refused", message=state.refusal)
        elif not state.video_help:
            notice = t("home.unavailable")
        else:
            notice = ""
        self.notice.setText(notice)
        self.notice.setVisible(bool(notice))
        for button in self.topic_buttons.values():
            button.setEnabled(state.page == "home" and state.link != "reconnecting")


class WaitingPage(Page):
    def __init__(self, cancel: Callable[[], None]) -> None:
        super().__init__("waiting")
        self.title = _label("waiting-title", "title")
        self.position = _label("waiting-position", "big")
        self.estimate = _label("waiting-estimate", "subtitle")
        self.cancel = _button("waiting-cancel", "danger")
        self.cancel.clicked.connect(cancel)
        for key in CANCEL_KEYS:
            self.keys[key] = self.cancel
        layout = QVBoxLayout(self)
        layout.setContentsMargins(64, 64, 64, 64)
        layout.setSpacing(36)
        layout.addWidget(self.title)
        layout.addStretch(1)
        layout.addWidget(self.position)
        layout.addWidget(self.estimate)
        layout.addStretch(1)
        layout.addWidget(self.cancel, 0, Qt.AlignmentFlag.AlignHCenter)

    def retranslate(self, t: Texts, state: ScreenState) -> None:
        self.title.setText(t("waiting.title"))
        self.cancel.setText(t("waiting.cancel"))

    def show_state(self, t: Texts, state: ScreenState) -> None:
        self.retranslate(t, state)
        position, estimate = "", ""
        if state.phase == "sending":
            position = t("waiting.sending")
        elif state.phase == "ringing":
            position = t("waiting.ringing")
        elif state.phase == "transferring":
            position = t("waiting.transferring")
        elif state.position is not None:
            position = (
                t("waiting.position", position=state.position) if state.position > 1 else t("waiting.next")
            )
            if state.position == 0:
                position = t("waiting.connecting")
            wait = state.estimated_wait_s or 0
            estimate = t("waiting.eta_soon") if wait < 60 else t("waiting.eta", minutes=round(wait / 60))
        self.position.setText(position)
        self.estimate.setText(estimate)
        self.cancel.setEnabled(state.phase != "transferring")


class CallPage(Page):
    QUICK_REPLIES = ("call.quick.yes", "call.quick.no", "call.quick.repeat")

    def __init__(
        self,
        remote: FrameSource,
        self_view: FrameSource,
        *,
        toggle_mute: Callable[[], None],
        toggle_camera: Callable[[], None],
        hang_up: Callable[[], None],
        send_chat: Callable[[str], None],
    ) -> None:
        super().__init__("call")
        self._send_chat = send_chat
        self.remote = VideoView(remote)
        self.remote.setObjectName("remote-video")
        self.self_view = VideoView(self_view)
        self.self_view.setObjectName("self-view")
        self.self_view.setFixedSize(288, 216)
        self.banner = _label("call-banner", "banner")
        self.who = _label("call-with", "subtitle")
        self.mute = _button("mute", "secondary")
        self.mute.clicked.connect(toggle_mute)
        self.camera = _button("camera", "secondary")
        self.camera.clicked.connect(toggle_camera)
        self.end = _button("hang-up", "danger")
        self.end.clicked.connect(hang_up)
        self.chat_title = _label("chat-title", "subtitle")
        self.chat_log = QTextEdit()
        self.chat_log.setObjectName("chat-log")
        self.chat_log.setReadOnly(True)
        self.chat_input = QLineEdit()
        self.chat_input.setObjectName("chat-input")
        self.chat_input.returnPressed.connect(self._send_typed)
        self.send = _button("chat-send")
        self.send.clicked.connect(self._send_typed)
        self.quick = [_button(f"quick-{n}", "quick") for n in range(len(self.QUICK_REPLIES))]
        self.keys = {Qt.Key.Key_1: self.mute, Qt.Key.Key_2: self.camera}
        for key in CANCEL_KEYS:
            self.keys[key] = self.end
        for index, button in enumerate(self.quick):
            self.keys[DIGITS[index + 4]] = button
        self._lines_shown = 0

        video = QWidget()
        stack = QGridLayout(video)
        stack.setContentsMargins(0, 0, 0, 0)
        stack.addWidget(self.remote, 0, 0)
        stack.addWidget(self.self_view, 0, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom)
        stack.addWidget(self.banner, 0, 0, Qt.AlignmentFlag.AlignTop)
        controls = QHBoxLayout()
        for button in (self.mute, self.camera, self.end):  # equal thirds, whatever the language
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            controls.addWidget(button, 1)
        left = QVBoxLayout()
        left.addWidget(self.who)
        left.addWidget(video, 1)
        left.addLayout(controls)
        chat_panel = QWidget()
        chat_panel.setFixedWidth(CHAT_WIDTH)
        chat = QVBoxLayout(chat_panel)
        chat.setContentsMargins(0, 0, 0, 0)
        chat.addWidget(self.chat_title)
        chat.addWidget(self.chat_log, 1)
        for button in self.quick:
            chat.addWidget(button)
        typed = QHBoxLayout()
        typed.addWidget(self.chat_input, 1)
        typed.addWidget(self.send)
        chat.addLayout(typed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(24)
        layout.addLayout(left, 3)
        layout.addWidget(chat_panel)
        self._t: Texts | None = None

    def _send_typed(self) -> None:
        text = self.chat_input.text().strip()
        if text:
            self._send_chat(text)
            self.chat_input.clear()

    def quick_reply(self, index: int) -> str:
        assert self._t is not None
        return self._t(self.QUICK_REPLIES[index])

    def retranslate(self, t: Texts, state: ScreenState) -> None:
        self._t = t
        self.chat_title.setText(t("call.chat_title"))
        self.chat_input.setPlaceholderText(t("call.chat_placeholder"))
        self.send.setText(t("call.send"))
        self.end.setText(t("call.end"))
        for index, button in enumerate(self.quick):
            button.setText(keyed(str(index + 4), t(self.QUICK_REPLIES[index])))

    def show_privacy(self, t: Texts, microphone: bool, camera: bool) -> None:
        self.mute.setText(keyed("1", t("call.mute") if microphone else t("call.unmute")))
        self.mute.setProperty("active", not microphone)
        self.camera.setText(keyed("2", t("call.camera_off") if camera else t("call.camera_on")))
        self.camera.setProperty("active", not camera)
        for button in (self.mute, self.camera):
            button.style().unpolish(button)
            button.style().polish(button)
        self.self_view.placeholder = "" if camera else t("call.camera_is_off")
        self.self_view.update()

    def show_state(self, t: Texts, state: ScreenState) -> None:
        self.retranslate(t, state)
        self.who.setText(t("call.with", agent=state.agent or t("call.staff")))
        banner = {"reconnecting": t("call.reconnecting"), "media_lost": t("call.media_lost")}.get(
            state.link, ""
        )
        if not banner and not state.media_connected:
            banner = t("call.connecting")
        self.banner.setText(banner)
        self.banner.setVisible(bool(banner))
        if len(state.chat) < self._lines_shown:  # a new call
            self.chat_log.clear()
            self._lines_shown = 0
        for line in state.chat[self._lines_shown :]:
            who = t("call.you") if line.who == "you" else t("call.agent")
            self.chat_log.append(f"{who}: {line.text}")
        self._lines_shown = len(state.chat)
        ready = state.media_connected
        for button in (*self.quick, self.send):
            button.setEnabled(ready)
        self.chat_input.setEnabled(ready)


class SurveyPage(Page):
    def __init__(self, rate: Callable[[int, str], None], skip: Callable[[], None]) -> None:
        super().__init__("survey")
        self.title = _label("survey-title", "title")
        self.hint = _label("survey-hint", "subtitle")
        self.comment = QLineEdit()
        self.comment.setObjectName("survey-comment")
        self.comment.setMaxLength(500)
        self.ratings = [_button(f"rating-{n}", "rating") for n in range(1, 6)]
        for n, button in enumerate(self.ratings, start=1):
            button.setText(str(n))
            button.clicked.connect(lambda _=False, rating=n: rate(rating, self.comment.text().strip()))
            self.keys[DIGITS[n]] = button
        self.low, self.high = _label("survey-low"), _label("survey-high")
        self.skip = _button("survey-skip", "danger")
        self.skip.clicked.connect(skip)
        for key in CANCEL_KEYS:
            self.keys[key] = self.skip
        row = QHBoxLayout()
        row.setSpacing(24)
        for button in self.ratings:
            row.addWidget(button)
        scale = QHBoxLayout()
        scale.addWidget(self.low)
        scale.addStretch(1)
        scale.addWidget(self.high)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(64, 64, 64, 64)
        layout.setSpacing(28)
        layout.addWidget(self.title)
        layout.addWidget(self.hint)
        layout.addWidget(self.comment)
        layout.addStretch(1)
        layout.addLayout(row)
        layout.addLayout(scale)
        layout.addStretch(1)
        layout.addWidget(self.skip, 0, Qt.AlignmentFlag.AlignHCenter)

    def retranslate(self, t: Texts, state: ScreenState) -> None:
        self.title.setText(t("survey.title"))
        self.hint.setText(t("survey.hint"))
        self.comment.setPlaceholderText(t("survey.comment"))
        self.low.setText(t("survey.rating.1"))
        self.high.setText(t("survey.rating.5"))
        self.skip.setText(t("survey.skip"))


class ThanksPage(Page):
    def __init__(self, done: Callable[[], None]) -> None:
        super().__init__("thanks")
        self.title = _label("thanks-title", "title")
        self.text = _label("thanks-text", "subtitle")
        self.done = _button("thanks-done", "enter")
        self.done.clicked.connect(done)
        for key in (*ENTER_KEYS, *CANCEL_KEYS):
            self.keys[key] = self.done
        layout = QVBoxLayout(self)
        layout.setContentsMargins(64, 64, 64, 64)
        layout.addStretch(1)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addStretch(1)
        layout.addWidget(self.done, 0, Qt.AlignmentFlag.AlignHCenter)

    def retranslate(self, t: Texts, state: ScreenState) -> None:
        self.title.setText(t("thanks.title"))
        self.text.setText(t(state.thanks))
        self.done.setText(t("thanks.done"))


class Dialog(QWidget):
    """A panel over the page (a message, a document, a consent request, an offer of help), with up to
    two buttons: the first pressed by Enter (or 1), the second by Cancel (or 2)."""

    def __init__(self, name: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.title = _label(f"{name}-title", "title")
        self.body = QTextBrowser()
        self.body.setObjectName(f"{name}-body")
        self.body.setOpenLinks(False)
        self.ok = _button(f"{name}-ok")
        self.other = _button(f"{name}-other", "secondary")
        self.keys: dict[Qt.Key, QPushButton] = {Qt.Key.Key_1: self.ok, Qt.Key.Key_2: self.other}
        for key in ENTER_KEYS:
            self.keys[key] = self.ok
        for key in CANCEL_KEYS:
            self.keys[key] = self.other
        buttons = QHBoxLayout()
        buttons.addWidget(self.ok)
        buttons.addWidget(self.other)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(48, 40, 48, 40)
        layout.setSpacing(24)
        layout.addWidget(self.title)
        layout.addWidget(self.body, 1)
        layout.addLayout(buttons)
        self.hide()

    def open(self, title: str, body: str, ok: str, other: str | None = None, *, html: bool = False) -> None:
        self.title.setText(title)
        if html:
            self.body.setHtml(body)
        else:
            self.body.setPlainText(body)
        self.ok.setText(keyed("1", ok))
        self.other.setVisible(other is not None)
        self.other.setText(keyed("2", other or ""))
        parent = self.parentWidget()
        assert parent is not None
        margin_x, margin_y = parent.width() // 8, parent.height() // 8
        self.setGeometry(margin_x, margin_y, parent.width() - 2 * margin_x, parent.height() - 2 * margin_y)
        self.show()
        self.raise_()
        self.ok.setFocus()
