"""The web surface's defences: security headers on every response, cross-site request refusals, cookie
flags over HTTP, HTTPS and behind a TLS-terminating proxy, and what errors and logs never reveal."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from sqlalchemy import text
from yarl import URL

from signaling.auth import COOKIE_NAME
from signaling.cli import QUIET_LOGGERS
from signaling.handlers.csrf import CSRF_COOKIE, CSRF_HEADER
from signaling.protocol import (
    Accept,
    AgentJoined,
    CallAccepted,
    CallEnded,
    Hangup,
    HelpRequest,
    Offer,
    Queued,
    SetState,
    WrapUp,
)
from signaling.settings import Settings
from tests.support import (
    RunningServer,
    connect_agent,
    connect_kiosk,
    free_port,
    login,
    redis_snapshot,
    running_server,
    wait_until,
)

PASSWORD = "correct horse battery"
EVIL = "https://evil.example"


@asynccontextmanager
async def anonymous() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield http


def set_cookies(response: aiohttp.ClientResponse) -> dict[str, str]:
    """Each cookie the response sets, by name, with its attributes as sent (lowercased)."""
    out = {}
    for line in response.headers.getall("Set-Cookie", []):
        out[line.split("=", 1)[0]] = line.lower()
    return out


async def sign_in(
    server: RunningServer, http: aiohttp.ClientSession, **headers: str
) -> aiohttp.ClientResponse:
    body = {"username": "ana", "password": PASSWORD}
    async with http.post(f"{server.url}/api/login", json=body, headers=headers) as response:
        await response.read()
        return response


# ------------------------------------------------------------------------------------------ headers
async def test_pages_static_files_the_api_and_errors_all_carry_the_security_headers(
    server: RunningServer,
) -> None:
    async with anonymous() as http:
        for path, status in (
            ("/", 200),
            ("/static/app.js", 200),
            ("/healthz", 200),
            ("/openapi.json", 200),
            ("/api/me", 401),
            ("/api/no-such-thing", 404),
            ("/nowhere", 404),
        ):
            async with http.get(f"{server.url}{path}") as r:
                assert r.status == status, path
                csp = r.headers["Content-Security-Policy"]
                for directive in (
                    "default-src 'self'",
                    "script-src 'self'",
                    "style-src 'self'",
                    "frame-ancestors 'none'",
                    "base-uri 'none'",
                    "object-src 'none'",
                    "form-action 'self'",
                ):
                    assert directive in csp, (path, directive)
                assert "unsafe-inline" not in csp
                assert "unsafe-eval" not in csp
                assert f"ws://{URL(server.url).authority}" in csp  # the console's socket
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["Referrer-Policy"] == "no-referrer"
                assert r.headers["X-Frame-Options"] == "DENY"
                assert "camera=(self)" in r.headers["Permissions-Policy"]
                assert "microphone=(self)" in r.headers["Permissions-Policy"]
                assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
                assert "Strict-Transport-Security" not in r.headers  # plain HTTP: no HSTS
                if path.startswith("/api/"):
                    assert r.headers["Cache-Control"] == "no-store", path
        async with http.post(f"{server.url}/api/login", data="username=ana") as r:
            assert r.status == 400
            assert r.headers["Cache-Control"] == "no-store"
            assert "Content-Security-Policy" in r.headers


# ------------------------------------------------------------------------------------------ CSRF
async def test_a_sign_in_from_another_sites_page_is_refused_and_from_this_site_or_an_allowed_one_accepted(
    settings: Settings,
) -> None:
    allowed = "https://console.bank.example"
    async with running_server(dataclasses.replace(settings, allowed_origins=(allowed,))) as server:
        await server.add_agent("ana", PASSWORD)
        for headers in (
            {"Origin": EVIL},
            {"Origin": "null"},
            {"Referer": f"{EVIL}/phish.html"},
            {"Sec-Fetch-Site": "cross-site", "Origin": server.url},
        ):
            async with anonymous() as http:
                refused = await sign_in(server, http, **headers)
                assert refused.status == 403, headers
                assert (await refused.json())["code"] == "cross_site"
                assert COOKIE_NAME not in set_cookies(refused)
        for headers in ({"Origin": server.url}, {"Origin": allowed}, {"Sec-Fetch-Site": "same-origin"}, {}):
            async with anonymous() as http:
                assert (await sign_in(server, http, **headers)).status == 200, headers


async def test_a_signed_in_change_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    server: RunningServer,
) -> None:
    await server.add_agent("sue", PASSWORD, role="supervisor")
    agent = await connect_agent(server, "ana", await server.add_agent("ana", PASSWORD))
    sue = await login(server, "sue", PASSWORD)
    url = f"{server.url}/api/agents/ana/state"
    try:
        token = sue.headers.pop(CSRF_HEADER)
        before = await redis_snapshot(server)
        for headers in ({}, {CSRF_HEADER: "0" * len(token)}, {CSRF_HEADER: token[:-1]}):
            async with sue.post(url, json={"state": "available"}, headers=headers) as r:
                assert r.status == 403, headers
                assert await r.json() == {
                    "code": "cross_site",
                    "message": f"missing or wrong {CSRF_HEADER}; reload the page and try again",
                }
        # a cookie planted by another site (or a sibling subdomain) does not help: the token is the session's
        sue.cookie_jar.update_cookies({CSRF_COOKIE: "planted"}, URL(server.url))
        async with sue.post(url, json={"state": "available"}, headers={CSRF_HEADER: "planted"}) as r:
            assert r.status == 403
        async with sue.post(f"{server.url}/api/logout", headers={"Origin": EVIL, CSRF_HEADER: token}) as r:
            assert r.status == 403
        assert await redis_snapshot(server) == before
        async with sue.post(url, json={"state": "available"}, headers={CSRF_HEADER: token}) as r:
            assert r.status == 200
        async with sue.get(f"{server.url}/api/me") as r:  # reading needs no token
            assert r.status == 200
    finally:
        await sue.close()
        await agent.close()


async def test_sign_in_sets_an_httponly_strict_session_cookie_and_a_readable_csrf_cookie(
    server: RunningServer,
) -> None:
    await server.add_agent("ana", PASSWORD)
    async with anonymous() as http:
        cookies = set_cookies(await sign_in(server, http))
    session, csrf = cookies[COOKIE_NAME], cookies[CSRF_COOKIE]
    assert "httponly" in session
    assert "samesite=strict" in session
    assert "path=/" in session
    assert "httponly" not in csrf
    assert "samesite=strict" in csrf
    assert "secure" not in session
    assert "secure" not in csrf


async def test_behind_a_trusted_tls_proxy_cookies_are_secure_and_hsts_is_sent_and_never_otherwise(
    settings: Settings,
) -> None:
    for trust in (True, False):
        changed = dataclasses.replace(
            settings, trust_forwarded_proto=trust, port=free_port(), data_dir=settings.data_dir / str(trust)
        )
        async with running_server(changed) as server, anonymous() as http:
            await server.add_agent("ana", PASSWORD)
            forwarded = {"X-Forwarded-Proto": "https", "Origin": f"https://{URL(server.url).authority}"}
            response = await sign_in(server, http, **forwarded)
            if trust:
                assert response.status == 200  # the page's https origin is this site's
                assert all("secure" in c for c in set_cookies(response).values())
                assert response.headers["Strict-Transport-Security"].startswith("max-age=")
                assert "wss://" in response.headers["Content-Security-Policy"]
            else:  # a client claiming https is not believed: its https origin is not this http site
                assert response.status == 403
                assert "Strict-Transport-Security" not in response.headers
                plain = await sign_in(server, http, **{"X-Forwarded-Proto": "https"})
                assert plain.status == 200
                assert not any("secure" in c for c in set_cookies(plain).values())


async def test_a_page_of_another_site_cannot_open_the_agent_or_the_kiosk_socket(
    server: RunningServer,
) -> None:
    await server.add_agent("ana", PASSWORD)
    http = await login(server, "ana", PASSWORD)
    try:
        for path in ("/ws/agent", "/ws/kiosk"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(server.ws_url(path), headers={"Origin": EVIL})
            assert refused.value.status == 403, path
        ws = await http.ws_connect(server.ws_url("/ws/agent"), headers={"Origin": server.url})
        await ws.close()
    finally:
        await http.close()


# ------------------------------------------------------------------------------------------ errors, logs
async def test_an_unexpected_failure_answers_a_problem_with_a_correlation_id_and_never_a_traceback(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    await server.add_agent("ana", PASSWORD)
    http = await login(server, "ana", PASSWORD)
    try:
        async with server.db.engine.begin() as connection:  # the database loses a table under the server
            await connection.execute(text("DROP TABLE calls"))
        with caplog.at_level(logging.ERROR, logger="signaling"):
            async with http.get(f"{server.url}/api/calls") as r:
                body = await r.json()
                assert r.status == 500
                assert r.headers["Cache-Control"] == "no-store"
    finally:
        await http.close()
    correlation_id = body["correlation_id"]
    assert body == {
        "code": "internal",
        "message": f"internal error; quote correlation id {correlation_id} to support",
        "correlation_id": correlation_id,
    }
    assert r.headers["X-Correlation-Id"] == correlation_id
    (record,) = [r for r in caplog.records if correlation_id in r.getMessage()]
    assert record.exc_info is not None  # the traceback is in the server's log, under the id, not the answer


async def test_no_password_token_kiosk_secret_or_turn_credential_reaches_the_log_in_a_whole_call(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    turn_secret = "turn-shared-secret-do-not-log"
    changed = dataclasses.replace(
        settings, ice_servers=("stun:127.0.0.1:3478", "turn:127.0.0.1:3478"), turn_secret=turn_secret
    )
    caplog.set_level(logging.WARNING, logger="aiosqlite")  # as the command line holds it (QUIET_LOGGERS)
    caplog.set_level(logging.INFO, logger="aiohttp.access")  # the command line holds it at WARNING
    caplog.set_level(logging.DEBUG)  # everything else, at its most talkative
    assert "aiosqlite" in QUIET_LOGGERS
    async with running_server(changed) as server:
        await server.add_agent("ana", PASSWORD, skills=["cash"])
        kiosk_secret = await server.enroll("k-1")
        kiosk = await connect_kiosk(server, "k-1", kiosk_secret)
        agent = await connect_agent(server, "ana", PASSWORD)
        cookies = agent.http.cookie_jar.filter_cookies(URL(server.url))
        secrets_seen = {
            PASSWORD,
            kiosk_secret,
            turn_secret,
            cookies[COOKIE_NAME].value,
            cookies[CSRF_COOKIE].value,
            kiosk.welcome.resume_token,
            agent.welcome.resume_token,
        }
        await kiosk.send(HelpRequest(topic="cash", context={"card": "4111 1111 1111 1111"}))
        call_id = (await kiosk.expect(Queued)).call_id
        await agent.send(SetState(state="available"))
        await agent.expect(Offer)
        await agent.send(Accept(call_id=call_id))
        await agent.expect(CallAccepted)
        joined = await kiosk.expect(AgentJoined)
        secrets_seen |= {s.credential for s in joined.ice_servers if s.credential}
        resumed = await connect_agent(server, "ana", PASSWORD, resume=agent)  # ?resume= in the URL
        secrets_seen.add(resumed.welcome.resume_token)
        await resumed.send(Hangup(call_id=call_id))
        await kiosk.expect(CallEnded)
        await resumed.send(WrapUp(call_id=call_id, disposition="resolved", notes="done"))
        async with resumed.http.post(f"{server.url}/api/logout") as r:
            assert r.status == 200
        for client in (kiosk, agent, resumed):
            await client.close()
    assert len(secrets_seen) >= 8
    assert all(secrets_seen)

    async def signed_out_logged() -> bool:  # the access line is written just after the answer is sent
        return any("POST /api/logout" in record.getMessage() for record in caplog.records)

    await wait_until(signed_out_logged, what="the sign-out's access log line")
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {record.__dict__}" for record in caplog.records
    )
    assert "POST /api/logout" in logged  # the access log was captured too
    for secret in secrets_seen:
        assert secret not in logged
    leaks = [
        f"{r.name}:{r.levelname}:{r.getMessage()[:300]}" for r in caplog.records if "4111" in r.getMessage()
    ]
    assert not leaks, leaks  # nor the customer's context
