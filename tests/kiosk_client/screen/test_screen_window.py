"""The customer's whole visit on the kiosk's screen, driven with the PIN pad's keys and touches, against a
real server, a real agent's aiortc peer and real media: choose the language and topic, wait with the
position updating live, talk (video both ways, chat, mute, camera off), see the agent's message and
consent to an ID photo, rate the call. A screenshot of each page is saved."""

from __future__ import annotations

import asyncio

import aiohttp
import msgspec
import numpy as np
from av import AudioFrame, VideoFrame
from PySide6.QtCore import Qt

from kiosk_client.control import RequestIdPhoto, ShowMessage, encode_control
from media import tone_level
from signaling.protocol import (
    Accept,
    CallAccepted,
    Cancel,
    Hangup,
    HelpRequest,
    Offer,
    Queued,
    SetState,
)
from tests.agent_peer import AgentPeer
from tests.kiosk_client.screen.conftest import OnScreen
from tests.kiosk_client.screen.support import WAIT_S, ScreenDriver
from tests.support import RunningServer, connect_agent, connect_kiosk


def _luma(frame: object) -> float:
    assert isinstance(frame, VideoFrame)
    return float(np.mean(frame.to_ndarray(format="gray")))


async def _told(peer: AgentPeer) -> object:
    """The next thing the kiosk told the agent on the control channel."""
    return msgspec.json.decode(await asyncio.wait_for(peer.control_received.get(), WAIT_S))


def _level(frame: object) -> float:
    assert isinstance(frame, AudioFrame)
    return tone_level(frame)


def test_a_customer_asks_waits_talks_consents_and_rates_the_call_with_the_keypad(on_screen: OnScreen) -> None:
    on_screen("k-visit", _whole_visit)


async def _whole_visit(screen: ScreenDriver, server: RunningServer) -> None:
    window, runner = screen.window, screen.runner
    await screen.page("home")
    topics = [b.text() for b in window.home.topic_buttons.values()]
    assert topics[0] == "1  Cash withdrawals", topics
    screen.shot("1-home-en")

    screen.press(Qt.Key.Key_0)  # the language key
    await screen.until(lambda: window.home.title.text() == "¿Necesita ayuda?", "the page in Spanish")
    assert window.home.topic_buttons["cash"].text() == "1  Retirar efectivo"
    screen.shot("2-home-es")

    ahead = await connect_kiosk(server, "k-ahead", await server.enroll("k-ahead"))
    await ahead.send(HelpRequest(topic="cash"))
    ahead_call = (await ahead.expect(Queued)).call_id
    screen.press(Qt.Key.Key_1)  # cash
    await screen.page("waiting")
    await screen.until(lambda: "número 2" in window.waiting.position.text(), "position 2, in Spanish")
    screen.shot("3-waiting-second")
    await ahead.send(Cancel(call_id=ahead_call))  # the customer ahead gives up: ours moves up, live
    await screen.until(lambda: window.waiting.position.text() == "Es usted el siguiente", "next in line")
    assert window.waiting.estimate.text().startswith("Espera estimada")
    await ahead.close()

    agent = await connect_agent(
        server, "ana", await server.add_agent("ana", skills=("cash",), languages=("en", "es"))
    )
    peer = AgentPeer()
    try:
        await agent.send(SetState(state="available"))
        offer = await agent.expect(Offer)
        assert offer.language == "es"  # the language the customer chose travels with the call
        await agent.send(Accept(call_id=offer.call_id))
        await peer.answer(agent, await agent.expect(CallAccepted))
        await screen.page("call")
        await screen.until(lambda: window.call.remote.frames_shown > 3, "the agent's video")
        await screen.until(lambda: window.call.self_view.frames_shown > 3, "the customer's self-view")
        await screen.until(lambda: not window.call.banner.isVisible(), "the connected call (no banner)")
        assert window.call.who.text() == "Está hablando con ana"

        await asyncio.wait_for(peer.chat_open.wait(), WAIT_S)
        assert peer.chat is not None
        peer.chat.send("Hola, ¿en qué puedo ayudarle?")
        await screen.until(lambda: "Hola, ¿en qué" in window.call.chat_log.toPlainText(), "the agent's chat")
        screen.press(Qt.Key.Key_4)  # the quick reply "Sí"
        assert await asyncio.wait_for(peer.chat_received.get(), WAIT_S) == "Sí"
        await screen.until(lambda: "Usted: Sí" in window.call.chat_log.toPlainText(), "the reply in the log")
        screen.shot("4-call")

        video, audio = peer.consumers["video"], peer.consumers["audio"]
        await screen.until(lambda: audio.latest is not None and _level(audio.latest) > 0.1, "the tone")
        screen.press(Qt.Key.Key_1)  # mute
        screen.press(Qt.Key.Key_2)  # camera off
        assert not runner.privacy.microphone
        assert not runner.privacy.camera
        told = [await _told(peer), await _told(peer)]
        assert told == [  # the agent's console is told, to show it
            {"type": "privacy", "microphone": False, "camera": True},
            {"type": "privacy", "microphone": False, "camera": False},
        ]
        await screen.until(lambda: _level(audio.latest) < 0.001, "silence at the agent (muted)")
        await screen.until(lambda: _luma(video.latest) < 20, "a black picture at the agent (camera off)")
        assert window.call.self_view.placeholder == "Su cámara está apagada"
        assert window.call.mute.text().endswith("Activar micro")
        screen.shot("5-call-muted-camera-off")
        screen.touch(window.call.mute)
        screen.touch(window.call.camera)
        told = [await _told(peer), await _told(peer)]
        assert told[-1] == {"type": "privacy", "microphone": True, "camera": True}
        await screen.until(lambda: _level(audio.latest) > 0.1, "the customer's voice again")
        await screen.until(lambda: _luma(video.latest) > 40, "the customer's picture again")

        assert peer.control is not None
        peer.control.send(encode_control(ShowMessage(text="Introduzca su tarjeta, por favor")))
        await screen.until(lambda: screen.visible("dialog"), "the agent's message")
        assert window.dialog.body.toPlainText() == "Introduzca su tarjeta, por favor"
        screen.shot("6-agent-message")
        screen.press(Qt.Key.Key_Return)
        await screen.until(lambda: not screen.visible("dialog"), "the message closed")

        peer.control.send(encode_control(RequestIdPhoto(request_id="id-1", reason="Verificar su identidad")))
        await screen.until(lambda: window.state.consent is not None and screen.visible("dialog"), "consent")
        assert "Verificar su identidad" in window.dialog.body.toPlainText()
        assert peer.control_received.empty(), "nothing is taken before the customer agrees"
        screen.shot("7-consent")
        screen.press(Qt.Key.Key_1)  # allow
        header = msgspec.json.decode(await asyncio.wait_for(peer.control_received.get(), WAIT_S))
        assert (header["type"], header["width"], header["height"]) == ("id_photo", 640, 480)
        await screen.until(lambda: not screen.visible("dialog"), "the consent panel closed")

        await agent.send(Hangup(call_id=offer.call_id))
        await screen.page("survey")
        screen.shot("8-survey")
        window.survey.comment.setText("Muy amable")
        screen.press(Qt.Key.Key_5)
        await screen.page("thanks")
        assert window.thanks.text.text() == "Gracias por su opinión."
        assert [e["rating"] for e in screen.events("survey_sent")] == [5]
        assert not screen.events("error"), screen.events("error")
        screen.shot("9-thanks")
        screen.press(Qt.Key.Key_Return)
        await screen.page("home")
        assert window.home.title.text() == "Need help?", "the next customer starts in the default language"
    finally:
        await peer.close()
        await agent.close()


