"""The kiosk's WebSocket to the signaling server: authenticate, then send and receive typed messages."""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import msgspec

from signaling.protocol import (
    Error,
    KioskHello,
    KioskInbound,
    ServerMessage,
    Welcome,
    decode_server,
    encode,
    split_seq,
)

CONNECT_TIMEOUT_S = 10.0


class SignalingError(Exception):
    """The server refused us (bad credential, protocol: ``fatal``) or could not be reached."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


def websocket_url(server: str, path: str) -> str:
    base = server.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    elif not base.startswith(("ws://", "wss://")):
        raise SignalingError(f"server URL must start with http://, https://, ws:// or wss://: {server!r}")
    return base + path


def client_tls(ca_file: Path | None) -> ssl.SSLContext | None:
    """How the kiosk checks a ``wss://`` server: against ``ca_file`` alone (a bank's private authority, or
    the server's own certificate) when given, else against the system's authorities (None)."""
    if ca_file is None:
        return None
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
    except OSError as exc:  # ssl.SSLError too: not PEM, no certificate in it
        reason = exc.strerror or getattr(exc, "reason", None) or exc
        raise SignalingError(f"cannot use the CA file {ca_file}: {reason}", fatal=True) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # a certificate in the file is a trust anchor even when it is not a root (the server's own, pinned)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def _untrusted(url: str, exc: aiohttp.ClientConnectorCertificateError) -> SignalingError:
    error = exc.certificate_error
    reason = getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)
    return SignalingError(
        f"the server at {url} presented a certificate this kiosk does not trust ({reason}); "
        "give the authority that signed it with --ca-file",
        fatal=True,
    )


CLOSE_SUPERSEDED = 4001
"""Close code: another connection of this kiosk (a second copy of the program?) replaced this one."""


def reconnect_delays() -> Iterator[float]:
    """About 0, 0.3, 1.2, 2.7, 4.8 s, then every 7 s, each with up to 20 % jitter."""
    for base in (0.0, 0.3, 1.2, 2.7, 4.8):
        yield base * random.uniform(0.8, 1.2)
    while True:
        yield 7.0 * random.uniform(0.8, 1.2)


class KioskSignaling:
    def __init__(
        self, server: str, kiosk_id: str, secret: str, app_version: str = "", ca_file: Path | None = None
    ) -> None:
        self._url = websocket_url(server, "/ws/kiosk")
        self._tls = client_tls(ca_file)
        self._hello = KioskHello(kiosk_id=kiosk_id, secret=secret, app_version=app_version)
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.welcome: Welcome | None = None
        self.last_seq = 0
        """The last numbered message received: a reconnect resumes after it."""
        self._restored_token = ""
        self.on_resume_point: Callable[[str, int], None] | None = None
        """Called with (resume token, last seq) whenever either changes (the state file keeps them)."""

    def restore(self, resume_token: str, last_seq: int) -> None:
        """Resume the session of an earlier run of this program (after a crash) on the next connect."""
        self._restored_token, self.last_seq = resume_token, last_seq

    def _resume_point(self) -> None:
        if self.on_resume_point is not None and self.welcome is not None and self.welcome.resume_token:
            self.on_resume_point(self.welcome.resume_token, self.last_seq)

    async def connect(self) -> Welcome:
        await self.close()
        self._http = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                self._ws = await self._http.ws_connect(self._url, heartbeat=10.0, ssl=self._ssl)
                await self._ws.send_str(encode(self._resume_hello()))
                first = await self._ws.receive()
        except aiohttp.ClientConnectorCertificateError as exc:  # retrying cannot help
            await self.close()
            raise _untrusted(self._url, exc) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self.close()
            raise SignalingError(f"cannot reach the server at {self._url}: {exc}") from exc
        if first.type != aiohttp.WSMsgType.TEXT:
            await self.close()
            raise SignalingError("the server closed the connection during sign-in")
        reply = decode_server(first.data)
        if isinstance(reply, Error):
            await self.close()
            raise SignalingError(
                f"the server refused this kiosk: {reply.message} ({reply.code.value})", fatal=True
            )
        if not isinstance(reply, Welcome):
            await self.close()
            raise SignalingError(f"unexpected first message {type(reply).__name__}", fatal=True)
        self.welcome = reply
        if not reply.resumed:  # a new session: its messages count on from here
            self.last_seq = reply.last_seq
        self._restored_token = ""
        self._resume_point()
        return reply

    @property
    def _ssl(self) -> ssl.SSLContext | bool:
        return True if self._tls is None else self._tls

    def _resume_hello(self) -> KioskHello:
        token = self.welcome.resume_token if self.welcome is not None else self._restored_token
        if not token:
            return self._hello
        return msgspec.structs.replace(self._hello, resume_token=token, last_seq=self.last_seq)

    async def send(self, message: KioskInbound) -> None:
        if self._ws is None or self._ws.closed:
            raise SignalingError("not connected")
        await self._ws.send_str(encode(message))

    async def messages(self) -> AsyncIterator[ServerMessage]:
        """The server's messages until the socket closes (then ``replaced`` says whether to reconnect)."""
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                seq, body = split_seq(msg.data)
                if seq is not None:
                    if seq <= self.last_seq:
                        continue  # already received before a reconnect
                    self.last_seq = seq
                yield decode_server(body)
                if seq is not None:  # kept once handled: a crash before that receives it again
                    self._resume_point()
            elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                break

    @property
    def replaced(self) -> bool:
        """The server closed this socket because a newer connection of this kiosk took over."""
        return self._ws is not None and self._ws.close_code == CLOSE_SUPERSEDED

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._http is not None:
            await self._http.close()
            self._http = None
