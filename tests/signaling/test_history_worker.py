"""``serve`` stores call history from a child process: it is restarted when it dies, never outlives the
server, and loses no event either way."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import aiohttp

from signaling.protocol import Accept, CallAccepted, Hangup, HelpRequest, Offer, Queued, SetState, WrapUp
from tests.support import (
    ServerProcess,
    cli_env,
    connect_agent,
    connect_kiosk,
    free_port,
    login,
    run_cli,
    wait_until,
)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(child) for child in text)
    return found


def _history_child(pid: int) -> int | None:
    """The server's ``kiosk-assist history`` child (the embedded redis-server is a child too)."""
    for child in _children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"history" in cmdline:
            return child
    return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def _setup(data: str) -> str:
    code, _, err = await run_cli(
        "users", "add", "ana", "--role", "agent", "--skills", "cash", "--password-stdin", "--data-dir", data,
        stdin="s3cret-pass\n",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = await run_cli("kiosks", "enroll", "k-1", "--json", "--data-dir", data)
    assert code == 0, err
    secret: str = json.loads(out)["secret"]
    return secret


async def _served_call(server: ServerProcess, secret: str) -> str:
    kiosk = await connect_kiosk(server.as_running(), "k-1", secret)
    agent = await connect_agent(server.as_running(), "ana", "s3cret-pass")
    await agent.send(SetState(state="available"))
    await kiosk.send(HelpRequest(topic="cash"))
    call_id = (await kiosk.expect(Queued)).call_id
    await agent.expect(Offer)
    await agent.send(Accept(call_id=call_id))
    await agent.expect(CallAccepted)
    await agent.send(Hangup(call_id=call_id))
    await agent.send(WrapUp(call_id=call_id, disposition="resolved", notes="all good"))
    await kiosk.close()
    await agent.close()
    return call_id


async def _stored(server: ServerProcess, call_id: str) -> None:
    http = await login(server.as_running(), "ana", "s3cret-pass")
    try:

        async def filed() -> bool:
            async with http.get(f"{server.url}/api/calls/{call_id}") as r:
                body = await r.json() if r.status == 200 else {}
            return body.get("disposition") == "resolved" and body.get("state") == "completed"

        await wait_until(filed, 20, f"call {call_id} in the history")
    finally:
        await http.close()


async def _child_of(server: ServerProcess) -> int:
    async def found() -> int | None:
        assert server.process is not None
        return _history_child(server.process.pid)

    return await wait_until(found, 10, "the server's history child")


async def test_a_history_child_that_dies_is_started_again_and_history_is_still_written(
    tmp_path: Path, redis_env: dict[str, str]
) -> None:
    data = str(tmp_path / "data")
    secret = await _setup(data)
    server = await ServerProcess(free_port(), "--data-dir", data, env=cli_env(**redis_env)).start()
    try:
        first = await _child_of(server)
        os.kill(first, signal.SIGKILL)

        async def replaced() -> int | None:
            assert server.process is not None
            child = _history_child(server.process.pid)
            return child if child not in (None, first) else None

        await wait_until(replaced, 15, "a new history child")
        await _stored(server, await _served_call(server, secret))
        assert "history worker exited" in server.logs()
    finally:
        await server.stop()


async def test_the_history_child_never_outlives_its_server(tmp_path: Path, redis_env: dict[str, str]) -> None:
    data = str(tmp_path / "data")
    secret = await _setup(data)
    env = cli_env(**redis_env)
    server = await ServerProcess(free_port(), "--data-dir", data, env=env).start()
    child = await _child_of(server)
    call_id = await _served_call(server, secret)
    await server.stop(signal.SIGKILL)  # no chance to clean up: the child sees its stdin close

    async def gone() -> bool:
        return not _alive(child)

    await wait_until(gone, 15, "the orphaned history child to exit")
    # the events the dead server's child had not stored are stored by the next server's child
    server = await ServerProcess(server.port, "--data-dir", data, env=env).start()
    try:
        await _stored(server, call_id)
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/readyz") as r:
            assert r.status == 200
    finally:
        await server.stop()
