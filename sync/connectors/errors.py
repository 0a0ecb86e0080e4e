"""Errors a connector raises, classified by what the session should do about them."""

from __future__ import annotations


class ConnectorError(Exception):
    """A remote call failed. ``code`` is the service's own error code (errorCode / ResponseCode)."""

    retryable = False

    def __init__(self, message: str, *, code: str = "", service: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.service = service
        self.status = status


class TransientError(ConnectorError):
    """Busy, locked row, 5xx, dropped connection: try again later; nothing is known to be lost."""

    retryable = True


class BudgetExhausted(ConnectorError):
    """The org's API budget is spent (REQUEST_LIMIT_EXCEEDED): end the session cleanly and back off."""


class AuthError(ConnectorError):
    """Credentials were refused (expired session, wrong password, impersonation denied)."""
