"""The kiosk's event log (``--events``) and the text a customer reads for each event."""

from __future__ import annotations

import json
from pathlib import Path

from kiosk_client.events import EventLog, describe


def test_each_event_is_appended_as_one_json_line_and_shown_to_the_customer(tmp_path: Path) -> None:
    shown: list[str] = []
    path = tmp_path / "events.jsonl"
    path.write_text('{"event": "earlier run"}\n')
    log = EventLog(path, lambda record: shown.append(describe(record) or ""))
    log.write("queued", call_id="c1", position=3, estimated_wait_s=240)
    log.write("queued", call_id="c1", position=0, estimated_wait_s=0)
    log.write("chat_received", call_id="c1", text="Hello, I can help")
    log.write("ended", call_id="c1", state="completed", reason="agent_hangup")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["earlier run", "queued", "queued", "chat_received", "ended"]
    assert lines[1]["position"] == 3
    assert lines[4]["reason"] == "agent_hangup"
    assert shown == [
        "You are number 3 in line. Estimated wait: about 4 min.",
        "Connecting you to a member of staff...",
        "Staff: Hello, I can help",
        "The call has ended. Thank you.",
    ]
