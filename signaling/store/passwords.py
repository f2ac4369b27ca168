"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile).

These functions are CPU-bound by design (tens of milliseconds): async callers run them in a thread.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # stateless and thread-safe; argon2id is its default type


def hash_password(password: str) -> str:
    """An encoded argon2id hash of ``password`` (salt and parameters included)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; a wrong password or a malformed hash is False."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (rehash after a good sign-in)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@cache
def dummy_hash() -> str:
    """A hash to verify against when no such user exists, so that case takes as long as a real one."""
    return _hasher.hash("kiosk-assist: no such user")
