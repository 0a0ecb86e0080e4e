"""Salesforce sessions (access token + ``instance_url``) for workers, the add-in API and the CLI alike.

Four flows (``SALESFORCE_AUTH``), the first one recommended:

- ``jwt``: OAuth 2.0 JWT bearer
  (https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_jwt_flow.htm). We sign
  ``{iss: client id, sub: username, aud: login URL, exp: now + 3 min}`` with the app's private key (RS256,
  PyJWT) and post it to ``{login_url}/services/oauth2/token``. Nothing long-lived travels.
- ``client_credentials``: the app's consumer key + secret (HTTP Basic) against the org's My Domain URL; the
  session belongs to the app's "Run As" user.
- ``refresh_token``: the refresh token the admin panel's web-server flow (with PKCE) obtained; a rotated refresh
  token in the answer replaces the stored one in the same transaction as the new access token.
- ``token``: a fixed access token (development and the sandbox only): nothing to renew.

Salesforce answers no ``expires_in``: a session ends when the org's session timeout says so, and the next call
answers ``401 INVALID_SESSION_ID``. The connector then calls `TokenProvider.renew` once with the refused token
and retries that one call once (`sync.connectors.salesforce`). simple-salesforce stays the client, built from
``instance_url`` + session id: its own JWT login hard-codes ``https://{domain}.salesforce.com``.

`TokenProvider` caches the session per process (one provider per connection, `provider_for`); a
`SessionStore` keeps the latest session (and a rotated refresh token) where other processes see it. Renewals are
serialised through the store, so that two workers that both saw the old token make one token request, not two
(with rotation, the second would spend a refresh token already spent, and Salesforce revokes the chain).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
import requests

from sync.connectors.errors import AuthError, ConnectorError, TransientError

FLOWS = ("jwt", "client_credentials", "refresh_token", "token")
FLOW_LABELS = {
    "jwt": "JWT bearer",
    "client_credentials": "client credentials",
    "refresh_token": "refresh token",
    "token": "static access token",
}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = 180  # seconds: Salesforce wants the assertion's exp at most a few minutes ahead
REVOKED_CODE = "salesforce_connection_revoked"
REVOKED_MESSAGE = "Salesforce connection revoked: connect again"
_SERVICE = "salesforce"
# What an admin can do about the org's answer (its error_description texts).
_HINTS = {
    "invalid assertion": "the signature does not match the certificate uploaded to the app: upload the "
    "certificate of this private key, or use the private key of the uploaded certificate",
    "audience is invalid": "the login URL is wrong: https://login.salesforce.com (production), "
    "https://test.salesforce.com (sandbox org) or the org's My Domain URL",
    "expired authorization code": "the JWT's expiry is outside the org's window: check this machine's clock",
    "user hasn't approved this consumer": "the user is unknown or not pre-authorized: check the user name, set the "
    "app's policy to 'Admin approved users are pre-authorized' and give the user's profile or a permission set access",
    "invalid client credentials": "check the consumer key and secret (a rotated secret must be entered again)",
    "client identifier invalid": "check the consumer key (client id) of the app",
    "no client credentials user enabled": "set a Run As user in the app's client credentials settings",
    "expired access/refresh token": "the refresh token was revoked or expired",
}


@dataclass(frozen=True)
class SalesforceAuth:
    """Everything a flow needs. Secrets (``client_secret``, ``private_key``, ``refresh_token``,
    ``access_token``) come sealed from the stored connection or from the environment."""

    flow: str
    login_url: str = "https://login.salesforce.com"
    client_id: str = ""
    client_secret: str = ""
    username: str = ""
    private_key: str = ""  # PEM text of the JWT signing key
    refresh_token: str = ""
    access_token: str = ""  # the token of the ``token`` flow
    instance_url: str = ""  # with ``access_token``
    ca_file: str = ""
    timeout: float = 30.0

    @property
    def token_url(self) -> str:
        return f"{self.login_url.rstrip('/')}/services/oauth2/token"

    def problems(self) -> list[str]:
        """What is missing for this flow, worded for an admin (empty: ready to try)."""
        if self.flow not in FLOWS:
            return [f"SALESFORCE_AUTH must be one of {', '.join(FLOWS)}, not {self.flow!r}."]
        needs = {
            "jwt": [("client_id", "the consumer key"), ("username", "the integration user's user name"),
                    ("private_key", "the private key of the app's certificate")],
            "client_credentials": [("client_id", "the consumer key"), ("client_secret", "the consumer secret")],
            "refresh_token": [("refresh_token", "a refresh token: press Connect Salesforce")],
            "token": [("access_token", "an access token"), ("instance_url", "the instance URL")],
        }[self.flow]  # fmt: skip
        out = [f"The {FLOW_LABELS[self.flow]} flow needs {label}." for name, label in needs if not getattr(self, name)]
        if self.flow != "token":
            parts = urlsplit(self.login_url)
            if parts.scheme != "https" or not parts.hostname:
                out.append(f"The login URL must be an https URL, not {self.login_url!r}.")
        return out


@dataclass(frozen=True)
class SalesforceSession:
    access_token: str
    instance_url: str
    identity: str = ""  # the identity URL: {login}/id/{org id}/{user id}
    issued_at: float = 0.0

    @property
    def org_id(self) -> str:
        parts = urlsplit(self.identity).path.rstrip("/").split("/")
        return parts[-2] if len(parts) >= 3 and parts[-3] == "id" else ""

    @property
    def user_id(self) -> str:
        parts = urlsplit(self.identity).path.rstrip("/").split("/")
        return parts[-1] if len(parts) >= 3 and parts[-3] == "id" else ""

    def to_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "instance_url": self.instance_url, "identity": self.identity,
                "issued_at": self.issued_at}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SalesforceSession | None:
        if not data or not data.get("access_token") or not data.get("instance_url"):
            return None
        return cls(data["access_token"], data["instance_url"], data.get("identity", ""),
                   float(data.get("issued_at") or 0))  # fmt: skip


class TokenRefused(AuthError):
    """The org's token endpoint refused the grant; ``code`` is its OAuth ``error``, ``description`` its text."""

    health_code = "salesforce_auth_failed"

    def __init__(self, message: str, *, code: str, description: str = "", status: int | None = None) -> None:
        super().__init__(message, code=code, service=_SERVICE, status=status)
        self.description = description


