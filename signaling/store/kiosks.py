"""Enrolled kiosks and their device secrets.

A kiosk's secret is 32 random bytes from ``secrets`` (256 bits), so a single SHA-256 is enough to store
it: a slow password hash defends guessable secrets against brute force, and these cannot be guessed. It
also keeps verifying cheap for every kiosk reconnect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from signaling.store import validation
from signaling.store.columns import utcnow
from signaling.store.database import Database
from signaling.store.errors import AlreadyExists, NotFound, WrongState
from signaling.store.models import Kiosk

_HASH_PREFIX = "sha256:"


async def enroll_kiosk(db: Database, kiosk_id: str, location: str = "") -> str:
    """Enroll a kiosk and return its new secret (shown once, never stored); AlreadyExists if enrolled."""
    kiosk = Kiosk(
        id=validation.matching("kiosk id", kiosk_id, validation.KIOSK_ID_RE),
        location=validation.text("location", location, 200),
    )
    secret = secrets.token_urlsafe(32)
    kiosk.secret_hash = _hash_secret(secret)
    try:
        async with db.session() as session:
            session.add(kiosk)
    except IntegrityError as exc:
        raise AlreadyExists(f"kiosk {kiosk_id!r} is already enrolled") from exc
    return secret


async def verify_kiosk(db: Database, kiosk_id: str, secret: str) -> Kiosk | None:
    """The kiosk if ``secret`` is its secret and it is not revoked, else None."""
    kiosk = await get_kiosk(db, kiosk_id)
    expected = kiosk.secret_hash if kiosk is not None else _hash_secret("")
    ok = hmac.compare_digest(_hash_secret(secret), expected)
    if kiosk is None or not ok or kiosk.revoked_at is not None:
        return None
    return kiosk


async def revoke_kiosk(db: Database, kiosk_id: str) -> Kiosk:
    """Revoke a kiosk: its secret stops working at once. NotFound if the kiosk is not enrolled."""
    if validation.KIOSK_ID_RE.fullmatch(kiosk_id) is None:
        raise NotFound(f"kiosk {kiosk_id!r} is not enrolled")
    async with db.session() as session:
        kiosk = await session.get(Kiosk, kiosk_id)
        if kiosk is None:
            raise NotFound(f"kiosk {kiosk_id!r} is not enrolled")
        if kiosk.revoked_at is None:
            kiosk.revoked_at = utcnow()
    return kiosk


async def rotate_kiosk(db: Database, kiosk_id: str) -> tuple[Kiosk, str]:
    """Give the kiosk a new secret (returned once, never stored); the old one stops working at once.
    NotFound if the kiosk is not enrolled, WrongState if it is revoked (revocation is final)."""
    if validation.KIOSK_ID_RE.fullmatch(kiosk_id) is None:
        raise NotFound(f"kiosk {kiosk_id!r} is not enrolled")
    secret = secrets.token_urlsafe(32)
    async with db.session() as session:
        kiosk = await session.get(Kiosk, kiosk_id, with_for_update=True)
        if kiosk is None:
            raise NotFound(f"kiosk {kiosk_id!r} is not enrolled")
        if kiosk.revoked_at is not None:
            raise WrongState(f"kiosk {kiosk_id!r} is revoked; enroll the device under a new id")
        kiosk.secret_hash = _hash_secret(secret)
        kiosk.rotated_at = utcnow()
    return kiosk, secret


def secret_digest(secret: str) -> str:
    """What is stored of a secret: a connected kiosk keeps it to notice a rotation."""
    return _hash_secret(secret)


async def credential_states(db: Database, kiosk_ids: list[str]) -> dict[str, str]:
    """For each enrolled kiosk of ``kiosk_ids``: its stored secret hash, or "" when it is revoked."""
    if not kiosk_ids:
        return {}
    query = select(Kiosk.id, Kiosk.secret_hash, Kiosk.revoked_at).where(Kiosk.id.in_(kiosk_ids))
    async with db.session(readonly=True) as session:
        rows = (await session.execute(query)).all()
    return {row[0]: "" if row[2] is not None else row[1] for row in rows}


async def get_kiosk(db: Database, kiosk_id: str) -> Kiosk | None:
    """The enrolled kiosk ``kiosk_id`` (revoked or not), or None."""
    async with db.session(readonly=True) as session:
        return await session.get(Kiosk, kiosk_id)


async def list_kiosks(db: Database, *, include_revoked: bool = True) -> list[Kiosk]:
    """Every enrolled kiosk, ordered by id."""
    query = select(Kiosk).order_by(Kiosk.id)
    if not include_revoked:
        query = query.where(Kiosk.revoked_at.is_(None))
    async with db.session(readonly=True) as session:
        return list(await session.scalars(query))


def _hash_secret(secret: str) -> str:
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
    return _HASH_PREFIX + digest
