"""Domain errors of the durable store; the HTTP and command-line layers turn them into messages."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class AlreadyExists(StoreError):
    """A row with this key is already stored (a user name, a kiosk id)."""


class NotFound(StoreError):
    """No row with this key is stored."""


class InvalidValue(StoreError, ValueError):
    """An argument failed validation; nothing was written."""


class InvalidEvent(InvalidValue):
    """A routing event cannot be applied; the whole batch was rolled back.

    ``event_id`` names the offending event so a consumer can log it and decide whether to skip it.
    """

    def __init__(self, event_id: str, message: str) -> None:
        super().__init__(f"event {event_id}: {message}")
        self.event_id = event_id


class WrongState(StoreError):
    """The row's state does not allow this change (such as rotating a revoked kiosk's secret)."""
