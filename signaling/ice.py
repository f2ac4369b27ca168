"""The STUN/TURN servers handed to both parties of a call, with time-limited TURN credentials.

With a shared secret (coturn's ``use-auth-secret`` / ``static-auth-secret``), each call's parties get a TURN
username ``EXPIRY:CALL_ID`` and a password ``base64(HMAC-SHA1(secret, username))`` (the TURN REST API
scheme, draft-uberti-behave-turn-rest-00): the relay checks them without asking this server, and they stop
working at EXPIRY (Unix seconds). STUN URLs need no credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Literal

from signaling.protocol import IceServer

IcePolicy = Literal["all", "relay"]


def turn_rest_credentials(secret: str, name: str, ttl_s: float, now: float | None = None) -> tuple[str, str]:
    expiry = int((time.time() if now is None else now) + ttl_s)
    username = f"{expiry}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


@dataclass(frozen=True)
class IceConfig:
    urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    credential_ttl_s: float = 3600.0
    policy: IcePolicy = "all"
    """``relay``: both parties use only relayed candidates (all media through TURN)."""

    def servers(self, call_id: str) -> list[IceServer]:
        out: list[IceServer] = []
        for url in self.urls:
            if self.turn_secret and url.startswith(("turn:", "turns:")):
                username, credential = turn_rest_credentials(self.turn_secret, call_id, self.credential_ttl_s)
                out.append(IceServer(urls=[url], username=username, credential=credential))
            else:
                out.append(IceServer(urls=[url]))
        return out
