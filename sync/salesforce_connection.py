"""The one Salesforce connection of a deployment, for workers, the add-in API and the CLI alike.

Which connection: the one an admin saved in the panel (``connections`` row, `sync.salesforce_sessions`) when
there is one, else the environment's (``SALESFORCE_AUTH`` and friends, `calsync.settings`). Either way one
`TokenProvider` per process and connection caches the session; a stored connection also shares its latest
session (and a rotated refresh token) with every other process through its row.

`check` is the panel's "Test connection": one ``limits/`` call, answered with
the org id, the user, the API usage — or the exact error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from calsync.settings import ConfigError, Settings
from sync import connections
from sync.connectors.errors import ConnectorError
from sync.connectors.salesforce import SalesforceConfig, SalesforceConnector
from sync.connectors.salesforce_auth import SalesforceAuth, SessionStore, TokenProvider, provider_for
from sync.salesforce_sessions import ENVIRONMENT_CACHE, DatabaseStore, flow_of, record_result


def read_private_key(path: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).expanduser().read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"SALESFORCE_PRIVATE_KEY_FILE: cannot read {path}: {exc}") from None


def from_environment(settings: Settings) -> SalesforceAuth:
    return SalesforceAuth(
        flow=settings.salesforce_auth,
        login_url=settings.salesforce_login_url,
        client_id=settings.salesforce_client_id,
        client_secret=settings.salesforce_client_secret,
        username=settings.salesforce_username,
        private_key=read_private_key(settings.salesforce_private_key_file) if settings.salesforce_auth == "jwt" else "",
        access_token=settings.salesforce_access_token,
        instance_url=settings.salesforce_instance_url,
        ca_file=settings.salesforce_ca_file,
        timeout=settings.http_timeout,
    )


def from_stored(settings: Settings, config: dict[str, Any], secrets: dict[str, Any]) -> SalesforceAuth:
    """A stored connection; what it leaves empty comes from the environment (e.g. the app of Connect
    Salesforce)."""
    flow = flow_of(config, secrets)
    session = secrets.get("session") or {}
    return SalesforceAuth(
        flow=flow,
        login_url=config.get("login_url") or settings.salesforce_login_url,
        client_id=config.get("client_id") or settings.salesforce_client_id,
        client_secret=secrets.get("client_secret") or settings.salesforce_client_secret,
        username=config.get("username", ""),
        private_key=secrets.get("private_key", ""),
        refresh_token=secrets.get("refresh_token", ""),
        access_token=secrets.get("access_token", "") if flow == "token" else "",
        instance_url=(config.get("instance_url") or session.get("instance_url", "")) if flow == "token" else "",
        ca_file=settings.salesforce_ca_file,
        timeout=settings.http_timeout,
    )


@dataclass(frozen=True)
class Resolved:
    auth: SalesforceAuth
    stored: bool  # from the panel's row (else the environment)
    config: dict[str, Any]


def resolve(settings: Settings, factory: sessionmaker[Session]) -> Resolved:
    """The connection in force: the stored one when there is one, else the environment's."""
    try:
        with factory() as db:
            stored = connections.load(db, "salesforce", settings.secret_key)
    except connections.SecretError as exc:
        raise ConfigError(str(exc)) from None
    except (OperationalError, ProgrammingError):  # no database (yet): the environment's connection
        stored = None
    if stored is not None and (stored.config.get("flow") or stored.secrets):
        auth = from_stored(settings, stored.config, stored.secrets)
        resolved = Resolved(auth, True, stored.config)
    else:
        resolved = Resolved(from_environment(settings), False, {})
    if settings.environment == "production" and resolved.auth.flow == "token":
        raise ConfigError("SALESFORCE_AUTH=token (a fixed access token) is for development and the sandbox; "
                          "use jwt, client_credentials or refresh_token in production")  # fmt: skip
    return resolved


def _store(settings: Settings, resolved: Resolved, factory: sessionmaker[Session]) -> SessionStore | None:
    """The stored connection's row; for the environment's connection its cache row (no row for a fixed token)."""
    if resolved.stored:
        return DatabaseStore(factory, settings.secret_key)
    if resolved.auth.flow == "token":
        return None
    return DatabaseStore(
        factory, settings.secret_key, service=ENVIRONMENT_CACHE, fingerprint=fingerprint(resolved.auth)
    )


