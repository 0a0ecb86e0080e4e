"""The runtime of one process: built once from the settings, the same way for the web app, a worker, the
scheduler and the command line.

It holds the process's database engine and session factory, its one Redis connection pool, the schedule
settings, and the connector factories (a Salesforce connector, an Exchange connector per mailbox). A connector
is built for each sync session or API call, with the connections an admin stored in the panel laid over the
environment's, read through the runtime's own session factory: no engine is opened for it.

RQ forks a work horse per job: `Runtime.db` hands the child a pool of its own (pooled database connections
must not cross a fork; redis-py resets its pool in a forked child by itself).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import requests
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from calsync.database import make_engine, make_session_factory, upgrade
from calsync.settings import ConfigError, Settings
from sync import connections, mailbox_moves, mailboxes, policy_store, salesforce_connection
from sync.connectors.base import ExchangeCalendar
from sync.connectors.errors import GraphAuthError
from sync.connectors.ews import ExchangeConfig, ExchangeConnector
from sync.connectors.graph import GraphCalendar, TokenSource
from sync.connectors.graph.auth import MsalTokenSource, credentials_from_settings
from sync.connectors.graph.connector import default_window
from sync.connectors.graph_ids import GraphIds
from sync.connectors.salesforce import SalesforceConnector
from sync.jobs import MailboxLock, WorkerContext
from sync.mailbox_moves import MoveReport
from sync.schedule import ScheduleConfig, schedule_config


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    redis: Redis
    schedule: ScheduleConfig
    _pid: int = field(default_factory=os.getpid)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        migrate: bool = False,
        redis: Redis | None = None,
        redis_timeout: float | None = None,
    ) -> Runtime:
        """The runtime for ``settings``. ``migrate`` first brings the database to the newest schema;
        ``redis`` shares an existing client (tests) instead of opening the pool at REDIS_URL; ``redis_timeout``
        (seconds) bounds every Redis call, for a web process that must answer rather than wait."""
        if migrate:
            upgrade(settings.database_url)
        engine = make_engine(settings.database_url)
        if redis is None:
            # Without a bound, redis-py's own defaults hold (those of ``Redis.from_url``).
            timeouts = (
                {}
                if redis_timeout is None
                else {"socket_timeout": redis_timeout, "socket_connect_timeout": redis_timeout}
            )
            redis = Redis.from_url(settings.redis_url, **timeouts)
        return cls(settings, engine, make_session_factory(engine), redis, schedule_config(settings))

    def db(self) -> sessionmaker[Session]:
        """The session factory, safe to use in this process (after a fork the child drops the parent's pooled
        connections without closing them: they still belong to the parent)."""
        if self._pid != os.getpid():
            self.engine.dispose(close=False)
            self._pid = os.getpid()
        return self.session_factory

    def connection_settings(self, db: Session | None = None) -> Settings:
        """The settings with the connections an admin stored in the panel laid over the environment's (read
        with ``db``, or a session of its own); a database without the connections table leaves them as they are."""
        if db is not None:
            return with_stored_connections(self.settings, db)
        try:
            with self.db()() as own:
                return with_stored_connections(self.settings, own)
        except (OperationalError, ProgrammingError):
            return self.settings

    def salesforce(self, settings: Settings | None = None) -> SalesforceConnector:
        """A Salesforce connector: for ``settings`` as given, or by default the stored connection over the
        environment's (what a sync session uses)."""
        return salesforce_connection.connector(settings or self.connection_settings(), self.db())

    def exchange(self, mailbox_email: str, settings: Settings | None = None) -> ExchangeCalendar:
        """The Exchange connector for one mailbox, by its backend: Microsoft Graph with the app registration's
        tokens (cache shared in Redis), or EWS with its own login when it has one (``calsync mailboxes login``),
        else the service account impersonating it. ``settings`` as for `salesforce`."""
        settings = settings or self.connection_settings()
        backend, login = self.mailbox_access(mailbox_email)
        if backend == "graph":
            return graph_connector(settings, mailbox_email, self.redis, window=self.feed_window)
        return exchange_connector(settings, mailbox_email, login)

    def feed_window(self) -> tuple[dt.datetime, dt.datetime]:
        """The span a Graph change feed covers: the connector's default (30 days back, a year ahead) widened to
        every kind's policy scope, so that no item a policy syncs lies outside the delta window."""
        lo, hi = default_window()
        try:
            with self.db()() as db:
                policies = policy_store.load(db)
        except (OperationalError, ProgrammingError):
            return lo, hi
        now = dt.datetime.now(dt.UTC)
        for kind in policy_store.kinds(policies):
            start, end = policies.for_kind(kind).scope.window(now)
            lo, hi = min(lo, start), max(hi, end)
        return lo, hi

    def graph_tokens(self, settings: Settings | None = None) -> MsalTokenSource:
        """App-only Graph tokens of the Microsoft 365 connection in force (``settings`` as for `salesforce`)."""
        return MsalTokenSource(credentials_from_settings(settings or self.connection_settings()), self.redis)

    def graph_ids(
        self, mailbox_email: str, settings: Settings | None = None, *, tokens: TokenSource | None = None
    ) -> GraphIds:
        """Id operations (translateExchangeIds, whose an item is, Test connection) on one mailbox through Graph;
        ``tokens`` shares one token source between several mailboxes' calls."""
        settings = settings or self.connection_settings()
        tokens = tokens or MsalTokenSource(credentials_from_settings(settings), self.redis)
        return GraphIds(mailbox_email, graph_url=settings.graph_url, tokens=tokens, session=graph_session(settings))

    def move_mailbox(self, mailbox_email: str, target: str, settings: Settings | None = None) -> MoveReport:
        """Switch a mailbox between EWS and Graph (`sync.mailbox_moves`), under its session lock. Raises
        `MailboxError` (nothing changed) for an unknown mailbox, a running session or ids that do not translate."""
        with self.db()() as db:
            mailbox = mailboxes.find(db, mailbox_email)
            if mailbox is None:
                raise mailboxes.MailboxError(f"no mailbox {mailbox_email}: calsync mailboxes add {mailbox_email}")
            with MailboxLock(self.redis, mailbox.id, self.schedule.lock_ttl) as lock:
                if not lock.held:
                    raise mailboxes.MailboxError(f"{mailbox.email} is syncing right now: move it when the session ends")
                ids = self.graph_ids(mailbox.email, settings)
                try:
                    report = mailbox_moves.move(db, mailbox, target, ids.translate)
                except BaseException:
                    db.rollback()
                    raise
                finally:
                    ids.close()
                db.commit()
        return report

    def mailbox_access(self, mailbox_email: str) -> tuple[str, tuple[str, str] | None]:
        """The mailbox's backend (``ews`` or ``graph``; an unknown mailbox: CALSYNC_EXCHANGE_BACKEND) and its own
        Exchange login, if one was stored (sealed) for it."""
        with self.db()() as db:
            mailbox = mailboxes.find(db, mailbox_email)
            if mailbox is None:
                return self.settings.exchange_backend, None
            login = mailboxes.exchange_credentials(mailbox, secret_key=self.settings.secret_key)
            return mailbox.backend or "ews", login

    def mailbox_login(self, mailbox_email: str) -> tuple[str, str] | None:
        """The mailbox's own Exchange login, if one was stored (sealed) for it."""
        return self.mailbox_access(mailbox_email)[1]

    def worker_context(self) -> WorkerContext:
        """What session jobs run on in a worker process (`sync.jobs.install` makes it current)."""
        return WorkerContext(
            redis=self.redis,
            make_db=self.db,
            salesforce=self.salesforce,
            exchange=self.exchange,
            config=self.schedule,
            scan_healthy_seconds=self.settings.salesforce_scan_healthy_seconds,
        )

    def close(self) -> None:
        self.engine.dispose()
        self.redis.close()
        self.redis.connection_pool.disconnect()


