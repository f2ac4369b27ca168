"""Shared test machinery: a real server on a free port, and protocol-level kiosk and agent clients."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest
import redis as redis_sync
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from signaling.access_log import AccessLogger
from signaling.app import create_app
from signaling.handlers.csrf import CSRF_COOKIE, CSRF_HEADER
from signaling.protocol import (
    AgentInbound,
    Error,
    KioskHello,
    KioskInbound,
    ServerMessage,
    Welcome,
    decode_server,
    encode,
    split_seq,
)
from signaling.services import SERVICES, Services
from signaling.settings import Settings
from signaling.store import Database, add_user, enroll_kiosk

M = TypeVar("M")
T = TypeVar("T")

WAIT_S = 10.0


def forget_prefix(redis_url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (a test's own), so runs can share one Redis."""
    client = redis_sync.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until(check: Callable[[], Awaitable[T | None]], timeout: float = WAIT_S, what: str = "") -> T:
    """Re-check an observable condition until it holds (bounded); for state kept in another system."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(
                0.05
            )  # polling external state (HTTP/DB); a bounded re-check, not a sync sleep


async def redis_snapshot(server: RunningServer) -> dict[bytes, bytes]:
    """Every key of the server's prefix, DUMPed (streams left out: the history log only grows); two equal
    snapshots mean a message changed nothing."""
    redis = server.services.redis
    # failed sign-in counts are the one record a refused request leaves (login throttling); a kiosk's
    # fleet entry holds when it was last heard from, which any heartbeat moves on; the audit log's published
    # head is the server's own bookkeeping (written on its first round, whenever that falls)
    keys = sorted(
        k
        for k in await redis.keys(f"{server.services.keys.prefix}:*")
        if not k.endswith(b":events")
        and not k.endswith(b":audit:head")
        and b":login_failures:" not in k
        and b":fleet:" not in k
    )
    return {k: await redis.dump(k) or b"" for k in keys if await redis.type(k) != b"stream"}


def refused_messages(server: RunningServer, code: str) -> float:
    """The server's count of client messages refused with ``code`` (its ``/metrics`` counter)."""
    registry = server.services.metrics.registry
    value = registry.get_sample_value("kiosk_assist_rejected_messages_total", {"code": code})
    return value or 0.0


@dataclass
class RunningServer:
    url: str
    app: web.Application

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    @property
    def db(self) -> Database:
        return self.services.db

    async def drain_history(self) -> None:
        await self.services.history.drain()

    async def add_agent(self, name: str, password: str = "correct horse", **kw: object) -> str:
        await add_user(self.db, name, password, kw.pop("role", "agent"), **kw)  # type: ignore[arg-type]
        return password

    async def enroll(self, kiosk_id: str, location: str = "Test branch") -> str:
        return await enroll_kiosk(self.db, kiosk_id, location)

    def ws_url(self, path: str) -> str:
        return "ws" + self.url.removeprefix("http") + path


@asynccontextmanager
async def running_server(settings: Settings) -> AsyncIterator[RunningServer]:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log_class=AccessLogger)  # as `serve` logs requests
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    try:
        yield RunningServer(f"http://{settings.host}:{settings.port}", app)
    finally:
        await runner.cleanup()


class Client:
    """A protocol-level client: sends typed messages and waits for the ones it expects."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        self.received: list[ServerMessage] = []
        self.seqs: list[int] = []
        """The ``seq`` of every numbered message received, in order of arrival (no de-duplication here:
        tests check the server sends each once)."""
        self._inbox: asyncio.Queue[ServerMessage] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())
        self.closed = asyncio.Event()

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    seq, body = split_seq(msg.data)
                    if seq is not None:
                        self.seqs.append(seq)
                    decoded = decode_server(body)
                    self.received.append(decoded)
                    self._inbox.put_nowait(decoded)
        finally:
            self.closed.set()

    async def send(self, message: KioskInbound | AgentInbound) -> None:
        await self.ws.send_str(encode(message))

    @property
    def welcome(self) -> Welcome:
        return next(m for m in self.received if isinstance(m, Welcome))

    @property
    def last_seq(self) -> int:
        """What a client would say it has: the last numbered message, or where its session began."""
        return self.seqs[-1] if self.seqs else self.welcome.last_seq

    async def send_raw(self, data: str) -> None:
        await self.ws.send_str(data)

    async def expect(
        self, kind: type[M], timeout: float = WAIT_S, where: Callable[[M], bool] | None = None
    ) -> M:
        """The next message of ``kind`` (skipping others) that satisfies ``where``."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self._inbox.get()
                if isinstance(msg, kind) and (where is None or where(msg)):
                    return msg

    async def close(self) -> None:
        try:
            await self.ws.close()
            await self._reader
        finally:
            await self.http.close()

    async def drop(self) -> None:
        """Lose the connection without a goodbye (no close frame), as a failing network does."""
        cut(self.ws)
        await self._reader
        await self.http.close()


