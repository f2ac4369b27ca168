"""Throwaway certificates for the TLS tests: a private authority and a server certificate it signed for
127.0.0.1 and localhost, written as PEM files, plus a key that belongs to neither; and ``serve`` over TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import ServerProcess


@dataclass(frozen=True)
class Certs:
    ca: Path
    """The authority's certificate: what a kiosk is given with ``--ca-file``."""
    cert: Path
    key: Path
    stranger_key: Path
    """A key that does not belong to ``cert``."""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _builder(subject: str, issuer: str, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def make_certs(directory: Path) -> Certs:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        _builder("Kiosk Assist test CA", "Kiosk Assist test CA", ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        _builder("localhost", "Kiosk Assist test CA", key.public_key())
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out = Certs(
        directory / "ca.pem", directory / "server.pem", directory / "server.key", directory / "other.key"
    )
    out.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(_key_pem(key))
    out.stranger_key.write_bytes(_key_pem(ec.generate_private_key(ec.SECP256R1())))
    return out


class TlsServerProcess(ServerProcess):
    """``kiosk-assist serve --tls-cert … --tls-key …`` as its own process, reached over https."""

    def __init__(self, port: int, certs: Certs, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__(port, "--tls-cert", str(certs.cert), "--tls-key", str(certs.key), *args, env=env)
        self.url = f"https://127.0.0.1:{port}"
        self.ssl = ssl.create_default_context(cafile=str(certs.ca))

    async def _ready(self) -> bool:
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(f"server exited with {self.process.returncode}: {self.logs()[-3000:]}")
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{self.url}/readyz", ssl=self.ssl) as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False
