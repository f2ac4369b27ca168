"""The kiosk program's configuration: a TOML file (``--config FILE``), command-line options on top.

Example (docs/kiosk-host-api.md has the whole story)::

    server = "https://assist.bank.example"
    kiosk_id = "atm-0042"
    secret_file = "/etc/kiosk-assist/secret"     # relative paths are relative to this file
    media = "device"                             # or "synthetic"
    language = "en"
    serve = true                                 # long-lived: one call after another
    screen = true                                # the customer's full-screen window (implies serve)
    events = "/var/lib/kiosk-assist/events.jsonl"
    state_file = "/var/lib/kiosk-assist/state.json"

    [devices]
    video = "/dev/video0"
    audio = "default"
    speaker = "default"                          # where the agent's voice plays (ALSA)
    faults_file = "/run/atm/faults"

    [host_api]
    port = 8765                                  # always 127.0.0.1
    auto_help_on_failure = true                  # a failed transaction starts a call at once
    fault_topic = "cash"
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Literal

import msgspec


class ConfigError(Exception):
    pass


class Devices(msgspec.Struct, forbid_unknown_fields=True):
    video: str = "/dev/video0"
    audio: str = "default"
    speaker: str = "default"
    faults_file: Path | None = None


class HostApiConfig(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int | None = None
    """None: no host API (unless serving, where it defaults to 8765)."""
    auto_help_on_failure: bool = False
    fault_topic: str = "other"


class KioskConfig(msgspec.Struct, forbid_unknown_fields=True):
    server: str | None = None
    kiosk_id: str | None = None
    secret_file: Path | None = None
    media: Literal["synthetic", "device"] = "synthetic"
    language: str = "en"
    serve: bool = False
    screen: bool = False
    """Show the customer's full-screen window (implies serve)."""
    events: Path | None = None
    state_file: Path | None = None
    ca_file: Path | None = None
    devices: Devices = msgspec.field(default_factory=Devices)
    host_api: HostApiConfig = msgspec.field(default_factory=HostApiConfig)


DEFAULT_HOST_API_PORT = 8765
_PATHS = ("secret_file", "events", "state_file", "ca_file")


def load_config(path: Path) -> KioskConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        config = msgspec.convert(raw, KioskConfig, dec_hook=_path)
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"the config file {path} is not valid: {exc}") from None
    base = path.parent
    for name in _PATHS:
        value = getattr(config, name)
        if value is not None:
            setattr(config, name, base / value)
    if config.devices.faults_file is not None:
        config.devices.faults_file = base / config.devices.faults_file
    return config


def _path(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


def _devices_given(config: KioskConfig, args: argparse.Namespace) -> None:
    names = ("video", "video_device"), ("audio", "audio_device"), ("speaker", "speaker_device")
    for name, arg in (*names, ("faults_file", "faults_file")):
        if getattr(args, arg, None) is not None:
            setattr(config.devices, name, getattr(args, arg))


def devices_config(args: argparse.Namespace) -> Devices:
    """The devices of the ``--config`` file (if any) with the command line's over them."""
    config = load_config(args.config) if args.config is not None else KioskConfig()
    _devices_given(config, args)
    return config.devices


def merged(args: argparse.Namespace) -> KioskConfig:
    """The config file (if any) with every option given on the command line put over it."""
    config = load_config(args.config) if args.config is not None else KioskConfig()
    for name in ("server", "kiosk_id", "secret_file", "media", "language", "events", "ca_file"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    _devices_given(config, args)
    config.screen = config.screen or args.screen
    config.serve = config.serve or args.serve or config.screen
    if args.state_file is not None:
        config.state_file = args.state_file
    if args.host_api_port is not None:
        config.host_api.port = args.host_api_port
    if args.auto_help_on_failure:
        config.host_api.auto_help_on_failure = True
    if config.serve and config.host_api.port is None:
        config.host_api.port = DEFAULT_HOST_API_PORT
    missing = [n for n in ("server", "kiosk_id", "secret_file") if getattr(config, n) is None]
    if missing:
        flags = ", ".join("--" + n.replace("_", "-") for n in missing)
        raise ConfigError(f"missing {flags} (on the command line or in the --config file)")
    return config
