"""Each server's watch over the identities behind its open sockets.

Ending a credential publishes a ``REVOKED`` control to the party's address (``signaling/identities.py``),
which closes its socket at once wherever it is. This watch is the backstop for changes made where no
message could be sent (``kiosk-assist`` run with only the database) and for sessions that simply run out:
every ``identity_check_interval_s`` it re-reads the session of each open console (sliding its idle
timeout: an open console counts as use) and the account behind it, and the stored credential of each
connected kiosk, and closes the sockets whose identity has ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from signaling.auth import Sessions
from signaling.connections import CLOSE_AUTH, Connection
from signaling.protocol import EndReason
from signaling.store import Database, credential_states, session_generations

log = logging.getLogger(__name__)

STAFF_SIGNED_OUT = "staff_signed_out"
KIOSK_REVOKED_REASON = EndReason.KIOSK_REVOKED.value
KIOSK_ROTATED_REASON = EndReason.KIOSK_CREDENTIAL_ROTATED.value
"""Reasons recorded on a call that ended because its party's credential did."""

SESSION_EXPIRED = "session expired; sign in again"
SIGNED_OUT = "signed out: the account's sessions were ended"
KIOSK_REVOKED = "kiosk credential revoked"
KIOSK_ROTATED = "kiosk credential replaced; reconnect with the new secret"


@dataclass(frozen=True)
class _Console:
    conn: Connection
    username: str
    digest: str
    generation: int


@dataclass(frozen=True)
class _Kiosk:
    conn: Connection
    kiosk_id: str
    secret_hash: str


class IdentityWatch:
    """The identities of this process's open sockets (no state shared with other processes)."""

    def __init__(self) -> None:
        self._consoles: dict[Connection, _Console] = {}
        self._kiosks: dict[Connection, _Kiosk] = {}

    def add_console(self, conn: Connection, username: str, digest: str, generation: int) -> None:
        self._consoles[conn] = _Console(conn, username, digest, generation)

    def add_kiosk(self, conn: Connection, kiosk_id: str, secret_hash: str) -> None:
        self._kiosks[conn] = _Kiosk(conn, kiosk_id, secret_hash)

    def remove(self, conn: Connection) -> None:
        self._consoles.pop(conn, None)
        self._kiosks.pop(conn, None)

    async def check(self, sessions: Sessions, db: Database) -> int:
        """One round: close the sockets whose identity has ended; how many were closed."""
        return await self._check_consoles(sessions, db) + await self._check_kiosks(db)

    async def _check_consoles(self, sessions: Sessions, db: Database) -> int:
        consoles = list(self._consoles.values())
        if not consoles:
            return 0
        generations = await session_generations(db, sorted({c.username for c in consoles}))
        closed = 0
        for console in consoles:
            if await sessions.touch(console.digest) is None:
                console.conn.close_soon(CLOSE_AUTH, SESSION_EXPIRED)
            elif generations.get(console.username) != console.generation:
                console.conn.revoke(STAFF_SIGNED_OUT, SIGNED_OUT)
            else:
                continue
            log.info("closing the console of %s: its session has ended", console.username)
            self.remove(console.conn)
            closed += 1
        return closed

    async def _check_kiosks(self, db: Database) -> int:
        kiosks = list(self._kiosks.values())
        if not kiosks:
            return 0
        stored = await credential_states(db, sorted({k.kiosk_id for k in kiosks}))
        closed = 0
        for kiosk in kiosks:
            current = stored.get(kiosk.kiosk_id, "")
            if current == kiosk.secret_hash:
                continue
            if current:
                kiosk.conn.revoke(KIOSK_ROTATED_REASON, KIOSK_ROTATED)
            else:
                kiosk.conn.revoke(KIOSK_REVOKED_REASON, KIOSK_REVOKED)
            log.info("closing kiosk %s: its credential has ended", kiosk.kiosk_id)
            self.remove(kiosk.conn)
            closed += 1
        return closed
