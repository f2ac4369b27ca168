"""Data minimisation: how much of a help request's customer context call history keeps.

A kiosk may attach context to a request (a transaction, an error code, the screen it was on). The agent
sees it live when the console rings; history keeps all of it, an allow-list of its keys, or none of it,
as ``Settings.store_context`` / ``store_context_keys`` decide. The rule applies before anything is
stored, to both the call's row and its ``created`` event. A post-call survey's comment (the customer's
own words) follows the same rule: with ``store_context="none"`` the rating is kept, the comment is not.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from signaling.settings import Settings
from signaling.store.history import RoutingEvent


@dataclass(frozen=True)
class ContextPolicy:
    store: Literal["all", "none"] = "all"
    keys: tuple[str, ...] = ()
    """With ``store="all"``, a non-empty allow-list: only these keys are kept."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ContextPolicy:
        return cls(settings.store_context, settings.store_context_keys)

    @property
    def keeps_all(self) -> bool:
        return self.store == "all" and not self.keys

    def kept(self, context: dict[str, Any]) -> dict[str, Any]:
        """What history may keep of ``context``."""
        if self.store == "none":
            return {}
        if not self.keys:
            return dict(context)
        return {key: value for key, value in context.items() if key in self.keys}

    def minimise(self, event: RoutingEvent) -> RoutingEvent:
        """``event`` with its context cut down to what may be kept (other events unchanged). A survey's
        comment is the customer's own words: kept only where context is (``store="all"``)."""
        if event.kind == "survey" and self.store == "none" and "comment" in event.fields:
            fields = {k: v for k, v in event.fields.items() if k != "comment"}
            return dataclasses.replace(event, fields=fields)
        if self.keeps_all or "context" not in event.fields:
            return event
        try:
            context = json.loads(event.fields["context"])
        except ValueError:
            context = {}
        kept = self.kept(context) if isinstance(context, dict) else {}
        fields = event.fields | {"context": json.dumps(kept, separators=(",", ":"))}
        return dataclasses.replace(event, fields=fields)
