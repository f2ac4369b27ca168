"""The server's TLS: a modern context (TLS 1.2 and later) from a PEM certificate chain and its key.

Every way the files can be wrong (missing, unreadable, not PEM, encrypted, a key of another certificate)
becomes a ``StartupError`` that says which file and what to do, before the server listens.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from signaling.errors import StartupError
from signaling.settings import Settings

CERT_MARKER = "-----BEGIN CERTIFICATE-----"
KEY_MARKER = "PRIVATE KEY-----"


def _read(path: Path, what: str, marker: str) -> None:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise StartupError(f"cannot read the TLS {what} file {path}: {exc.strerror or exc}") from None
    if marker not in text:
        raise StartupError(f"the TLS {what} file {path} holds no PEM {what}")


def _no_passphrase() -> bytes:
    """An encrypted key is refused rather than prompted for (a service has nobody to type it)."""
    raise StartupError("the TLS key is encrypted; give the server an unencrypted key file (mode 0600)")


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The context ``serve`` listens with; a ``StartupError`` naming the problem when the files are wrong."""
    _read(cert, "certificate", CERT_MARKER)
    _read(key, "key", KEY_MARKER)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise StartupError(f"the TLS key {key} does not belong to the certificate {cert}") from None
        raise StartupError(
            f"cannot use the TLS certificate {cert} with the key {key}: {exc.reason or exc}"
        ) from None
    return context


def server_tls(settings: Settings) -> ssl.SSLContext | None:
    """The settings' TLS context, or None for plain HTTP."""
    if settings.tls_cert is None and settings.tls_key is None:
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise StartupError("TLS needs both --tls-cert and --tls-key")
    return server_context(settings.tls_cert, settings.tls_key)


def base_url(settings: Settings) -> str:
    """Where the server can be reached, for banners: ``https://…`` when it speaks TLS itself."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{'https' if settings.tls else 'http'}://{host}:{settings.port}/"
