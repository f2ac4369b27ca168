"""What the command line's server-side commands do (the parsing lives in ``cli.py``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import ssl
import sys
import tempfile
from pathlib import Path

from aiohttp import web

from signaling.access_log import AccessLogger
from signaling.app import create_app
from signaling.audit_cli import record_cli
from signaling.errors import CliError, StartupError
from signaling.settings import Settings
from signaling.store import AlreadyExists, Database, InvalidValue, enroll_kiosk
from signaling.store import add_user as store_add_user
from signaling.store.audit import AuditAction
from signaling.tls import base_url, server_tls

log = logging.getLogger(__name__)

DEMO_AGENT = "demo"
DEMO_LOCATIONS = (
    "Main St branch, ATM 1",
    "Airport arrivals hall",
    "Mall level 2, kiosk B",
    "University campus",
)


def serve(settings: Settings) -> int:
    banner = f"Kiosk Assist is serving on {base_url(settings)}"
    try:
        _run_app(settings, banner, server_tls(settings))
    except StartupError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None
    return 0


def _run_app(settings: Settings, banner: str, ssl_context: ssl.SSLContext | None) -> None:
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_context=ssl_context,
        access_log_class=AccessLogger,
        shutdown_timeout=10.0,
        print=lambda _: print(banner, flush=True),
    )


async def _with_db(settings: Settings) -> Database:
    db = await Database.connect(settings.effective_database_url)
    if not await db.ping():
        await db.close()
        raise CliError("cannot reach the database; check --database-url or --data-dir")
    await db.migrate()
    return db


async def add_user(settings: Settings, args: argparse.Namespace, password: str) -> int:
    db = await _with_db(settings)
    try:
        await store_add_user(
            db, args.name, password, args.role, display_name=args.display_name,
            skills=[name for name, _ in args.skills], languages=args.languages,
            proficiency=dict(args.skills), capacity=args.capacity,
        )  # fmt: skip
        await record_cli(db, AuditAction.USER_ADDED, args.name, {"username": args.name, "role": args.role})
    except (AlreadyExists, InvalidValue) as exc:
        raise CliError(str(exc)) from None
    finally:
        await db.close()
    print(f"User {args.name} added ({args.role}).")
    return 0


async def enroll(settings: Settings, kiosk_id: str, location: str) -> str:
    db = await _with_db(settings)
    try:
        secret = await enroll_kiosk(db, kiosk_id, location)
        await record_cli(db, AuditAction.KIOSK_ENROLLED, f"kiosk:{kiosk_id}", {"kiosk_id": kiosk_id})
        return secret
    except (AlreadyExists, InvalidValue) as exc:
        raise CliError(str(exc)) from None
    finally:
        await db.close()


SCREEN_KIOSK = "demo-kiosk-screen"
SCREEN_START_S = 30.0


async def _open_kiosk_screen(settings: Settings, url: str, secret: str) -> asyncio.subprocess.Process:
    """``kiosk run --screen --windowed`` as its own program, once it has signed in (or a CliError saying
    why it could not start: no Qt installed, no display)."""
    folder = settings.data_dir / SCREEN_KIOSK
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "secret").write_text(secret)
    events = folder / "events.jsonl"
    events.unlink(missing_ok=True)
    log_file = folder / "kiosk.log"
    print(f"  Opening a kiosk screen ({SCREEN_KIOSK}); its log: {log_file}", flush=True)
    args = [
        "kiosk",
        "run",
        "--server",
        url,
        "--kiosk-id",
        SCREEN_KIOSK,
        "--secret-file",
        str(folder / "secret"),
    ]
    args += ["--screen", "--windowed", "--events", str(events), "--host-api-port", "0"]
    if settings.tls_cert is not None:
        args += ["--ca-file", str(settings.tls_cert)]
    with log_file.open("ab") as kiosk_log:  # the child keeps its own copy of the descriptor
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "signaling.cli", *args, stdout=kiosk_log, stderr=kiosk_log
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SCREEN_START_S
    while '"signed_in"' not in (events.read_text() if events.exists() else ""):
        if process.returncode is not None or loop.time() > deadline:
            if process.returncode is None:
                process.terminate()
            await process.wait()
            said = log_file.read_text(errors="replace").strip()[-500:] or "no answer"
            raise CliError(f"the kiosk screen did not start: {said}")
        with contextlib.suppress(TimeoutError):  # a bounded wait for the program, re-checking its file
            await asyncio.wait_for(process.wait(), 0.2)
    print(f"  A kiosk screen ({SCREEN_KIOSK}) is open in a window: ask for help from it.\n", flush=True)
    return process


async def demo(settings: Settings, kiosk_count: int, kiosk_screen: bool = False) -> int:
    """Server, a demo agent and simulated kiosks asking for help, on one machine, until interrupted;
    with ``kiosk_screen``, one more kiosk shows the customer's screen in a window, for a person to use."""
    from dataclasses import replace

    from kiosk_client.session import KioskOptions, KioskRunner

    try:
        ssl_context = server_tls(settings)  # a wrong certificate or key is said before anything starts
    except StartupError as exc:
        raise CliError(str(exc)) from None
    with contextlib.ExitStack() as stack:
        if settings.data_dir == Path("./kiosk-assist-data"):
            settings = replace(settings, data_dir=Path(stack.enter_context(tempfile.TemporaryDirectory())))
        password = secrets.token_urlsafe(9)
        db = await _with_db(settings)
        kiosk_secrets: list[tuple[str, str]] = []
        try:
            try:
                await store_add_user(
                    db, DEMO_AGENT, password, "agent", display_name="Demo Agent", skills=settings.topics
                )
            except AlreadyExists:
                raise CliError(
                    f"{settings.data_dir} already holds a demo; remove it or pick another --data-dir"
                ) from None
            for i in range(kiosk_count):
                kiosk_id = f"demo-kiosk-{i + 1}"
                secret = await enroll_kiosk(db, kiosk_id, DEMO_LOCATIONS[i % len(DEMO_LOCATIONS)])
                kiosk_secrets.append((kiosk_id, secret))
            screen_secret = await enroll_kiosk(db, SCREEN_KIOSK, "Your desk") if kiosk_screen else None
        finally:
            await db.close()

        runner = web.AppRunner(create_app(settings), access_log_class=AccessLogger)
        await runner.setup()
        await web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context).start()
        url = base_url(settings)
        print(
            f"\nKiosk Assist demo is running.\n  Console: {url}\n  Sign in as: {DEMO_AGENT} / {password}\n"
            f"  {kiosk_count} simulated kiosks are asking for help. Press Ctrl+C to stop.\n",
            flush=True,
        )

        async def kiosk_loop(index: int, kiosk_id: str, secret: str) -> None:
            topic = settings.topics[index % len(settings.topics)]
            while True:
                options = KioskOptions(
                    server=url, kiosk_id=kiosk_id, secret=secret, request_help=topic,
                    context={"demo": "yes", "screen": "withdrawal"},
                    say=(f"Hello, I need help with {topic}.",), echo_chat=True,
                    ca_file=settings.tls_cert,  # a demo's certificate is its own authority
                )  # fmt: skip
                try:
                    await KioskRunner(options).run()
                except Exception:
                    log.exception("demo kiosk %s failed", kiosk_id)
                await asyncio.sleep(10 + 5 * index)  # the next customer walks up a little later

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        screen: asyncio.subprocess.Process | None = None
        try:
            if screen_secret is not None:
                screen = await _open_kiosk_screen(settings, url, screen_secret)
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(kiosk_loop(i, k, s)) for i, (k, s) in enumerate(kiosk_secrets)]
                await stop.wait()
                for task in tasks:
                    task.cancel()
        finally:
            if screen is not None and screen.returncode is None:
                screen.terminate()
                await asyncio.wait_for(screen.wait(), 10)
            await runner.cleanup()
    return 0
