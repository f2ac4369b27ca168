"""The console's "Customer's screen" panel, in a real (headless) Chromium answering the real kiosk program:
what the agent shows on the kiosk (a message, a document) reaches the kiosk's screen, and a photo of the
customer's ID reaches the agent only with the customer's consent, checked before it is shown.

The kiosk's screen is ``runner.actions.subscribe``: every action it is handed lands in a queue the tests
await. Its consent is ``KioskOptions.id_photo_consent``; its camera is the synthetic 640x480 pattern.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from kiosk_client.control import AgentAction, Channel, ConsentName, RequestIdPhoto, ShowDocument, ShowMessage
from tests.agent_console.support import (
    MEDIA_WAIT_MS,
    MEDIA_WAIT_S,
    Kiosks,
    RunningKiosk,
    signed_in_agent,
)
from tests.support import RunningServer

pytestmark = pytest.mark.browser

CAMERA_SIZE = (640, 480)
"""The kiosk's synthetic camera (``media.open_media("synthetic")``)."""
WAITING = "Waiting for the customer's consent…"
RECEIVING = "Receiving photo…"

# Every text the photo's status line shows, in order, as the agent sees it change.
RECORD_PHOTO_STATUS = """() => {
    const status = document.querySelector('[data-testid=id-photo-status]');
    window.photoStatuses = [];
    new MutationObserver(() => {
        const text = status.textContent;
        if (text && window.photoStatuses.at(-1) !== text) window.photoStatuses.push(text);
    }).observe(status, { childList: true, characterData: true, subtree: true });
}"""


@dataclass
class KioskScreen:
    """What the kiosk's screen is handed: every action of the agent, in the order it arrived."""

    actions: asyncio.Queue[AgentAction] = field(default_factory=asyncio.Queue)

    async def next(self) -> AgentAction:
        return await asyncio.wait_for(self.actions.get(), MEDIA_WAIT_S)


async def call_in_progress(
    page: Page, server: RunningServer, kiosks: Kiosks, kiosk_id: str, consent: ConsentName = "refuse"
) -> tuple[RunningKiosk, KioskScreen]:
    """An agent signed in on ``page`` has answered the kiosk, and the panel can reach it."""
    await signed_in_agent(page, server, "dana")
    kiosk = await kiosks.start(kiosk_id, "Main St branch", request_help="cash", id_photo_consent=consent)
    screen = KioskScreen()
    kiosk.runner.actions.subscribe(screen.actions.put_nowait)
    await page.get_by_test_id("state-available").click()
    await page.get_by_test_id("accept-call").click()
    await kiosk.wait_for("connected")
    await expect(page.get_by_test_id("action-show-message")).to_be_enabled(timeout=MEDIA_WAIT_MS)
    return kiosk, screen


async def request_photo(page: Page) -> None:
    await page.evaluate(RECORD_PHOTO_STATUS)
    await page.get_by_test_id("action-request-photo").click()


async def photo_statuses(page: Page) -> list[str]:
    statuses: list[str] = await page.evaluate("() => window.photoStatuses")
    return statuses


