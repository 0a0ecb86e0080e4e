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
# The built-in secret key is public (it is in this file): only an explicit development or test environment
# may use it. Every other environment (unset included) counts as production: fail closed.
BUILT_IN_SECRET_KEY = "dev-insecure-secret-key-change-me"
BUILT_IN_KEY_SHOWN = "(built-in development key)"
LOCAL_ENVIRONMENTS = frozenset({"development", "test"})


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
        BUILT_IN_SECRET_KEY,
        "Signs sessions and encrypts stored secrets: a random value of 32+ characters. The built-in default is "
        "public and accepted only when CALSYNC_ENV is development or test.",
    )
    environment: str = _setting(
        "CALSYNC_ENV",
        "",
        "`production`, `development` or `test`. Unset means production: the built-in secret key is refused, "
        "cookies are Secure and HSTS is sent. `make demo`, `calsync demo` and the tests set development/test.",
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
    salesforce_auth: str = _setting(
        "SALESFORCE_AUTH",
        "token",
        "How calsync signs in to Salesforce: `jwt` (recommended: OAuth 2.0 JWT bearer, an External Client App with "
        "a certificate and an integration user), `client_credentials` (consumer key + secret, the app's Run As "
        "user, My Domain login URL), `refresh_token` (the admin panel's Connect Salesforce) or `token` (the fixed "
        "SALESFORCE_ACCESS_TOKEN: development and the sandbox only). A connection saved in the admin panel wins.",
    )
    salesforce_login_url: str = _setting(
        "SALESFORCE_LOGIN_URL",
        "https://login.salesforce.com",
        "Where tokens come from ({url}/services/oauth2/token) and where Connect Salesforce sends admins: "
        "https://login.salesforce.com, https://test.salesforce.com for a sandbox org, or the org's My Domain URL "
        "(https://acme.my.salesforce.com; required for client_credentials); the local sandbox's URL when "
        "CALSYNC_SANDBOX_INFO is set.",
    )
    salesforce_client_id: str = _setting(
        "SALESFORCE_CLIENT_ID", "", "Consumer key of the External Client App (or Connected App): every flow but token."
    )
    salesforce_client_secret: str = _setting(
        "SALESFORCE_CLIENT_SECRET",
        "",
        "Consumer secret of the app (client_credentials; refresh_token when the app asks).",
    )
    salesforce_username: str = _setting(
        "SALESFORCE_USERNAME", "", "User name of the integration user the JWT bearer flow signs in as (`sub`)."
    )
    salesforce_private_key_file: str = _setting(
        "SALESFORCE_PRIVATE_KEY_FILE",
        "",
        "PEM file of the RSA private key whose certificate is uploaded to the app (JWT bearer); readable by calsync "
        "only.",
    )
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
    # -- Microsoft Graph (Exchange Online; docs/graph-deployment.md) ------------------------------------------
    exchange_backend: str = _setting(
        "CALSYNC_EXCHANGE_BACKEND",
        "ews",
        "Protocol of mailboxes added without --backend: `ews` (Exchange Server on premises, or Exchange Online "
        "over EWS) or `graph` (Microsoft Graph, Exchange Online only). Each mailbox keeps its own.",
    )
    graph_url: str = _setting(
        "GRAPH_URL", "https://graph.microsoft.com/v1.0", "Microsoft Graph's v1.0 root (the sandbox's locally)."
    )
    graph_authority_host: str = _setting(
        "GRAPH_AUTHORITY_HOST",
        "https://login.microsoftonline.com",
        "Identity provider of the tenant; tokens come from {host}/{GRAPH_TENANT_ID} (a national cloud has its own).",
    )
    graph_tenant_id: str = _setting("GRAPH_TENANT_ID", "", "Directory (tenant) id of the Microsoft 365 tenant.")
    graph_client_id: str = _setting(
        "GRAPH_CLIENT_ID", "", "Application (client) id of calsync's Entra app registration (app-only Graph access)."
    )
    graph_private_key_file: str = _setting(
        "GRAPH_PRIVATE_KEY_FILE",
        "",
        "PEM file of the private key of the certificate uploaded to the app registration (recommended over a "
        "secret); readable by calsync only.",
    )
    graph_private_key: str = _setting(
        "GRAPH_PRIVATE_KEY",
        "",
        "The same private key as PEM text, instead of GRAPH_PRIVATE_KEY_FILE (the panel's stored Microsoft 365 "
        "connection holds it sealed).",
    )
    graph_certificate_thumbprint: str = _setting(
        "GRAPH_CERTIFICATE_THUMBPRINT", "", "SHA-1 thumbprint (hex) of that certificate, as Entra shows it."
    )
    graph_client_secret: str = _setting(
        "GRAPH_CLIENT_SECRET", "", "Client secret of the app registration, used when no certificate is given."
    )
    graph_ca_file: str = _setting(
        "GRAPH_CA_FILE", "", "CA bundle to trust for Graph and its identity provider (the sandbox's CA locally)."
    )
    # -- Microsoft Graph change notifications (docs/push.md, "Microsoft Graph") --------------------------------
    graph_subscription_minutes: int = _setting(
        "CALSYNC_GRAPH_SUBSCRIPTION_MINUTES",
        4230,
        "Lifetime asked for each Graph change-notification subscription, at creation and at every renewal "
        "(minutes, 45 to 10080; 4230, just under three days, is accepted by every Graph revision).",
    )
    graph_subscription_renew_minutes: int = _setting(
        "CALSYNC_GRAPH_SUBSCRIPTION_RENEW_MINUTES",
        720,
        "Renew a Graph subscription once it expires within this many minutes (less than its lifetime); the keeper "
        "must run more often than this (`calsync graph-subscriptions sync` or the listener).",
    )
    graph_subscription_retry_seconds: int = _setting(
        "CALSYNC_GRAPH_SUBSCRIPTION_RETRY_SECONDS",
        300,
        "Seconds before the keeper tries again to subscribe a mailbox whose subscription Graph refused.",
    )
    graph_orphan_sweep_minutes: int = _setting(
        "CALSYNC_GRAPH_ORPHAN_SWEEP_MINUTES",
        60,
        "How often the keeper lists the app's Graph subscriptions (GET /subscriptions) and deletes those of ours "
        "(our notification URL) that no graph_subscriptions row knows: made just before a crash, say.",
    )
    graph_subscription_batch: int = _setting(
        "CALSYNC_GRAPH_SUBSCRIPTION_BATCH",
        100,
        "Most Graph subscription operations (create, renew, reauthorize, delete) of one keeper pass; the rest wait "
        "for the next pass, so a pass stays short.",
    )
    graph_channel_ttl: int = _setting(
        "CALSYNC_GRAPH_CHANNEL_TTL",
        900,
        "Seconds a mailbox's graph-webhook push channel counts as up after a keeper pass saw its subscription "
        "healthy; without a pass for this long its scheduler falls back to polling.",
    )
    graph_webhook_rate_limit: str = _setting(
        "CALSYNC_GRAPH_WEBHOOK_RATE_LIMIT",
        "1200/minute",
        "Requests per client address to the Graph webhooks (/api/v1/graph/notifications and /lifecycle, which "
        "Microsoft calls without a token), in `limits` notation; more get 429. Empty: no limit.",
    )
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
    push_coalesce_seconds: float = _setting(
        "CALSYNC_PUSH_COALESCE_SECONDS",
        5.0,
        "Change-driven sync (docs/push.md): a burst of change notifications for one mailbox within this many "
        "seconds of the first makes one session.",
    )
    push_safety_interval_minutes: int = _setting(
        "CALSYNC_PUSH_SAFETY_INTERVAL_MINUTES",
        360,
        "Minutes between two periodic (safety-net) sessions of a mailbox while its Exchange push channel is up; "
        "when the channel is down the mailbox is polled every CALSYNC_PUSH_FALLBACK_INTERVAL_MINUTES.",
    )
    push_fallback_interval_minutes: int = _setting(
        "CALSYNC_PUSH_FALLBACK_INTERVAL_MINUTES",
        30,
        "Minutes between periodic sessions of a mailbox whose push channel was up and is now down (heartbeat "
        "expired or reported down). Mailboxes that never had push keep CALSYNC_SYNC_INTERVALS.",
    )
    push_echo_ttl: int = _setting(
        "CALSYNC_PUSH_ECHO_TTL",
        900,
        "Seconds a session's own writes (Exchange change keys, Salesforce SystemModstamps) are remembered, so "
        "that the notifications they cause enqueue nothing.",
    )
    push_echo_wait_seconds: float = _setting(
        "CALSYNC_PUSH_ECHO_WAIT_SECONDS",
        5.0,
        "Most seconds an echo check waits while a session's write to that mailbox is in flight (its answer, with "
        "the change key to compare, may arrive after the notification it causes).",
    )
    push_heartbeat_ttl: int = _setting(
        "CALSYNC_PUSH_HEARTBEAT_TTL",
        180,
        "Seconds a push channel reported `up` stays up without a new heartbeat from its listener; then the "
        "mailbox counts as on fallback polling.",
    )
    push_pass_seconds: float = _setting(
        "CALSYNC_PUSH_PASS_SECONDS",
        2.0,
        "Seconds between two short passes of `calsync scheduler` that enqueue the sessions push notifications "
        "asked for (between its CALSYNC_SCHEDULER_INTERVAL passes over the schedule).",
    )
    push_batch_seconds: float = _setting(
        "CALSYNC_PUSH_BATCH_SECONDS",
        15.0,
        "Change-driven sync: Outlook changes (EWS, Graph) are held this many seconds from the oldest one waiting, "
        "then the mailboxes due together run as group jobs whose Salesforce writes share sObject Collections "
        'calls (docs/push.md, "Batched writes"). 0: each mailbox\'s session on its own, after the coalescing '
        "window.",
    )
    push_batch_mailboxes: int = _setting(
        "CALSYNC_PUSH_BATCH_MAILBOXES",
        10,
        "Most mailboxes in one group job (sessions run in threads of one worker, a database connection each: "
        "keep it under the connection pool's 15).",
    )
    push_batch_wait_seconds: float = _setting(
        "CALSYNC_PUSH_BATCH_WAIT_SECONDS",
        2.0,
        "Longest a session of a group job waits for the others' Salesforce writes before its own are sent.",
    )
    # -- the EWS listener (`calsync listener`; sync/push/listener.py, docs/push.md "EWS listener") --------------
    listener_mode: str = _setting(
        "CALSYNC_LISTENER_MODE",
        "streaming",
        "How `calsync listener` hears of EWS changes: `streaming` (GetStreamingEvents, several subscriptions per "
        "connection; a mailbox whose streaming fails falls back to pull) or `pull` (GetEvents every pass, for "
        "networks that break long-lived HTTP responses).",
    )
    listener_interval: float = _setting(
        "CALSYNC_LISTENER_INTERVAL",
        10.0,
        "Seconds between two passes of `calsync listener`: lease renewal, push heartbeats, new subscriptions, and "
        "a GetEvents per pull subscription. Keep it well below CALSYNC_PUSH_HEARTBEAT_TTL.",
    )
    listener_connection_minutes: int = _setting(
        "CALSYNC_LISTENER_CONNECTION_MINUTES",
        25,
        "ConnectionTimeout of each GetStreamingEvents connection, 1-29 minutes (Exchange's maximum is 30): the "
        "listener opens the next connection as soon as the server closes this one, well inside the 30 minutes a "
        "streaming subscription survives without a connection, so no event is lost in between.",
    )
    listener_subscriptions_per_connection: int = _setting(
        "CALSYNC_LISTENER_SUBSCRIPTIONS_PER_CONNECTION",
        200,
        "Most streaming subscriptions sharing one GetStreamingEvents connection (Microsoft recommends at most 200).",
    )
    listener_lease_ttl: int = _setting(
        "CALSYNC_LISTENER_LEASE_TTL",
        60,
        "Seconds of a listener's lease on a mailbox in Redis (renewed every pass): when a listener dies, the others "
        "take its mailboxes over after at most this long. At least 3 passes.",
    )
    listener_pull_timeout_minutes: int = _setting(
        "CALSYNC_LISTENER_PULL_TIMEOUT_MINUTES",
        30,
        "Timeout of pull subscriptions (minutes without a GetEvents before Exchange drops one, 1-1440). A listener "
        "restarted within it resumes the subscription; later, it resubscribes from the saved watermark.",
    )
    listener_subscribe_batch: int = _setting(
        "CALSYNC_LISTENER_SUBSCRIBE_BATCH",
        100,
        "Most new subscriptions one listener pass makes (the rest wait for the next pass), so that a listener "
        "starting with thousands of mailboxes keeps renewing its leases and heartbeats meanwhile.",
    )
    listener_retry_seconds: float = _setting(
        "CALSYNC_LISTENER_RETRY_SECONDS",
        10.0,
        "Longest wait the listener gives a busy or failing Exchange inside one call (ErrorServerBusy back-off, "
        "503, dropped connections) before it reports the mailbox's channel down and tries again itself; sessions "
        "keep their own, longer patience.",
    )
    listener_stream_failures: int = _setting(
        "CALSYNC_LISTENER_STREAM_FAILURES",
        3,
        "Failed GetStreamingEvents connections in a row after which the mailboxes of that connection fall back "
        "to pull subscriptions (until the listener restarts).",
    )
    salesforce_scan_seconds: float = _setting(
        "CALSYNC_SALESFORCE_SCAN_SECONDS",
        45.0,
        "Seconds between two passes of `calsync salesforce-scan` (docs/push.md, Salesforce scan): one query per "
        "synced object kind for the whole org, then sessions only for the mailboxes whose rows changed. 45 keeps "
        "Salesforce → Outlook within a minute at p95 (60 measured 59.8 s, docs/push.md Measured).",
    )
    salesforce_scan_owner_chunk: int = _setting(
        "CALSYNC_SALESFORCE_SCAN_OWNER_CHUNK",
        2000,
        "Owners (Salesforce user ids) per scan query's `OwnerId IN (...)` list; more owners make one more query "
        "per object. At most 4000 (SOQL's 100,000 characters); without the Composite API at most 400 are used "
        "(the query's URI must stay under the REST API's 16,384 bytes).",
    )
    salesforce_scan_composite: bool = _setting(
        "CALSYNC_SALESFORCE_SCAN_COMPOSITE",
        True,
        "Send the scan's queries five to a Composite API request (one API call for all five, the SOQL in the "
        "body); off: one queryAll request per query.",
    )
    salesforce_scan_org_wide: bool = _setting(
        "CALSYNC_SALESFORCE_SCAN_ORG_WIDE",
        False,
        "Scan every owner's rows (no OwnerId filter) and keep the synced owners' ones: one query per kind "
        "however many reps, at the price of reading other users' changed rows too.",
    )
    salesforce_scan_retention_hours: float = _setting(
        "CALSYNC_SALESFORCE_SCAN_RETENTION_HOURS",
        12.0,
        "Hours the scan keeps the changed rows it read for each mailbox in Redis: a session whose watermark is "
        "older (it failed for that long) reads Salesforce itself.",
    )
    salesforce_scan_healthy_seconds: float = _setting(
        "CALSYNC_SALESFORCE_SCAN_HEALTHY_SECONDS",
        180.0,
        "Sessions trust the scan's rows only if its last successful pass is at most this old; otherwise they "
        "query Salesforce themselves (the per-mailbox path before the scan).",
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
    api_rate_limit: str = _setting(
        "CALSYNC_API_RATE_LIMIT",
        "120/minute;2000/hour",
        "Calls each mailbox may make to the add-in API (`limits` notation: n/second|minute|hour|day, several "
        "separated by `;`); more get 429 with Retry-After. Counted in Redis (REDIS_URL); empty: no limit.",
    )
    api_lookup_rate_limit: str = _setting(
        "CALSYNC_API_LOOKUP_RATE_LIMIT",
        "20/minute;300/hour",
        "Salesforce searches (/salesforce/lookup) per mailbox, on top of CALSYNC_API_RATE_LIMIT; each costs "
        "Salesforce API requests. Lookups also stop while the org is over the API budget guard.",
    )
    api_sync_rate_limit: str = _setting(
        "CALSYNC_API_SYNC_RATE_LIMIT",
        "6/minute;60/hour",
        "Sync now, Share and Unshare per mailbox (each queues a session), on top of CALSYNC_API_RATE_LIMIT.",
    )
    ops_token: str = _setting(
        "CALSYNC_OPS_TOKEN",
        "",
        "Bearer token (Authorization header only) for scripts reading the operator view /admin/ops; 32+ "
        "characters in production. Empty: admins logged in to the panel only.",
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
        jwt_app = (sf.get("oauth") or {}).get("jwt") or {}
        defaults["salesforce_username"] = jwt_app.get("username", "")
        defaults["salesforce_private_key_file"] = jwt_app.get("private_key_file", "")
        ex = info.get("exchange") or {}
        defaults["exchange_endpoint"] = ex.get("endpoint", "")
        defaults["exchange_ca_file"] = ex.get("ca_file", "")
        defaults["exchange_version"] = ex.get("version", self.exchange_version) or self.exchange_version
        account = ex.get("service_account") or {}
        defaults["exchange_username"] = account.get("username", "")
        defaults["exchange_password"] = account.get("password", "")
        graph = info.get("graph") or {}
        defaults["graph_url"] = graph.get("base_url", "")
        defaults["graph_authority_host"] = str(graph.get("authority", "")).rsplit("/", 1)[0]
        defaults["graph_tenant_id"] = graph.get("tenant_id", "")
        defaults["graph_client_id"] = graph.get("client_id", "")
        defaults["graph_private_key_file"] = graph.get("private_key_file", "")
        defaults["graph_certificate_thumbprint"] = graph.get("thumbprint", "")
        defaults["graph_client_secret"] = graph.get("client_secret", "")
        defaults["graph_ca_file"] = graph.get("ca_file", "")
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
        if self.environment not in {"", "development", "production", "test"}:
            raise ConfigError(f"CALSYNC_ENV must be development, production or test, not {self.environment!r}")
        if self.secret_key == BUILT_IN_SECRET_KEY and self.production:
            raise ConfigError(
                "CALSYNC_SECRET_KEY is not set: set it to a random value of 32+ characters, or set "
                "CALSYNC_ENV=development (or test) to use the built-in key on a local machine"
            )
        if self.production and len(self.secret_key) < 32:
            raise ConfigError("CALSYNC_SECRET_KEY must be a random value of 32+ characters in production")
        if self.production and self.ops_token and len(self.ops_token) < 32:
            raise ConfigError("CALSYNC_OPS_TOKEN must be a random value of 32+ characters in production")
        if self.salesforce_auth not in {"jwt", "client_credentials", "refresh_token", "token"}:
            raise ConfigError(
                f"SALESFORCE_AUTH must be jwt, client_credentials, refresh_token or token, not {self.salesforce_auth!r}"
            )
        if self.production and self.exchange_endpoint.startswith("http://"):
            raise ConfigError("EXCHANGE_ENDPOINT must be an https URL in production (the password travels with it)")
        if self.exchange_backend not in {"ews", "graph"}:
            raise ConfigError(f"CALSYNC_EXCHANGE_BACKEND must be ews or graph, not {self.exchange_backend!r}")
        if self.production and self.graph_url.startswith("http://"):
            raise ConfigError("GRAPH_URL must be an https URL in production (bearer tokens travel with it)")
        if self.exchange_auth_type not in {"basic", "oauth"}:
            raise ConfigError(f"EXCHANGE_AUTH_TYPE must be basic or oauth, not {self.exchange_auth_type!r}")
        _numbers("CALSYNC_SYNC_INTERVALS", self.sync_intervals, minimum=1)
        _numbers("CALSYNC_JOB_RETRY_INTERVALS", self.job_retry_intervals, minimum=0)
        if self.push_coalesce_seconds < 0:
            raise ConfigError(
                f"CALSYNC_PUSH_COALESCE_SECONDS must be 0 or more seconds, not {self.push_coalesce_seconds}"
            )
        if self.salesforce_scan_seconds < 1:
            raise ConfigError(
                f"CALSYNC_SALESFORCE_SCAN_SECONDS must be at least 1 second, not {self.salesforce_scan_seconds}"
            )
        if not 1 <= self.salesforce_scan_owner_chunk <= 4000:
            raise ConfigError(
                "CALSYNC_SALESFORCE_SCAN_OWNER_CHUNK must be from 1 to 4000 (SOQL's length limit), not "
                f"{self.salesforce_scan_owner_chunk}"
            )
        if self.salesforce_scan_retention_hours <= 0 or self.salesforce_scan_healthy_seconds <= 0:
            raise ConfigError(
                "CALSYNC_SALESFORCE_SCAN_RETENTION_HOURS and CALSYNC_SALESFORCE_SCAN_HEALTHY_SECONDS must be more "
                "than 0"
            )
        if self.push_echo_wait_seconds < 0:
            raise ConfigError(
                f"CALSYNC_PUSH_ECHO_WAIT_SECONDS must be 0 or more seconds, not {self.push_echo_wait_seconds}"
            )
        if self.push_batch_seconds < 0 or self.push_batch_wait_seconds < 0:
            raise ConfigError("CALSYNC_PUSH_BATCH_SECONDS and CALSYNC_PUSH_BATCH_WAIT_SECONDS must be 0 or more")
        if self.push_batch_mailboxes < 1:
            raise ConfigError(f"CALSYNC_PUSH_BATCH_MAILBOXES must be at least 1, not {self.push_batch_mailboxes}")
        if self.push_pass_seconds < 0.1:
            raise ConfigError(f"CALSYNC_PUSH_PASS_SECONDS must be at least 0.1 seconds, not {self.push_pass_seconds}")
        if len(_numbers("CALSYNC_API_BUDGET_BACKOFF_HOURS", self.api_budget_backoff_hours, minimum=0)) != 3:
            raise ConfigError("CALSYNC_API_BUDGET_BACKOFF_HOURS must be three numbers: first,step,cap (hours)")
        for env, value in (("CALSYNC_JOB_TIMEOUT", self.job_timeout), ("CALSYNC_LOCK_TTL", self.lock_ttl),
                           ("CALSYNC_SCHEDULER_LEADER_TTL", self.scheduler_leader_ttl),
                           ("CALSYNC_PUSH_ECHO_TTL", self.push_echo_ttl),
                           ("CALSYNC_PUSH_HEARTBEAT_TTL", self.push_heartbeat_ttl)):  # fmt: skip
            if value < 1:
                raise ConfigError(f"{env} must be at least 1 second, not {value}")
        minutes = (
            ("CALSYNC_PUSH_SAFETY_INTERVAL_MINUTES", self.push_safety_interval_minutes),
            ("CALSYNC_PUSH_FALLBACK_INTERVAL_MINUTES", self.push_fallback_interval_minutes),
        )
        for env, value in minutes:
            if value < 1:
                raise ConfigError(f"{env} must be at least 1 minute, not {value}")
        self._validate_graph_subscriptions()
        self._validate_listener()

    def _validate_graph_subscriptions(self) -> None:
        lifetime, renew = self.graph_subscription_minutes, self.graph_subscription_renew_minutes
        if not 45 <= lifetime <= 10_080:
            raise ConfigError(f"CALSYNC_GRAPH_SUBSCRIPTION_MINUTES must be 45 to 10080 minutes, not {lifetime}")
        if not 1 <= renew < lifetime:
            raise ConfigError(
                f"CALSYNC_GRAPH_SUBSCRIPTION_RENEW_MINUTES must be at least 1 and less than the lifetime "
                f"({lifetime}), not {renew}"
            )
        positive = {
            "CALSYNC_GRAPH_SUBSCRIPTION_BATCH": self.graph_subscription_batch,
            "CALSYNC_GRAPH_CHANNEL_TTL": self.graph_channel_ttl,
            "CALSYNC_GRAPH_SUBSCRIPTION_RETRY_SECONDS": self.graph_subscription_retry_seconds,
            "CALSYNC_GRAPH_ORPHAN_SWEEP_MINUTES": self.graph_orphan_sweep_minutes,
        }
        for env, value in positive.items():
            if value < 1:
                raise ConfigError(f"{env} must be at least 1, not {value}")

    def _validate_listener(self) -> None:
        if self.listener_mode not in {"streaming", "pull"}:
            raise ConfigError(f"CALSYNC_LISTENER_MODE must be streaming or pull, not {self.listener_mode!r}")
        if not 1 <= self.listener_connection_minutes <= 29:
            raise ConfigError(
                f"CALSYNC_LISTENER_CONNECTION_MINUTES must be 1 to 29 (minutes), not {self.listener_connection_minutes}"
            )
        if not 1 <= self.listener_pull_timeout_minutes <= 1440:
            raise ConfigError(
                "CALSYNC_LISTENER_PULL_TIMEOUT_MINUTES must be 1 to 1440 (minutes), not "
                f"{self.listener_pull_timeout_minutes}"
            )
        if self.listener_retry_seconds < 0:
            raise ConfigError(f"CALSYNC_LISTENER_RETRY_SECONDS must be 0 or more, not {self.listener_retry_seconds}")
        if self.listener_interval <= 0:
            raise ConfigError(
                f"CALSYNC_LISTENER_INTERVAL must be a positive number of seconds, not {self.listener_interval}"
            )
        if self.listener_lease_ttl < 3 * self.listener_interval:
            raise ConfigError(
                f"CALSYNC_LISTENER_LEASE_TTL ({self.listener_lease_ttl} s) must be at least 3 passes "
                f"(3 x CALSYNC_LISTENER_INTERVAL = {3 * self.listener_interval:g} s)"
            )
        counts = (
            ("CALSYNC_LISTENER_SUBSCRIPTIONS_PER_CONNECTION", self.listener_subscriptions_per_connection),
            ("CALSYNC_LISTENER_STREAM_FAILURES", self.listener_stream_failures),
            ("CALSYNC_LISTENER_SUBSCRIBE_BATCH", self.listener_subscribe_batch),
        )
        for env, value in counts:
            if value < 1:
                raise ConfigError(f"{env} must be at least 1, not {value}")

    @property
    def production(self) -> bool:
        """Production unless CALSYNC_ENV says development or test explicitly (fail closed)."""
        return self.environment not in LOCAL_ENVIRONMENTS

    def numbers(self, name: str) -> tuple[float, ...]:
        """A comma-separated setting (``sync_intervals``, ``job_retry_intervals``, ...) as numbers."""
        return _numbers(name, getattr(self, name))

    @classmethod
    def documentation(cls) -> list[tuple[str, str, str]]:
        """(variable, default, meaning) for every setting; the README and `calsync config` show it."""
        return [(f.metadata["env"], str(f.default), f.metadata["doc"]) for f in fields(cls)]

    def redacted(self) -> dict[str, str]:
        """Every setting as it may be printed: secrets as ``***``, URL passwords masked, the built-in key named."""
        from calsync.redact import mask_url

        secret = {
            "secret_key",
            "exchange_password",
            "salesforce_client_secret",
            "salesforce_access_token",
            "ops_token",
            "graph_client_secret",
            "graph_private_key",
        }
        shown: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "secret_key" and value == BUILT_IN_SECRET_KEY:
                shown[f.metadata["env"]] = BUILT_IN_KEY_SHOWN
            elif f.name in secret and value:
                shown[f.metadata["env"]] = "***"
            else:
                shown[f.metadata["env"]] = mask_url(str(value))
        return shown
