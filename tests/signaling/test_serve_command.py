"""``kiosk-assist serve`` as an operator runs it: nothing configured, restarts, bad arguments."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import aiohttp

from signaling.protocol import HelpRequest, Offer, Queued, SetState, Welcome
from tests.support import ServerProcess, closed_hours, connect_agent, connect_kiosk, free_port, run_cli


async def test_serve_with_nothing_configured_keeps_accounts_kiosks_and_waiting_calls_across_a_restart(
    tmp_path: Path,
) -> None:
    data = str(tmp_path / "data")
    code, out, err = await run_cli(
        "users", "add", "ana", "--role", "agent", "--skills", "cash", "--password-stdin", "--data-dir", data,
        stdin="s3cret-pass\n",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = await run_cli(
        "kiosks", "enroll", "k-1", "--location", "Main St", "--json", "--data-dir", data
    )
    assert code == 0, err
    secret = json.loads(out)["secret"]

    server = await ServerProcess(free_port(), "--data-dir", data).start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/healthz") as r:
                assert r.status == 200
            async with http.get(f"{server.url}/metrics") as r:
                assert "kiosk_assist_queue_depth" in await r.text()
        kiosk = await connect_kiosk(server.as_running(), "k-1", secret)
        await kiosk.send(HelpRequest(topic="cash"))
        call_id = (await kiosk.expect(Queued)).call_id
        assert await server.stop(signal.SIGTERM) == 0
        await kiosk.closed.wait()
        await kiosk.close()
        assert (tmp_path / "data" / "kiosk-assist.sqlite3").exists()

        await server.start()
        kiosk = await connect_kiosk(server.as_running(), "k-1", secret)
        welcome = next(m for m in kiosk.received if isinstance(m, Welcome))
        assert welcome.call_id == call_id
        queued = await kiosk.expect(Queued)
        assert (queued.call_id, queued.position) == (call_id, 1)

        agent = await connect_agent(server.as_running(), "ana", "s3cret-pass")
        await agent.send(SetState(state="available"))
        assert (await agent.expect(Offer)).call_id == call_id
        await agent.close()
        await kiosk.close()
    finally:
        await server.stop()


async def test_the_command_line_rejects_bad_input_with_a_readable_message(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    code, _, err = await run_cli(
        "users", "add", "x", "--role", "king", "--password-stdin", "--data-dir", data
    )
    assert code == 2
    assert "invalid choice" in err
    code, _, err = await run_cli(
        "users", "add", "x", "--role", "agent", "--password-stdin", "--data-dir", data
    )
    assert code == 1
    assert "no password" in err
    code, _, err = await run_cli(
        "users", "add", "bad name!", "--role", "agent", "--password-stdin", "--data-dir", data, stdin="pw\n"
    )
    assert code == 1
    assert "Traceback" not in err
    code, _, _ = await run_cli("kiosks", "enroll", "k-1", "--data-dir", data)
    assert code == 0
    code, _, err = await run_cli("kiosks", "enroll", "k-1", "--data-dir", data)
    assert code == 1
    assert "already" in err
    code, _, err = await run_cli("serve", "--port", "99999", "--data-dir", data)
    assert code == 2
    assert "port out of range" in err
    code, _, err = await run_cli("serve", "--client-rate", "0", "--data-dir", data)
    assert code == 2
    assert "messages a second must be 1-1000000" in err
    code, _, err = await run_cli("serve", "--client-burst", "lots", "--data-dir", data)
    assert code == 2
    assert "not a whole number of messages" in err
    code, _, err = await run_cli(
        "kiosk",
        "run",
        "--server",
        "http://127.0.0.1:9",
        "--kiosk-id",
        "k-1",
        "--secret-file",
        str(tmp_path / "none"),
    )
    assert code == 1
    assert "cannot read the secret file" in err
    (tmp_path / "secret").write_text("wrong")
    code, _, err = await run_cli(
        "kiosk",
        "run",
        "--server",
        "http://127.0.0.1:9",
        "--kiosk-id",
        "k-1",
        "--secret-file",
        str(tmp_path / "secret"),
    )
    assert code == 1
    assert "cannot reach the server" in err


async def test_a_kiosk_refused_by_a_closed_queue_exits_with_the_reason(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    queues = tmp_path / "queues.toml"
    queues.write_text(f'[queues.cash]\nlabel = "Cash"\nhours = ["{closed_hours()}"]\n')
    code, out, err = await run_cli("kiosks", "enroll", "k-1", "--json", "--data-dir", data)
    assert code == 0, err
    (tmp_path / "secret").write_text(json.loads(out)["secret"])
    server = await ServerProcess(free_port(), "--data-dir", data, "--queues", str(queues)).start()
    try:
        code, _, err = await run_cli(
            "kiosk", "run", "--server", server.url, "--kiosk-id", "k-1", "--secret-file",
            str(tmp_path / "secret"), "--request-help", "cash", "--headless",
        )  # fmt: skip
    finally:
        await server.stop()
    assert code == 1
    assert "help request refused: Sorry, Cash help is closed now" in err
