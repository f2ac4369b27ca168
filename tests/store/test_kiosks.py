from __future__ import annotations

import pytest
from sqlalchemy import select

from signaling.store import (
    AlreadyExists,
    Database,
    InvalidValue,
    Kiosk,
    NotFound,
    enroll_kiosk,
    get_kiosk,
    list_kiosks,
    revoke_kiosk,
    verify_kiosk,
)


async def test_enrolled_kiosk_is_verified_with_its_secret(db: Database) -> None:
    secret = await enroll_kiosk(db, "atm-0042", "Main St branch, lobby")

    kiosk = await verify_kiosk(db, "atm-0042", secret)

    assert kiosk is not None
    assert (kiosk.id, kiosk.location, kiosk.revoked_at) == ("atm-0042", "Main St branch, lobby", None)
    assert len(secret) >= 43


async def test_wrong_secret_or_unknown_kiosk_fails(db: Database) -> None:
    secret = await enroll_kiosk(db, "atm-1", "")
    other = await enroll_kiosk(db, "atm-2", "")

    assert await verify_kiosk(db, "atm-1", other) is None
    assert await verify_kiosk(db, "atm-1", secret[:-1]) is None
    assert await verify_kiosk(db, "atm-1", "") is None
    assert await verify_kiosk(db, "atm-3", secret) is None


async def test_secret_is_not_stored_in_clear(db: Database) -> None:
    secret = await enroll_kiosk(db, "atm-1", "")

    async with db.session(readonly=True) as session:
        stored = await session.scalar(select(Kiosk.secret_hash).where(Kiosk.id == "atm-1"))

    assert stored is not None
    assert secret not in stored


async def test_each_enrolment_gets_a_fresh_secret(db: Database) -> None:
    secrets = {await enroll_kiosk(db, f"atm-{n}", "") for n in range(5)}

    assert len(secrets) == 5


async def test_enrolling_an_enrolled_kiosk_is_refused(db: Database) -> None:
    secret = await enroll_kiosk(db, "atm-1", "first")

    with pytest.raises(AlreadyExists):
        await enroll_kiosk(db, "atm-1", "second")

    assert await verify_kiosk(db, "atm-1", secret) is not None


@pytest.mark.parametrize("kiosk_id", ["", "k" * 65, "has space", "slash/id"])
async def test_bad_kiosk_id_is_refused(db: Database, kiosk_id: str) -> None:
    with pytest.raises(InvalidValue):
        await enroll_kiosk(db, kiosk_id, "")


async def test_revoked_kiosk_fails_verification(db: Database) -> None:
    secret = await enroll_kiosk(db, "atm-1", "")

    revoked = await revoke_kiosk(db, "atm-1")

    assert revoked.revoked_at is not None
    assert await verify_kiosk(db, "atm-1", secret) is None
    kiosk = await get_kiosk(db, "atm-1")
    assert kiosk is not None
    assert kiosk.revoked_at == revoked.revoked_at
    with pytest.raises(NotFound):
        await revoke_kiosk(db, "atm-404")


async def test_list_kiosks_in_id_order(db: Database) -> None:
    for kiosk_id in ("b:2", "a.1", "c-3"):
        await enroll_kiosk(db, kiosk_id, f"at {kiosk_id}")
    await revoke_kiosk(db, "c-3")

    assert [k.id for k in await list_kiosks(db)] == ["a.1", "b:2", "c-3"]
    assert [k.id for k in await list_kiosks(db, include_revoked=False)] == ["a.1", "b:2"]
    assert await get_kiosk(db, "nope") is None
