"""The command line's account and kiosk commands (their work is in ``signaling/identity_commands.py``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_identity_parsers(
    users: Any, kiosks: Any, add_store_args: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register the account and kiosk commands beside ``users add`` and ``kiosks enroll``."""
    parsers = []
    listing = users.add_parser("list", help="staff accounts (never their passwords)")
    listing.add_argument("--json", action="store_true")
    parsers.append(listing)
    role = users.add_parser("set-role", help="give an account another role (its sessions end)")
    role.add_argument("name")
    role.add_argument("role", choices=("agent", "supervisor", "admin", "it"))
    parsers.append(role)
    for action, text in (("disable", "disable an account and end its sessions"), ("enable", "enable it")):
        parser = users.add_parser(action, help=text)
        parser.add_argument("name")
        parsers.append(parser)
    password = users.add_parser("set-password", help="set a new password, read from stdin (sessions end)")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true", required=True)
    parsers.append(password)
    klist = kiosks.add_parser("list", help="enrolled kiosks (never their secrets)")
    klist.add_argument("--json", action="store_true")
    rotate = kiosks.add_parser("rotate", help="give a kiosk a new secret (printed once); the old one stops")
    rotate.add_argument("kiosk_id")
    rotate.add_argument("--json", action="store_true")
    revoke = kiosks.add_parser("revoke", help="revoke a kiosk: it can no longer connect; its call ends")
    revoke.add_argument("kiosk_id")
    for parser in (*parsers, klist, rotate, revoke):
        add_store_args(parser)
    for parser in (role, *parsers[2:], rotate, revoke):
        parser.add_argument("--redis-url", help="the servers' Redis: end sessions and sockets at once")
        parser.add_argument("--redis-prefix", help="the servers' key prefix")