class ConnectionRevoked(TokenRefused):
    """The refresh token is no longer valid (revoked, expired, spent): an admin must connect again."""

    health_code = REVOKED_CODE


Grant = Callable[[str], tuple[SalesforceSession, str | None]]  # stored refresh token -> session, rotated token


class SessionStore(Protocol):
    """Where the latest session of a connection lives, shared by every process that uses it."""

    def renew(self, failed: str | None, grant: Grant) -> SalesforceSession:
        """The stored session unless it is ``failed`` (or there is none); else ``grant(refresh token)``'s,
        stored (with a rotated refresh token) before it is returned. Serialised across processes."""
        ...

    def refused(self, error: TokenRefused) -> None:
        """Remember a refusal (the Connections page shows the last error; a revoked connection a banner)."""
        ...


class MemoryStore:
    """A process-local store: for connections from the environment (no row to share them through)."""

    def __init__(self, refresh_token: str = "") -> None:
        self.session: SalesforceSession | None = None
        self.refresh_token = refresh_token
        self.last_error: str = ""
        self._lock = threading.Lock()

    def renew(self, failed: str | None, grant: Grant) -> SalesforceSession:
        with self._lock:
            if self.session is not None and self.session.access_token != failed:
                return self.session
            session, rotated = grant(self.refresh_token)
            self.session, self.refresh_token = session, rotated or self.refresh_token
            return session

    def refused(self, error: TokenRefused) -> None:
        self.last_error = str(error)


