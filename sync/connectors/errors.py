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


class MailboxUnavailable(ConnectorError):
    """This mailbox cannot be reached through this protocol or by this app, whatever we retry: the session ends
    with a mailbox health entry (``health_code``, ``hint`` for the admin); other mailboxes are unaffected."""

    health_code = "exchange_mailbox_unavailable"
    hint = ""


class MailboxNotOnline(MailboxUnavailable):
    """Graph answered ``MailboxNotEnabledForRESTAPI``: an on-premises (or unlicensed) mailbox; it syncs over EWS."""

    health_code = "graph_mailbox_on_premises"
    hint = "On-premises mailbox: Microsoft Graph cannot reach it; use EWS for this mailbox."


class MailboxNotInScope(MailboxUnavailable):
    """Graph answered 403 ``ErrorAccessDenied``: the app is not granted this mailbox (RBAC for Applications
    scope or an application access policy) or lacks a permission."""

    health_code = "graph_mailbox_not_in_scope"
    hint = "The calsync app is not allowed to this mailbox: add it to the app's Exchange management scope."


class GraphAuthError(AuthError):
    """Entra refused calsync's app credentials for Microsoft Graph (wrong secret or certificate, unknown app or
    tenant): every Graph mailbox stops until an admin fixes the Microsoft 365 connection. ``code`` is Entra's
    error (``invalid_client``, ``unauthorized_client``, ``invalid_tenant``, ...); ``health_code`` is calsync's
    stable code for the mailbox health entry (``graph_credentials_refused``, ``graph_app_unknown``,
    ``graph_unknown_tenant``, ``graph_credentials_invalid``, ``graph_auth_failed``)."""

    def __init__(self, message: str, *, code: str = "", health_code: str = "graph_auth_failed") -> None:
        super().__init__(message, code=code, service="exchange", status=401)
        self.health_code = health_code
