"""Service level as a supervisor reads it: answered within the target over answered plus abandoned after it
(short abandons left out, calls still waiting past the target counted as missed), from the call history."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from signaling.protocol import Accept, AgentJoined, Cancel, HelpRequest, Offer, Queued, SetState
from signaling.service_level import compute
from signaling.store import Database, RoutingEvent, apply_events
from tests.support import RunningServer, connect_agent, connect_kiosk, login, wait_until

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.connect(f"sqlite+aiosqlite:///{tmp_path}/history.sqlite3")
    await database.migrate()
    try:
        yield database
    finally:
        await database.close()


def _event(call_id: str, kind: str, seconds_ago: float, **fields: str) -> RoutingEvent:
    at_ms = int((NOW - timedelta(seconds=seconds_ago)).timestamp() * 1000)
    return RoutingEvent(f"{at_ms}-{next(_ids)}", call_id, kind, at_ms, fields)


async def a_call(
    db: Database, asked_ago: float, *, answered_after: float | None, ended_after: float | None
) -> None:
    """A call asked ``asked_ago`` seconds before NOW, answered and/or ended so many seconds after that."""
    call_id = f"c{next(_ids)}"
    events = [_event(call_id, "created", asked_ago, kiosk_id="k-1", topic="cash")]
    if answered_after is not None:
        events.append(_event(call_id, "accepted", asked_ago - answered_after, agent="ana"))
    if ended_after is not None:
        state = "completed" if answered_after is not None else "abandoned"
        events.append(_event(call_id, "ended", asked_ago - ended_after, state=state, reason="kiosk_hangup"))
    await apply_events(db, events)


async def test_service_level_counts_answers_within_target_against_answers_and_late_abandons(
    db: Database,
) -> None:
    await a_call(db, 600, answered_after=5, ended_after=200)  # answered within 20 s
    await a_call(db, 500, answered_after=19.9, ended_after=100)  # within, just
    await a_call(db, 400, answered_after=45, ended_after=300)  # answered late
    await a_call(db, 300, answered_after=None, ended_after=60)  # gave up after the target: a miss
    await a_call(db, 200, answered_after=None, ended_after=8)  # gave up within it: left out
    await a_call(db, 90, answered_after=None, ended_after=None)  # still waiting, 90 s: already missed
    await a_call(db, 10, answered_after=None, ended_after=None)  # still waiting, 10 s: not decided yet
    await a_call(db, 7200, answered_after=1, ended_after=60)  # before the window
    level = await compute(db, window_s=3600, target_s=20, now=NOW)
    assert level.answered == 3
    assert level.answered_within_target == 2
    assert level.abandoned_after_target == 1
    assert level.waiting_past_target == 1
    assert level.short_abandoned == 1
    assert level.offered == 5
    assert level.service_level == 0.4


async def test_service_level_is_null_when_no_call_was_offered(db: Database) -> None:
    await a_call(db, 100, answered_after=None, ended_after=3)  # only a short abandon
    level = (await compute(db, window_s=3600, target_s=20, now=NOW)).as_json()
    assert level["offered"] == 0
    assert level["service_level"] is None


async def _level(
    http: aiohttp.ClientSession, server: RunningServer, query: str
) -> tuple[int, dict[str, object]]:
    async with http.get(f"{server.url}/api/service-level{query}") as response:
        return response.status, await response.json()


async def test_supervisors_read_the_service_level_of_real_calls(server: RunningServer) -> None:
    kiosk = await connect_kiosk(server, "k-sl", await server.enroll("k-sl"))
    quitter = await connect_kiosk(server, "k-quit", await server.enroll("k-quit"))
    agent = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    await server.add_agent("sue", "supervisor pass", role="supervisor")
    http = await login(server, "sue", "supervisor pass")
    try:
        await quitter.send(HelpRequest(topic="cash"))
        await quitter.send(Cancel(call_id=(await quitter.expect(Queued)).call_id))  # a short abandon
        await kiosk.send(HelpRequest(topic="cash"))
        await kiosk.expect(Queued)
        await agent.send(SetState(state="available"))
        await agent.send(Accept(call_id=(await agent.expect(Offer)).call_id))
        await kiosk.expect(AgentJoined)

        async def answered() -> dict[str, object] | None:
            status, body = await _level(http, server, "?window_s=600&target_s=20")
            assert status == 200
            return body if body["answered"] == 1 else None

        body = await wait_until(answered, what="the answer in the history")
        assert body == {
            "window_s": 600,
            "target_s": 20.0,
            "offered": 1,
            "answered": 1,
            "answered_within_target": 1,
            "abandoned_after_target": 0,
            "waiting_past_target": 0,
            "short_abandoned": 1,
            "service_level": 1.0,
        }
        status, default = await _level(http, server, "")
        assert status == 200
        assert (default["window_s"], default["target_s"]) == (3600, 20.0)  # the server's target
        for bad in ("?window_s=soon", "?target_s=0", "?target_s=nan", "?window_s=-5", "?window_s=99999999"):
            status, problem = await _level(http, server, bad)
            assert (status, problem["code"]) == (400, "bad_message"), bad
    finally:
        await http.close()
        for client in (kiosk, quitter, agent):
            await client.close()
