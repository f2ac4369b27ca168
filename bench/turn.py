"""Debian's coturn (``turnserver``) on loopback for benchmarks: a relay that can be killed and brought back.

A slim copy of ``tests/turn_server.py``'s ``TurnServer`` (the process, its arguments and the readiness probe),
kept here because the tests import ``bench`` (``bench.browser``) and not the other way round: a benchmark
must not need the test tree or pytest (that helper reports a missing coturn with ``pytest.fail``). Only TURN
REST API credentials (``use-auth-secret``), which the server hands out per call with ``--turn-secret-file``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

TURNSERVER = Path(os.environ.get("KIOSK_ASSIST_TURNSERVER", "/usr/bin/turnserver"))
HOST = "127.0.0.1"
REALM = "kiosk-assist.bench"
READY_S = 10.0  # a cold start answers in about 0.1 s
STOP_S = 5.0
STUN_RETRY_S = 0.05  # the probe's retransmission interval (an unanswered UDP request is simply lost)

_BINDING_REQUEST = 0x0001
_BINDING_SUCCESS = 0x0101
_MAGIC_COOKIE = 0x2112A442


class TurnError(RuntimeError):
    pass


def free_udp_and_tcp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((HOST, port))
                except OSError:
                    continue
                return port


class TurnServer:
    """coturn on ``127.0.0.1:<port>`` relaying to loopback peers, with a shared secret; files in ``work_dir``.

    ``stop()`` kills it (SIGKILL: its clients get no goodbye, their allocations are gone) and ``start()``
    brings a new one up on the same port.
    """

    def __init__(self, work_dir: Path) -> None:
        if not TURNSERVER.exists():
            raise TurnError(f"no turnserver at {TURNSERVER}: `make turn` (or set KIOSK_ASSIST_TURNSERVER)")
        work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir = work_dir
        self.port = free_udp_and_tcp_port()
        self.secret = secrets.token_urlsafe(16)
        self.log_path = work_dir / "turnserver.log"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"turn:{HOST}:{self.port}?transport=udp"

    async def start(self) -> TurnServer:
        """Start coturn on this server's port and return once it answers STUN requests."""
        with (self.work_dir / "turnserver.stderr").open("ab") as stderr:
            self._process = await asyncio.create_subprocess_exec(
                str(TURNSERVER), *self._arguments(),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
                preexec_fn=die_with_parent,
            )  # fmt: skip
        try:
            async with asyncio.timeout(READY_S):
                await stun_binding(HOST, self.port, alive=self._alive)
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        """Kill coturn and wait for it to exit. Idempotent."""
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

    def _arguments(self) -> list[str]:
        return [
            "-n",  # no configuration file: every setting comes from here
            f"--listening-ip={HOST}", f"--relay-ip={HOST}", f"--listening-port={self.port}",
            "--allow-loopback-peers",  # the peers' relayed addresses are on 127.0.0.1 too
            "--no-tls", "--no-dtls", "--no-cli", "--no-rfc5780", "--fingerprint", f"--realm={REALM}",
            f"--log-file={self.log_path}", "--simple-log", "--no-stdout-log",
            f"--pidfile={self.work_dir / 'turnserver.pid'}",
            f"--userdb={self.work_dir / 'turndb'}",  # coturn always opens one: a throwaway, empty one
            "--use-auth-secret", f"--static-auth-secret={self.secret}",
        ]  # fmt: skip

    def _alive(self) -> None:
        assert self._process is not None
        if self._process.returncode is not None:
            raise TurnError(f"turnserver exited with {self._process.returncode} (see {self.log_path})")


def die_with_parent() -> None:
    """In the child: have Linux kill it when the process that started it dies (a benchmark, a test), so a
    killed run leaves no relay behind."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class _StunProbe(asyncio.DatagramProtocol):
    def __init__(self, transaction_id: bytes) -> None:
        self.transaction_id = transaction_id
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        kind = struct.unpack("!H", data[:2])[0] if len(data) >= 20 else None
        if kind == _BINDING_SUCCESS and data[8:20] == self.transaction_id and not self.answered.done():
            self.answered.set_result(None)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable until the server listens: the next retransmission tries again


async def stun_binding(host: str, port: int, alive: Callable[[], None] | None = None) -> None:
    """Send STUN binding requests to ``host:port`` until one is answered (the caller bounds the wait);
    ``alive()``, if given, is called before each attempt and may raise to give up."""
    transaction_id = secrets.token_bytes(12)
    request = struct.pack("!HHI", _BINDING_REQUEST, 0, _MAGIC_COOKIE) + transaction_id
    loop = asyncio.get_running_loop()
    transport, probe = await loop.create_datagram_endpoint(
        lambda: _StunProbe(transaction_id), remote_addr=(host, port)
    )
    try:
        while True:
            if alive is not None:
                alive()
            transport.sendto(request)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STUN_RETRY_S):
                    await asyncio.shield(probe.answered)
                return
    finally:
        transport.close()
