from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from signaling.store import (
    AlreadyExists,
    Database,
    InvalidValue,
    Role,
    User,
    add_user,
    authenticate,
    get_user,
)
from signaling.store.passwords import needs_rehash, verify_password


async def test_added_user_signs_in_with_the_right_password(db: Database) -> None:
    added = await add_user(
        db, "alice", "correct horse", Role.SUPERVISOR, display_name="Alice A.", skills=["cash", "cards"]
    )

    user = await authenticate(db, "alice", "correct horse")

    assert user is not None
    assert (user.id, user.role, user.display_name) == (added.id, "supervisor", "Alice A.")
    assert (user.skills, user.languages, user.capacity, user.disabled) == (
        ["cash", "cards"],
        ["en"],
        1,
        False,
    )
    assert user.created_at.utcoffset() is not None


async def test_wrong_password_or_unknown_user_gets_none(db: Database) -> None:
    await add_user(db, "bob", "s3cret-pass", "agent")

    assert await authenticate(db, "bob", "s3cret-pas") is None
    assert await authenticate(db, "bob", "") is None
    assert await authenticate(db, "nobody", "s3cret-pass") is None


async def test_password_is_stored_as_an_argon2id_hash(db: Database) -> None:
    await add_user(db, "carol", "plain-text-never", "admin")

    async with db.session(readonly=True) as session:
        stored = await session.scalar(select(User.password_hash).where(User.username == "carol"))

    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert "plain-text-never" not in stored


async def test_taken_username_is_refused(db: Database) -> None:
    await add_user(db, "dave", "pw-one", "agent")

    with pytest.raises(AlreadyExists):
        await add_user(db, "dave", "pw-two", "admin")

    assert await authenticate(db, "dave", "pw-one") is not None


@pytest.mark.parametrize("username", ["", "a" * 65, "with space", "ünïcode", "semi;colon", "a/b"])
async def test_bad_username_is_refused(db: Database, username: str) -> None:
    with pytest.raises(InvalidValue):
        await add_user(db, username, "pw", "agent")


@pytest.mark.parametrize(
    ("field", "value"), [("role", "root"), ("capacity", 0), ("skills", "cash"), ("languages", ["e n"])]
)
async def test_bad_account_details_are_refused_and_nothing_is_stored(
    db: Database, field: str, value: object
) -> None:
    arguments: dict[str, object] = {"role": "agent", field: value}
    role = arguments.pop("role")

    with pytest.raises(InvalidValue):
        await add_user(db, "erin", "pw", role, **arguments)  # type: ignore[arg-type]

    assert await get_user(db, "erin") is None


async def test_name_of_64_allowed_characters_is_accepted(db: Database) -> None:
    name = ("Agent.Name_01-" * 5)[:64]
    await add_user(db, name, "pw", "agent", languages=["en", "es"], capacity=2)

    user = await get_user(db, name)

    assert user is not None
    assert (user.languages, user.capacity) == (["en", "es"], 2)


async def test_disabled_account_cannot_sign_in(db: Database) -> None:
    await add_user(db, "frank", "pw", "agent")
    async with db.session() as session:
        user = await session.scalar(select(User).where(User.username == "frank"))
        assert user is not None
        user.disabled = True

    assert await authenticate(db, "frank", "pw") is None


async def test_sign_in_upgrades_a_hash_made_with_weaker_parameters(db: Database) -> None:
    await add_user(db, "gina", "pw", "agent")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("pw")
    async with db.session() as session:
        user = await session.scalar(select(User).where(User.username == "gina"))
        assert user is not None
        user.password_hash = weak

    assert await authenticate(db, "gina", "pw") is not None

    upgraded = await get_user(db, "gina")
    assert upgraded is not None
    assert upgraded.password_hash != weak
    assert not needs_rehash(upgraded.password_hash)
    assert verify_password(upgraded.password_hash, "pw")


def test_verifying_never_raises_for_a_wrong_password_or_a_broken_hash() -> None:
    good = PasswordHasher().hash("pw")

    assert verify_password(good, "PW") is False
    assert verify_password("not-a-hash", "pw") is False
    assert verify_password(good, "pw") is True


async def test_skills_carry_a_proficiency_level_and_bad_levels_are_refused(db: Database) -> None:
    user = await add_user(db, "pro", "pw", "agent", skills=("cash", "cards"), proficiency={"cash": 5})
    stored = await get_user(db, "pro")
    assert stored is not None
    assert stored.proficiency == {"cash": 5}
    assert user.skills == ["cash", "cards"]
    with pytest.raises(InvalidValue):
        await add_user(db, "bad", "pw", "agent", skills=("cash",), proficiency={"cash": 9})
    assert await get_user(db, "bad") is None
