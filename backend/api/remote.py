"""The services the add-in API reaches: Exchange (EWS or Microsoft Graph, acting as the caller's mailbox),
Salesforce and the RQ queue, from the process's runtime (`backend.globals.runtime`); and how their failures
are answered.

A remote failure is never a 500: refused credentials or an unconfigured service are 503 with a message for
people, anything else from a remote service is 502.
"""

from __future__ import annotations

import logging

from flask import g
from redis import Redis

from backend.errors import ApiError
from backend.globals import db_session, runtime, settings
from calsync.settings import ConfigError
from sync.connectors.base import ExchangeCalendar, SalesforceOrg
from sync.connectors.errors import AuthError, ConnectorError, MailboxUnavailable
from sync.job_queue import session_queue
from sync.salesforce_connection import instance_url
from sync.schedule import ScheduleConfig

log = logging.getLogger(__name__)


def unavailable(message: str, code: str = "service_unavailable") -> ApiError:
    return ApiError(message, status=503, code=code, headers={"Retry-After": "30"})


def exchange(mailbox_email: str) -> ExchangeCalendar:
    """The caller's mailbox by its backend: EWS as that mailbox (the service account impersonates it: it sees
    that mailbox only), or Microsoft Graph at ``/users/{mailbox}`` with the app's token (the Microsoft 365
    connection stored in the panel, else the environment's)."""
    try:
        if runtime().mailbox_access(mailbox_email)[0] == "graph":
            return runtime().exchange(mailbox_email, connection_settings())
        return runtime().exchange(mailbox_email, settings())
    except (ConfigError, ConnectorError) as exc:
        raise unavailable(f"Exchange is not set up on this server: {exc}", "exchange_unavailable") from None


def ownership(mailbox_email: str, item_id: str) -> str:
    """Whose the item is, asked of Microsoft Graph as the caller's mailbox: ``ok``, ``not_yours`` or ``not_found``
    (`sync.connectors.graph_ids.GraphIds.ownership`)."""
    try:
        ids = runtime().graph_ids(mailbox_email, connection_settings())
    except ConfigError as exc:
        raise unavailable(f"Microsoft Graph is not set up on this server: {exc}", "exchange_unavailable") from None
    try:
        return ids.ownership(item_id)
    except ConnectorError as exc:
        raise remote_error(exc) from None
    finally:
        ids.close()


def connection_settings():
    """The settings with the connections stored in the panel laid over the process's (the Microsoft 365 one
    included), as sessions use them."""
    try:
        return runtime().connection_settings(db_session())
    except ConfigError as exc:
        raise unavailable(str(exc), "exchange_unavailable") from None


def salesforce() -> SalesforceOrg:
    try:
        connector = g.calsync_salesforce = runtime().salesforce(settings())  # backend.limits reads its usage
        return connector
    except ConfigError as exc:
        raise unavailable(str(exc), "salesforce_unavailable") from None


def remote_error(exc: ConnectorError) -> ApiError:
    """The answer for a failed Exchange or Salesforce call."""
    service = (exc.service or "remote").capitalize()
    log.warning("%s call failed: %s (%s)", service, exc, exc.code)
    if isinstance(exc, AuthError):
        return unavailable(f"{service} refused calsync's credentials; an admin must reconnect it.", "remote_auth")
    if isinstance(exc, MailboxUnavailable):  # on premises, or outside the Graph app's scope: an admin's to fix
        return unavailable(f"{exc.hint or 'calsync cannot reach this mailbox.'} Ask your admin.", exc.health_code)
    if exc.retryable:
        return unavailable(f"{service} is busy or unreachable; try again in a moment.", "remote_unavailable")
    return ApiError(f"{service} answered with an error: {exc}", status=502, code="remote_error")


def redis() -> Redis:
    return runtime().redis


def schedule_config() -> ScheduleConfig:
    return runtime().schedule


def queue():
    config = schedule_config()
    return session_queue(config.queue, redis())


def salesforce_url(object_name: str, record_id: str) -> str | None:
    """The record's page in Lightning Experience."""
    # The org of the connection in force (the panel's, if stored).
    base = instance_url(settings(), runtime().db()).rstrip("/")
    return f"{base}/lightning/r/{object_name}/{record_id}/view" if base else None
