"""The post-call survey: a kiosk rates its own call once, after it ended; history, timeline and the calls
report show it; with ``store_context="none"`` the rating is kept and the customer's comment is not."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from signaling.protocol import (
    Accept,
    AgentJoined,
    CallEnded,
    Error,
    ErrorCode,
    Hangup,
    HelpRequest,
    Offer,
    Queued,
    SetState,
    Survey,
)
from signaling.settings import Settings
from signaling.store.call_report import call_rows
from signaling.store.history import get_call
from tests.signaling.authz import unique
from tests.support import Client, RunningServer, connect_agent, connect_kiosk, login, running_server


async def _answered_call(server: RunningServer, kiosk_id: str) -> tuple[Client, Client, str]:
    kiosk = await connect_kiosk(server, kiosk_id, await server.enroll(kiosk_id))
    agent = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    await kiosk.send(HelpRequest(topic="cash"))
    await kiosk.expect(Queued)
    await agent.send(SetState(state="available"))
    call_id = (await agent.expect(Offer)).call_id
    await agent.send(Accept(call_id=call_id))
    await kiosk.expect(AgentJoined)
    return kiosk, agent, call_id


async def _ended_call(server: RunningServer, kiosk_id: str) -> tuple[Client, Client, str]:
    kiosk, agent, call_id = await _answered_call(server, kiosk_id)
    await agent.send(Hangup(call_id=call_id))
    await kiosk.expect(CallEnded)
    return kiosk, agent, call_id


async def _report_row(server: RunningServer, call_id: str) -> dict[str, Any]:
    since = datetime.now(UTC) - timedelta(hours=1)
    rows = [row async for row in call_rows(server.db, since, since + timedelta(hours=2))]
    return next(row for row in rows if row["call_id"] == call_id)


async def _timeline(server: RunningServer, call_id: str) -> dict[str, Any]:
    name = unique("ivy")
    http = await login(server, name, await server.add_agent(name, role="supervisor"))
    try:
        async with http.get(f"{server.url}/api/calls/{call_id}/timeline") as response:
            assert response.status == 200, await response.text()
            result: dict[str, Any] = await response.json()
            return result
    finally:
        await http.close()


async def test_a_survey_after_the_call_is_stored_and_shows_in_timeline_and_report(
    server: RunningServer,
) -> None:
    kiosk, agent, call_id = await _ended_call(server, "k-survey")
    try:
        await kiosk.send(Survey(call_id=call_id, rating=4, comment="=quick and kind"))
        await server.drain_history()
        record = await get_call(server.db, call_id)
        assert record is not None
        survey = [e for e in record.events if e.kind == "survey"]
        assert [e.detail for e in survey] == [{"rating": "4", "comment": "=quick and kind"}]
        timeline = await _timeline(server, call_id)
        shown = [e for e in timeline["events"] if e["kind"] == "survey"]
        assert [e["detail"] for e in shown] == [{"rating": "4"}], "the comment is customer data"
        row = await _report_row(server, call_id)
        assert (row["rating"], row["comment"]) == (4, "=quick and kind")
    finally:
        await kiosk.close()
        await agent.close()


async def test_a_survey_is_refused_before_the_end_twice_and_from_another_kiosk(
    server: RunningServer,
) -> None:
    kiosk, agent, call_id = await _answered_call(server, "k-own")
    stranger = await connect_kiosk(server, "k-other", await server.enroll("k-other"))
    try:
        await kiosk.send(Survey(call_id=call_id, rating=5))
        early = await kiosk.expect(Error)
        assert (early.code, early.ref) == (ErrorCode.WRONG_STATE, "survey")
        await agent.send(Hangup(call_id=call_id))
        await kiosk.expect(CallEnded)
        await stranger.send(Survey(call_id=call_id, rating=1, comment="spam"))
        foreign = await stranger.expect(Error)
        assert (foreign.code, foreign.ref) == (ErrorCode.UNKNOWN_CALL, "survey")
        await kiosk.send(Survey(call_id=call_id, rating=5))
        await kiosk.send(Survey(call_id=call_id, rating=2))
        twice = await kiosk.expect(Error)
        assert (twice.code, twice.ref) == (ErrorCode.WRONG_STATE, "survey")
        await server.drain_history()
        record = await get_call(server.db, call_id)
        assert record is not None
        assert [e.detail["rating"] for e in record.events if e.kind == "survey"] == ["5"]
    finally:
        for client in (kiosk, agent, stranger):
            await client.close()


async def test_without_stored_context_the_rating_is_kept_but_not_the_comment(settings: Settings) -> None:
    async with running_server(dataclasses.replace(settings, store_context="none")) as server:
        kiosk, agent, call_id = await _ended_call(server, "k-private")
        try:
            await kiosk.send(Survey(call_id=call_id, rating=2, comment="my account 1234 was wrong"))
            await server.drain_history()
            row = await _report_row(server, call_id)
            assert (row["rating"], row["comment"]) == (2, None)
        finally:
            await kiosk.close()
            await agent.close()
