"""The console under the server's own security headers: a whole call breaks no content security policy,
and over HTTPS (a private authority's certificate) an agent signs in, its socket is ``wss://``, and it
answers a kiosk program that was given that authority with ``--ca-file``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from signaling.handlers.security_headers import content_security_policy
from signaling.protocol import CallState
from tests.agent_console.support import (
    MEDIA_WAIT_MS,
    MEDIA_WAIT_S,
    PASSWORD,
    RECORD_CSP_VIOLATIONS,
    UI_WAIT_MS,
    VIEWPORT,
    Kiosks,
    sign_in,
    signed_in_agent,
    wait_for_remote_video,
)
from tests.certs import Certs, TlsServerProcess, make_certs
from tests.support import RunningServer, cli_env, free_port, run_cli, wait_until

pytestmark = pytest.mark.browser


def csp_complaints(page: Page) -> list[str]:
    """What Chromium's console says about the content security policy (it reports each block there)."""
    found: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            found.append(message.text)

    page.on("console", note)
    return found


async def test_a_whole_call_in_the_console_breaks_nothing_of_the_servers_content_security_policy(
    page: Page, server: RunningServer, kiosks: Kiosks
) -> None:
    complaints = csp_complaints(page)
    response = await page.goto("/")
    assert response is not None
    policy = await response.header_value("Content-Security-Policy")
    assert policy is not None
    assert policy.startswith(content_security_policy(None).split("; connect-src")[0])  # the server's own
    await signed_in_agent(page, server, "alice")
    kiosk = await kiosks.start("atm-1", "Main St", request_help="cash", say=("hello from the kiosk",))
    await kiosk.wait_for("queued")
    await page.get_by_test_id("state-available").click()
    await page.get_by_test_id("accept-call").click()
    await wait_for_remote_video(page)
    await expect(page.get_by_test_id("chat-log")).to_contain_text(
        "hello from the kiosk", timeout=MEDIA_WAIT_MS
    )
    await page.get_by_test_id("chat-input").fill("How can I help?")
    await page.get_by_test_id("chat-send").click()
    await kiosk.wait_for("chat_received", text="How can I help?")
    await page.get_by_test_id("hangup").click()
    ended = await asyncio.wait_for(kiosk.task, MEDIA_WAIT_S)
    assert ended is not None
    assert ended.state == CallState.COMPLETED
    await page.get_by_test_id("disposition-select").select_option("resolved")
    await page.get_by_test_id("wrapup-submit").click()
    await expect(page.get_by_test_id("agent-state")).to_have_text("available", timeout=UI_WAIT_MS)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_test_id("login-username")).to_be_visible(timeout=UI_WAIT_MS)

    assert await page.evaluate("() => window.cspViolations ?? []") == []
    assert complaints == []


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path / "tls")


async def test_over_https_an_agent_signs_in_on_wss_and_sees_a_kiosk_that_trusts_the_private_authority(
    browser: Browser, certs: Certs, tmp_path: Path, redis_env: dict[str, str]
) -> None:
    data = str(tmp_path / "data")
    code, _, err = await run_cli(
        "users", "add", "ana", "--role", "agent", "--skills", "cash", "--password-stdin", "--data-dir", data,
        stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = await run_cli("kiosks", "enroll", "atm-9", "--json", "--data-dir", data)
    assert code == 0, err
    secret_file = tmp_path / "secret"
    secret_file.write_text(json.loads(out)["secret"])
    events = tmp_path / "events.jsonl"
    server = TlsServerProcess(free_port(), certs, "--data-dir", data, env=cli_env(**redis_env))
    await server.start()
    context = await browser.new_context(base_url=server.url, viewport=VIEWPORT, ignore_https_errors=True)
    kiosk: asyncio.subprocess.Process | None = None
    try:
        await context.add_init_script(RECORD_CSP_VIOLATIONS)
        page = await context.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        complaints = csp_complaints(page)
        await page.goto("/")
        await sign_in(page, "ana", PASSWORD)
        await expect(page.get_by_test_id("agent-state")).to_have_text("away", timeout=UI_WAIT_MS)
        assert sockets
        assert all(url.startswith("wss://127.0.0.1:") for url in sockets)
        cookies = {c["name"]: c for c in await context.cookies()}
        assert cookies["ka_session"]["secure"]
        assert cookies["ka_session"]["httpOnly"]

        kiosk = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "signaling.cli", "kiosk", "run", "--server", server.url,
            "--kiosk-id", "atm-9", "--secret-file", str(secret_file), "--ca-file", str(certs.ca),
            "--request-help", "cash", "--events", str(events), "--headless",
            env=cli_env(), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await page.get_by_test_id("state-available").click()
        await expect(page.get_by_test_id("incoming-call")).to_contain_text("atm-9", timeout=MEDIA_WAIT_MS)
        await page.get_by_test_id("accept-call").click()
        await wait_for_remote_video(page)

        async def kiosk_connected() -> bool:
            lines = events.read_text().splitlines() if events.exists() else []
            return any(json.loads(line)["event"] == "connected" for line in lines)

        await wait_until(kiosk_connected, MEDIA_WAIT_S, "the kiosk's media connected")
        await page.get_by_test_id("hangup").click()
        _, kiosk_err = await asyncio.wait_for(kiosk.communicate(), MEDIA_WAIT_S)
        assert kiosk.returncode == 0, kiosk_err.decode()
        assert await page.evaluate("() => window.cspViolations ?? []") == []
        assert complaints == []
    finally:
        if kiosk is not None and kiosk.returncode is None:
            kiosk.kill()
            await kiosk.wait()
        await context.close()
        assert await server.stop() == 0
