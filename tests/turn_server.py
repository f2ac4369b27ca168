"""Debian's coturn (``turnserver``) on loopback, so tests can force media through a TURN relay and break it.

A :class:`TurnServer` listens and relays on 127.0.0.1 only (no TLS, no CLI, no shared database), on one port
it keeps for its whole life: :meth:`TurnServer.stop` kills the process (a crashed relay: no goodbye to the
clients) and :meth:`TurnServer.start` brings a new one up on the same port, as an operator's restart does.
It is ready when the port answers a STUN binding request. Credentials are the TURN REST API kind
(``use-auth-secret``: a shared secret, an expiring username) or long-term static ones (``lt-cred-mech``).

To use the fixture in a suite, import it into that suite's ``conftest.py``::

    from tests.turn_server import turn_server as turn_server
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import hmac
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from aiortc import RTCIceServer

from bench.turn import die_with_parent, stun_binding

TURNSERVER = Path(os.environ.get("KIOSK_ASSIST_TURNSERVER", "/usr/bin/turnserver"))
HOST = "127.0.0.1"
REALM = "kiosk-assist.test"
READY_S = 10.0  # a cold start answers in about 0.1 s
STOP_S = 5.0
STUN_RETRY_S = 0.05  # the probe's retransmission interval (an unanswered UDP request is simply lost)


class TurnAuth(enum.StrEnum):
    """How clients authenticate (coturn's option of the same name)."""

    REST_SECRET = "use-auth-secret"  # TURN REST API: credentials derived from a shared secret, with an expiry
    LONG_TERM = "lt-cred-mech"  # one static user and password


def rest_credentials(
    secret: str, name: str, ttl_s: float = 3600.0, now: float | None = None
) -> tuple[str, str]:
    """A TURN REST API username and password: ``"<expiry>:<name>"`` and base64(HMAC-SHA1(secret, username)).

    ``expiry`` is a Unix time ``ttl_s`` seconds from ``now``; the server refuses the username after it.
    """
    expiry = int((time.time() if now is None else now) + ttl_s)
    username = f"{expiry}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def free_udp_and_tcp_port(host: str = HOST) -> int:
    """A port free for both UDP and TCP on ``host`` (coturn listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port


class TurnServer:
    """coturn on ``127.0.0.1:<port>``, relaying on 127.0.0.1 to loopback peers; its files go in ``work_dir``.

    ``async with TurnServer(tmp_path) as turn:`` starts it and kills it at the end; in between, ``stop()``
    and ``start()`` break and restore the relay on the same port as often as a test likes.
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        auth: TurnAuth = TurnAuth.REST_SECRET,
        port: int | None = None,
        secret: str | None = None,
        username: str = "kiosk",
        password: str | None = None,
    ) -> None:
        self.work_dir = work_dir
        self.auth = auth
        self.port = port or free_udp_and_tcp_port()
        self.secret = secret or secrets.token_urlsafe(16)  # the static-auth-secret (REST_SECRET)
        self.username = username  # the static user (LONG_TERM) or the name in REST usernames
        self.password = password or secrets.token_urlsafe(12)  # the static user's password (LONG_TERM)
        self.log_path = work_dir / "turnserver.log"
        self.starts = 0
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"turn:{HOST}:{self.port}?transport=udp"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def credentials(self, name: str | None = None, ttl_s: float = 3600.0) -> tuple[str, str]:
        """A username and password this server accepts (for REST_SECRET, new ones valid for ``ttl_s``)."""
        if self.auth is TurnAuth.LONG_TERM:
            return self.username, self.password
        return rest_credentials(self.secret, name or self.username, ttl_s)

    def ice_server(self, name: str | None = None, ttl_s: float = 3600.0) -> RTCIceServer:
        """The server as aiortc's ``RTCConfiguration(iceServers=[...])`` takes it."""
        username, credential = self.credentials(name, ttl_s)
        return RTCIceServer(urls=[self.url], username=username, credential=credential)

    def browser_ice_server(self, name: str | None = None, ttl_s: float = 3600.0) -> dict[str, Any]:
        """The server as a browser's ``new RTCPeerConnection({iceServers: [...]})`` takes it."""
        username, credential = self.credentials(name, ttl_s)
        return {"urls": [self.url], "username": username, "credential": credential}

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def start(self) -> TurnServer:
        """Start coturn on this server's port and return once it answers STUN requests."""
        if self.running:
            raise RuntimeError(f"turnserver is already running on port {self.port}")
        self._prepare()
        self.starts += 1
        with (self.work_dir / "turnserver.stderr").open("ab") as stderr:
            self._process = await asyncio.create_subprocess_exec(
                str(TURNSERVER), *self._arguments(),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
                preexec_fn=die_with_parent,
            )  # fmt: skip
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        """Kill coturn (SIGKILL: its clients get no goodbye) and wait for it to exit. Idempotent."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.kill()
        async with asyncio.timeout(STOP_S):
            await process.wait()

    async def __aenter__(self) -> TurnServer:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _prepare(self) -> None:
        if not TURNSERVER.exists():  # `make test` installs Debian's coturn; a missing relay is a failure
            pytest.fail(f"no turnserver at {TURNSERVER}: run `make turn` (or set KIOSK_ASSIST_TURNSERVER)")
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def _arguments(self) -> list[str]:
        return [
            "-n",  # no configuration file: every setting comes from here, none from /etc/turnserver.conf
            f"--listening-ip={HOST}", f"--relay-ip={HOST}", f"--listening-port={self.port}",
            "--allow-loopback-peers",  # the peers' relayed addresses are on 127.0.0.1 too
            "--no-tls", "--no-dtls", "--no-cli", "--no-rfc5780", "--fingerprint", f"--realm={REALM}",
            "--verbose",  # the log shows each session, allocation, permission and channel binding
            f"--log-file={self.log_path}", "--simple-log", "--no-stdout-log",
            f"--pidfile={self.work_dir / 'turnserver.pid'}",
            # coturn always opens an SQLite user database (default /var/lib/turn/turndb); keep an empty
            # throwaway one here: all users and secrets come from the command line
            f"--userdb={self.work_dir / 'turndb'}",
            *self._auth_arguments(),
        ]  # fmt: skip

    def _auth_arguments(self) -> list[str]:
        if self.auth is TurnAuth.LONG_TERM:
            return ["--lt-cred-mech", f"--user={self.username}:{self.password}"]
        return ["--use-auth-secret", f"--static-auth-secret={self.secret}"]

    async def _wait_ready(self) -> None:
        """Wait (bounded) until the port answers a STUN binding request; fail early if coturn exits."""
        try:
            async with asyncio.timeout(READY_S):
                await stun_binding(HOST, self.port, alive=self._alive)
        except TimeoutError:
            raise AssertionError(f"turnserver not ready after {READY_S}s:\n{self.logs()[-3000:]}") from None

    def _alive(self) -> None:
        assert self._process is not None
        if self._process.returncode is not None:
            raise AssertionError(f"turnserver exited with {self._process.returncode}:\n{self.logs()[-3000:]}")


@pytest.fixture
async def turn_server(tmp_path: Path) -> AsyncIterator[TurnServer]:
    """A running coturn on loopback with TURN REST API credentials (``turn_server.ice_server()``)."""
    async with TurnServer(tmp_path / "turn") as turn:
        yield turn
