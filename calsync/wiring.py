"""Build the engine's collaborators (database sessions, connectors) from the settings. The composition root."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session, sessionmaker

from calsync.settings import ConfigError, Settings
from sync.connectors.exchange import ExchangeConfig, ExchangeConnector
from sync.connectors.salesforce import SalesforceConnector


def session_factory(settings: Settings, *, migrate: bool = True) -> sessionmaker[Session]:
    from backend.database import make_engine, make_session_factory, upgrade

    if migrate:
        upgrade(settings.database_url)
    return make_session_factory(make_engine(settings.database_url))


def salesforce_connector(settings: Settings) -> SalesforceConnector:
    """The connection in force (the panel's stored one, else the environment's) on this process's token
    provider: see `calsync.salesforce_connection`."""
    from calsync import salesforce_connection

    return salesforce_connection.connector(settings)


def exchange_connector(
    settings: Settings, mailbox_email: str, credentials: tuple[str, str] | None = None
) -> ExchangeConnector:
    """The connector for one mailbox: its own login when it has one (``calsync mailboxes login``), else the
    service account impersonating it."""
    if credentials is None:
        credentials = mailbox_login(settings, mailbox_email)
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


def mailbox_login(settings: Settings, mailbox_email: str) -> tuple[str, str] | None:
    """The mailbox's own Exchange login, if one was stored (sealed) for it."""
    from backend.database import make_engine
    from sync import mailboxes

    engine = make_engine(settings.database_url)  # short-lived: connectors are built once per session
    try:
        with Session(engine) as db:
            mailbox = mailboxes.find(db, mailbox_email)
            if mailbox is None:
                return None
            return mailboxes.exchange_credentials(mailbox, secret_key=settings.secret_key)
    finally:
        engine.dispose()


def with_stored_connections(settings: Settings, db: Session) -> Settings:
    """``settings`` with the connections an admin saved in the panel laid over the environment's."""
    from sync import connections

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
    return replace(settings, **{k: v for k, v in values.items() if v})


def with_stored_connections_of(settings: Settings) -> Settings:
    """`with_stored_connections` read from ``settings.database_url`` (one short-lived connection), for a worker's
    or ``calsync sync``'s connectors; a database without the connections table leaves ``settings`` as they are."""
    from sqlalchemy.exc import OperationalError, ProgrammingError
    from sqlalchemy.pool import NullPool

    from backend.database import make_engine

    engine = make_engine(settings.database_url, poolclass=NullPool)
    try:
        with Session(engine) as db:
            return with_stored_connections(settings, db)
    except (OperationalError, ProgrammingError):
        return settings
    finally:
        engine.dispose()