def cut(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Break a client socket's TCP connection at once: no close frame, as when a network fails."""
    ws._writer.transport.abort()  # no public way to cut a client socket


async def connect_kiosk(
    server: RunningServer, kiosk_id: str, secret: str, resume: Client | None = None
) -> Client:
    """A signed-in kiosk; with ``resume``, one that reconnects and asks to resume that client's session."""
    http = aiohttp.ClientSession()
    try:
        ws = await http.ws_connect(server.ws_url("/ws/kiosk"))
    except BaseException:
        await http.close()
        raise
    client = Client(http, ws)
    hello = KioskHello(kiosk_id=kiosk_id, secret=secret)
    if resume is not None:
        hello = KioskHello(
            kiosk_id=kiosk_id,
            secret=secret,
            resume_token=resume.welcome.resume_token,
            last_seq=resume.last_seq,
        )
    await client.send(hello)
    first = await client.expect(Welcome | Error)  # type: ignore[arg-type]
    if isinstance(first, Error):
        await client.close()
        raise AssertionError(f"kiosk refused: {first}")
    return client


async def login(server: RunningServer, username: str, password: str) -> aiohttp.ClientSession:
    """A signed-in HTTP session; it sends the session's CSRF token with every request, as the console does."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(f"{server.url}/api/login", json={"username": username, "password": password}) as r:
        if r.status != 200:
            await http.close()
            raise AssertionError(f"login failed: {r.status} {await r.text()}")
        send_csrf_token(http, r)
    return http


def send_csrf_token(http: aiohttp.ClientSession, signed_in: aiohttp.ClientResponse) -> None:
    """Make ``http`` echo the CSRF token that sign-in (the response ``signed_in``) set, like the console."""
    http.headers[CSRF_HEADER] = signed_in.cookies[CSRF_COOKIE].value


async def connect_agent(
    server: RunningServer, username: str, password: str, resume: Client | None = None
) -> Client:
    http = await login(server, username, password)
    query = ""
    if resume is not None:
        query = f"?resume={resume.welcome.resume_token}&last_seq={resume.last_seq}"
    try:
        ws = await http.ws_connect(server.ws_url("/ws/agent" + query))
    except BaseException:
        await http.close()
        raise
    client = Client(http, ws)
    await client.expect(Welcome)
    return client


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a ``kiosk-assist`` subprocess, without any configuration of ours leaking in."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_ASSIST_")}
    env.update(extra)
    return env


async def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling.cli", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env or cli_env(),
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else b""), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class ServerProcess:
    """``kiosk-assist serve`` as its own process, as an operator runs it."""

    def __init__(self, port: int, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._args = args
        self._env = env or cli_env()
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> ServerProcess:
        import sys

        # logs go to a file (a pipe nobody reads would fill up and stall the server)
        fd, name = tempfile.mkstemp(prefix="kiosk-assist-server-", suffix=".log")
        self.log_path = Path(name)
        stderr = None if os.environ.get("KA_TEST_SERVER_LOGS") else fd
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "signaling.cli", "serve", "--port", str(self.port), *self._args,
            env=self._env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
        os.close(fd)  # the child has its own copy
        await wait_until(self._ready, 30, "server ready")
        return self

    async def _ready(self) -> bool:
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(f"server exited with {self.process.returncode}: {self.logs()[-3000:]}")
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{self.url}/readyz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def as_running(self) -> RunningServer:
        return RunningServer(self.url, web.Application())

    async def stop(self, sig: int = 15) -> int:
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process and self.process.returncode is not None else 0
        self.process.send_signal(sig)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        assert self.process.returncode is not None
        return self.process.returncode


POSTGRES_URL = os.environ.get("KIOSK_ASSIST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@asynccontextmanager
async def scratch_postgres_database(server_url: str = POSTGRES_URL) -> AsyncIterator[str]:
    """A URL to a new, empty database on the server of ``server_url``; dropped afterwards."""
    url = make_url(server_url).set(drivername="postgresql+asyncpg")
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"ka_store_test_{uuid.uuid4().hex[:12]}"
    try:
        try:
            async with asyncio.timeout(5):
                connection = await admin.connect()
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            pytest.skip(f"PostgreSQL is unreachable at {url.render_as_string()}: {exc!r}")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.close()
    finally:
        await admin.dispose()


def closed_hours() -> str:
    """Opening hours (a one-minute window twelve hours from now, UTC) under which a queue is closed now."""
    import datetime as dt

    start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)
    end = start + dt.timedelta(minutes=1)
    if end.date() != start.date():  # keep the window within one day
        start, end = start.replace(hour=12, minute=0), start.replace(hour=12, minute=1)
    return f"mon-sun {start:%H:%M}-{end:%H:%M}"
