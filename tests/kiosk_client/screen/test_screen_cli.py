"""``kiosk-assist kiosk run --screen`` as a kiosk runs it: the window comes up (offscreen here), the program
signs in behind it, and SIGTERM (systemd's stop) ends it cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from tests.support import RunningServer, cli_env, free_port, wait_until

WAIT_S = 20.0


async def test_kiosk_run_with_the_screen_signs_in_and_stops_cleanly_on_sigterm(
    server: RunningServer, tmp_path: Path
) -> None:
    (tmp_path / "secret").write_text(await server.enroll("k-window"))
    events = tmp_path / "events.jsonl"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling.cli", "kiosk", "run", "--server", server.url,
        "--kiosk-id", "k-window", "--secret-file", str(tmp_path / "secret"), "--screen", "--windowed",
        "--events", str(events), "--host-api-port", str(free_port()),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=cli_env(QT_QPA_PLATFORM="offscreen"),
    )  # fmt: skip
    try:

        async def signed_in() -> bool:
            lines = events.read_text().splitlines() if events.exists() else []
            return any(json.loads(line)["event"] == "signed_in" for line in lines)

        await wait_until(signed_in, WAIT_S, "the kiosk behind its screen signed in")
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), WAIT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode(), err.decode()