def fingerprint(auth: SalesforceAuth) -> str:
    """Which settings a cached session belongs to (a digest: the cache row never holds the secrets themselves)."""
    parts = [auth.flow, auth.login_url.rstrip("/"), auth.client_id, auth.username, auth.private_key, auth.client_secret]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def provider(settings: Settings, factory: sessionmaker[Session]) -> TokenProvider:
    """This process's provider of the connection in force (its cached session included)."""
    resolved = resolve(settings, factory)
    return provider_for(resolved.auth, lambda: _store(settings, resolved, factory), key=(settings.database_url,))


def connector(settings: Settings, factory: sessionmaker[Session]) -> SalesforceConnector:
    """A connector for one session (or one API request) on the shared provider; `ConfigError` when the
    connection in force lacks something (nothing is asked of Salesforce before the first call)."""
    shared = provider(settings, factory)
    problems = shared.auth.problems()
    if problems:
        if shared.auth.flow == "token":
            problems = ["Salesforce is not connected: set SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN "
                        "(or CALSYNC_SANDBOX_INFO for the local sandbox), or SALESFORCE_AUTH and its settings, or "
                        "connect Salesforce in the admin panel"]  # fmt: skip
        raise ConfigError(" ".join(problems))
    config = SalesforceConfig(api_version=settings.salesforce_api_version, ca_file=settings.salesforce_ca_file,
                              timeout=settings.http_timeout)  # fmt: skip
    return SalesforceConnector(config, auth=shared)


def instance_url(settings: Settings, factory: sessionmaker[Session]) -> str:
    """The org's URL for links to records: the connection in force's instance (a session this process or the
    stored connection already has; no sign-in for it), else SALESFORCE_INSTANCE_URL."""
    try:
        resolved = resolve(settings, factory)
    except ConfigError:
        return settings.salesforce_instance_url
    if resolved.stored and resolved.config.get("instance_url"):
        return str(resolved.config["instance_url"])
    cached = provider_for(resolved.auth, lambda: _store(settings, resolved, factory), key=(settings.database_url,))
    current = cached.cached_session
    return current.instance_url if current is not None else settings.salesforce_instance_url


@dataclass(frozen=True)
class Check:
    ok: bool
    flow: str
    stored: bool
    message: str
    org_id: str = ""
    user_id: str = ""
    username: str = ""
    instance_url: str = ""
    api_used: int | None = None
    api_max: int | None = None
    reauthenticated: bool = False


def check(settings: Settings, factory: sessionmaker[Session]) -> Check:
    """Test connection: sign in as the connection says (a fresh sign-in unless a stored session is still
    good) and make one ``limits/`` call. Never raises for a remote problem: the answer says what went wrong."""
    resolved = resolve(settings, factory)
    auth = resolved.auth
    # A fresh sign-in proves the key or secret; a refresh token is used through its row (rotation).
    store = _store(settings, resolved, factory) if auth.flow == "refresh_token" else None
    test = TokenProvider(auth, store)  # not the process's cache: test what is configured
    config = SalesforceConfig(api_version=settings.salesforce_api_version, ca_file=settings.salesforce_ca_file,
                              timeout=settings.http_timeout)  # fmt: skip
    salesforce = SalesforceConnector(config, auth=test)
    try:
        limits = salesforce.limits()
        session = salesforce.session
    except ConnectorError as exc:
        result = Check(False, auth.flow, resolved.stored, str(exc))
        if resolved.stored:
            record_result(factory, error=result.message)
        return result
    daily = (limits or {}).get("DailyApiRequests") or {}
    api_max = daily.get("Max")
    used = api_max - daily["Remaining"] if api_max is not None and "Remaining" in daily else salesforce.usage.org_used
    org_id = session.org_id or (session.access_token.split("!", 1)[0] if "!" in session.access_token else "")
    user = auth.username or session.user_id
    message = f"Connected to org {org_id or '?'} as {user or '?'} at {session.instance_url}; API requests today: " \
              f"{used if used is not None else '?'} of {api_max if api_max is not None else '?'}."  # fmt: skip
    result = Check(True, auth.flow, resolved.stored, message, org_id, session.user_id, auth.username,
                   session.instance_url, used, api_max, salesforce.usage.reauthentications > 0)  # fmt: skip
    if resolved.stored:
        record_result(factory, success=message)
    return result
