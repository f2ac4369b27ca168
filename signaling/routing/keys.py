"""Every Redis key and channel name the product uses, under one prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "ka"

    @property
    def seq(self) -> str:
        return f"{self.prefix}:seq"

    @property
    def config(self) -> str:
        return f"{self.prefix}:config"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    @property
    def reservations(self) -> str:
        return f"{self.prefix}:reservations"

    @property
    def presence(self) -> str:
        return f"{self.prefix}:presence"

    @property
    def agents(self) -> str:
        return f"{self.prefix}:agents"

    @property
    def wrapups(self) -> str:
        return f"{self.prefix}:wrapups"

    @property
    def waits(self) -> str:
        return f"{self.prefix}:waits"

    @property
    def audit_head(self) -> str:
        """The audit log's newest entry as last published (``<seq>:<hash>``), to detect a cut tail."""
        return f"{self.prefix}:audit:head"

    @property
    def alerts(self) -> str:
        """The open alerts: a hash of alert key -> the alert as JSON."""
        return f"{self.prefix}:alerts"

    @property
    def quality_live(self) -> str:
        """Calls reporting stats: a sorted set of call id -> the time of its latest sample (ms)."""
        return f"{self.prefix}:quality_live"

    def call_quality(self, call_id: str) -> str:
        """A live call's recent quality samples (a bounded list, newest last)."""
        return f"{self.prefix}:quality:{call_id}"

    def call_quality_poor(self, call_id: str) -> str:
        """How many of a live call's consecutive samples were poor (a hash: audio, video)."""
        return f"{self.prefix}:quality_poor:{call_id}"

    def fleet_kiosk(self, kiosk_id: str) -> str:
        """A kiosk's live health (a hash: ``seen`` ms, ``telemetry`` JSON, ``video``: why it offers no video
        help, empty when it does); see ``signaling/fleet.py``."""
        return f"{self.prefix}:fleet:{kiosk_id}"

    def queue_config(self, topic: str) -> str:
        return f"{self.prefix}:queue_config:{topic}"

    def staffed(self, topic: str) -> str:
        return f"{self.prefix}:staffed:{topic}"

    def answered(self, topic: str) -> str:
        return f"{self.prefix}:answered:{topic}"

    def call(self, call_id: str) -> str:
        return f"{self.prefix}:call:{call_id}"

    def queue(self, topic: str) -> str:
        return f"{self.prefix}:queue:{topic}"

    def available(self, topic: str) -> str:
        return f"{self.prefix}:avail:{topic}"

    def agent(self, username: str) -> str:
        return f"{self.prefix}:agent:{username}"

    def kiosk(self, kiosk_id: str) -> str:
        return f"{self.prefix}:kiosk:{kiosk_id}"

    def session(self, token_hash: str) -> str:
        return f"{self.prefix}:session:{token_hash}"

    def user_sessions(self, username: str) -> str:
        """The set of a staff account's session digests (to end them all at once)."""
        return f"{self.prefix}:user_sessions:{username}"

    def login_failures_user(self, username: str) -> str:
        """Failed sign-ins of one username; at the limit, it holds the lockout's remaining time."""
        return f"{self.prefix}:login_failures:user:{username}"

    def login_failures_ip(self, address: str) -> str:
        """Failed sign-ins from one client address (password spraying across accounts)."""
        return f"{self.prefix}:login_failures:ip:{address}"

    def channel(self, address: str) -> str:
        return f"{self.prefix}:to:{address}"


def kiosk_address(kiosk_id: str) -> str:
    return f"kiosk:{kiosk_id}"


def agent_address(username: str) -> str:
    return f"agent:{username}"
