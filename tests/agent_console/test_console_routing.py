"""The console's side of routing, in a real (headless) Chromium against a real server: the wrap-up's clock,
transfers, the queue board with supervisors' actions, and device-fault calls handed over with notes.

Kiosks and other agents around the console are protocol-level clients (``tests.support``) where media is
beside the point, and the real kiosk program where the console's media must be seen to close.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from signaling.protocol import (
    Accept,
    AgentStateChanged,
    CallAccepted,
    Hangup,
    HelpRequest,
    Offer,
    Queued,
    SetState,
    Transfer,
    WrapUpDone,
)
from signaling.store import get_call
from tests.agent_console.support import (
    PASSWORD,
    UI_WAIT_MS,
    Clients,
    Consoles,
    Kiosks,
    sign_in,
    signed_in_agent,
    wait_for_remote_video,
)
from tests.support import RunningServer

pytestmark = pytest.mark.browser

WRAP_UP_S = 4.0
EXTENSION_S = 4.0
COUNTDOWN_SECONDS = """() => {
    const [mm, ss] = document.querySelector('[data-testid=wrapup-countdown]').textContent.split(':');
    return Number(mm) * 60 + Number(ss);
}"""
MM_SS = re.compile(r"^\d\d:\d\d$")


async def countdown(page: Page) -> int:
    seconds = await page.evaluate(COUNTDOWN_SECONDS)
    assert isinstance(seconds, int)
    return seconds


@pytest.mark.parametrize(
    "settings",
    [{"wrap_up_s": WRAP_UP_S, "wrap_up_extension_s": EXTENSION_S}],
    indirect=True,
    ids=["short-wrap-up"],
)
async def test_the_wrap_up_counts_down_gets_more_time_once_then_ends_on_its_own(
    page: Page, server: RunningServer, clients: Clients, artifacts: Path
) -> None:
    state = page.get_by_test_id("agent-state")
    await signed_in_agent(page, server, "dana")
    kiosk = await clients.kiosk("kiosk-31", "Bridge St branch")
    await kiosk.send(HelpRequest(topic="cash"))
    queued = await kiosk.expect(Queued)
    await page.get_by_test_id("state-available").click()
    await page.get_by_test_id("accept-call").click()
    await expect(state).to_have_text("in_call", timeout=UI_WAIT_MS)
    await kiosk.send(Hangup(call_id=queued.call_id))

    form = page.get_by_test_id("wrapup-form")
    await expect(form).to_be_visible(timeout=UI_WAIT_MS)
    await expect(state).to_have_text("wrap_up")
    await expect(page.get_by_test_id("wrapup-countdown")).to_have_text(MM_SS)
    before = await countdown(page)
    assert 0 < before <= WRAP_UP_S

    extend = page.get_by_test_id("wrapup-extend")
    await extend.click()
    await expect(extend).to_be_disabled()  # once per call
    await expect(extend).to_have_text("Time extended")
    await page.wait_for_function(f"() => ({COUNTDOWN_SECONDS})() > {before} + 2", timeout=UI_WAIT_MS)
    await page.get_by_test_id("disposition-select").select_option("resolved")
    await page.screenshot(path=artifacts / "console-wrap-up-countdown.png")

    # nobody files it: the server's timer ends the wrap-up, and the console says so
    await expect(form).to_be_hidden(timeout=int((WRAP_UP_S + EXTENSION_S) * 1000) + UI_WAIT_MS)
    await expect(state).to_have_text("available")
    await expect(page.get_by_role("status").filter(has_text="wrap-up time ran out")).to_be_visible()
    await expect(page.get_by_test_id("wrapup-timer")).to_be_hidden()

    await server.drain_history()
    record = await get_call(server.db, queued.call_id)
    assert record is not None
    assert (record.state, record.agent, record.disposition) == ("completed", "dana", None)


async def test_an_agent_transfers_a_call_to_another_queue_and_the_notes_go_with_it(
    page: Page, server: RunningServer, kiosks: Kiosks, clients: Clients, artifacts: Path
) -> None:
    state = page.get_by_test_id("agent-state")
    await signed_in_agent(page, server, "erin")
    ben = await clients.agent("ben", skills=("cards",))
    kiosk = await kiosks.start("atm-0101", "Market Sq branch", request_help="cash")
    queued = await kiosk.wait_for("queued")
    await page.get_by_test_id("state-available").click()
    await page.get_by_test_id("accept-call").click()
    await wait_for_remote_video(page)
    await page.evaluate("() => { window.transferredPc = window.kioskAssist.pc; }")
    # asked for during the call, "away" waits for the call's work to end
    await page.get_by_test_id("away-reason").select_option("lunch")
    await page.get_by_test_id("state-away").click()
    await expect(page.get_by_test_id("next-state")).to_contain_text("Away (lunch) after this call")
    await expect(state).to_have_text("in_call")

    await page.get_by_test_id("transfer-open").click()
    await page.get_by_test_id("transfer-topic").select_option("cards")
    await page.get_by_test_id("transfer-agent").select_option("ben")  # listed: free in that queue
    await page.get_by_test_id("transfer-notes").fill("Card retained after three PIN tries; ID checked.")
    await page.screenshot(path=artifacts / "console-transfer.png")

    # the board's data goes stale (ben steps away unseen): the server refuses, the call goes on
    await page.route("**/api/queues", lambda route: route.abort())
    await ben.send(SetState(state="away", reason="break"))
    await ben.expect(AgentStateChanged, where=lambda m: m.state == "away")
    await page.get_by_test_id("transfer-submit").click()
    refused = page.get_by_role("alert").filter(has_text="Transfer refused")
    await expect(refused).to_contain_text("ben cannot take a call now")
    await expect(page.get_by_test_id("transfer-submit")).to_be_enabled()
    await expect(state).to_have_text("in_call")
    await refused.get_by_role("button", name="Dismiss").click()
    await page.unroute("**/api/queues")
    await ben.send(SetState(state="available"))
    await ben.expect(AgentStateChanged, where=lambda m: m.state == "available")

    await page.get_by_test_id("transfer-agent").select_option("")  # anyone in the cards queue
    await page.get_by_test_id("transfer-submit").click()

    offer = await ben.expect(Offer)
    assert (offer.call_id, offer.topic) == (queued["call_id"], "cards")
    assert offer.notes == "erin: Card retained after three PIN tries; ID checked."
    await expect(state).to_have_text("wrap_up", timeout=UI_WAIT_MS)
    await expect(page.get_by_test_id("wrapup-form")).to_be_visible()
    await expect(page.get_by_test_id("wrapup-form")).to_contain_text("transferred to the cards queue")
    await expect(page.get_by_role("status").filter(has_text="Call transferred")).to_be_visible()
    # the console's media is closed; the kiosk stays connected for the next agent
    await page.wait_for_function(
        "() => window.kioskAssist.pc === null && window.transferredPc.connectionState === 'closed'"
    )
    await expect(page.get_by_test_id("remote-video")).to_be_hidden()
    await kiosk.wait_for("transferring", call_id=queued["call_id"], to_topic="cards")
    assert not kiosk.task.done()

    await expect(page.get_by_test_id("next-state")).to_contain_text("Away (lunch) after wrap-up")
    await page.screenshot(path=artifacts / "console-wrap-up-after-transfer.png")
    await page.get_by_test_id("disposition-select").select_option("escalated")
    await page.get_by_test_id("wrapup-submit").click()
    await expect(state).to_have_text("away", timeout=UI_WAIT_MS)
    await expect(page.get_by_test_id("agent-state-reason")).to_have_text("lunch")
    await expect(page.get_by_test_id("next-state")).to_be_hidden()


async def test_the_queue_board_shows_waiting_calls_and_a_supervisor_acts_on_agents(
    page: Page, consoles: Consoles, server: RunningServer, clients: Clients, artifacts: Path
) -> None:
    agent = page
    await signed_in_agent(agent, server, "fay")
    await agent.get_by_test_id("state-available").click()
    await expect(agent.get_by_test_id("agent-state")).to_have_text("available")
    # gus finishes a call and stays in wrap-up
    gus = await clients.agent("gus", skills=("deposits",))
    first = await clients.kiosk("kiosk-d1", "Deposit lobby")
    await first.send(HelpRequest(topic="deposits"))
    offer = await gus.expect(Offer)
    await gus.send(Accept(call_id=offer.call_id))
    await gus.expect(CallAccepted)
    await gus.send(Hangup(call_id=offer.call_id))
    await gus.expect(AgentStateChanged, where=lambda m: m.state == "wrap_up")
    # a customer waits in a queue nobody staffs
    waiting = await clients.kiosk("kiosk-c1", "North branch")
    await waiting.send(HelpRequest(topic="cards"))
    await waiting.expect(Queued)

    await server.add_agent("sue", PASSWORD, role="supervisor", display_name="Sue Park")
    supervisor = await consoles.open()
    await supervisor.goto("/")
    await sign_in(supervisor, "sue", PASSWORD)
    board = supervisor.get_by_test_id("queue-board")
    await expect(board).to_be_visible(timeout=UI_WAIT_MS)
    cards = board.get_by_test_id("queue-row-cards")
    await expect(cards.get_by_test_id("queue-waiting")).to_have_text("1", timeout=UI_WAIT_MS)
    oldest = cards.get_by_test_id("queue-oldest")
    await expect(oldest).to_have_text(MM_SS)
    shown = await oldest.text_content()
    await expect(oldest).not_to_have_text(shown or "", timeout=UI_WAIT_MS)  # the wait ticks on
    await expect(board.get_by_test_id("queue-row-cash").get_by_test_id("queue-waiting")).to_have_text("0")
    await expect(board.get_by_test_id("queue-row-cash")).to_contain_text("1 available")
    await expect(supervisor.get_by_test_id("agent-row-fay")).to_contain_text("available")
    await expect(supervisor.get_by_test_id("agent-row-gus")).to_contain_text("wrap-up")
    await supervisor.screenshot(path=artifacts / "console-supervisor.png")
    await board.screenshot(path=artifacts / "console-queue-board-supervisor.png")

    await supervisor.get_by_test_id("force-state-fay").select_option("away")
    await expect(agent.get_by_test_id("agent-state")).to_have_text("away", timeout=UI_WAIT_MS)
    await expect(agent.get_by_test_id("agent-state-reason")).to_have_text("set by sue")
    await expect(supervisor.get_by_test_id("agent-row-fay")).to_contain_text("away")
    await expect(supervisor.get_by_role("status").filter(has_text="fay is now away")).to_be_visible()

    await supervisor.get_by_test_id("end-wrapup-gus").click()
    await gus.expect(WrapUpDone)
    await expect(supervisor.get_by_test_id("agent-row-gus")).to_contain_text("available")
    await expect(supervisor.get_by_test_id("end-wrapup-gus")).to_be_hidden()

    # agents see the same board, without the supervisors' actions
    await expect(agent.get_by_test_id("queue-row-cards").get_by_test_id("queue-waiting")).to_have_text("1")
    await expect(agent.get_by_test_id("force-state-fay")).to_have_count(0)

    # the board is polled only while someone looks at it, and never after signing out
    await agent.wait_for_function("() => window.kioskAssist.boardPolling")
    await agent.get_by_test_id("board-toggle").click()
    await expect(agent.get_by_test_id("queue-board")).to_be_hidden()
    await agent.wait_for_function("() => !window.kioskAssist.boardPolling")
    await agent.get_by_test_id("board-toggle").click()
    await agent.wait_for_function("() => window.kioskAssist.boardPolling")
    await agent.get_by_role("button", name="Sign out").click()
    await expect(agent.get_by_test_id("login-username")).to_be_visible()
    await agent.wait_for_function("() => !window.kioskAssist.boardPolling")


async def test_a_device_fault_call_handed_over_rings_with_the_fault_and_the_notes(
    page: Page, server: RunningServer, clients: Clients, artifacts: Path
) -> None:
    await signed_in_agent(page, server, "hana")
    ivan = await clients.agent("ivan", skills=("cash",))
    kiosk = await clients.kiosk("atm-0077", "Harbour branch, drive-through ATM")
    await kiosk.send(
        HelpRequest(
            topic="cash", device_fault="card reader jammed", context={"transaction": "withdrawal 60.00"}
        )
    )
    offer = await ivan.expect(Offer)
    assert offer.priority >= 1
    await ivan.send(Accept(call_id=offer.call_id))
    await ivan.expect(CallAccepted)
    await page.get_by_test_id("state-available").click()
    await expect(page.get_by_test_id("agent-state")).to_have_text("available")
    await ivan.send(
        Transfer(
            call_id=offer.call_id,
            to_agent="hana",
            notes="Customer verified. The card is stuck in the reader; do not retry the PIN.",
        )
    )

    ringing = page.get_by_test_id("incoming-call")
    await expect(ringing).to_be_visible(timeout=UI_WAIT_MS)
    await expect(page.get_by_test_id("offer-priority")).to_have_text("Device fault")
    await expect(page.get_by_test_id("offer-fault")).to_contain_text("card reader jammed")
    notes = page.get_by_test_id("offer-notes")
    await expect(notes).to_contain_text("ivan")
    await expect(notes).to_contain_text("do not retry the PIN")
    await expect(ringing).to_contain_text("withdrawal 60.00")
    await page.screenshot(path=artifacts / "console-incoming-device-fault.png")

    await page.get_by_test_id("accept-call").click()
    await expect(page.get_by_test_id("agent-state")).to_have_text("in_call", timeout=UI_WAIT_MS)
    await expect(page.get_by_test_id("call-priority")).to_have_text("Device fault")
    await expect(page.get_by_test_id("call-notes")).to_contain_text("card reader jammed")
    await expect(page.get_by_test_id("call-notes")).to_contain_text("do not retry the PIN")
    await page.screenshot(path=artifacts / "console-in-call-device-fault.png")
