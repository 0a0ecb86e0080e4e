"""Who is calling: bearer access tokens from the add-in, checked against the identity provider's JWKS.

The task pane gets an access token for our API through Office SSO / nested app authentication (never the ID
token) and sends it as ``Authorization: Bearer <token>``. We accept it only if it is an RS256 JWT signed by
a key from the configured JWKS, issued by the configured issuer for our audience, currently valid (``exp``,
``nbf``, ``iat`` with a small leeway), carries every claim we read, and grants our API scope in ``scp``.
``preferred_username`` (lower-cased) names the caller, who must have a calsync mailbox.

Production (Microsoft identity platform, v2.0 tokens):
- issuer ``https://login.microsoftonline.com/{tenant-id}/v2.0``
- JWKS ``https://login.microsoftonline.com/{tenant-id}/discovery/v2.0/keys``
- audience: the API's client id (v2.0 tokens) or its application ID URI ``api://<host>/<client-id>``
Locally the sandbox identity provider (``sandbox/identity``) plays that part over HTTPS with its own CA.

Answers follow RFC 6750: no usable credentials -> 401 with ``WWW-Authenticate: Bearer realm="calsync"``; a
bad token -> 401 with ``error="invalid_token"``; a valid token without our scope -> 403 with
``error="insufficient_scope"``; a token for someone without a mailbox -> 403 ``mailbox_not_found``; the JWKS
unreachable -> 503 (never a 500, and never a pass).
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import jwt
from flask import Blueprint, Flask, current_app, g, request
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

from backend.errors import ApiError
from backend.globals import db_session, runtime_of
from calsync.settings import ConfigError, Settings
from sync.mailboxes import find as find_mailbox
from sync.models import Mailbox

log = logging.getLogger(__name__)

EXTENSION = "calsync_auth"
REALM = "calsync"
ALGORITHMS = ["RS256"]
# Claims a token must carry; PyJWT checks they are present, the checks below check their values.
REQUIRED_CLAIMS = ["iss", "aud", "exp", "nbf", "iat", "scp", "preferred_username"]
# Real Entra ID access tokens are 1-3 KB; anything far larger is junk and is refused before parsing.
MAX_TOKEN_LENGTH = 16_384
# RFC 6750 b64token: the only characters a bearer token may contain.
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
# Keep error_description inside RFC 6750's allowed characters (no quotes or backslashes).
_UNSAFE_DESCRIPTION = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")

F = TypeVar("F", bound=Callable[..., Any])


# -- errors -----------------------------------------------------------------------------------------------
def _challenge(**params: str) -> str:
    parts = [f'realm="{REALM}"'] + [f'{k}="{_UNSAFE_DESCRIPTION.sub(" ", v)}"' for k, v in params.items()]
    return "Bearer " + ", ".join(parts)


class MissingToken(ApiError):
    status = 401
    code = "missing_token"

    def __init__(self, message: str = "Sign in: this API needs an access token (Authorization: Bearer ...).") -> None:
        super().__init__(message, headers={"WWW-Authenticate": _challenge()})


class InvalidToken(ApiError):
    status = 401
    code = "invalid_token"

    def __init__(self, message: str) -> None:
        challenge = _challenge(error="invalid_token", error_description=message)
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class InsufficientScope(ApiError):
    status = 403
    code = "insufficient_scope"

    def __init__(self, scope: str) -> None:
        message = f"The access token does not grant the {scope} permission this API needs."
        challenge = _challenge(error="insufficient_scope", error_description=message, scope=scope)
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class AuthUnavailable(ApiError):
    status = 503
    code = "auth_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "30"})


# -- configuration ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuthConfig:
    issuer: str
    audiences: tuple[str, ...]
    jwks_url: str
    scope: str
    ca_file: str = ""
    leeway: int = 60
    timeout: float = 10.0
    jwks_lifespan: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthConfig:
        return cls(
            issuer=settings.auth_issuer.strip(),
            audiences=tuple(a.strip() for a in settings.auth_audience.split(",") if a.strip()),
            jwks_url=settings.auth_jwks_url.strip(),
            scope=settings.auth_scope.strip(),
            ca_file=settings.auth_ca_file.strip(),
            leeway=settings.auth_leeway,
            timeout=settings.http_timeout,
        )

    @property
    def configured(self) -> bool:
        return bool(self.issuer and self.audiences and self.jwks_url and self.scope)

    def check(self, *, production: bool) -> None:
        """ConfigError with a message for people when these settings cannot work."""
        if not self.configured:
            if production:
                raise ConfigError(
                    "CALSYNC_AUTH_ISSUER, CALSYNC_AUTH_AUDIENCE, CALSYNC_AUTH_JWKS_URL and CALSYNC_AUTH_SCOPE must "
                    "be set in production (see `calsync config --docs`)"
                )
            return
        scheme = urlsplit(self.jwks_url).scheme
        if scheme != "https" and (production or scheme != "http"):
            raise ConfigError(f"CALSYNC_AUTH_JWKS_URL must be an https URL, not {self.jwks_url!r}")
        if self.ca_file and not Path(self.ca_file).is_file():
            raise ConfigError(f"CALSYNC_AUTH_CA_FILE: no such file {self.ca_file!r}")
        if self.leeway < 0 or self.leeway > 300:
            raise ConfigError("CALSYNC_AUTH_LEEWAY must be between 0 and 300 seconds")


# -- verification -----------------------------------------------------------------------------------------
class TokenVerifier:
    """Checks access tokens. One per app: its JWKS client caches the key set (``jwks_lifespan``), refetches
    it at most once per cooldown when a token names an unknown key (key rotation), and trusts ``ca_file``.
    """

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        # An explicit context: urllib ignores REQUESTS_CA_BUNDLE, and the sandbox's CA is in no system store.
        context = ssl.create_default_context(cafile=config.ca_file or None)
        self._jwks = jwt.PyJWKClient(
            config.jwks_url,
            cache_jwk_set=True,
            lifespan=config.jwks_lifespan,
            timeout=config.timeout,
            ssl_context=context,
            headers={"User-Agent": "calsync"},
            cooldown_duration=30,
        )

    def _signing_key(self, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("The access token is not a well-formed JWT.") from None
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("The access token must be signed with RS256.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("The access token names no signing key (kid).")
        try:
            return self._jwks.get_signing_key(kid)
        except PyJWKClientConnectionError as exc:
            log.warning("cannot fetch the JWKS from %s: %s", self.config.jwks_url, exc)
            raise AuthUnavailable("The identity provider cannot be reached to check your sign-in; try again.") from None
        except PyJWKSetError as exc:
            log.warning("unusable JWKS at %s: %s", self.config.jwks_url, exc)
            raise AuthUnavailable("The identity provider's signing keys cannot be read; try again later.") from None
        except PyJWKClientError:
            raise InvalidToken("The access token is signed by an unknown key.") from None

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidToken / InsufficientScope / AuthUnavailable."""
        if len(token) > MAX_TOKEN_LENGTH or not _B64TOKEN.match(token) or token.count(".") != 2:
            raise InvalidToken("The access token is not a well-formed JWT.")
        key = self._signing_key(token)
        if key.algorithm_name not in ALGORITHMS:
            raise InvalidToken("The access token's signing key is not an RS256 key.")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=ALGORITHMS,
                audience=list(self.config.audiences),
                issuer=self.config.issuer,
                leeway=self.config.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The access token has expired.") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("The access token is not valid yet.") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("The access token was issued for another audience.") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("The access token was issued by an unexpected issuer.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"The access token lacks the {exc.claim} claim.") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("The access token's signature is invalid.") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("The access token is invalid.") from None
        username = claims.get("preferred_username")
        if not isinstance(username, str) or "@" not in username or len(username) > 320:
            raise InvalidToken("The access token's preferred_username is not an e-mail address.")
        scopes = claims.get("scp")
        if not isinstance(scopes, str) or self.config.scope not in scopes.split():
            raise InsufficientScope(self.config.scope)
        return claims


