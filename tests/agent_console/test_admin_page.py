"""The administration page in headless Chromium, under the strict content security policy: an
administrator revokes a kiosk and the kiosk's socket closes; rotating shows the new secret once; an
agent cannot open the page."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect

from signaling.connections import CLOSE_REVOKED
from tests.agent_console.support import Consoles, sign_in
from tests.support import WAIT_S, RunningServer, connect_kiosk

PASSWORD = "correct horse"


async def open_admin(page: Page, server: RunningServer, username: str) -> None:
    await page.goto(f"{server.url}/admin")
    await sign_in(page, username, PASSWORD)


async def test_an_admin_revoking_a_kiosk_on_the_page_closes_the_kiosks_socket(
    server: RunningServer, page: Page
) -> None:
    await server.add_agent("root", PASSWORD, role="admin")
    kiosk = await connect_kiosk(server, "k-1", await server.enroll("k-1", "Main St"))
    try:
        await open_admin(page, server, "root")
        await expect(page.get_by_test_id("kiosk-status-k-1")).to_have_text("active")
        await page.get_by_test_id("kiosk-revoke-k-1").click()
        await expect(page.get_by_test_id("kiosk-status-k-1")).to_have_text("revoked")
        await asyncio.wait_for(kiosk.closed.wait(), WAIT_S)
        assert kiosk.ws.close_code == CLOSE_REVOKED
    finally:
        await kiosk.close()


async def test_rotating_on_the_page_shows_the_new_secret_once_and_it_works(
    server: RunningServer, page: Page
) -> None:
    await server.add_agent("root", PASSWORD, role="admin")
    await server.enroll("k-1")
    await open_admin(page, server, "root")
    await page.get_by_test_id("kiosk-rotate-k-1").click()
    secret = page.get_by_test_id("kiosk-secret")
    await expect(secret).not_to_be_empty()
    await (await connect_kiosk(server, "k-1", await secret.inner_text())).close()
    await page.get_by_test_id("kiosk-secret-done").click()
    await expect(page.get_by_test_id("kiosk-secret-panel")).to_be_hidden()


async def test_an_admin_disables_an_account_on_the_page(server: RunningServer, page: Page) -> None:
    await server.add_agent("root", PASSWORD, role="admin")
    await server.add_agent("alice", PASSWORD)
    await open_admin(page, server, "root")
    await page.get_by_test_id("user-disable-alice").click()
    await expect(page.get_by_test_id("user-status-alice")).to_have_text("disabled")
    await expect(page.get_by_test_id("user-enable-alice")).to_be_visible()


async def test_an_agent_cannot_open_the_admin_page(server: RunningServer, consoles: Consoles) -> None:
    await server.add_agent("alice", PASSWORD)
    page = await consoles.open()
    await open_admin(page, server, "alice")
    await expect(page.get_by_test_id("admin-forbidden")).to_be_visible()
    await expect(page.get_by_test_id("kiosks-table")).to_be_hidden()
    response = await page.goto(f"{server.url}/admin")
    assert response is not None
    assert response.status == 403