class Corrupting:
    """The kiosk's ``control`` channel with the first byte of each binary message flipped (a photo damaged
    on the way)."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    @property
    def readyState(self) -> str:
        return self._channel.readyState

    def send(self, data: str | bytes) -> None:
        self._channel.send(data if isinstance(data, str) else bytes([data[0] ^ 0xFF]) + data[1:])


# ------------------------------------------------------------------------------------------ tests
async def test_a_message_and_a_document_the_agent_sends_reach_the_customers_screen(
    page: Page, server: RunningServer, kiosks: Kiosks
) -> None:
    _kiosk, screen = await call_in_progress(page, server, kiosks, "kiosk-show")
    message = page.get_by_test_id("action-message-input")
    await message.fill("Please insert your card")
    await message.press("Enter")  # the keyboard sends it, as the button does
    assert await screen.next() == ShowMessage(text="Please insert your card")
    await expect(message).to_have_value("")
    await expect(page.get_by_test_id("kiosk-actions-sent")).to_contain_text("Message sent to the kiosk")

    fees = "Withdrawals at other banks' ATMs: 2.00\nBalance enquiries: free"
    await page.get_by_test_id("action-document-title").fill("Fees")
    await page.get_by_test_id("action-document-text").fill(fees)
    await page.get_by_test_id("action-show-document").click()
    assert await screen.next() == ShowDocument(title="Fees", text=fees)
    sent = page.get_by_test_id("kiosk-actions-sent")
    await expect(sent).to_contain_text("Document “Fees” sent to the kiosk")
    await expect(page.get_by_role("alert")).to_have_count(0)


async def test_with_consent_the_agent_sees_the_customers_id_photo_at_the_cameras_size(
    page: Page, server: RunningServer, kiosks: Kiosks, artifacts: Path
) -> None:
    _kiosk, screen = await call_in_progress(page, server, kiosks, "kiosk-consents", consent="grant")
    await request_photo(page)

    photo = page.get_by_test_id("id-photo")
    await expect(photo).to_be_visible(timeout=MEDIA_WAIT_MS)
    await expect(page.get_by_test_id("id-photo-status")).to_have_text("Photo received")
    assert tuple(await photo.evaluate("(img) => [img.naturalWidth, img.naturalHeight]")) == CAMERA_SIZE
    await expect(page.get_by_test_id("id-photo-caption")).to_contain_text("640\u00d7480 · ")
    assert await photo_statuses(page) == [WAITING, RECEIVING, "Photo received"]
    request = await screen.next()
    assert isinstance(request, RequestIdPhoto)
    assert request.reason == "To check your identity document"
    await expect(page.get_by_test_id("action-request-photo")).to_be_enabled()  # the agent may ask again
    await page.get_by_test_id("kiosk-actions").screenshot(path=artifacts / "console-id-photo.png")


async def test_without_consent_the_agent_is_told_the_customer_declined_and_sees_no_photo(
    page: Page, server: RunningServer, kiosks: Kiosks
) -> None:
    kiosk, screen = await call_in_progress(page, server, kiosks, "kiosk-declines", consent="refuse")
    await request_photo(page)

    status = page.get_by_test_id("id-photo-status")
    await expect(status).to_have_text("Declined by the customer", timeout=MEDIA_WAIT_MS)
    assert isinstance(await screen.next(), RequestIdPhoto)
    await kiosk.runner.actions.drain()  # the kiosk has done all it will for the request
    await expect(page.get_by_test_id("id-photo")).to_be_hidden()
    assert await photo_statuses(page) == [WAITING, "Declined by the customer"]
    await expect(page.get_by_test_id("action-request-photo")).to_be_enabled()


async def test_a_photo_damaged_on_the_way_is_not_shown_and_the_agent_is_asked_to_try_again(
    page: Page, server: RunningServer, kiosks: Kiosks, monkeypatch: pytest.MonkeyPatch
) -> None:
    kiosk, _screen = await call_in_progress(page, server, kiosks, "kiosk-damaged", consent="grant")
    actions = kiosk.runner.actions
    receive = actions.receive
    monkeypatch.setattr(actions, "receive", lambda raw, channel: receive(raw, Corrupting(channel)))
    await request_photo(page)

    await expect(page.get_by_test_id("id-photo-status")).to_have_text(
        "The photo arrived damaged; ask again", timeout=MEDIA_WAIT_MS
    )
    await expect(page.get_by_test_id("id-photo")).to_be_hidden()
    assert await photo_statuses(page) == [WAITING, RECEIVING, "The photo arrived damaged; ask again"]


async def test_an_empty_message_is_not_sent_and_the_agent_is_told_what_is_missing(
    page: Page, server: RunningServer, kiosks: Kiosks
) -> None:
    _kiosk, screen = await call_in_progress(page, server, kiosks, "kiosk-empty")
    message = page.get_by_test_id("action-message-input")
    await message.fill("   ")
    await page.get_by_test_id("action-show-message").click()
    await expect(page.get_by_role("alert")).to_have_text("Type the message to show on the kiosk's screen.")
    await expect(message).to_be_focused()
    await page.get_by_test_id("action-document-title").fill("Fees")
    await page.get_by_test_id("action-show-document").click()
    await expect(page.get_by_role("alert").filter(has_text="document's text")).to_be_visible()
    await expect(page.get_by_test_id("action-document-text")).to_be_focused()

    await message.fill("Please take your receipt")
    await page.get_by_test_id("action-show-message").click()
    # the channel is ordered: had anything been sent before, the kiosk would have been handed it first
    assert await screen.next() == ShowMessage(text="Please take your receipt")
    assert screen.actions.empty()
    await expect(page.get_by_role("alert").filter(has_text="kiosk's screen")).to_have_count(0)


async def test_the_agent_sees_when_the_customer_mutes_or_turns_the_camera_off(
    page: Page, server: RunningServer, kiosks: Kiosks
) -> None:
    kiosk, _screen = await call_in_progress(page, server, kiosks, "kiosk-privacy")
    badge = page.get_by_test_id("customer-privacy")
    await expect(badge).to_be_hidden()
    kiosk.runner.set_privacy(microphone=False)  # the kiosk screen's Mute button
    await expect(badge).to_have_text("Customer muted")
    kiosk.runner.set_privacy(camera=False)
    await expect(badge).to_have_text("Customer muted · Customer's camera off")
    kiosk.runner.set_privacy(microphone=True, camera=True)
    await expect(badge).to_be_hidden()
