"""Shared test machinery: a real server on a free port, and protocol-level kiosk and agent clients."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from aiohttp import web

from signaling.app import create_app
from signaling.protocol import (
    AgentInbound,
    Error,
    KioskHello,
    KioskInbound,
    ServerMessage,
    Welcome,
    decode_server,
    encode,
)
from signaling.services import SERVICES, Services
from signaling.settings import Settings
from signaling.store import Database, add_user, enroll_kiosk

M = TypeVar("M")
T = TypeVar("T")

WAIT_S = 10.0


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
    runner = web.AppRunner(app)
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
        self._inbox: asyncio.Queue[ServerMessage] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())
        self.closed = asyncio.Event()

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    decoded = decode_server(msg.data)
                    self.received.append(decoded)
                    self._inbox.put_nowait(decoded)
        finally:
            self.closed.set()

    async def send(self, message: KioskInbound | AgentInbound) -> None:
        await self.ws.send_str(encode(message))

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
        await self.ws.close()
        await self._reader
        await self.http.close()


async def connect_kiosk(server: RunningServer, kiosk_id: str, secret: str) -> Client:
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(server.ws_url("/ws/kiosk"))
    client = Client(http, ws)
    await client.send(KioskHello(kiosk_id=kiosk_id, secret=secret))
    first = await client.expect(Welcome | Error)  # type: ignore[arg-type]
    if isinstance(first, Error):
        await client.close()
        raise AssertionError(f"kiosk refused: {first}")
    return client


async def login(server: RunningServer, username: str, password: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(f"{server.url}/api/login", json={"username": username, "password": password}) as r:
        if r.status != 200:
            await http.close()
            raise AssertionError(f"login failed: {r.status} {await r.text()}")
    return http


async def connect_agent(server: RunningServer, username: str, password: str) -> Client:
    http = await login(server, username, password)
    ws = await http.ws_connect(server.ws_url("/ws/agent"))
    client = Client(http, ws)
    await client.expect(Welcome)
    return client
