"""The queue board (all staff) and supervisor actions (supervisors and admins), as a JSON API.

- ``GET /api/queues``: per queue, calls waiting, the oldest wait, and its staffed agents by state.
- ``POST /api/agents/{name}/state`` ``{"state": "available"|"away"|"offline", "reason": ""}``: force an
  agent's state. A ringing offer goes back to the queue at once; a wrap-up is completed; during a call the
  state is kept as the agent's next state (202).
- ``POST /api/agents/{name}/wrap-up/complete``: end a stuck wrap-up.
- ``DELETE /api/calls/{call_id}``: remove a waiting (or ringing) call from its queue.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import msgspec
from aiohttp import web

from signaling.handlers.session_api import read_json, require_session
from signaling.protocol import ErrorCode, ProtocolError
from signaling.routing.engine import now_ms
from signaling.services import SERVICES, Services

log = logging.getLogger(__name__)

STAFF = ("agent", "supervisor", "admin")
SUPERVISORS = ("supervisor", "admin")


class ForceState(msgspec.Struct, forbid_unknown_fields=True):
    state: Literal["available", "away", "offline"]
    reason: Annotated[str, msgspec.Meta(max_length=64)] = ""


async def queue_board(request: web.Request) -> web.Response:
    await require_session(request, STAFF)
    services = request.app[SERVICES]
    boards = await services.engine.boards(services.settings.topics)
    now = now_ms()
    queues = []
    for board in boards:
        by_state: dict[str, int] = {}
        for state in board.agents.values():
            by_state[state] = by_state.get(state, 0) + 1
        queues.append(
            {
                "topic": board.topic,
                "label": services.settings.queues[board.topic].label or board.topic,
                "waiting": board.waiting,
                "oldest_wait_s": None
                if board.oldest_created_ms is None
                else round((now - board.oldest_created_ms) / 1000, 1),
                "agents_by_state": by_state,
                "agents": [{"username": a, "state": s} for a, s in board.agents.items()],
            }
        )
    return web.json_response({"queues": queues})


async def force_state(request: web.Request) -> web.Response:
    staff = await require_session(request, SUPERVISORS)
    services = request.app[SERVICES]
    name = request.match_info["name"]
    body = await read_json(request, ForceState)
    assert isinstance(body, ForceState)
    status = await services.engine.agent_status(name)
    if status.state == "offline" and not await _online(services, name):
        if body.state != "offline":
            raise ProtocolError(ErrorCode.WRONG_STATE, f"{name} is not signed in")
        # already offline: nothing to change (and no record to make for a name that may be no one's)
        return web.json_response({"username": name, "state": "offline", "next_state": ""})
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
    return web.json_response(body_out, status=202 if state.state == "in_call" else 200)


async def _online(services: Services, name: str) -> bool:
    return bool(await services.redis.sismember(services.keys.agents, name))


async def _complete_wrap_up(services: Services, name: str) -> str:
    done = await services.engine.wrap_up(name, "", "", "", how="supervisor")
    if done is None:  # only the timer path can be "not due"
        raise ProtocolError(ErrorCode.WRONG_STATE, f"{name} is not in wrap-up")
    await services.announcer.wrap_up_ended(name, done, "supervisor")
    return done.call_id


async def complete_wrap_up(request: web.Request) -> web.Response:
    staff = await require_session(request, SUPERVISORS)
    services = request.app[SERVICES]
    name = request.match_info["name"]
    call_id = await _complete_wrap_up(services, name)
    log.info("supervisor %s completed the wrap-up of %s (call %s)", staff.username, name, call_id)
    return web.json_response({"username": name, "call_id": call_id})


async def remove_call(request: web.Request) -> web.Response:
    staff = await require_session(request, SUPERVISORS)
    services = request.app[SERVICES]
    call_id = request.match_info["call_id"]
    ended = await services.engine.hangup(call_id, "supervisor", staff.username, "removed_by_supervisor")
    await services.announcer.ended(ended, "removed_by_supervisor")
    log.info("supervisor %s removed call %s from its queue", staff.username, call_id)
    return web.json_response({"call_id": call_id, "state": ended.final_state})
