"""``kiosk-assist kiosk run``: the kiosk program as a command."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

from kiosk_client.allocator import tune_allocator
from kiosk_client.config import ConfigError, KioskConfig, devices_config, merged
from kiosk_client.host_api import HostApiError, HostApiOptions
from kiosk_client.service import run_service
from kiosk_client.session import KioskOptions, KioskRunner
from kiosk_client.signaling_client import SignalingError
from media import MediaError
from media.devices import check_devices
from signaling.protocol import CallEnded

log = logging.getLogger(__name__)
SYSTEM_ALSA = Path("/usr/share/alsa")


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


def _survey(given: str | None) -> tuple[int, str] | None:
    if given is None:
        return None
    rating, _, comment = given.partition(":")
    if rating not in ("1", "2", "3", "4", "5"):
        raise KioskCliError(f"--survey takes a rating from 1 to 5, then an optional :COMMENT, got {given!r}")
    return int(rating), comment


def options_from(args: argparse.Namespace, config: KioskConfig | None = None) -> KioskOptions:
    c = merged(args) if config is None else config
    if c.server is None or c.kiosk_id is None or c.secret_file is None:
        raise KioskCliError("give --server, --kiosk-id and --secret-file")  # merged() checked already
    try:
        secret = c.secret_file.read_text().strip()
    except OSError as exc:
        raise KioskCliError(f"cannot read the secret file {c.secret_file}: {exc.strerror}") from None
    if not secret:
        raise KioskCliError(f"the secret file {c.secret_file} is empty")
    return KioskOptions(
        server=c.server,
        kiosk_id=c.kiosk_id,
        secret=secret,
        media=c.media,
        request_help=args.request_help,
        language=c.language,
        context=_context(args.context),
        record_to=args.record_to,
        events=c.events,
        say=tuple(args.say),
        exit_after_call=not c.serve,
        show=None if args.headless or c.screen else _print_line,
        survey=_survey(args.survey),
        id_photo_consent=args.id_photo_consent or "refuse",
        ca_file=c.ca_file,
        video_device=c.devices.video,
        audio_device=c.devices.audio,
        speaker_device=c.devices.speaker if c.media == "device" else None,
        faults_file=c.devices.faults_file,
    )


def _host_api(config: KioskConfig) -> HostApiOptions | None:
    h = config.host_api
    if h.port is None:
        return None
    return HostApiOptions(h.host, h.port, h.auto_help_on_failure, h.fault_topic, config.language)


def _print_line(text: str) -> None:
    print(text, flush=True)


def _run_screen(runner: KioskRunner, config: KioskConfig, *, fullscreen: bool) -> CallEnded | None:
    try:
        from kiosk_client.screen.app import run_screen
    except ImportError as exc:
        raise KioskCliError(f"--screen needs Qt: pip install 'kiosk-assist[screen]' ({exc.msg})") from None
    return run_screen(runner, config.state_file, _host_api(config), fullscreen=fullscreen)


def system_alsa(environ: MutableMapping[str, str]) -> None:
    """Point PyAV's bundled alsa-lib at the system's ALSA configuration (it looks in a folder of its
    build machine otherwise, and finds no device by name), unless the environment says otherwise."""
    if "ALSA_CONFIG_DIR" not in environ and "ALSA_CONFIG_PATH" not in environ and SYSTEM_ALSA.is_dir():
        environ["ALSA_CONFIG_DIR"] = str(SYSTEM_ALSA)


def check_kiosk_devices(args: argparse.Namespace) -> int:
    """``kiosk-assist kiosk check-devices``: the report, and exit 1 unless every device works."""
    try:
        d = devices_config(args)
    except ConfigError as exc:
        print(f"kiosk-assist: {exc}", file=sys.stderr)
        return 2
    system_alsa(os.environ)
    report = check_devices(d.video, d.audio, d.speaker, media_kind="device")
    if args.json:
        print(json.dumps({c.role: dataclasses.asdict(c) for c in report.checks}, indent=2))
    else:
        print(report)
    return 0 if report.all_working else 1


def run_kiosk(args: argparse.Namespace) -> int:
    tune_allocator(os.environ)  # before aiortc starts its threads (each would get an arena)
    system_alsa(os.environ)
    try:
        config = merged(args)
        runner = KioskRunner(options_from(args, config))
        if config.screen:
            ended = _run_screen(runner, config, fullscreen=not args.windowed)
        else:
            ended = asyncio.run(run_service(runner, config.state_file, _host_api(config)))
    except (KioskCliError, ConfigError, HostApiError, SignalingError, MediaError) as exc:
        print(f"kiosk-assist: {exc}", file=sys.stderr)
        return 1
    if runner.refusal is not None:
        print(f"kiosk-assist: help request refused: {runner.refusal.message}", file=sys.stderr)
        return 1
    if ended is not None:
        print(f"Call {ended.call_id} ended: {ended.state.value} ({ended.reason})", file=sys.stderr)
    return 0
