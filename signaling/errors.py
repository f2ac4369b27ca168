"""Domain errors; turned into typed error messages (WebSocket) or JSON problems (HTTP) in one place."""

from __future__ import annotations

from signaling.protocol import ErrorCode, ProtocolError


class DomainError(ProtocolError):
    """A request that is well-formed but refused by the product's rules."""


class RoutingError(DomainError):
    pass


class AuthError(DomainError):
    def __init__(self, message: str = "authentication failed") -> None:
        super().__init__(ErrorCode.AUTH_FAILED, message)


class CliError(Exception):
    """A readable reason a command-line command could not do its job (printed, exit status 1)."""


class StartupError(Exception):
    """The server cannot start: a dependency (Redis, the database) does not answer."""
