"""The services the add-in API reaches: Exchange (EWS, acting as the caller's mailbox), Salesforce and the RQ
queue, built from the app's settings through ``calsync.wiring``; and how their failures are answered.

A remote failure is never a 500: refused credentials or an unconfigured service are 503 with a message for
people, anything else from a remote service is 502.
"""

from __future__ import annotations

import logging

from flask import current_app
from redis import Redis
from rq import Queue

from backend.errors import ApiError
from calsync import wiring
from calsync.settings import ConfigError, Settings
from sync.connectors.errors import AuthError, ConnectorError
from sync.connectors.exchange import ExchangeConnector
from sync.connectors.salesforce import SalesforceConnector
from sync.schedule import ScheduleConfig

log = logging.getLogger(__name__)


def settings() -> Settings:
    return current_app.config["CALSYNC_SETTINGS"]


def unavailable(message: str, code: str = "service_unavailable") -> ApiError:
    return ApiError(message, status=503, code=code, headers={"Retry-After": "30"})


def exchange(mailbox_email: str) -> ExchangeConnector:
    """EWS as the caller's mailbox (the service account impersonates it: it sees that mailbox only)."""
    try:
        return wiring.exchange_connector(settings(), mailbox_email)
    except (ConfigError, ConnectorError) as exc:
        raise unavailable(f"Exchange is not set up on this server: {exc}", "exchange_unavailable") from None


def salesforce() -> SalesforceConnector:
    try:
        return wiring.salesforce_connector(settings())
    except ConfigError as exc:
        raise unavailable(str(exc), "salesforce_unavailable") from None


def remote_error(exc: ConnectorError) -> ApiError:
    """The answer for a failed Exchange or Salesforce call."""
    service = (exc.service or "remote").capitalize()
    log.warning("%s call failed: %s (%s)", service, exc, exc.code)
    if isinstance(exc, AuthError):
        return unavailable(f"{service} refused calsync's credentials; an admin must reconnect it.", "remote_auth")
    if exc.retryable:
        return unavailable(f"{service} is busy or unreachable; try again in a moment.", "remote_unavailable")
    return ApiError(f"{service} answered with an error: {exc}", status=502, code="remote_error")


def redis() -> Redis:
    connection = current_app.extensions.get("calsync_redis")
    if connection is None:
        connection = Redis.from_url(settings().redis_url, socket_timeout=5, socket_connect_timeout=5)
        current_app.extensions["calsync_redis"] = connection
    return connection


def schedule_config() -> ScheduleConfig:
    from calsync.worker_commands import schedule_config as build

    return build(settings())


def queue() -> Queue:
    config = schedule_config()
    return Queue(config.queue, connection=redis())


def salesforce_url(object_name: str, record_id: str) -> str | None:
    """The record's page in Lightning Experience."""
    from calsync.salesforce_connection import instance_url

    base = instance_url(settings()).rstrip("/")  # the org of the connection in force (the panel's, if stored)
    return f"{base}/lightning/r/{object_name}/{record_id}/view" if base else None