def exchange_connector(
    settings: Settings, mailbox_email: str, credentials: tuple[str, str] | None = None
) -> ExchangeConnector:
    """The connector for one mailbox: with ``credentials`` (its own login), else the service account of
    ``settings`` impersonating it."""
    if not settings.exchange_endpoint or not (settings.exchange_username or credentials):
        raise ConfigError(
            "Exchange is not configured: set EXCHANGE_ENDPOINT, EXCHANGE_USERNAME and EXCHANGE_PASSWORD "
            "(or CALSYNC_SANDBOX_INFO for the local sandbox)"
        )
    username, password = credentials or (settings.exchange_username, settings.exchange_password)
    return ExchangeConnector(
        ExchangeConfig(
            endpoint=settings.exchange_endpoint,
            username=username,
            password=password,
            auth_type="basic" if credentials else settings.exchange_auth_type,
            version=settings.exchange_version,
            ca_file=settings.exchange_ca_file,
            impersonation=credentials is None,
        ),
        mailbox_email,
    )


def graph_connector(
    settings: Settings,
    mailbox_email: str,
    redis: Redis,
    *,
    window: Callable[[], tuple[dt.datetime, dt.datetime]] | None = None,
) -> ExchangeCalendar:
    """The Microsoft Graph connector for one mailbox: Graph at GRAPH_URL, tokens for the app registration of
    ``settings`` (certificate or secret) from MSAL with the token cache in ``redis``; ``window`` gives the span
    its change feed covers (`Runtime.feed_window`)."""
    try:
        tokens: TokenSource = MsalTokenSource(credentials_from_settings(settings), redis)
    except ConfigError as exc:  # the session ends with a health entry saying so, instead of crashing its job
        tokens = NoGraphApp(str(exc))
    return GraphCalendar(
        mailbox_email, graph_url=settings.graph_url, tokens=tokens, session=graph_session(settings), window=window,
        timeout=settings.http_timeout,
    )  # fmt: skip


