"""The store's account and kiosk-credential changes: each ends what it must (session generation, secret)."""

from __future__ import annotations

import pytest

from signaling.store import (
    Database,
    NotFound,
    WrongState,
    add_user,
    authenticate,
    credential_states,
    end_sessions,
    enroll_kiosk,
    list_users,
    revoke_kiosk,
    rotate_kiosk,
    session_generations,
    set_disabled,
    set_password,
    set_role,
    verify_kiosk,
)


async def test_role_password_disable_and_sign_out_everywhere_each_raise_the_session_generation(
    db: Database,
) -> None:
    await add_user(db, "alice", "pw-1", "agent")
    assert (await session_generations(db, ["alice"])) == {"alice": 0}
    await set_role(db, "alice", "supervisor")
    await set_password(db, "alice", "pw-2")
    await end_sessions(db, "alice")
    assert (await session_generations(db, ["alice"])) == {"alice": 3}
    await set_disabled(db, "alice", True)
    assert (await session_generations(db, ["alice"])) == {}  # disabled accounts have no live sessions
    await set_disabled(db, "alice", False)
    assert (await session_generations(db, ["alice"])) == {"alice": 4}
    assert await authenticate(db, "alice", "pw-1") is None
    assert await authenticate(db, "alice", "pw-2") is not None
    assert [u.role for u in await list_users(db)] == ["supervisor"]


@pytest.mark.parametrize("name", ["ghost", "bad name\x00"])
async def test_changing_an_unknown_account_says_not_found(db: Database, name: str) -> None:
    with pytest.raises(NotFound):
        await set_disabled(db, name, True)


async def test_rotating_replaces_the_secret_and_records_when(db: Database) -> None:
    old = await enroll_kiosk(db, "k-1")
    kiosk, new = await rotate_kiosk(db, "k-1")
    assert kiosk.rotated_at is not None
    assert await verify_kiosk(db, "k-1", old) is None
    assert await verify_kiosk(db, "k-1", new) is not None
    assert (await credential_states(db, ["k-1", "k-2"])) == {"k-1": kiosk.secret_hash}


async def test_a_revoked_kiosk_has_no_credential_and_cannot_be_rotated(db: Database) -> None:
    await enroll_kiosk(db, "k-1")
    await revoke_kiosk(db, "k-1")
    assert (await credential_states(db, ["k-1"])) == {"k-1": ""}
    with pytest.raises(WrongState):
        await rotate_kiosk(db, "k-1")
    with pytest.raises(NotFound):
        await rotate_kiosk(db, "nope")
