"""``kiosk-assist demo``: a newcomer gets a working product, a login and kiosks asking for help."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest

from signaling.protocol import Offer, SetState
from tests.support import RunningServer, cli_env, connect_agent, free_port


@pytest.mark.timeout(90)
async def test_the_demo_prints_a_login_and_its_kiosks_ring_the_demo_agent(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling.cli", "demo", "--port", str(port), "--kiosks", "2",
        "--data-dir", str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=cli_env(),
    )  # fmt: skip
    assert process.stdout is not None
    try:
        banner = ""
        async with asyncio.timeout(45):
            while "Sign in as" not in banner:
                line = await process.stdout.readline()
                assert line, f"the demo stopped before printing its login: {banner!r}"
                banner += line.decode()
        match = re.search(r"Sign in as: (\S+) / (\S+)", banner)
        assert match is not None
        assert f"http://127.0.0.1:{port}/" in banner
        server = RunningServer(f"http://127.0.0.1:{port}", None)  # type: ignore[arg-type]
        agent = await connect_agent(server, match.group(1), match.group(2))
        await agent.send(SetState(state="available"))
        offer = await agent.expect(Offer, timeout=30)
        assert offer.kiosk_id.startswith("demo-kiosk-")
        await agent.close()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0


@pytest.mark.timeout(90)
async def test_the_demo_opens_a_kiosk_screen_for_a_person_to_ask_for_help_from(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling.cli", "demo", "--port", str(free_port()), "--kiosks", "0",
        "--kiosk-screen", "--data-dir", str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env=cli_env(QT_QPA_PLATFORM="offscreen"),
    )  # fmt: skip
    assert process.stdout is not None
    try:
        said = ""
        async with asyncio.timeout(60):
            while "A kiosk screen (demo-kiosk-screen) is open" not in said:
                line = await process.stdout.readline()
                assert line, f"the demo stopped before its kiosk screen signed in: {said!r}"
                said += line.decode()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0
    kiosk_log = (tmp_path / "demo" / "demo-kiosk-screen" / "kiosk.log").read_text()
    assert "Traceback" not in kiosk_log, kiosk_log


async def test_the_demo_refuses_a_data_directory_that_already_holds_one(tmp_path: Path) -> None:
    from tests.support import run_cli

    code, _, _ = await run_cli("users", "add", "demo", "--role", "agent", "--password-stdin",
                               "--data-dir", str(tmp_path), stdin="pw\n")  # fmt: skip
    assert code == 0
    code, _, err = await run_cli("demo", "--port", str(free_port()), "--data-dir", str(tmp_path))
    assert code == 1
    assert "already holds a demo" in err
