"""Staff accounts: creating them and checking a sign-in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from signaling.store import passwords, validation
from signaling.store.database import Database
from signaling.store.errors import AlreadyExists, InvalidValue, NotFound
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


async def list_users(db: Database) -> list[User]:
    """Every staff account, ordered by name."""
    async with db.session(readonly=True) as session:
        return list(await session.scalars(select(User).order_by(User.username)))


async def set_role(db: Database, username: str, role: Role | str) -> User:
    """Give the account another role; its sessions end (they carry the old one). NotFound, InvalidValue."""
    new_role = _role(role).value
    return await _change(db, username, lambda user: setattr(user, "role", new_role))


async def set_disabled(db: Database, username: str, disabled: bool) -> User:
    """Disable (its sessions end; it cannot sign in) or enable the account. NotFound if there is none."""
    return await _change(db, username, lambda user: setattr(user, "disabled", disabled), end=disabled)


async def set_password(db: Database, username: str, password: str) -> User:
    """Replace the account's password; its sessions end. NotFound, InvalidValue."""
    password_hash = await asyncio.to_thread(passwords.hash_password, _password(password))
    return await _change(db, username, lambda user: setattr(user, "password_hash", password_hash))


async def end_sessions(db: Database, username: str) -> User:
    """End every session of the account (sign out everywhere). NotFound if there is none."""
    return await _change(db, username, lambda user: None)


async def _change(db: Database, username: str, change: Callable[[User], None], *, end: bool = True) -> User:
    """Apply ``change`` to the account in one transaction; with ``end``, raise its session generation."""
    if not isinstance(username, str) or validation.USERNAME_RE.fullmatch(username) is None:
        raise NotFound(f"no user named {username!r}")
    async with db.session() as session:
        user = await session.scalar(select(User).where(User.username == username).with_for_update())
        if user is None:
            raise NotFound(f"no user named {username!r}")
        change(user)
        if end:
            user.session_generation = (user.session_generation or 0) + 1
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


async def session_generations(db: Database, usernames: list[str]) -> dict[str, int]:
    """For each enabled account of ``usernames``, its session generation (disabled and unknown: absent)."""
    if not usernames:
        return {}
    query = select(User.username, User.session_generation).where(
        User.username.in_(usernames), User.disabled.is_(False)
    )
    async with db.session(readonly=True) as session:
        return {row[0]: row[1] for row in (await session.execute(query)).all()}
