"""The stored Salesforce connection as seen by the token provider: its flow and credentials, and the latest
session shared by every process (workers, the add-in API, the CLI) through the ``connections`` row.

Row layout (``service = "salesforce"``): ``config`` holds what is not secret — ``flow``, ``login_url``,
``client_id``, ``username``, ``instance_url``, ``identity``, who connected when, ``last_success_at``,
``last_error``, ``last_error_at``, ``revoked_at``; the sealed secret holds ``client_secret``, ``private_key``,
``refresh_token``, ``access_token`` (the static flow) and ``session`` (the latest access token, its
``instance_url`` and identity URL). A row saved before flows existed (the OAuth connect of old) reads as the
``refresh_token`` flow.

A connection from the environment (``SALESFORCE_AUTH`` ...) shares its session the same way, through a row of
its own (``ENVIRONMENT_CACHE``) that holds nothing but that session.

`DatabaseStore.renew` locks the row (an UPDATE first: a row lock on PostgreSQL, the write lock on SQLite) for
the length of one token request, so that processes that saw the same expired session make one grant between
them and a rotated refresh token is stored in the same transaction as the session it came with.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sync.connectors.salesforce_auth import ConnectionRevoked, Grant, SalesforceSession, TokenRefused
from sync.models import Connection, utcnow
from sync.secrets import SecretError, seal, unseal

SERVICE = "salesforce"
ENVIRONMENT_CACHE = "salesforce-session"  # the row that shares the session of the environment's connection
_WHAT = "the stored Salesforce connection (connect again in the admin panel)"


def flow_of(config: dict[str, Any], secrets: dict[str, Any]) -> str:
    """The flow of a stored connection (rows from before flows existed: refresh token, else the static token)."""
    if config.get("flow"):
        return str(config["flow"])
    return "refresh_token" if secrets.get("refresh_token") else "token"


def stored_session(config: dict[str, Any], secrets: dict[str, Any]) -> SalesforceSession | None:
    session = SalesforceSession.from_dict(secrets.get("session"))
    if session is None and secrets.get("access_token") and config.get("instance_url"):  # an old row
        session = SalesforceSession(secrets["access_token"], config["instance_url"], config.get("identity", ""))
    return session


class DatabaseStore:
    """`SessionStore` on a connections row (see the module docstring).

    ``service="salesforce"``: the panel's stored connection. For a connection from the environment the row is
    ``ENVIRONMENT_CACHE``, created on first use; it holds only the latest session, under the ``fingerprint`` of
    the settings it came from (other settings: a session of another connection, never reused)."""

    def __init__(self, factory: sessionmaker[Session], secret_key: str, *, service: str = SERVICE,
                 fingerprint: str | None = None) -> None:  # fmt: skip
        self.factory = factory
        self.secret_key = secret_key
        self.service = service
        self.fingerprint = fingerprint

    def _locked_row(self, db: Session) -> Connection | None:
        for _ in range(2):
            db.execute(update(Connection).where(Connection.service == self.service).values(updated_at=utcnow()))
            row = db.scalars(select(Connection).where(Connection.service == self.service)).one_or_none()
            if row is not None or self.service == SERVICE:
                return row
            db.add(Connection(service=self.service, config={"purpose": "session of the environment's connection"}))
            try:
                db.commit()
            except IntegrityError:  # another process made it first
                db.rollback()
        return None

    def renew(self, failed: str | None, grant: Grant) -> SalesforceSession:
        with self.factory() as db:
            row = self._locked_row(db)
            if row is None:  # removed in the panel meanwhile: sign in, keep nothing
                db.rollback()
                return grant("")[0]
            config = dict(row.config or {})
            try:
                secrets = unseal(row.secret, self.secret_key, what=_WHAT) if row.secret else {}
            except SecretError:
                if self.service == SERVICE:
                    raise
                secrets = {}  # the cache row of another secret key: a session to replace, nothing to keep
            current = stored_session(config, secrets)
            if self.fingerprint is not None and config.get("fingerprint") != self.fingerprint:
                current = None  # a session of other settings
            if current is not None and current.access_token != failed:
                db.rollback()  # another process renewed it already (or this is the first use)
                return current
            try:
                session, rotated = grant(str(secrets.get("refresh_token", "")))
            except BaseException:
                db.rollback()
                raise
            secrets["session"] = session.to_dict()
            if rotated:
                secrets["refresh_token"] = rotated  # rotation: the old one is spent from now on
            now = utcnow().isoformat()
            config.update(instance_url=session.instance_url, identity=session.identity or config.get("identity", ""),
                          last_success_at=now, revoked_at=None)  # fmt: skip
            if self.fingerprint is not None:
                config["fingerprint"] = self.fingerprint
            row.config = config
            row.secret = seal(secrets, self.secret_key)
            db.commit()
            return session

    def refused(self, error: TokenRefused) -> None:
        record_result(self.factory, error=str(error), revoked=isinstance(error, ConnectionRevoked),
                      service=self.service)  # fmt: skip


def record_result(factory: sessionmaker[Session], *, error: str = "", revoked: bool = False, success: str = "",
                  now: dt.datetime | None = None, service: str = SERVICE) -> None:  # fmt: skip
    """Note the outcome of a sign-in or a Test connection on the row (the Connections page shows it)."""
    stamp = (now or utcnow()).isoformat()
    with factory() as db:
        row = db.scalars(select(Connection).where(Connection.service == service)).one_or_none()
        if row is None:
            return
        config = dict(row.config or {})
        if error:
            config.update(last_error=error, last_error_at=stamp)
            if revoked:
                config["revoked_at"] = stamp
        else:
            config.update(last_success_at=stamp, last_success=success, revoked_at=None)
        row.config = config
        db.commit()


def revoked(config: dict[str, Any] | None) -> bool:
    return bool(config and config.get("revoked_at"))
