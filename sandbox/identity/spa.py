"""The OAuth 2.0 authorization code flow with PKCE for single-page apps, as Microsoft Entra answers it.

A single-page app (the add-in's task pane with msal-browser) is a *public* client: it has a client id and
registered SPA redirect URIs, no secret. The flow:

1. ``GET /{tenant}/oauth2/v2.0/authorize?client_id&redirect_uri&response_type=code&scope&state&nonce
   &code_challenge&code_challenge_method=S256[&response_mode=fragment|query][&prompt][&login_hint]``: the
   request is checked (:func:`check_authorize`); a bad client or redirect URI is an error page, never a
   redirect (AADSTS700016 / AADSTS50011); PKCE is required (AADSTS9002325). The login form posts back.
2. A code (single use, 10 minutes) is bound to the client, redirect URI, PKCE challenge, nonce, scopes, user.
3. ``POST /{tenant}/oauth2/v2.0/token`` ``grant_type=authorization_code`` redeems it with ``code_verifier``;
   SPA redemptions must be cross-origin (an ``Origin`` header, AADSTS9002327) from the origin of a registered
   redirect URI, and the answer carries CORS headers for that origin.
4. ``grant_type=refresh_token`` swaps a refresh token for new tokens; SPA refresh tokens rotate (the old one
   stops working) and live 24 hours (``refresh_token_expires_in``), as Entra's do.
5. ``GET /{tenant}/oauth2/v2.0/logout?post_logout_redirect_uri&state&logout_hint``: ends the session and
   revokes the user's refresh tokens.

Pure bookkeeping here; ``provider.py`` serves the HTTP side and signs the tokens.

Reference: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow and
https://learn.microsoft.com/en-us/entra/identity-platform/reference-third-party-cookies-spas
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sandbox.identity.apps import EntraError

CODE_LIFETIME = 600
SPA_REFRESH_TOKEN_LIFETIME = 24 * 3600
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636 §4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


@dataclass
class SpaClient:
    """A public client with SPA redirect URIs (Entra: Authentication → Single-page application)."""

    client_id: str
    redirect_uris: list[str] = field(default_factory=list)
    # Access (and ID) token lifetime in seconds; tests ask for short ones to see renewal.
    token_lifetime: int = 3600

    def origins(self) -> set[str]:
        return {origin_of(u) for u in self.redirect_uris if urlsplit(u).scheme in {"http", "https"}}


@dataclass
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str
    nonce: str
    code_challenge: str
    response_mode: str
    prompt: str
    login_hint: str


@dataclass
class Grant:
    """What a code or refresh token stands for."""

    client_id: str
    email: str
    scopes: list[str]
    nonce: str = ""
    redirect_uri: str = ""
    code_challenge: str = ""
    expires_at: float = 0.0


class SpaFlows:
    """Codes and refresh tokens in memory (the sandbox forgets them at restart, like a fresh tenant)."""

    def __init__(self) -> None:
        self.clients: dict[str, SpaClient] = {}
        self.codes: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        # Which grants each token request used, oldest first (tests check that renewal happened).
        self.grant_log: list[str] = []

    def register(self, client: SpaClient) -> SpaClient:
        self.clients[client.client_id.lower()] = client
        return client

    def client(self, client_id: str) -> SpaClient | None:
        return self.clients.get((client_id or "").strip().lower())

    def reset(self) -> None:
        self.codes.clear()
        self.refresh_tokens.clear()
        self.grant_log.clear()

    # -- authorize ---------------------------------------------------------------------------------------
    def check_authorize(self, args, tenant: str) -> AuthorizeRequest:
        """The authorize request's parameters; EntraError with ``status`` 400 for errors shown as a page (bad
        client or redirect URI), or ``status`` 302 for errors sent back to the redirect URI."""
        client_id = (args.get("client_id") or "").strip()
        client = self.client(client_id)
        if client is None:
            raise EntraError(
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        redirect_uri = args.get("redirect_uri") or ""
        if redirect_uri not in client.redirect_uris:
            raise EntraError(
                "invalid_request",
                f"AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does not match the "
                f"redirect URIs configured for the application '{client_id}'.",
            )
        if args.get("response_type") != "code":
            raise EntraError(
                "unsupported_response_type", "AADSTS700054: response_type 'code' is the only one enabled.", 302
            )
        response_mode = args.get("response_mode") or "query"
        if response_mode not in {"query", "fragment"}:
            raise EntraError("invalid_request", f"AADSTS900144: unsupported response_mode '{response_mode}'.", 302)
        challenge = args.get("code_challenge") or ""
        if not challenge:
            raise EntraError(
                "invalid_request",
                "AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code "
                "redemption.",
                302,
            )
        if (args.get("code_challenge_method") or "plain") != "S256":
            raise EntraError("invalid_request", "AADSTS501491: code_challenge_method must be S256.", 302)
        scopes = (args.get("scope") or "").split()
        if "openid" not in scopes:
            raise EntraError("invalid_scope", "AADSTS900144: The request must contain the scope 'openid'.", 302)
        return AuthorizeRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=args.get("state") or "",
            nonce=args.get("nonce") or "",
            code_challenge=challenge,
            response_mode=response_mode,
            prompt=args.get("prompt") or "",
            login_hint=args.get("login_hint") or "",
        )

    def issue_code(self, request: AuthorizeRequest, email: str, now: float) -> str:
        code = secrets.token_urlsafe(48)
        self.codes[code] = Grant(
            client_id=request.client_id,
            email=email,
            scopes=request.scopes,
            nonce=request.nonce,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            expires_at=now + CODE_LIFETIME,
        )
        return code

    # -- token -------------------------------------------------------------------------------------------
    def check_origin(self, client: SpaClient, origin: str | None) -> str:
        if not origin:
            raise EntraError(
                "invalid_request",
                "AADSTS9002327: Tokens issued for the 'Single-Page Application' client-type may only be redeemed "
                "via cross-origin requests.",
            )
        if origin.lower() not in client.origins():
            raise EntraError(
                "invalid_request", f"AADSTS9002326: Cross-origin token redemption is not allowed for {origin}."
            )
        return origin

    def redeem_code(self, form, origin: str | None, now: float) -> Grant:
        client = self._client_of(form)
        self.check_origin(client, origin)
        grant = self.codes.pop(form.get("code") or "", None)  # single use, even when the checks below fail
        if grant is None or grant.expires_at < now or grant.client_id.lower() != client.client_id.lower():
            raise EntraError(
                "invalid_grant",
                "AADSTS70008: The provided authorization code or refresh token has expired or was already used.",
            )
        if form.get("redirect_uri") != grant.redirect_uri:
            raise EntraError(
                "invalid_grant",
                "AADSTS500112: The reply address does not match the reply address provided when requesting the "
                "authorization code.",
            )
        verifier = form.get("code_verifier") or ""
        if not verifier or not secrets.compare_digest(pkce_challenge(verifier), grant.code_challenge):
            raise EntraError("invalid_grant", "AADSTS501481: The Code_Verifier does not match the code_challenge.")
        self.grant_log.append("authorization_code")
        return grant

    def redeem_refresh_token(self, form, origin: str | None, now: float) -> Grant:
        client = self._client_of(form)
        self.check_origin(client, origin)
        grant = self.refresh_tokens.pop(form.get("refresh_token") or "", None)  # SPA refresh tokens rotate
        if grant is None or grant.expires_at < now or grant.client_id.lower() != client.client_id.lower():
            raise EntraError(
                "invalid_grant",
                "AADSTS700084: The refresh token was issued to a single page app (SPA), and therefore has a "
                "fixed, limited lifetime, which has expired or was revoked.",
            )
        requested = (form.get("scope") or "").split()
        scopes = requested or grant.scopes
        self.grant_log.append("refresh_token")
        return Grant(client_id=grant.client_id, email=grant.email, scopes=scopes)

    def issue_refresh_token(self, grant: Grant, now: float) -> str:
        token = "sandbox-rt." + secrets.token_urlsafe(48)
        self.refresh_tokens[token] = Grant(
            client_id=grant.client_id,
            email=grant.email,
            scopes=grant.scopes,
            expires_at=now + SPA_REFRESH_TOKEN_LIFETIME,
        )
        return token

    def revoke(self, email: str) -> int:
        """Forget the user's refresh tokens (sign-out); how many there were."""
        gone = [t for t, g in self.refresh_tokens.items() if g.email.lower() == email.lower()]
        for token in gone:
            del self.refresh_tokens[token]
        return len(gone)

    def _client_of(self, form) -> SpaClient:
        client_id = (form.get("client_id") or "").strip()
        client = self.client(client_id)
        if client is None:
            raise EntraError(
                "unauthorized_client", f"AADSTS700016: Application with identifier '{client_id}' was not found."
            )
        return client


def api_scopes(scopes: list[str], audience: str, default_scope: str) -> list[str]:
    """The API scopes among ``scopes`` (``<audience>/<name>``) as short names; EntraError for another resource
    or none. Entra grants one resource per access token."""
    resource_scopes = [s for s in scopes if s not in OIDC_SCOPES]
    if not resource_scopes:
        return [default_scope]
    names = []
    for scope in resource_scopes:
        resource, _, name = scope.rpartition("/")
        if resource.rstrip("/") != audience.rstrip("/") or not name:
            raise EntraError(
                "invalid_scope",
                f"AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for "
                f"the input parameter 'scope' is not valid. The scope {scope} does not exist.",
            )
        names.append(name)
    return names
