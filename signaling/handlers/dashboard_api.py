"""The IT and supervisors' dashboard: ``GET /dashboard`` (the page) and ``GET /api/dashboard/stream``.

The stream is Server-Sent Events: ``retry`` first (the browser's ``EventSource`` reconnects on its own
after that many milliseconds), then a ``snapshot`` event every ``SNAPSHOT_EVERY_S`` with the whole live
picture (``signaling/dashboard.py``), or ``unavailable`` while Redis or the database does not answer.

It is bounded:

- it ends when the client goes (the next write fails), when the session ends (signed out, expired, a new
  role; re-checked every ``SESSION_RECHECK_S``: a ``signed_out`` event, then the end), and when the server
  drains for shutdown (the browser reconnects, to another server behind the balancer);
- a slow client cannot pile up memory: a snapshot is only written once the previous ones have left the
  socket's buffer (the ones in between are skipped: each snapshot is whole, the latest is what counts),
  and a client that takes nothing for ``STALL_S`` is cut off.
"""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from pathlib import Path

from aiohttp import web

from signaling.auth import COOKIE_NAME
from signaling.dashboard import SNAPSHOT_EVERY_S, sse
from signaling.handlers.session_api import require_session
from signaling.protocol import ErrorCode, ProtocolError
from signaling.services import SERVICES

log = logging.getLogger(__name__)

MONITORS = ("supervisor", "admin", "it")
"""The roles that read the dashboard."""
RETRY_MS = 2000
SESSION_RECHECK_S = 5.0
STALL_S = 15.0
MAX_BACKLOG_BYTES = 64 * 1024
"""A snapshot is skipped while more than this is still waiting in the socket's buffer."""
EVENT_STREAM = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # a buffering proxy (nginx) would hold the events back
}


async def dashboard_page(request: web.Request) -> web.FileResponse:
    """The page: refused (403) to a signed-in agent; without a session it offers sign-in. It holds no data
    itself: the stream refuses everyone but supervisors, administrators and IT."""
    staff = await request.app[SERVICES].sessions.get(request.cookies.get(COOKIE_NAME))
    if staff is not None and staff.role not in MONITORS:
        raise ProtocolError(ErrorCode.FORBIDDEN, "the dashboard is for supervisors, administrators and IT")
    # never cached: whether it is served depends on who asks
    page = Path(str(resources.files("agent_console"))) / "dashboard.html"
    return web.FileResponse(page, headers={"Cache-Control": "no-store"})


async def stream(request: web.Request) -> web.StreamResponse:
    staff = await require_session(request, MONITORS)
    response = web.StreamResponse(headers=EVENT_STREAM)
    await response.prepare(request)
    try:
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        reason = await _pump(request, response)
    except ConnectionError:
        reason = "client gone"
    log.debug("dashboard stream of %s ended: %s", staff.username, reason)
    return response


async def _pump(request: web.Request, response: web.StreamResponse) -> str:
    """Write snapshots until the stream must end; why it ended."""
    services = request.app[SERVICES]
    loop = asyncio.get_running_loop()
    session_checked = loop.time()
    stalled_since: float | None = None
    while not services.draining:
        if loop.time() - session_checked >= SESSION_RECHECK_S:
            if not await _signed_in(request, response):
                return "session ended"
            session_checked = loop.time()
        transport = request.transport
        if transport is None or transport.is_closing():
            return "client gone"
        if transport.get_write_buffer_size() <= MAX_BACKLOG_BYTES:
            stalled_since = None
            event = await services.dashboard.event()
            try:
                async with asyncio.timeout(
                    STALL_S
                ):  # a write waits only when a snapshot overfills the buffer
                    await response.write(event)
            except TimeoutError:
                transport.abort()
                return "client stalled"
        elif stalled_since is None:
            stalled_since = loop.time()
        elif loop.time() - stalled_since > STALL_S:
            transport.abort()
            return "client stalled"
        await asyncio.sleep(SNAPSHOT_EVERY_S)
    return "server draining"


async def _signed_in(request: web.Request, response: web.StreamResponse) -> bool:
    """Whether the stream's session still holds (the check slides its idle timeout, as the console's
    socket does); if not, the page is told so."""
    try:
        await require_session(request, MONITORS)
    except ProtocolError as exc:
        await response.write(sse("signed_out", {"code": exc.code.value, "message": str(exc)}))
        return False
    return True