def test_a_customer_who_stops_waiting_presses_cancel_and_the_call_leaves_the_queue(
    on_screen: OnScreen,
) -> None:
    on_screen("k-cancel", _cancel_while_waiting)


async def _cancel_while_waiting(screen: ScreenDriver, _server: RunningServer) -> None:
    window = screen.window
    await screen.page("home")
    screen.touch(window.home.topic_buttons["cards"])
    await screen.until(lambda: window.waiting.position.text() == "You are next in line", "the position")
    screen.press(Qt.Key.Key_Escape)  # the PIN pad's Cancel
    await screen.page("thanks")
    assert window.thanks.text.text() == "Your request was cancelled."
    ended = screen.events("ended")
    assert [(e["state"], e["reason"]) for e in ended] == [("abandoned", "kiosk_cancelled")]


def test_a_failed_transaction_reported_by_the_atm_offers_help_on_screen_with_the_fault(
    on_screen: OnScreen,
) -> None:
    on_screen("k-fault", _help_offered)


async def _help_offered(screen: ScreenDriver, server: RunningServer) -> None:
    window = screen.window
    await screen.page("home")
    agent = await connect_agent(server, "eva", await server.add_agent("eva", skills=("other",)))
    try:
        await agent.send(SetState(state="available"))
        async with aiohttp.ClientSession() as http:
            body = {"code": "E42", "detail": "cash not dispensed"}
            async with http.post(f"{screen.host_api}/transactions/failed", json=body) as response:
                assert response.status == 200, await response.text()
        await screen.until(lambda: screen.visible("dialog"), "the offer of help")
        assert "cash not dispensed" in window.dialog.body.toPlainText()
        screen.shot("10-help-offered")
        screen.press(Qt.Key.Key_1)
        offer = await agent.expect(Offer)
        assert offer.topic == "other"
        assert offer.context["device_fault"] == "transaction failed: E42 (cash not dispensed)"
        assert offer.priority > 0, "a fault raises the call's priority"
    finally:
        await agent.close()
