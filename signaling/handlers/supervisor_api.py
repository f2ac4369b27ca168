"""The queue board (all staff, IT included) and supervisor actions (supervisors and admins), as a JSON API.

- ``GET /api/queues``: per queue, calls waiting, the oldest wait, and its staffed agents by state.
- ``POST /api/agents/{name}/state`` ``{"state": "available"|"away"|"offline", "reason": ""}``: force an
  agent's state. A ringing offer goes back to the queue at once; a wrap-up is completed; during a call the
  state is kept as the agent's next state (202).
- ``POST /api/agents/{name}/wrap-up/complete``: end a stuck wrap-up.
- ``DELETE /api/calls/{call_id}``: remove a waiting (or ringing) call from its queue.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from signaling.auth import StaffSession
from signaling.handlers.audit_hooks import audit_staff, refuse_unless
from signaling.handlers.session_api import read_json, require_session
from signaling.protocol import ErrorCode, ProtocolError
from signaling.queue_board import queue_board as board_of_queues
from signaling.services import SERVICES, Services
from signaling.store.audit import AuditAction, Outcome

log = logging.getLogger(__name__)

STAFF = ("agent", "supervisor", "admin")
SUPERVISORS = ("supervisor", "admin")
BOARD_READERS = (*STAFF, "it")
"""The queue board is read-only monitoring: IT staff (role ``it``) read it too."""


class ForceState(msgspec.Struct, forbid_unknown_fields=True):
    state: Literal["available", "away", "offline"]
    reason: Annotated[str, msgspec.Meta(max_length=64)] = ""


async def queue_board(request: web.Request) -> web.Response:
    await require_session(request, BOARD_READERS)
    services = request.app[SERVICES]
    return web.json_response({"queues": await board_of_queues(services.engine, services.settings)})


async def _supervisor(request: web.Request, action: AuditAction, target: str) -> StaffSession:
    """The signed-in supervisor or admin; anyone else signed in is refused, and that is audited."""
    staff = await require_session(request)
    return await refuse_unless(request, staff, SUPERVISORS, (action, target), "your role may not do this")


_audit = audit_staff


@asynccontextmanager
async def _failures_audited(
    request: web.Request, staff: StaffSession, action: AuditAction, target: str
) -> AsyncIterator[None]:
    """Record a refused action (wrong state, unknown call…) as failed, then let the error through."""
    try:
        yield
    except ProtocolError as exc:
        await _audit(request, staff, action, target, Outcome.FAILED, {"error": exc.code.value})
        raise


async def force_state(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    staff = await _supervisor(request, AuditAction.AGENT_STATE_FORCED, name)
    async with _failures_audited(request, staff, AuditAction.AGENT_STATE_FORCED, name):
        response, details = await _force_state(request, staff, name)
    await _audit(request, staff, AuditAction.AGENT_STATE_FORCED, name, details=details)
    return response


async def _force_state(
    request: web.Request, staff: StaffSession, name: str
) -> tuple[web.Response, dict[str, Any]]:
    services = request.app[SERVICES]
    body = await read_json(request, ForceState)
    assert isinstance(body, ForceState)
    status = await services.engine.agent_status(name)
    if status.state == "offline" and not await _online(services, name):
        if body.state != "offline":
            raise ProtocolError(ErrorCode.WRONG_STATE, f"{name} is not signed in")
        # already offline: nothing to change (and no record to make for a name that may be no one's)
        unchanged = {"state": "offline", "from_state": "offline"}
        return web.json_response({"username": name, "state": "offline", "next_state": ""}), unchanged
    # while the agent is busy this is kept as their next state; ending the offer or wrap-up applies it
    change = await services.engine.set_agent_state(
        name, body.state, body.reason or f"set by {staff.username}"
    )
    if status.state == "ringing" and status.call_id:
        released = await services.engine.release(status.call_id, name, "forced")
        if released is not None:
            await services.announcer.revoked(status.call_id, name, "supervisor", released.status)
            await services.announcer.outcome(released.outcome)
    elif status.state == "wrap_up":
        await _complete_wrap_up(services, name)
    await services.announcer.agent_state(name)
    await services.announcer.outcome(change.outcome)
    state = await services.engine.agent_status(name)
    log.info("supervisor %s set %s to %s", staff.username, name, body.state)
    body_out = {"username": name, "state": state.state, "next_state": state.next_state}
    details = {"state": body.state, "from_state": status.state, "call_id": status.call_id or None}
    return web.json_response(body_out, status=202 if state.state == "in_call" else 200), details


async def _online(services: Services, name: str) -> bool:
    return bool(await services.redis.sismember(services.keys.agents, name))


async def _complete_wrap_up(services: Services, name: str) -> str:
    done = await services.engine.wrap_up(name, "", "", "", how="supervisor")
    if done is None:  # only the timer path can be "not due"
        raise ProtocolError(ErrorCode.WRONG_STATE, f"{name} is not in wrap-up")
    await services.announcer.wrap_up_ended(name, done, "supervisor")
    return done.call_id


async def complete_wrap_up(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    staff = await _supervisor(request, AuditAction.WRAP_UP_FORCED, name)
    services = request.app[SERVICES]
    async with _failures_audited(request, staff, AuditAction.WRAP_UP_FORCED, name):
        call_id = await _complete_wrap_up(services, name)
    await _audit(request, staff, AuditAction.WRAP_UP_FORCED, name, details={"call_id": call_id})
    log.info("supervisor %s completed the wrap-up of %s (call %s)", staff.username, name, call_id)
    return web.json_response({"username": name, "call_id": call_id})


async def remove_call(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    target = f"call:{call_id}"[:128]
    staff = await _supervisor(request, AuditAction.CALL_REMOVED, target)
    services = request.app[SERVICES]
    async with _failures_audited(request, staff, AuditAction.CALL_REMOVED, target):
        ended = await services.engine.hangup(call_id, "supervisor", staff.username, "removed_by_supervisor")
    await _audit(request, staff, AuditAction.CALL_REMOVED, target, details={"state": ended.final_state})
    await services.announcer.ended(ended, "removed_by_supervisor")
    log.info("supervisor %s removed call %s from its queue", staff.username, call_id)
    return web.json_response({"call_id": call_id, "state": ended.final_state})
