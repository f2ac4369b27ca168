"""Staff accounts: creating them and checking a sign-in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from signaling.store import passwords, validation
from signaling.store.database import Database
from signaling.store.errors import AlreadyExists, InvalidValue
from signaling.store.models import Role, User

MAX_PASSWORD_LENGTH = 1024  # argon2 accepts any length; this only bounds the work one request causes


async def add_user(
    db: Database,
    username: str,
    password: str,
    role: Role | str,
    *,
    display_name: str = "",
    skills: Iterable[str] = (),
    languages: Iterable[str] = ("en",),
    capacity: int = 1,
    proficiency: Mapping[str, int] | None = None,
) -> User:
    """Create an account; raises InvalidValue for a bad argument, AlreadyExists for a taken name.
    ``proficiency`` gives a level 1-5 per skill (unlisted skills count as 3)."""
    user = User(
        username=validation.matching("username", username, validation.USERNAME_RE),
        role=_role(role).value,
        display_name=validation.text("display name", display_name, 128),
        skills=validation.tags("skill", skills),
        languages=validation.tags("language", languages),
        capacity=validation.positive_int("capacity", capacity),
        proficiency=_proficiency(proficiency or {}),
        disabled=False,
    )
    user.password_hash = await asyncio.to_thread(passwords.hash_password, _password(password))
    try:
        async with db.session() as session:
            session.add(user)
    except IntegrityError as exc:
        raise AlreadyExists(f"user {username!r} already exists") from exc
    return user


async def get_user(db: Database, username: str) -> User | None:
    """The account named ``username``, or None."""
    async with db.session(readonly=True) as session:
        return await session.scalar(select(User).where(User.username == username))


async def authenticate(db: Database, username: str, password: str) -> User | None:
    """The account if ``password`` is right and the account is enabled, else None.

    An unknown name costs the same hash verification as a known one, so timing does not reveal it.
    """
    user = await get_user(db, username)
    stored = user.password_hash if user is not None else passwords.dummy_hash()
    ok = await asyncio.to_thread(passwords.verify_password, stored, password)
    if user is None or not ok or user.disabled:
        return None
    if passwords.needs_rehash(user.password_hash):
        await _rehash(db, user, password)
    return user


async def _rehash(db: Database, user: User, password: str) -> None:
    user.password_hash = await asyncio.to_thread(passwords.hash_password, password)
    async with db.session() as session:
        await session.merge(user)


def _proficiency(levels: Mapping[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for skill, level in levels.items():
        name = validation.tags("skill", [skill])[0]
        if not isinstance(level, int) or not 1 <= level <= 5:
            raise InvalidValue(f"proficiency of {skill!r} must be a whole number 1-5, got {level!r}")
        out[name] = level
    return out


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidValue(f"invalid role {role!r}: expected one of {allowed}") from None


def _password(password: str) -> str:
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidValue(f"invalid password: expected 1-{MAX_PASSWORD_LENGTH} characters")
    return password
