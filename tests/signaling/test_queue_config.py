"""The queue file: valid rules load, mistakes are reported with where and why, and the CLI uses it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from signaling.queues import EscalationStep, QueueConfigError, parse_queues
from tests.support import run_cli

GOOD = """
[defaults]
max_length = 10
timezone = "Europe/Madrid"
[[defaults.escalation]]
after_s = 0
min_proficiency = 4
[[defaults.escalation]]
after_s = 20
any_language = true

[queues.cash]
label = "Cash"
hours = ["mon-fri 08:00-20:00", "sat 09:00-14:00"]
[queues.cards]
max_length = 2
"""


def test_a_queue_file_gives_each_queue_its_rules_and_opening_hours() -> None:
    queues = parse_queues(GOOD)
    assert queues.names == ("cash", "cards")
    cash, cards = queues["cash"], queues["cards"]
    assert (cash.max_length, cards.max_length) == (10, 2)
    assert cash.escalation == (EscalationStep(0, 4, False), EscalationStep(20, 1, True))
    madrid = dt.timezone(dt.timedelta(hours=1))  # late November: CET
    monday_morning = dt.datetime(2026, 11, 23, 9, 0, tzinfo=madrid)
    sunday = dt.datetime(2026, 11, 22, 12, 0, tzinfo=madrid)
    saturday_evening = dt.datetime(2026, 11, 28, 18, 0, tzinfo=madrid)
    assert cash.is_open(monday_morning)
    assert not cash.is_open(sunday)
    assert not cash.is_open(saturday_evening)
    assert cards.is_open(sunday)  # no hours: always open
    assert cash.redis_fields()["steps"] == "0:4:0,20000:1:1"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "at least one [queues.NAME]"),
        ("[queues.cash]\nmax_lenght = 3", "unknown settings ['max_lenght']"),
        ('[queues.cash]\nhours = ["weekdays 9-5"]', "should look like 'mon-fri 08:00-20:00'"),
        ('[queues.cash]\ntimezone = "Mars/Olympus"', "unknown timezone"),
        ("[queues.cash]\nmax_length = -1", "must not be negative"),
        ("[queues.cash]\n[[queues.cash.escalation]]\nafter_s = 5", "must start at after_s = 0"),
        ("[queues.cash]\n[[queues.cash.escalation]]\nmin_proficiency = 9", "min_proficiency 1-5"),
        ('[queues."bad name"]', "must be 1-64 letters"),
        ("[queues.cash\n", "queue file"),
    ],
)
def test_a_mistake_in_the_queue_file_says_where_and_why(text: str, says: str) -> None:
    with pytest.raises(QueueConfigError) as info:
        parse_queues(text)
    assert says in str(info.value)


async def test_serve_refuses_a_bad_queue_file_and_users_add_takes_skill_levels(tmp_path: Path) -> None:
    bad = tmp_path / "queues.toml"
    bad.write_text("[queues.cash]\nmax_wait = 3\n")
    code, _, err = await run_cli("serve", "--queues", str(bad), "--data-dir", str(tmp_path))
    assert code == 1
    assert "unknown settings ['max_wait']" in err
    code, _, err = await run_cli(
        "serve", "--queues", str(tmp_path / "missing.toml"), "--data-dir", str(tmp_path)
    )
    assert code == 1
    assert "cannot read the queue file" in err
    code, _, err = await run_cli(
        "users", "add", "ana", "--role", "agent", "--skills", "cash:7", "--password-stdin", "--data-dir",
        str(tmp_path), stdin="pw\n",
    )  # fmt: skip
    assert code == 2
    assert "skill level must be 1-5" in err
    code, _, err = await run_cli(
        "users", "add", "ana", "--role", "agent", "--skills", "cash:5,cards", "--password-stdin",
        "--data-dir", str(tmp_path), stdin="pw\n",
    )  # fmt: skip
    assert code == 0, err
