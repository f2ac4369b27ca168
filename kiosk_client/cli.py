"""``kiosk-assist kiosk run``: the kiosk program as a command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from kiosk_client.allocator import tune_allocator
from kiosk_client.session import KioskOptions, KioskRunner
from kiosk_client.signaling_client import SignalingError
from media import MediaError

log = logging.getLogger(__name__)


class KioskCliError(Exception):
    pass


def _context(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise KioskCliError(f"--context takes KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def options_from(args: argparse.Namespace) -> KioskOptions:
    try:
        secret = args.secret_file.read_text().strip()
    except OSError as exc:
        raise KioskCliError(f"cannot read the secret file {args.secret_file}: {exc.strerror}") from None
    if not secret:
        raise KioskCliError(f"the secret file {args.secret_file} is empty")
    return KioskOptions(
        server=args.server,
        kiosk_id=args.kiosk_id,
        secret=secret,
        media=args.media,
        request_help=args.request_help,
        language=args.language,
        context=_context(args.context),
        record_to=args.record_to,
        events=args.events,
        say=tuple(args.say),
        show=None if args.headless else _print_line,
        ca_file=args.ca_file,
        video_device=args.video_device,
        audio_device=args.audio_device,
        faults_file=args.faults_file,
    )


def _print_line(text: str) -> None:
    print(text, flush=True)


def run_kiosk(args: argparse.Namespace) -> int:
    tune_allocator(os.environ)  # before aiortc starts its threads (each would get an arena)
    try:
        runner = KioskRunner(options_from(args))
        ended = asyncio.run(runner.run())
    except (KioskCliError, SignalingError, MediaError) as exc:
        print(f"kiosk-assist: {exc}", file=sys.stderr)
        return 1
    if runner.refusal is not None:
        print(f"kiosk-assist: help request refused: {runner.refusal.message}", file=sys.stderr)
        return 1
    if ended is not None:
        print(f"Call {ended.call_id} ended: {ended.state.value} ({ended.reason})", file=sys.stderr)
    return 0
