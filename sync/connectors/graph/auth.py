"""App-only tokens for Microsoft Graph: `MsalTokenSource`, the `TokenSource` the Graph connector takes.

- One MSAL ``ConfidentialClientApplication`` per (authority, client id, credential) and process: building one
  fetches the tenant's OpenID configuration, so it is kept (per process id: an app does not cross RQ's fork).
- Credentials: a certificate (recommended: the private key PEM and the SHA-1 thumbprint of the certificate
  uploaded to the app registration; MSAL signs an RS256 assertion with ``x5t``) or a client secret.
- ``acquire_token_for_client`` for ``https://graph.microsoft.com/.default`` (the sandbox takes the same scope).
- The token cache is MSAL's `SerializableTokenCache`, kept in Redis per tenant + client (and credential:
  ``calsync:graph:token-cache:<tenant>:<client>:<credential digest>``): RQ forks a work horse per job and an
  in-memory cache would die with it, so every job would ask Entra again. A token still good for 5 minutes
  more is served from the process's copy without touching Redis; a miss reads Redis and, when Redis has none
  either, takes a Redis lock so that forked workers that all miss at once make one token request (the others
  find it in the cache).
- ``invalidate()`` (Graph answered 401): the refused token leaves the process copy and the Redis cache (only
  that token: another worker may have put a newer one there meanwhile), so the next ``token()`` asks Entra.

Entra's refusals become `GraphAuthError` (an `AuthError` with a stable ``health_code``): a wrong secret or
certificate, an unknown app, an unknown tenant; an unreachable identity provider is a `TransientError`.
References: https://learn.microsoft.com/en-us/entra/msal/python/ (client credentials, token cache
serialization), https://learn.microsoft.com/en-us/graph/auth-v2-service.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msal
import requests
from redis import Redis
from redis.exceptions import RedisError

from calsync.settings import ConfigError, Settings
from sync.connectors.errors import GraphAuthError, TransientError

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
CACHE_PREFIX = "calsync:graph:token-cache"
# A token with less than this left is not handed out (Graph would refuse it mid-session); MSAL uses 5 min too.
MIN_LIFETIME = 300
# How long a worker waits for another one's token request before asking Entra itself.
LOCK_WAIT = 20.0
LOCK_TTL = 30
_SERVICE = "exchange"

# What an admin can do about Entra's answer (AADSTS codes in error_description).
_HINTS = {
    "AADSTS7000215": "the client secret is wrong or expired: create a new one in the app registration",
    "AADSTS7000222": "the client secret has expired: create a new one in the app registration",
    "AADSTS700027": "the certificate is not the one uploaded to the app registration (check the thumbprint "
    "and the private key)",
    "AADSTS700016": "no app with this client id in the tenant: check the client id and the tenant id",
    "AADSTS90002": "no such tenant: check the tenant id",
    "AADSTS7000112": "the app is disabled in the tenant",
}


@dataclass(frozen=True)
class GraphCredentials:
    """An Entra app registration allowed to read and write calendars (RBAC for Applications scoped).

    ``authority``: ``https://login.microsoftonline.com/<tenant id>`` (or the sandbox's); either
    ``private_key`` + ``thumbprint`` (certificate) or ``client_secret``. ``ca_file``: a CA bundle to trust for
    the identity provider (the sandbox's), else the system's."""

    tenant_id: str
    client_id: str
    authority: str
    client_secret: str = ""
    private_key: str = ""  # PEM text
    thumbprint: str = ""  # SHA-1 hex of the certificate uploaded to the app registration
    scope: str = GRAPH_SCOPE
    ca_file: str = ""
    timeout: float = 30.0

    @property
    def method(self) -> str:
        return "certificate" if self.private_key else "secret"

    def credential(self) -> str | dict[str, str]:
        if self.private_key:
            if not self.thumbprint:
                raise GraphAuthError(
                    "A certificate credential needs the certificate's thumbprint (SHA-1, hex) as well as its "
                    "private key.",
                    code="missing_thumbprint",
                    health_code="graph_credentials_invalid",
                )
            return {"private_key": self.private_key, "thumbprint": self.thumbprint.replace(":", "").strip()}
        if self.client_secret:
            return self.client_secret
        raise GraphAuthError(
            "No Microsoft 365 credential: give a certificate (private key + thumbprint) or a client secret.",
            code="missing_credential",
            health_code="graph_credentials_invalid",
        )

    def cache_key(self) -> str:
        # With a digest of the credential: a replaced secret or certificate never gets a token the old one
        # obtained (a test of new credentials must reach Entra); the old entry expires with its token.
        digest = _fingerprint(self.credential())[:16]
        return f"{CACHE_PREFIX}:{self.tenant_id.lower()}:{self.client_id.lower()}:{digest}"


# (pid, authority, client id, credential fingerprint) -> app; see the module docstring.
_APPS: dict[tuple[Any, ...], msal.ConfidentialClientApplication] = {}
_APPS_LOCK = threading.Lock()
_ACQUIRE_LOCK = threading.Lock()


def _http_client(credentials: GraphCredentials) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the identity provider is reached directly
    if credentials.ca_file:
        session.verify = credentials.ca_file
    return session


def _fingerprint(credential: str | dict[str, str]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(credential, sort_keys=True).encode()).hexdigest()


def msal_app(credentials: GraphCredentials) -> msal.ConfidentialClientApplication:
    """The process's MSAL application for these credentials (built once; raises `GraphAuthError` for an
    unknown tenant, `TransientError` when the identity provider cannot be reached)."""
    credential = credentials.credential()
    authority = credentials.authority.rstrip("/").lower()
    key = (os.getpid(), authority, credentials.client_id.lower(), _fingerprint(credential))
    with _APPS_LOCK:
        app = _APPS.get(key)
        if app is not None:
            return app
        try:
            app = msal.ConfidentialClientApplication(
                credentials.client_id,
                client_credential=credential,
                authority=credentials.authority,
                http_client=_http_client(credentials),
                instance_discovery=False,  # a tenant id authority (or the sandbox): no Microsoft instance lookup
                timeout=credentials.timeout,
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"The identity provider at {credentials.authority} cannot be reached: {exc}",
                code=type(exc).__name__,
                service=_SERVICE,
            ) from None
        except ValueError as exc:  # MSAL: the tenant's OpenID configuration was refused (or a bad key/URL)
            text = str(exc)
            if "OIDC Discovery" in text or "authority configuration" in text or "AADSTS90002" in text:
                raise GraphAuthError(
                    f"Microsoft 365 does not know the tenant of {credentials.authority}: check the tenant id.",
                    code="invalid_tenant",
                    health_code="graph_unknown_tenant",
                ) from None
            raise GraphAuthError(
                f"The Microsoft 365 credentials cannot be used: {text}",
                code="invalid_credential",
                health_code="graph_credentials_invalid",
            ) from None
        _APPS[key] = app
        return app


def _valid_token(cache: msal.SerializableTokenCache, credentials: GraphCredentials, now: float) -> tuple[str, float]:
    """The cached app-only token for the scope with more than MIN_LIFETIME left, and its expiry; ('', 0)."""
    for entry in cache.search(
        msal.TokenCache.CredentialType.ACCESS_TOKEN,
        target=[credentials.scope],
        query={"client_id": credentials.client_id},
    ):
        try:
            expires = float(entry.get("expires_on", 0))
        except (TypeError, ValueError):
            continue
        if expires - now > MIN_LIFETIME and entry.get("secret"):
            return entry["secret"], expires
    return "", 0.0


class MsalTokenSource:
    """`sync.connectors.graph.TokenSource` over MSAL with a token cache shared in Redis (module docstring)."""

    def __init__(self, credentials: GraphCredentials, redis: Redis, *, clock=time.time) -> None:
        self.credentials = credentials
        self.redis = redis
        self._clock = clock
        self._token = ""
        self._expires = 0.0
        self._lock = threading.Lock()
        self.requests = 0  # token requests this source sent to the identity provider

    # -- TokenSource -------------------------------------------------------------------------------------------
    def token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token and self._expires - now > MIN_LIFETIME:
                return self._token
            cache = self._load()
            token, expires = _valid_token(cache, self.credentials, now)
            if not token:
                token, expires = self._acquire()
            self._token, self._expires = token, expires
            return token

    def invalidate(self) -> None:
        with self._lock:
            refused, self._token, self._expires = self._token, "", 0.0
            if not refused:
                return
            try:
                with self._redis_lock():
                    cache = self._load()
                    for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN,
                                                   query={"client_id": self.credentials.client_id})):  # fmt: skip
                        if entry.get("secret") == refused:
                            cache.remove_at(entry)
                    self._save(cache)
            except RedisError as exc:  # the process copy is gone already; a stale shared copy is refused again
                log.warning("Graph token cache in Redis not updated: %s", exc)

    # -- the shared cache ---------------------------------------------------------------------------------------
    def _load(self) -> msal.SerializableTokenCache:
        cache = msal.SerializableTokenCache()
        try:
            blob = self.redis.get(self.credentials.cache_key())
        except RedisError as exc:
            log.warning("Graph token cache in Redis unreadable: %s", exc)
            blob = None
        if blob:
            try:
                cache.deserialize(blob.decode() if isinstance(blob, bytes) else blob)
            except ValueError:
                log.warning("Graph token cache in Redis is not MSAL's format: starting afresh")
        return cache

    def _save(self, cache: msal.SerializableTokenCache) -> None:
        if not cache.has_state_changed:
            return
        _, expires = _valid_token(cache, self.credentials, self._clock())
        # Kept no longer than its token lives (an hour or so): nothing stale piles up in Redis.
        ttl = max(60, int(expires - self._clock()) + 60) if expires else 3600
        self.redis.set(self.credentials.cache_key(), cache.serialize(), ex=ttl)

    def _redis_lock(self):
        return self.redis.lock(
            self.credentials.cache_key() + ":lock", timeout=LOCK_TTL, blocking_timeout=LOCK_WAIT, thread_local=False
        )

    def _acquire(self) -> tuple[str, float]:
        """A token from the shared cache or, under the lock, from the identity provider."""
        lock = self._redis_lock()
        try:
            locked = lock.acquire()
        except RedisError as exc:
            log.warning("Graph token lock unavailable (%s): asking the identity provider directly", exc)
            locked = False
        try:
            cache = self._load()  # another worker may have fetched one while we waited
            token, expires = _valid_token(cache, self.credentials, self._clock())
            if token:
                return token, expires
            app = msal_app(self.credentials)
            try:
                with _ACQUIRE_LOCK:  # the app is shared by the process's threads; its cache is swapped per call
                    app.token_cache = cache  # MSAL reads and writes the cache through this attribute
                    result = app.acquire_token_for_client(scopes=[self.credentials.scope])
            except requests.RequestException as exc:
                raise TransientError(
                    f"The identity provider cannot be reached: {exc}", code=type(exc).__name__, service=_SERVICE
                ) from None
            if "access_token" not in result:
                raise self._refusal(result)
            if result.get("token_source") == "identity_provider":
                self.requests += 1
            try:
                self._save(cache)
            except RedisError as exc:
                log.warning("Graph token cache not written to Redis: %s", exc)
            expires_in = float(result.get("expires_in") or 0)
            return result["access_token"], self._clock() + expires_in
        finally:
            if locked:
                try:
                    lock.release()
                except RedisError:  # expired meanwhile: nothing to release
                    pass

    def _refusal(self, result: dict[str, Any]) -> Exception:
        error = str(result.get("error") or "")
        description = str(result.get("error_description") or "")
        if error in {"temporarily_unavailable", "server_error"}:
            return TransientError(f"The identity provider is unavailable: {description}", code=error, service=_SERVICE)
        aadsts = description.split(":", 1)[0].strip() if description.startswith("AADSTS") else ""
        hint = _HINTS.get(aadsts, "")
        health_code = {
            "invalid_client": "graph_credentials_refused",
            "unauthorized_client": "graph_app_unknown",
            "invalid_tenant": "graph_unknown_tenant",
            "invalid_scope": "graph_credentials_refused",
        }.get(error, "graph_auth_failed")
        message = f"Microsoft 365 refused calsync's app credentials ({error or 'error'}"
        message += f", {aadsts})" if aadsts else ")"
        message += f": {hint}." if hint else (f": {description.splitlines()[0]}" if description else ".")
        return GraphAuthError(message, code=error or "auth_failed", health_code=health_code)


def credentials_from_settings(settings: Settings) -> GraphCredentials:
    """The app registration of ``settings`` (the stored Microsoft 365 connection already laid over the
    environment's, `sync.runtime.with_stored_connections`): a certificate when a private key is given, else
    the client secret. Raises `ConfigError` when Graph is not set up."""
    if not settings.graph_tenant_id or not settings.graph_client_id:
        raise ConfigError(
            "Microsoft Graph is not configured: save a Microsoft 365 connection in the admin panel, or set "
            "GRAPH_TENANT_ID, GRAPH_CLIENT_ID and GRAPH_PRIVATE_KEY_FILE + GRAPH_CERTIFICATE_THUMBPRINT (or "
            "GRAPH_CLIENT_SECRET)"
        )
    private_key = settings.graph_private_key
    if not private_key and settings.graph_private_key_file:
        try:
            private_key = Path(settings.graph_private_key_file).read_text()
        except OSError as exc:
            raise ConfigError(f"GRAPH_PRIVATE_KEY_FILE: cannot read {settings.graph_private_key_file}: {exc}") from None
    if not private_key and not settings.graph_client_secret:
        raise ConfigError(
            "Microsoft Graph has no credential: give a certificate (GRAPH_PRIVATE_KEY_FILE + "
            "GRAPH_CERTIFICATE_THUMBPRINT) or GRAPH_CLIENT_SECRET"
        )
    return GraphCredentials(
        tenant_id=settings.graph_tenant_id,
        client_id=settings.graph_client_id,
        authority=f"{settings.graph_authority_host.rstrip('/')}/{settings.graph_tenant_id}",
        client_secret="" if private_key else settings.graph_client_secret,
        private_key=private_key,
        thumbprint=settings.graph_certificate_thumbprint,
        ca_file=settings.graph_ca_file,
        timeout=settings.http_timeout,
    )