class TokenProvider:
    """The session of one Salesforce connection, acquired on first use and renewed on a refusal."""

    def __init__(self, auth: SalesforceAuth, store: SessionStore | None = None,
                 http: requests.Session | None = None) -> None:  # fmt: skip
        self.auth = auth
        self.store: SessionStore = store or MemoryStore(auth.refresh_token)
        self.http = http or _http(auth.ca_file)
        self._session: SalesforceSession | None = None
        self._lock = threading.Lock()
        self.token_requests = 0  # grants posted by this process

    @property
    def cached_session(self) -> SalesforceSession | None:
        """The session this process holds, if it has one (never signs in)."""
        return self._session

    @property
    def can_renew(self) -> bool:
        return self.auth.flow != "token"

    def session(self) -> SalesforceSession:
        with self._lock:
            if self._session is None:
                self._session = self._obtain(None)
            return self._session

    def renew(self, failed: str) -> SalesforceSession:
        """A session other than ``failed`` (the token Salesforce just refused): another thread's or process's
        newer one when there is one, else a new grant."""
        with self._lock:
            if self._session is not None and self._session.access_token != failed:
                return self._session
            if not self.can_renew:
                raise AuthError("the static access token (SALESFORCE_AUTH=token) was refused and cannot be renewed; "
                                "use the jwt, client_credentials or refresh_token flow", code="INVALID_SESSION_ID",
                                service=_SERVICE, status=401)  # fmt: skip
            self._session = self._obtain(failed)
            return self._session

    def _obtain(self, failed: str | None) -> SalesforceSession:
        problems = self.auth.problems()
        if problems:
            raise AuthError(" ".join(problems), code="not_configured", service=_SERVICE)
        if self.auth.flow == "token":
            return SalesforceSession(self.auth.access_token, self.auth.instance_url)
        try:
            return self.store.renew(failed, self._grant)
        except TokenRefused as exc:
            self.store.refused(exc)
            raise

    # -- the grants (POST {login_url}/services/oauth2/token) ------------------------------------------------
    def _grant(self, refresh_token: str) -> tuple[SalesforceSession, str | None]:
        auth = self.auth
        basic = None
        if auth.flow == "jwt":
            form = {"grant_type": JWT_BEARER, "assertion": self.assertion()}
        elif auth.flow == "client_credentials":
            form, basic = {"grant_type": "client_credentials"}, (auth.client_id, auth.client_secret)
        else:
            if not refresh_token:
                raise ConnectionRevoked(f"{REVOKED_MESSAGE} (no refresh token is stored)", code="invalid_grant")
            form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": auth.client_id}
            if auth.client_secret:
                form["client_secret"] = auth.client_secret
        self.token_requests += 1
        try:
            answer = self.http.post(auth.token_url, data=form, auth=basic, timeout=auth.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"the Salesforce token endpoint {auth.token_url} did not answer: {exc}",
                                 service=_SERVICE) from exc  # fmt: skip
        except requests.RequestException as exc:
            raise ConnectorError(f"the Salesforce token request failed: {exc}", service=_SERVICE) from exc
        body = _json(answer)
        if answer.status_code != 200 or "access_token" not in body:
            raise self._refusal(answer.status_code, body)
        instance = str(body.get("instance_url", ""))
        if urlsplit(instance).scheme != "https":
            raise ConnectorError(f"Salesforce answered an instance URL that is not https: {instance!r}",
                                 service=_SERVICE)  # fmt: skip
        session = SalesforceSession(body["access_token"], instance, str(body.get("id", "")), time.time())
        return session, body.get("refresh_token") or None

    def assertion(self) -> str:
        """The signed JWT of the bearer flow."""
        auth = self.auth
        claims = {"iss": auth.client_id, "sub": auth.username, "aud": jwt_audience(auth.login_url),
                  "exp": int(time.time()) + JWT_LIFETIME}  # fmt: skip
        try:
            return jwt.encode(claims, auth.private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise AuthError(f"the JWT signing key is not a usable RSA private key (PEM): {exc}",
                            code="invalid_private_key", service=_SERVICE) from None  # fmt: skip

    def _refusal(self, status: int, body: dict[str, Any]) -> TokenRefused:
        error = str(body.get("error") or f"HTTP {status}")
        description = str(body.get("error_description") or "")
        hint = _HINTS.get(description)
        said = f"{error}: {description}" if description else error
        if self.auth.flow == "refresh_token" and error == "invalid_grant":
            return ConnectionRevoked(f"{REVOKED_MESSAGE} (Salesforce: {said})", code=error, description=description,
                                     status=status)  # fmt: skip
        message = f"Salesforce refused the {FLOW_LABELS[self.auth.flow]} sign-in: {said}"
        return TokenRefused(f"{message} ({hint})" if hint else message, code=error, description=description,
                            status=status)  # fmt: skip


def jwt_audience(login_url: str) -> str:
    """The ``aud`` of a JWT bearer assertion: login.salesforce.com for production and My Domain URLs,
    test.salesforce.com for sandbox orgs (``*.sandbox.my.salesforce.com``), else the login URL itself (the
    local sandbox, or an explicit test.salesforce.com)."""
    base = login_url.rstrip("/")
    host = (urlsplit(base).hostname or "").lower()
    if host.endswith(".sandbox.my.salesforce.com"):
        return "https://test.salesforce.com"
    if host.endswith(".my.salesforce.com"):
        return "https://login.salesforce.com"
    return base


def _json(answer: requests.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {"error": f"HTTP {answer.status_code}", "error_description": answer.text[:200]}
    return body if isinstance(body, dict) else {}


def _http(ca_file: str) -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    if ca_file:
        http.verify = ca_file
    return http


# -- one provider per connection and process ----------------------------------------------------------------
_providers: dict[tuple, TokenProvider] = {}
_providers_lock = threading.Lock()


def provider_for(auth: SalesforceAuth, store_factory: Callable[[], SessionStore] | None = None,
                 key: tuple = ()) -> TokenProvider:  # fmt: skip
    """The process's provider of this connection (same settings and secrets: same cached session). The refresh
    token is not part of the identity: it rotates, and the store keeps the current one."""
    fingerprint = (replace(auth, refresh_token=""), key)
    with _providers_lock:
        provider = _providers.get(fingerprint)
        if provider is None:
            provider = TokenProvider(auth, store_factory() if store_factory else None)
            _providers[fingerprint] = provider
        return provider


@contextmanager
def fresh_providers() -> Iterator[None]:
    """Forget every cached provider (tests that restart the org; a forked process starts clean anyway)."""
    with _providers_lock:
        saved = dict(_providers)
        _providers.clear()
    try:
        yield
    finally:
        with _providers_lock:
            _providers.clear()
            _providers.update(saved)
