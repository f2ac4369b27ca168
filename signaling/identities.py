"""Ending identities at once: a staff member's sessions, a kiosk's credential.

The database change comes first (it alone decides who may sign in or connect); then every session of the
account is deleted from Redis and a ``REVOKED`` control is published to the party's address, which closes
its open sockets on whichever server holds them. Servers also end the live call of a kiosk whose socket
closed that way, with the reason given. ``Revoker`` needs only Redis and the key names, so the command line
uses it too when it is given the servers' Redis; without it, each server's ``IdentityWatch`` finds the
change within ``identity_check_interval_s``.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from signaling.auth import Sessions
from signaling.delivery import REVOKED
from signaling.errors import RoutingError
from signaling.identity_watch import (
    KIOSK_REVOKED,
    KIOSK_REVOKED_REASON,
    KIOSK_ROTATED,
    KIOSK_ROTATED_REASON,
    SIGNED_OUT,
    STAFF_SIGNED_OUT,
)
from signaling.routing.keys import Keys, agent_address, kiosk_address
from signaling.services import Services

log = logging.getLogger(__name__)


class Revoker:
    """Publishes the end of an identity to every server process (through the servers' Redis)."""

    def __init__(self, redis: Redis, keys: Keys, sessions: Sessions) -> None:
        self._redis = redis
        self._keys = keys
        self._sessions = sessions

    async def _publish(self, address: str, reason: str, text: str) -> None:
        await self._redis.publish(self._keys.channel(address), f"{REVOKED}{reason}:{text}")

    async def staff(self, username: str) -> int:
        """Delete every session of ``username`` and close their open consoles; how many sessions ended."""
        ended = await self._sessions.end_all(username)
        await self._publish(agent_address(username), STAFF_SIGNED_OUT, SIGNED_OUT)
        log.info("ended %d sessions of %s", ended, username)
        return ended

    async def kiosk(self, kiosk_id: str, *, rotated: bool) -> None:
        """Close the kiosk's open socket; its server ends its live call with the reason."""
        if rotated:
            await self._publish(kiosk_address(kiosk_id), KIOSK_ROTATED_REASON, KIOSK_ROTATED)
        else:
            await self._publish(kiosk_address(kiosk_id), KIOSK_REVOKED_REASON, KIOSK_REVOKED)


def revoker(services: Services) -> Revoker:
    return Revoker(services.redis, services.keys, services.sessions)


async def end_kiosk_call(services: Services, kiosk_id: str, reason: str) -> str | None:
    """End the kiosk's live call (waiting: abandoned; in progress: completed) with ``reason``; its id, or
    None when it had none (or another process ended it first)."""
    engine = services.engine
    call_id = await engine.kiosk_call(kiosk_id)
    if not call_id:
        return None
    try:
        ended = await engine.hangup(call_id, "kiosk", kiosk_id, reason)
    except RoutingError:  # not live (any more): nothing to end
        return None
    services.queue_watcher.unwatch(kiosk_id)
    await services.announcer.ended(ended, reason)
    return call_id


async def cut_off_kiosk(services: Services, kiosk_id: str, *, rotated: bool) -> str | None:
    """After the database change: close the kiosk's socket and end its live call (also when it is not
    connected now, such as within its reconnect grace); the ended call's id, if any.

    The call is read first: closing the socket may end it on the way (the socket's own clean-up records
    the same reason), and then it is still the call this action ended."""
    live = await services.engine.kiosk_call(kiosk_id)
    await revoker(services).kiosk(kiosk_id, rotated=rotated)
    reason = KIOSK_ROTATED_REASON if rotated else KIOSK_REVOKED_REASON
    return await end_kiosk_call(services, kiosk_id, reason) or live or None
