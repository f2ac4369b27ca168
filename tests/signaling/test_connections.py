"""A connection's send side: numbered messages go out once each, in order, around a resume."""

from __future__ import annotations

from aiohttp import web

from signaling.connections import Connection


def numbered(seq: int) -> str:
    return f'{{"seq":{seq},"type":"ice","call_id":"c-1"}}'


def queued(conn: Connection) -> list[str]:
    out: list[str] = []
    while not conn._queue.empty():
        item = conn._queue.get_nowait()
        assert item is not None
        out.append(item)
    return out


async def test_a_message_both_replayed_and_arriving_live_is_sent_once_in_order() -> None:
    conn = Connection(web.WebSocketResponse(), "agent:ana")
    conn.hold()
    conn.push('{"type":"welcome"}')  # unnumbered: not held
    for seq in (5, 6, 7):  # published while the resume was being read: 5 and 6 are also in the replay
        conn.push(numbered(seq))
    conn.resume_from(3, [numbered(4), numbered(5), numbered(6)])
    conn.push(numbered(7))  # a late copy
    conn.push(numbered(8))
    assert queued(conn) == ['{"type":"welcome"}'] + [numbered(s) for s in (4, 5, 6, 7, 8)]


async def test_a_new_session_skips_what_was_numbered_before_it() -> None:
    conn = Connection(web.WebSocketResponse(), "kiosk:k-1")
    conn.hold()
    conn.push(numbered(10))  # counted before the session began: its state is told afresh instead
    conn.push(numbered(11))
    conn.resume_from(10, [])
    assert queued(conn) == [numbered(11)]