# -- the caller -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    """The authenticated user of this request and their mailbox (bound to the request's DB session)."""

    email: str
    name: str | None
    mailbox: Mailbox
    claims: Mapping[str, Any]


def current_caller() -> Caller:
    caller = g.get("calsync_caller")
    if caller is None:  # a view that is public, or not behind protect(): a programming error
        raise RuntimeError("current_caller() used outside an authenticated request")
    return caller


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header; MissingToken / InvalidToken otherwise."""
    if not header:
        raise MissingToken()
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise MissingToken("Sign in: this API accepts only bearer access tokens.")
    token = token.strip()
    if not token:
        raise InvalidToken("The Authorization header has no token after Bearer.")
    return token


def authenticate() -> Caller:
    """Check the request's token and find the caller's mailbox; raises an ApiError when that fails."""
    verifier: TokenVerifier | None = current_app.extensions.get(EXTENSION)
    if verifier is None:
        raise AuthUnavailable(
            "Sign-in is not configured on this server (CALSYNC_AUTH_ISSUER, CALSYNC_AUTH_AUDIENCE, "
            "CALSYNC_AUTH_JWKS_URL)."
        )
    try:
        claims = verifier.verify(bearer_token(request.headers.get("Authorization")))
    except ApiError as exc:
        log.info("refused %s %s: %s", request.method, request.path, exc.message)
        raise
    email = claims["preferred_username"].strip().lower()
    mailbox = find_mailbox(db_session(), email)
    if mailbox is None:
        raise ApiError(
            f"{email} has no calsync mailbox yet. Ask your administrator to add it (calsync mailboxes add).",
            status=403,
            code="mailbox_not_found",
        )
    name = claims.get("name")
    caller = Caller(email=email, name=name if isinstance(name, str) else None, mailbox=mailbox, claims=claims)
    g.calsync_caller = caller
    return caller


def public(view: F) -> F:
    """Mark a view of a protected blueprint as open to anyone (health checks, the OpenAPI document)."""
    view._calsync_public = True  # type: ignore[attr-defined]
    return view


def is_public(view: Callable[..., Any] | None) -> bool:
    return bool(getattr(view, "_calsync_public", False))


def protect(blueprint: Blueprint) -> None:
    """Require a valid token on every view of ``blueprint`` except those marked ``@public``."""

    @blueprint.before_request
    def _require_caller() -> None:
        if request.method == "OPTIONS" or is_public(current_app.view_functions.get(request.endpoint or "")):
            return
        authenticate()


def init_app(app: Flask) -> None:
    settings = runtime_of(app).settings
    config = AuthConfig.from_settings(settings)
    config.check(production=settings.environment == "production")
    if config.configured:
        app.extensions[EXTENSION] = TokenVerifier(config)
    else:
        log.warning("add-in sign-in is not configured: API calls other than /health will answer 503")