class NoGraphApp:
    """The `TokenSource` of a deployment without a (usable) Microsoft 365 connection: every token request is
    refused with a clear, stable code."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def token(self) -> str:
        raise GraphAuthError(self.reason, code="not_configured", health_code="graph_not_configured")

    def invalidate(self) -> None:
        return None


def graph_session(settings: Settings) -> requests.Session:
    """An HTTP session for Graph: the configured CA bundle, no proxy settings from the environment."""
    session = requests.Session()
    session.trust_env = False
    if settings.graph_ca_file:
        session.verify = settings.graph_ca_file
    return session


def with_stored_connections(settings: Settings, db: Session) -> Settings:
    """``settings`` with the connections an admin saved in the panel laid over the environment's."""
    values: dict[str, str] = {}
    try:
        salesforce = connections.load(db, "salesforce", settings.secret_key)
        exchange = connections.load(db, "exchange", settings.secret_key)
    except connections.SecretError as exc:
        raise ConfigError(str(exc)) from None
    if salesforce is not None:
        values["salesforce_instance_url"] = salesforce.config.get("instance_url", "")
        values["salesforce_access_token"] = salesforce.secrets.get("access_token", "")
    if exchange is not None:
        for key in ("endpoint", "username", "auth_type", "version"):
            values[f"exchange_{key}"] = exchange.config.get(key, "")
        values["exchange_password"] = exchange.secrets.get("password", "")
    settings = replace(settings, **{k: v for k, v in values.items() if v})
    return with_stored_microsoft365(settings, db)


def with_stored_microsoft365(settings: Settings, db: Session) -> Settings:
    """``settings`` with the Microsoft 365 connection saved in the panel in place of the environment's Graph app
    (all of it: a stored secret is not mixed with a certificate of the environment)."""
    try:
        stored = connections.load(db, "microsoft365", settings.secret_key)
    except connections.SecretError as exc:
        raise ConfigError(str(exc)) from None
    if stored is None:
        return settings
    config, secrets = stored.config, stored.secrets
    certificate = bool(secrets.get("private_key"))
    return replace(
        settings,
        graph_tenant_id=config.get("tenant_id", ""),
        graph_client_id=config.get("client_id", ""),
        graph_url=config.get("graph_url") or settings.graph_url,
        graph_authority_host=config.get("authority_host") or settings.graph_authority_host,
        graph_certificate_thumbprint=config.get("thumbprint", "") if certificate else "",
        graph_private_key=secrets.get("private_key", "") if certificate else "",
        graph_private_key_file="",
        graph_client_secret="" if certificate else secrets.get("client_secret", ""),
    )
