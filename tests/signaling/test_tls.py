"""``kiosk-assist serve`` over TLS: what it refuses to start with, what it sends over https, what a plain
http client meets, and a kiosk that does not trust the server's certificate."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from signaling.auth import COOKIE_NAME
from signaling.handlers.csrf import CSRF_COOKIE
from tests.certs import Certs, TlsServerProcess, make_certs
from tests.support import cli_env, free_port, run_cli

PASSWORD = "correct horse battery"


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path / "tls")


async def test_serve_refuses_a_missing_unreadable_or_mismatched_certificate_with_a_readable_error(
    certs: Certs, tmp_path: Path
) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    data = str(tmp_path / "data")
    for cert, key, said in (
        (tmp_path / "missing.pem", certs.key, "cannot read the TLS certificate file"),
        (certs.cert, tmp_path / "missing.key", "cannot read the TLS key file"),
        (not_pem, certs.key, "holds no PEM certificate"),
        (certs.cert, not_pem, "holds no PEM key"),
        (certs.cert, certs.stranger_key, "does not belong to the certificate"),
    ):
        code, _, err = await run_cli(
            "serve",
            "--port",
            str(free_port()),
            "--data-dir",
            data,
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        )
        assert code == 1, err
        assert said in err
        assert "Traceback" not in err
    code, _, err = await run_cli(
        "serve", "--port", str(free_port()), "--data-dir", data, "--tls-cert", str(certs.cert)
    )
    assert code == 1
    assert "both --tls-cert and --tls-key" in err


async def test_over_tls_the_cookies_are_secure_hsts_is_sent_and_plain_http_fails_cleanly(
    certs: Certs, tmp_path: Path, redis_env: dict[str, str]
) -> None:
    data = str(tmp_path / "data")
    code, _, err = await run_cli(
        "users",
        "add",
        "ana",
        "--role",
        "agent",
        "--password-stdin",
        "--data-dir",
        data,
        stdin=f"{PASSWORD}\n",
    )
    assert code == 0, err
    server = TlsServerProcess(free_port(), certs, "--data-dir", data, env=cli_env(**redis_env))
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            login = {"username": "ana", "password": PASSWORD}
            async with http.post(f"{server.url}/api/login", json=login, ssl=server.ssl) as r:
                assert r.status == 200
                assert r.headers["Strict-Transport-Security"].startswith("max-age=")
                assert "wss://127.0.0.1:" in r.headers["Content-Security-Policy"]
                for name in (COOKIE_NAME, CSRF_COOKIE):
                    assert r.cookies[name]["secure"], name
                    assert r.cookies[name]["samesite"] == "Strict"
                assert r.cookies[COOKIE_NAME]["httponly"]
            with pytest.raises(aiohttp.ClientError):  # no answer at all: nothing in clear text
                async with http.get(f"http://127.0.0.1:{server.port}/healthz") as r:
                    await r.read()
            async with http.get(f"{server.url}/healthz", ssl=server.ssl) as r:  # and it still serves
                assert r.status == 200
    finally:
        assert await server.stop() == 0
    assert "Traceback" not in server.logs()


async def test_a_kiosk_refuses_a_server_whose_certificate_it_cannot_verify_and_says_how_to_fix_it(
    certs: Certs, tmp_path: Path, redis_env: dict[str, str]
) -> None:
    data = str(tmp_path / "data")
    code, out, err = await run_cli("kiosks", "enroll", "k-1", "--json", "--data-dir", data)
    assert code == 0, err
    secret_file = tmp_path / "secret"
    secret_file.write_text(json.loads(out)["secret"])
    server = TlsServerProcess(free_port(), certs, "--data-dir", data, env=cli_env(**redis_env))
    await server.start()
    kiosk = ("kiosk", "run", "--server", server.url, "--kiosk-id", "k-1", "--secret-file", str(secret_file))
    try:
        code, _, err = await run_cli(*kiosk, "--headless")
        assert code == 1
        assert "does not trust" in err
        assert "--ca-file" in err
        assert "Traceback" not in err
        code, _, err = await run_cli(*kiosk, "--headless", "--ca-file", str(certs.key))
        assert code == 1
        assert "cannot use the CA file" in err
        assert "Traceback" not in err
    finally:
        assert await server.stop() == 0
