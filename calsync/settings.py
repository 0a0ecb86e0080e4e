"""Configuration: every environment variable calsync reads, with its default, in one place.

Nothing else in the project reads ``os.environ`` for configuration. ``Settings.from_env()`` is called once
by the CLI (or by a test) and the result is passed down explicitly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


class ConfigError(ValueError):
    """A setting has a value we cannot use. The message is meant for people."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false), not {raw!r}")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


def _numbers(name: str, raw: str, minimum: float | None = None) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated numbers, not {raw!r}") from None
    if not values or (minimum is not None and min(values) < minimum):
        raise ConfigError(f"{name} must be comma-separated numbers of at least {minimum}, not {raw!r}")
    return values


def _setting(env: str, default, doc: str):
    """A dataclass field that remembers its environment variable and documentation."""
    return field(default=default, metadata={"env": env, "doc": doc})


@dataclass(frozen=True)
class Settings:
    database_url: str = _setting(
        "DATABASE_URL",
        f"sqlite:///{INSTANCE_DIR / 'calsync.db'}",
        "SQLAlchemy URL of the database (PostgreSQL in production: postgresql+psycopg://user@host/db).",
    )
    redis_url: str = _setting("REDIS_URL", "redis://127.0.0.1:6379/0", "Redis for the RQ queues and locks.")
    secret_key: str = _setting(
        "CALSYNC_SECRET_KEY",
        "dev-insecure-secret-key-change-me",
        "Signs sessions and encrypts stored secrets. Must be set (32+ characters) in production.",
    )
    environment: str = _setting(
        "CALSYNC_ENV", "development", "`development` or `production`; production refuses insecure defaults."
    )
    sandbox_info: str = _setting(
        "CALSYNC_SANDBOX_INFO",
        "",
        "Path of the JSON file `calsync sandbox` writes; when set, connection settings default to it.",
    )
    salesforce_instance_url: str = _setting(
        "SALESFORCE_INSTANCE_URL", "", "https://<your-domain>.my.salesforce.com (from the OAuth token answer)."
    )
    salesforce_api_version: str = _setting("SALESFORCE_API_VERSION", "59.0", "Salesforce REST API version.")
    salesforce_ca_file: str = _setting(
        "SALESFORCE_CA_FILE", "", "CA bundle to trust for Salesforce (the sandbox's CA locally); empty: system CAs."
    )
    salesforce_access_token: str = _setting(
        "SALESFORCE_ACCESS_TOKEN",
        "",
        "Access token (session id) of the integration user; the admin panel's OAuth connection replaces it.",
    )
    salesforce_login_url: str = _setting(
        "SALESFORCE_LOGIN_URL",
        "https://login.salesforce.com",
        'Where the admin panel\'s "Connect Salesforce" sends admins to authorize (OAuth web-server flow); '
        "https://test.salesforce.com for a Salesforce sandbox org; the local sandbox's URL when CALSYNC_SANDBOX_INFO "
        "is set.",
    )
    salesforce_client_id: str = _setting("SALESFORCE_CLIENT_ID", "", "Connected app consumer key (OAuth).")
    salesforce_client_secret: str = _setting("SALESFORCE_CLIENT_SECRET", "", "Connected app consumer secret (OAuth).")
    exchange_endpoint: str = _setting(
        "EXCHANGE_ENDPOINT", "", "EWS URL, e.g. https://mail.example.com/EWS/Exchange.asmx."
    )
    exchange_version: str = _setting(
        "EXCHANGE_VERSION", "Exchange2013_SP1", "EWS schema version sent to the server (no probing)."
    )
    exchange_auth_type: str = _setting("EXCHANGE_AUTH_TYPE", "basic", "`basic` or `oauth` (bearer token).")
    exchange_username: str = _setting(
        "EXCHANGE_USERNAME", "", "Service account allowed to impersonate every synced mailbox."
    )
    exchange_password: str = _setting("EXCHANGE_PASSWORD", "", "Password of the service account.")
    exchange_ca_file: str = _setting("EXCHANGE_CA_FILE", "", "CA bundle to trust for EWS over https.")
    http_timeout: float = _setting("CALSYNC_HTTP_TIMEOUT", 30.0, "Seconds before a Salesforce or EWS call fails.")
    # -- add-in API authentication (Office SSO / nested app authentication tokens; docs/architecture.md#security) --
    auth_issuer: str = _setting(
        "CALSYNC_AUTH_ISSUER",
        "",
        "Expected `iss` of add-in access tokens. Microsoft identity platform (v2.0 tokens): "
        "https://login.microsoftonline.com/{tenant-id}/v2.0. Locally: the sandbox identity provider's issuer.",
    )
    auth_audience: str = _setting(
        "CALSYNC_AUTH_AUDIENCE",
        "",
        "Expected `aud`: our API's application ID URI (api://<host>/<client-id>) or its client id, as the "
        "tokens carry it (v2.0 access tokens carry the client id); several may be given, comma-separated.",
    )
    auth_jwks_url: str = _setting(
        "CALSYNC_AUTH_JWKS_URL",
        "",
        "JWKS with the token signing keys: https://login.microsoftonline.com/{tenant-id}/discovery/v2.0/keys "
        "in production.",
    )
    auth_ca_file: str = _setting(
        "CALSYNC_AUTH_CA_FILE", "", "CA bundle to trust for the JWKS URL (the sandbox's CA locally); empty: system CAs."
    )
    auth_scope: str = _setting(
        "CALSYNC_AUTH_SCOPE", "access_as_user", "Delegated scope every add-in token must carry in `scp`."
    )
    auth_leeway: int = _setting(
        "CALSYNC_AUTH_LEEWAY", 60, "Seconds of clock skew tolerated when checking `exp`, `nbf` and `iat`."
    )
    addin_client_id: str = _setting(
        "CALSYNC_ADDIN_CLIENT_ID",
        "",
        "Application (client) id of the add-in's app registration; the manifest's WebApplicationInfo Id.",
    )
    addin_id: str = _setting(
        "CALSYNC_ADDIN_ID",
        "",
        "The add-in manifest's <Id> (a GUID, stable for the life of the add-in); empty: calsync's default id.",
    )
    public_url: str = _setting(
        "CALSYNC_PUBLIC_URL",
        "",
        "Base URL the add-in reaches the backend at (https://calsync.example.com); manifests are rendered for it.",
    )
    frame_ancestors: str = _setting(
        "CALSYNC_FRAME_ANCESTORS",
        "",
        "Extra origins allowed to frame the task pane, space-separated (on-premises Outlook on the web, e.g. "
        "https://mail.example.com); Microsoft 365's Outlook on the web origins are always allowed.",
    )

    # -- workers and schedule (RQ on REDIS_URL; sync/jobs.py, sync/schedule.py) ----------------------------
    sync_queue: str = _setting("CALSYNC_SYNC_QUEUE", "sync", "Name of the RQ queue that holds sync sessions.")
    sync_intervals: str = _setting(
        "CALSYNC_SYNC_INTERVALS",
        "30,60,120",
        "Minutes between two sessions of a mailbox, comma-separated: the first after a session that found a "
        "change, each next one after another session that found none (adaptive: 30, then 60, then 120).",
    )
    job_timeout: int = _setting(
        "CALSYNC_JOB_TIMEOUT", 900, "Seconds a sync session job may run before RQ stops it (job timeout)."
    )
    job_retries: int = _setting(
        "CALSYNC_JOB_RETRIES", 3, "How often RQ retries a session job that raised or whose worker died."
    )
    job_retry_intervals: str = _setting(
        "CALSYNC_JOB_RETRY_INTERVALS",
        "30,120,600",
        "Seconds before each retry, comma-separated (back-off; the last repeats). Non-zero intervals need a "
        "worker started with --with-scheduler (RQ's scheduler moves them back to the queue).",
    )
    job_failure_ttl: int = _setting(
        "CALSYNC_JOB_FAILURE_TTL",
        7 * 24 * 3600,
        "Seconds a failed session job stays in RQ's failed registry (the operator view lists them). Its id "
        "stays taken meanwhile: the scheduler requeues it when the mailbox is due again.",
    )
    lock_ttl: int = _setting(
        "CALSYNC_LOCK_TTL",
        60,
        "Seconds of the per-mailbox Redis lock; a running session renews it every third of that, so the lock "
        "of a dead worker expires after at most this long and the scheduler hands its session to another.",
    )
    scheduler_interval: float = _setting(
        "CALSYNC_SCHEDULER_INTERVAL", 30.0, "Seconds between two passes of `calsync scheduler` over the mailboxes."
    )
    scheduler_leader_ttl: int = _setting(
        "CALSYNC_SCHEDULER_LEADER_TTL",
        120,
        "Seconds of the scheduler leader lock in Redis (renewed every pass; at least 3 passes long): when the "
        "leader dies, another scheduler takes over after at most this long.",
    )
    scheduler_batch: int = _setting(
        "CALSYNC_SCHEDULER_BATCH", 1000, "Most sessions one scheduler pass enqueues (the rest wait for the next)."
    )
    api_budget_max_requests: int = _setting(
        "CALSYNC_API_BUDGET_MAX_REQUESTS",
        0,
        "Stop sessions once the org has used this many Salesforce API requests in the last 24 h "
        "(Sforce-Limit-Info api-usage); 0: no count limit.",
    )
    api_budget_max_percent: float = _setting(
        "CALSYNC_API_BUDGET_MAX_PERCENT",
        90.0,
        "Stop sessions once the org has used this percentage of its daily Salesforce API requests; 0: off. "
        "Sessions stop cleanly (nothing half-written) and the mailbox backs off.",
    )
    api_budget_backoff_hours: str = _setting(
        "CALSYNC_API_BUDGET_BACKOFF_HOURS",
        "2.5,2,24.5",
        "Budget back-off as first,step,cap in hours: a mailbox stopped by the API budget waits 2.5 h, then "
        "4.5 h, 6.5 h, ... (step 2 h) after each further stop, never more than the cap.",
    )
    ops_token: str = _setting(
        "CALSYNC_OPS_TOKEN",
        "",
        "Bearer token for the operator view /admin/ops until it moves behind the admin login; empty: the view "
        "answers only loopback clients outside production.",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None:
                continue
            if f.type in ("bool", bool):
                values[f.name] = _bool(f.metadata["env"], raw)
            elif f.type in ("int", int):
                values[f.name] = _int(f.metadata["env"], raw)
            elif f.type in ("float", float):
                values[f.name] = _float(f.metadata["env"], raw)
            else:
                values[f.name] = raw
        values.update(overrides)
        settings = cls(**values)
        if settings.sandbox_info:
            settings = settings.with_sandbox_defaults(Path(settings.sandbox_info), explicit=values)
        settings.validate()
        return settings

    def with_sandbox_defaults(self, info_path: Path, explicit: Mapping[str, object] = ()) -> Settings:
        """Fill connection settings not given explicitly from the sandbox's info file."""
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"CALSYNC_SANDBOX_INFO: cannot read {info_path}: {exc}") from None
        defaults: dict[str, object] = {}
        sf = info.get("salesforce") or {}
        defaults["salesforce_instance_url"] = sf.get("instance_url", "")
        defaults["salesforce_ca_file"] = sf.get("ca_file", "")
        defaults["salesforce_access_token"] = ((sf.get("users") or [{}])[0]).get("session_id", "")
        defaults["salesforce_login_url"] = sf.get("instance_url", "")
        defaults["salesforce_client_id"] = (sf.get("oauth") or {}).get("client_id", "")
        defaults["salesforce_client_secret"] = (sf.get("oauth") or {}).get("client_secret", "")
        ex = info.get("exchange") or {}
        defaults["exchange_endpoint"] = ex.get("endpoint", "")
        defaults["exchange_ca_file"] = ex.get("ca_file", "")
        defaults["exchange_version"] = ex.get("version", self.exchange_version) or self.exchange_version
        account = ex.get("service_account") or {}
        defaults["exchange_username"] = account.get("username", "")
        defaults["exchange_password"] = account.get("password", "")
        idp = info.get("identity") or {}
        defaults["auth_issuer"] = idp.get("issuer", "")
        defaults["auth_audience"] = idp.get("audience", "")
        defaults["auth_jwks_url"] = idp.get("jwks_uri", "")
        defaults["auth_ca_file"] = idp.get("ca_file", "")
        defaults["auth_scope"] = idp.get("scope", "")
        defaults["addin_client_id"] = idp.get("client_id", "")
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in defaults.items():
            if key not in explicit and value:
                values[key] = value
        return type(self)(**values)

    def validate(self) -> None:
        if self.environment not in {"development", "production", "test"}:
            raise ConfigError(f"CALSYNC_ENV must be development, production or test, not {self.environment!r}")
        if self.environment == "production":
            if self.secret_key == Settings.secret_key or len(self.secret_key) < 32:
                raise ConfigError("CALSYNC_SECRET_KEY must be set to a random value of 32+ characters in production")
        if self.exchange_auth_type not in {"basic", "oauth"}:
            raise ConfigError(f"EXCHANGE_AUTH_TYPE must be basic or oauth, not {self.exchange_auth_type!r}")
        _numbers("CALSYNC_SYNC_INTERVALS", self.sync_intervals, minimum=1)
        _numbers("CALSYNC_JOB_RETRY_INTERVALS", self.job_retry_intervals, minimum=0)
        if len(_numbers("CALSYNC_API_BUDGET_BACKOFF_HOURS", self.api_budget_backoff_hours, minimum=0)) != 3:
            raise ConfigError("CALSYNC_API_BUDGET_BACKOFF_HOURS must be three numbers: first,step,cap (hours)")
        for env, value in (("CALSYNC_JOB_TIMEOUT", self.job_timeout), ("CALSYNC_LOCK_TTL", self.lock_ttl),
                           ("CALSYNC_SCHEDULER_LEADER_TTL", self.scheduler_leader_ttl)):  # fmt: skip
            if value < 1:
                raise ConfigError(f"{env} must be at least 1 second, not {value}")

    def numbers(self, name: str) -> tuple[float, ...]:
        """A comma-separated setting (``sync_intervals``, ``job_retry_intervals``, ...) as numbers."""
        return _numbers(name, getattr(self, name))

    @classmethod
    def documentation(cls) -> list[tuple[str, str, str]]:
        """(variable, default, meaning) for every setting; the README and `calsync config` show it."""
        return [(f.metadata["env"], str(f.default), f.metadata["doc"]) for f in fields(cls)]

    def redacted(self) -> dict[str, str]:
        secret = {"secret_key", "exchange_password", "salesforce_client_secret", "salesforce_access_token", "ops_token"}
        return {
            f.metadata["env"]: ("***" if f.name in secret and getattr(self, f.name) else str(getattr(self, f.name)))
            for f in fields(self)
        }
