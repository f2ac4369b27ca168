"""``kiosk-assist``: the command line. Only this module reads the environment and configures logging."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from signaling.audit_cli import add_audit_parser, run_audit
from signaling.errors import CliError
from signaling.identity_cli import add_identity_parsers
from signaling.queues import QueueConfigError, QueueSet, default_queues, load_queues
from signaling.report_cli import add_report_parser
from signaling.settings import DEFAULT_DISPOSITIONS, DEFAULT_TOPICS, Settings, env_defaults

EXIT_USAGE = 2
EXIT_FAILED = 1
QUIET_LOGGERS = ("aioice", "aiortc", "aiohttp.access", "alembic", "aiosqlite")
"""Kept at WARNING even with ``-v``; aiosqlite's debug lines would print every statement's values (customer
context included)."""


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _csv(value: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, e.g. cash,cards")
    return items


def _prefix(value: str) -> str:
    if not value or not all(c.isalnum() or c in "_-." for c in value):
        raise argparse.ArgumentTypeError("a prefix is letters, digits, '_', '-' or '.'")
    return value


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 < seconds <= 86400:
        raise argparse.ArgumentTypeError(f"seconds out of range: {value}")
    return seconds


def _skills(value: str) -> tuple[tuple[str, int], ...]:
    """``cash:5,cards`` → (("cash", 5), ("cards", 3)); levels 1 (learning) to 5 (expert)."""
    out = []
    for item in _csv(value):
        name, _, level = item.partition(":")
        try:
            number = int(level) if level else 3
        except ValueError:
            raise argparse.ArgumentTypeError(f"skill level must be a number 1-5: {item!r}") from None
        if not 1 <= number <= 5:
            raise argparse.ArgumentTypeError(f"skill level must be 1-5: {item!r}")
        out.append((name, number))
    return tuple(out)


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of messages a second: {value!r}") from None
    if not 1 <= rate <= 1_000_000:
        raise argparse.ArgumentTypeError(f"messages a second must be 1-1000000: {value}")
    return rate


def _burst(value: str) -> int:
    try:
        burst = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of messages: {value!r}") from None
    if not 1 <= burst <= 1_000_000:
        raise argparse.ArgumentTypeError(f"a burst must be 1-1000000 messages: {value}")
    return burst


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def _add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir", type=Path, default=Path("./kiosk-assist-data"), help="where embedded data lives"
    )
    p.add_argument("--database-url", help="PostgreSQL URL (default: SQLite under --data-dir)")


def _add_privacy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store-context", choices=("all", "none"), help="keep customer context in call history (default all)"
    )
    p.add_argument("--store-context-keys", type=_csv, help="with all: keep only these context keys")
    p.add_argument("--audit-retention-days", type=int, help="prune audit entries older (default 400)")


def _add_server_args(p: argparse.ArgumentParser) -> None:
    _add_privacy_args(p)
    _add_store_args(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8080)
    p.add_argument(
        "--redis-url",
        help="Redis URL: redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://… (TLS), unix:///PATH.sock, or for "
        "Sentinel redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB] (the hosts are "
        "sentinels, the credentials the master's) (default: an embedded redis-server under --data-dir)",
    )
    p.add_argument("--redis-prefix", type=_prefix, help="key prefix, to share one Redis between deployments")
    p.add_argument(
        "--topics", type=_csv, default=DEFAULT_TOPICS, help="help topics (queues with default rules)"
    )
    p.add_argument(
        "--queues", type=Path, help="queue file (TOML): topics and their rules; see docs/routing.md"
    )
    p.add_argument(
        "--dispositions",
        type=_csv,
        default=DEFAULT_DISPOSITIONS,
        help="contact reasons agents file at wrap-up",
    )
    p.add_argument(
        "--ice-server", action="append", default=[], help="STUN/TURN URL for both parties (repeat)"
    )
    p.add_argument(
        "--turn-secret-file",
        type=Path,
        help="file holding coturn's static-auth-secret: each call gets TURN credentials of its own",
    )
    p.add_argument(
        "--ice-transport-policy",
        choices=("all", "relay"),
        default="all",
        help="relay: calls use TURN only (both parties)",
    )
    p.add_argument("--allowed-origin", action="append", default=[], help="extra console origin (repeat)")
    p.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve HTTPS/WSS (with --tls-key)")
    p.add_argument("--tls-key", type=Path, help="the certificate's PEM private key (unencrypted)")
    p.add_argument(
        "--trust-forwarded-proto",
        action="store_true",
        help="behind a TLS-terminating proxy: believe its X-Forwarded-Proto (all traffic must pass it)",
    )
    p.add_argument(
        "--session-idle", type=_seconds, default=1800.0, help="seconds a staff session lasts unused (sliding)"
    )
    p.add_argument(
        "--login-max-failures", type=_burst, default=5, help="failed sign-ins that lock a username"
    )
    p.add_argument(
        "--login-lockout", type=_seconds, default=900.0, help="seconds a locked username stays locked"
    )
    p.add_argument("--reservation-timeout", type=_seconds, default=20.0, help="seconds an offer rings")
    p.add_argument(
        "--wrap-up-time", type=_seconds, default=120.0, help="seconds before wrap-up ends on its own"
    )
    p.add_argument("--wrap-up-extension", type=_seconds, default=60.0, help="seconds an agent may add, once")
    p.add_argument(
        "--client-rate", type=_rate, default=30.0, help="messages a second one kiosk or agent socket may send"
    )
    p.add_argument(
        "--client-burst", type=_burst, default=60, help="messages one socket may send at once (ICE trickle)"
    )
    p.add_argument(
        "--history",
        choices=("child", "in-process", "external"),
        default="child",
        help="who stores call history: a child process (default), this process, or `kiosk-assist history`",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk-assist", description="Video assistance for kiosks and ATMs.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_server_args(sub.add_parser("serve", help="run the signaling server and the agent console"))
    demo = sub.add_parser("demo", help="the whole product on this machine, with simulated kiosks")
    _add_server_args(demo)
    demo.add_argument("--kiosks", type=int, default=3, help="how many simulated kiosks ask for help")
    demo.add_argument(
        "--kiosk-screen",
        action="store_true",
        help="also open a kiosk's customer screen in a window (needs a display and kiosk-assist[screen])",
    )
    history = sub.add_parser("history", help="store call history from Redis into the database")
    _add_store_args(history)
    history.add_argument("--redis-url", help="the servers' Redis URL, as serve takes it (required)")
    history.add_argument("--redis-prefix", type=_prefix, help="the servers' key prefix")
    history.add_argument("--until-stdin-closes", action="store_true", help=argparse.SUPPRESS)
    _add_privacy_args(history)
    add_audit_parser(sub, _add_store_args)
    add_report_parser(sub, _add_store_args)

    users = sub.add_parser("users", help="staff accounts").add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="create a staff account; the password is read from stdin")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("agent", "supervisor", "admin", "it"))
    add.add_argument(
        "--skills", type=_skills, default=tuple((t, 3) for t in DEFAULT_TOPICS), help="e.g. cash:5,cards:3"
    )
    add.add_argument(
        "--capacity", type=int, default=1, help="calls at a time (a remote teller may take more)"
    )
    add.add_argument("--languages", type=_csv, default=("en",))
    add.add_argument("--display-name", default="")
    add.add_argument("--password-stdin", action="store_true", required=True)
    _add_store_args(add)

    kiosks = sub.add_parser("kiosks", help="enrolled kiosks").add_subparsers(dest="action", required=True)
    enroll = kiosks.add_parser("enroll", help="enroll a kiosk and print its secret once")
    enroll.add_argument("kiosk_id")
    enroll.add_argument("--location", default="")
    enroll.add_argument("--json", action="store_true")
    _add_store_args(enroll)
    add_identity_parsers(users, kiosks, _add_store_args)

    kiosk = sub.add_parser("kiosk", help="the program on the kiosk").add_subparsers(
        dest="action", required=True
    )
    run = kiosk.add_parser("run", help="connect a kiosk to the service")
    run.add_argument("--config", type=Path, metavar="FILE", help="TOML settings; options given here win")
    run.add_argument("--server", help="e.g. http://127.0.0.1:8080 (required here or in --config)")
    run.add_argument("--kiosk-id", help="(required here or in --config)")
    run.add_argument("--secret-file", type=Path, help="(required here or in --config)")
    run.add_argument("--media", choices=("synthetic", "device"), help="default: synthetic")
    run.add_argument("--video-device", help="the camera, with --media device (V4L2; default /dev/video0)")
    run.add_argument("--audio-device", help="the microphone, with --media device (ALSA; default: default)")
    run.add_argument(
        "--speaker-device", help="where the agent's voice plays, with --media device (ALSA; default: default)"
    )
    run.add_argument("--serve", action="store_true", help="stay connected: one call after another")
    run.add_argument("--host-api-port", type=int, help="the local host API's port (serve default 8765)")
    run.add_argument(
        "--auto-help-on-failure", action="store_true", help="a failed transaction starts a call at once"
    )
    run.add_argument("--state-file", type=Path, help="keep the resume point here (restart and resume)")
    run.add_argument(
        "--faults-file",
        type=Path,
        metavar="FILE",
        help="where the host application writes its current faults, one a line (reported to IT)",
    )
    run.add_argument("--request-help", metavar="TOPIC")
    run.add_argument("--language", help="default: en")
    run.add_argument(
        "--context", action="append", default=[], metavar="KEY=VALUE", help="attach to the request"
    )
    run.add_argument(
        "--say", action="append", default=[], metavar="TEXT", help="chat line sent once connected"
    )
    run.add_argument("--record-to", type=Path, help="record the agent's video and audio to this file")
    run.add_argument("--events", type=Path, help="append call events as JSON lines")
    run.add_argument("--headless", action="store_true", help="no screen: report on stderr only")
    run.add_argument(
        "--screen", action="store_true", help="the customer's full-screen window (needs kiosk-assist[screen])"
    )
    run.add_argument("--windowed", action="store_true", help="with --screen: a window, not full screen")
    run.add_argument(
        "--survey", metavar="RATING[:COMMENT]", help="without a screen: rate the call (1-5) when it ends"
    )
    run.add_argument(
        "--id-photo-consent",
        choices=("refuse", "grant"),
        help="without a screen: the answer to an agent's ID photo request (default: refuse)",
    )
    run.add_argument(
        "--ca-file", type=Path, help="PEM certificate(s) of the authority to trust for an https:// server"
    )
    check = kiosk.add_parser("check-devices", help="try the camera, microphone and speaker, and report")
    check.add_argument("--config", type=Path, metavar="FILE", help="the kiosk's TOML settings")
    check.add_argument("--video-device", help="default: /dev/video0 (or the config's)")
    check.add_argument("--audio-device", help="default: default (or the config's)")
    check.add_argument("--speaker-device", help="default: default (or the config's)")
    check.add_argument("--json", action="store_true", help="the report as JSON")
    return parser


def _queue_set(args: argparse.Namespace) -> QueueSet:
    path = getattr(args, "queues", None)
    if path is None:
        return default_queues(getattr(args, "topics", DEFAULT_TOPICS))
    try:
        return load_queues(path)
    except QueueConfigError as exc:
        raise CliError(str(exc)) from None


def settings_from(args: argparse.Namespace) -> Settings:
    env = env_defaults()
    return Settings(
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", 8080),
        data_dir=args.data_dir,
        redis_url=getattr(args, "redis_url", None) or env["redis_url"],
        redis_prefix=getattr(args, "redis_prefix", None) or env["redis_prefix"] or "ka",
        database_url=args.database_url or env["database_url"],
        queues=_queue_set(args),
        wrap_up_s=getattr(args, "wrap_up_time", 120.0),
        wrap_up_extension_s=getattr(args, "wrap_up_extension", 60.0),
        dispositions=getattr(args, "dispositions", DEFAULT_DISPOSITIONS),
        ice_servers=tuple(getattr(args, "ice_server", ())),
        turn_secret=_turn_secret(getattr(args, "turn_secret_file", None)),
        ice_transport_policy="relay" if getattr(args, "ice_transport_policy", "all") == "relay" else "all",
        allowed_origins=tuple(getattr(args, "allowed_origin", ())),
        tls_cert=getattr(args, "tls_cert", None),
        tls_key=getattr(args, "tls_key", None),
        trust_forwarded_proto=getattr(args, "trust_forwarded_proto", False),
        reservation_timeout_s=getattr(args, "reservation_timeout", 20.0),
        history=_history_mode(getattr(args, "history", "in-process")),
        client_messages_per_s=getattr(args, "client_rate", 30.0),
        client_message_burst=getattr(args, "client_burst", 60),
        session_idle_s=getattr(args, "session_idle", 1800.0),
        login_max_failures=getattr(args, "login_max_failures", 5),
        login_lockout_s=getattr(args, "login_lockout", 900.0),
        **_privacy_settings(args, env),
    )


def _privacy_settings(args: argparse.Namespace, env: dict[str, str | None]) -> dict[str, Any]:
    store = getattr(args, "store_context", None) or env["store_context"] or "all"
    if store not in ("all", "none"):
        raise CliError(f"KIOSK_ASSIST_STORE_CONTEXT must be all or none, not {store!r}")
    env_keys = env["store_context_keys"]
    keys = getattr(args, "store_context_keys", None) or (_csv(env_keys) if env_keys else ())
    retention = getattr(args, "audit_retention_days", None) or Settings.audit_retention_days
    return {"store_context": store, "store_context_keys": tuple(keys), "audit_retention_days": retention}


def _turn_secret(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        secret = path.read_text().strip()
    except OSError as exc:
        raise SystemExit(f"kiosk-assist: cannot read the TURN secret file {path}: {exc.strerror}") from None
    if not secret:
        raise SystemExit(f"kiosk-assist: the TURN secret file {path} is empty")
    return secret


def _history_mode(value: str) -> Literal["child", "in_process", "external"]:
    return "child" if value == "child" else "external" if value == "external" else "in_process"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return _dispatch(args)
    except CliError as exc:
        print(f"kiosk-assist: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from signaling import commands

    if args.command == "serve":
        return commands.serve(settings_from(args))
    if args.command == "demo":
        return asyncio.run(commands.demo(settings_from(args), args.kiosks, args.kiosk_screen))
    if args.command in ("users", "kiosks") and args.action not in ("add", "enroll"):
        from signaling.identity_commands import run_identity_command

        secret = _password_from_stdin() if args.action == "set-password" else None
        return asyncio.run(run_identity_command(settings_from(args), args, secret))
    if args.command == "users":
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("no password on standard input")
        return asyncio.run(commands.add_user(settings_from(args), args, password))
    if args.command == "kiosks":
        secret = asyncio.run(commands.enroll(settings_from(args), args.kiosk_id, args.location))
        _print_enrolment(args.kiosk_id, args.location, secret, as_json=args.json)
        return 0
    if args.command == "history":
        from signaling.history_worker import run_history

        settings = settings_from(args)
        if settings.redis_url is None:
            raise CliError("give the servers' Redis with --redis-url or KIOSK_ASSIST_REDIS_URL")
        return asyncio.run(run_history(settings, until_stdin_closes=args.until_stdin_closes))
    if args.command == "audit":
        return run_audit(settings_from(args), args)
    if args.command == "report":
        from signaling.report_cli import run_report

        return run_report(settings_from(args), args)
    if args.command == "kiosk":
        from kiosk_client.cli import check_kiosk_devices, run_kiosk

        return check_kiosk_devices(args) if args.action == "check-devices" else run_kiosk(args)
    raise CliError(f"unknown command {args.command}")


def _password_from_stdin() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("no password on standard input")
    return password


def _print_enrolment(kiosk_id: str, location: str, secret: str, *, as_json: bool) -> None:
    if as_json:
        payload: dict[str, Any] = {"kiosk_id": kiosk_id, "location": location, "secret": secret}
        print(json.dumps(payload))
    else:
        print(f"Kiosk {kiosk_id} enrolled. Its secret (shown only now; store it on the kiosk):\n{secret}")


if __name__ == "__main__":
    raise SystemExit(main())
