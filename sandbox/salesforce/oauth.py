"""OAuth 2.0 web-server flow of the Salesforce sandbox (authorization code, refresh token, revoke, userinfo).

Shaped like https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm:

- ``GET /services/oauth2/authorize?response_type=code&client_id=&redirect_uri=&state=[&login_hint=]
  [&code_challenge=&code_challenge_method=S256]``: a login page listing the seeded users (their e-mail and
  password log in); with ``login_hint`` naming a seeded user it approves at once (a sandbox shortcut).
  Success redirects to ``redirect_uri?code=...&state=...``; a refused request redirects with ``error=``.
- ``POST /services/oauth2/token``: ``grant_type=authorization_code`` (``code``, ``redirect_uri``,
  ``client_id``, ``client_secret`` or HTTP Basic, ``code_verifier`` when PKCE was used) or
  ``grant_type=refresh_token`` (a new refresh token too when rotation is on: the old one is then spent,
  and replaying a spent one revokes the whole chain, as Refresh Token Rotation does), or the
  server-to-server grants of `sandbox.salesforce.grants` (JWT bearer, client credentials). Answers
  ``access_token``, ``refresh_token`` (code grant), ``instance_url``, ``id``, ``token_type``, ``issued_at``,
  ``signature`` (HMAC-SHA256 of id + issued_at with the client secret),
  ``scope``; errors are ``{"error": ..., "error_description": ...}`` with status 400.
- ``POST /services/oauth2/revoke`` (``token``), ``GET /services/oauth2/userinfo`` and the identity URL
  ``GET /id/{org}/{user}``.

Sessions issued here expire after ``session_timeout`` seconds without use (the org's session timeout, on the
sandbox clock); the fixed session ids of the info file never do. ``expire_all`` ends every issued session.

Redirect URIs: the connected app's list plus any http(s) URL on a loopback host (localhost, 127.0.0.1, ::1),
so that a local backend on any port can run the "Connect Salesforce" flow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from sandbox.salesforce.grants import (
    CLIENT_CREDENTIALS,
    DEFAULT_SESSION_TIMEOUT,
    INTEGRATION_USER,
    JWT_BEARER,
    PUBLIC_LOGIN_URLS,
    GrantError,
    JwtKeys,
    check_assertion,
    make_jwt_keys,
)
from sandbox.seed import ORG_ID, REPS, Rep

if TYPE_CHECKING:
    from sandbox.salesforce.service import SalesforceSandbox

CLIENT_ID = "3MVG9calsyncSandboxConsumerKey.0000000000000000000000000000000000000000000"
CLIENT_SECRET = "calsync-sandbox-consumer-secret"
REDIRECT_URIS = (
    "http://localhost:5000/salesforce/oauth/callback",
    "http://127.0.0.1:5000/salesforce/oauth/callback",
)
CODE_LIFETIME = 15 * 60
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
# The integration user as the identity URL describes it (it has no password: it never logs in interactively).
_INTEGRATION_REP = Rep(INTEGRATION_USER.username, INTEGRATION_USER.first_name, INTEGRATION_USER.last_name,
                       INTEGRATION_USER.user_id, "", "UTC", "")  # fmt: skip


def session_id_for(user_id: str) -> str:
    """The fixed session id of a seeded user: stable across restarts, so info files stay valid."""
    digest = hashlib.sha256(f"calsync-sandbox-session:{user_id}".encode()).digest()
    token = base64.b64encode(digest + digest[:12]).decode().rstrip("=").replace("+", "x").replace("/", "y")
    return f"{ORG_ID}!AQ{token}"


@dataclass
class Grant:
    user_id: str
    client_id: str
    redirect_uri: str
    expires: float
    code_challenge: str | None = None


@dataclass
class OAuthState:
    access_tokens: dict[str, str] = field(default_factory=dict)  # token -> user id
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> user id
    refresh_of_access: dict[str, str] = field(default_factory=dict)  # access token -> refresh token
    codes: dict[str, Grant] = field(default_factory=dict)
    last_used: dict[str, float] = field(default_factory=dict)  # issued access token -> sandbox time of last use
    spent_refresh: dict[str, str] = field(default_factory=dict)  # rotated-away refresh token -> its successor

    def dump(self) -> dict[str, Any]:
        return {
            "access_tokens": self.access_tokens,
            "refresh_tokens": self.refresh_tokens,
            "refresh_of_access": self.refresh_of_access,
            "last_used": self.last_used,
            "spent_refresh": self.spent_refresh,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.access_tokens = dict(data.get("access_tokens", {}))
        self.refresh_tokens = dict(data.get("refresh_tokens", {}))
        self.refresh_of_access = dict(data.get("refresh_of_access", {}))
        self.last_used = dict(data.get("last_used", {}))
        self.spent_refresh = dict(data.get("spent_refresh", {}))


def _rep_by_login(login: str) -> Rep | None:
    login = login.strip().lower()
    return next((r for r in REPS if r.email == login), None)


def redirect_allowed(uri: str) -> bool:
    if uri in REDIRECT_URIS:
        return True
    parts = urlsplit(uri)
    return parts.scheme in {"http", "https"} and parts.hostname in _LOOPBACK and not parts.fragment


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json;charset=UTF-8")


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return _json({"error": error, "error_description": description}, status)


class OAuth:
    def __init__(
        self,
        sandbox: SalesforceSandbox,
        *,
        jwt_keys: JwtKeys | None = None,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        rotate_refresh_tokens: bool = False,
    ) -> None:
        self.sandbox = sandbox
        self.state = OAuthState()
        self.jwt_keys = jwt_keys or make_jwt_keys(None)
        self.session_timeout = session_timeout
        self.rotate_refresh_tokens = rotate_refresh_tokens

    # -- tokens used by the REST API --------------------------------------------------------------------
    def user_for_token(self, token: str) -> str | None:
        user_id = self.state.access_tokens.get(token)
        if user_id is None or token not in self.state.last_used:
            return user_id  # unknown, or a fixed session of the info file (never times out)
        now = self.sandbox.now().timestamp()
        if now - self.state.last_used[token] > self.session_timeout:
            self.expire(token)
            return None
        self.state.last_used[token] = now  # the timeout counts from the last use, as in an org
        return user_id

    def expire_all(self) -> int:
        """End every session the token endpoint issued (the info file's fixed sessions stay)."""
        issued = list(self.state.last_used)
        for token in issued:
            self.expire(token)
        return len(issued)

    def settings(self) -> dict[str, Any]:
        return {"timeout_seconds": self.session_timeout, "rotate_refresh_tokens": self.rotate_refresh_tokens,
                "active": len(self.state.last_used)}  # fmt: skip

    def configure(self, body: dict[str, Any]) -> None:
        if "timeout_seconds" in body:
            timeout = float(body["timeout_seconds"])
            if timeout <= 0:
                raise ValueError("timeout_seconds must be positive")
            self.session_timeout = timeout
        if "rotate_refresh_tokens" in body:
            if not isinstance(body["rotate_refresh_tokens"], bool):
                raise ValueError("rotate_refresh_tokens must be true or false")
            self.rotate_refresh_tokens = body["rotate_refresh_tokens"]

    def add_fixed_sessions(self) -> None:
        for rep in REPS:
            self.state.access_tokens.setdefault(session_id_for(rep.salesforce_user_id), rep.salesforce_user_id)

    def expire(self, token: str) -> bool:
        self.state.last_used.pop(token, None)
        return self.state.access_tokens.pop(token, None) is not None

    def _issue(self, user_id: str, base_url: str, refresh: str | None, *, with_refresh: bool = True) -> dict[str, Any]:
        access = f"{ORG_ID}!AR{secrets.token_urlsafe(72)}"
        self.state.access_tokens[access] = user_id
        self.state.last_used[access] = self.sandbox.now().timestamp()
        issued_at = str(int(time.time() * 1000))
        identity = f"{base_url}/id/{ORG_ID}/{user_id}"
        signature = base64.b64encode(
            hmac.new(CLIENT_SECRET.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        body: dict[str, Any] = {
            "access_token": access,
            "signature": signature,
            "scope": "refresh_token api",
            "instance_url": base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
        if not with_refresh:  # server-to-server grants: no refresh token
            body["scope"] = "api"
            return body
        if refresh is None:
            refresh = f"5Aep{secrets.token_urlsafe(64)}"
            self.state.refresh_tokens[refresh] = user_id
            body["refresh_token"] = refresh
        self.state.refresh_of_access[access] = refresh
        return body

    def _refresh(self, refresh: str, base_url: str) -> dict[str, Any]:
        user_id = self.state.refresh_tokens.get(refresh)
        if user_id is None:
            if refresh in self.state.spent_refresh:
                self._revoke_chain(refresh)  # a rotated token replayed: the whole chain is revoked
            raise GrantError("invalid_grant", "expired access/refresh token")
        if not self.rotate_refresh_tokens:
            return self._issue(user_id, base_url, refresh)
        del self.state.refresh_tokens[refresh]
        body = self._issue(user_id, base_url, None)
        self.state.spent_refresh[refresh] = body["refresh_token"]
        return body

    def _revoke_chain(self, refresh: str) -> None:
        token: str | None = refresh
        while token is not None:
            self._revoke_refresh(token)
            token = self.state.spent_refresh.get(token)

    def _revoke_refresh(self, token: str) -> None:
        self.state.refresh_tokens.pop(token, None)
        for access, of in list(self.state.refresh_of_access.items()):
            if of == token:
                self.expire(access)
                del self.state.refresh_of_access[access]

    def _users(self) -> dict[str, str]:
        users = {rep.email: rep.salesforce_user_id for rep in REPS}
        users[INTEGRATION_USER.username] = INTEGRATION_USER.user_id
        return users

    def _server_grant(self, request: Request, grant_type: str, client_id: str, client_secret: str | None,
                      base_url: str) -> dict[str, Any]:  # fmt: skip
        """JWT bearer or client credentials: a session without a refresh token (`GrantError` when refused)."""
        if grant_type == JWT_BEARER:
            user_id = check_assertion(
                request.form.get("assertion", ""), certificate_pem=self.jwt_keys.certificate_pem,
                client_ids={CLIENT_ID}, audiences={base_url, *PUBLIC_LOGIN_URLS}, users=self._users(),
                now=self.sandbox.now(),
            )  # fmt: skip
            return self._issue(user_id, base_url, None, with_refresh=False)
        if client_id != CLIENT_ID:
            raise GrantError("invalid_client_id", "client identifier invalid")
        if client_secret is None or not hmac.compare_digest(client_secret, CLIENT_SECRET):
            raise GrantError("invalid_client", "invalid client credentials")
        return self._issue(INTEGRATION_USER.user_id, base_url, None, with_refresh=False)

    # -- HTTP ------------------------------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response:
        params = request.values
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if client_id != CLIENT_ID:
            return _page("Error", "<p>error=invalid_client_id: client identifier invalid</p>", 400)
        if not redirect_allowed(redirect_uri):
            return _page("Error", "<p>error=redirect_uri_mismatch: redirect_uri must match configuration</p>", 400)
        state = params.get("state")

        def back(**query: str) -> Response:
            if state is not None:
                query["state"] = state
            separator = "&" if urlsplit(redirect_uri).query else "?"
            return Response(status=302, headers={"Location": f"{redirect_uri}{separator}{urlencode(query)}"})

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="response type not supported")
        challenge = params.get("code_challenge")
        if challenge and params.get("code_challenge_method", "S256") != "S256":
            return back(error="invalid_request", error_description="code_challenge_method must be S256")
        if params.get("deny"):
            return back(error="access_denied", error_description="end-user denied authorization")
        rep: Rep | None = None
        message = ""
        if request.method == "POST":
            rep = _rep_by_login(params.get("username", ""))
            if rep is None or params.get("password") != rep.password:
                rep = None
                message = "Please check your username and password."
        elif params.get("login_hint"):
            rep = _rep_by_login(params["login_hint"])
        if rep is None:
            return self._login_page(request, message)
        code = f"aPrx{secrets.token_urlsafe(48)}"
        with self.sandbox.lock:
            self.state.codes[code] = Grant(
                rep.salesforce_user_id, client_id, redirect_uri, time.time() + CODE_LIFETIME, challenge
            )
        return back(code=code)

    def _login_page(self, request: Request, message: str) -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in request.values.items()
            if k not in {"username", "password"}
        )
        users = "".join(
            f"<li>{html.escape(r.name)}: <code>{html.escape(r.email)}</code> / "
            f"<code>{html.escape(r.password)}</code></li>"
            for r in REPS
        )
        error = f'<p class="error">{html.escape(message)}</p>' if message else ""
        body = (
            f"{error}<form method='post'>{hidden}"
            "<label>Username <input name='username' autocomplete='username'></label> "
            "<label>Password <input name='password' type='password'></label> "
            "<button type='submit'>Log In</button> <button type='submit' name='deny' value='1'>Deny</button>"
            f"</form><p>Sandbox users (username / password):</p><ul>{users}</ul>"
        )
        return _page("Log in to the calsync Salesforce sandbox", body, 200)

    def token(self, request: Request) -> Response:
        form = request.form
        client_id = form.get("client_id", "")
        client_secret = form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username or client_id
            client_secret = request.authorization.password
        grant_type = form.get("grant_type", "")
        base_url = request.host_url.rstrip("/")
        if grant_type in {JWT_BEARER, CLIENT_CREDENTIALS}:
            with self.sandbox.lock:
                try:
                    body = self._server_grant(request, grant_type, client_id, client_secret, base_url)
                except GrantError as exc:
                    return _oauth_error(exc.error, exc.description)
                self.sandbox.save()
            return _json(body)
        if grant_type not in {"authorization_code", "refresh_token"}:
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        if client_id != CLIENT_ID:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if client_secret is not None and client_secret != CLIENT_SECRET:
            return _oauth_error("invalid_client", "invalid client credentials")
        with self.sandbox.lock:
            if grant_type == "authorization_code":
                grant = self.state.codes.pop(form.get("code", ""), None)
                if grant is None:
                    return _oauth_error("invalid_grant", "invalid authorization code")
                if grant.expires < time.time():
                    return _oauth_error("invalid_grant", "expired authorization code")
                if form.get("redirect_uri") != grant.redirect_uri:
                    return _oauth_error("invalid_grant", "redirect_uri must match configuration")
                if grant.code_challenge is not None:
                    verifier = form.get("code_verifier", "")
                    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                    if not hmac.compare_digest(digest, grant.code_challenge):
                        return _oauth_error("invalid_grant", "invalid code verifier")
                elif client_secret is None:
                    return _oauth_error("invalid_client", "invalid client credentials")
                body = self._issue(grant.user_id, base_url, None)
            else:
                try:
                    body = self._refresh(form.get("refresh_token", ""), base_url)
                except GrantError as exc:
                    self.sandbox.save()
                    return _oauth_error(exc.error, exc.description)
            self.sandbox.save()
        return _json(body)

    def revoke(self, request: Request) -> Response:
        token = request.values.get("token", "")
        with self.sandbox.lock:
            if token in self.state.refresh_tokens:
                self._revoke_refresh(token)
            elif token in self.state.access_tokens:
                self.expire(token)
                self.state.refresh_of_access.pop(token, None)
            else:
                return _oauth_error("unsupported_token_type", "this token type is not supported")
            self.sandbox.save()
        return Response(status=200)

    def userinfo(self, request: Request, user_id: str | None = None) -> Response:
        if user_id is None:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            user_id = self.user_for_token(token.strip()) if scheme.lower() in {"bearer", "oauth"} else None
            if user_id is None:
                return Response("Bad_OAuth_Token", status=403, content_type="text/plain")
        rep = next((r for r in (*REPS, _INTEGRATION_REP) if r.salesforce_user_id == user_id), None)
        if rep is None:
            return Response("Bad_id", status=404, content_type="text/plain")
        base_url = request.host_url.rstrip("/")
        return _json(
            {
                "sub": f"{base_url}/id/{ORG_ID}/{user_id}",
                "user_id": user_id,
                "organization_id": ORG_ID,
                "preferred_username": rep.email,
                "nickname": rep.first_name.lower(),
                "name": rep.name,
                "email": rep.email,
                "email_verified": True,
                "given_name": rep.first_name,
                "family_name": rep.last_name,
                "zoneinfo": rep.timezone,
                "active": True,
                "user_type": "STANDARD",
                "language": "en_US",
                "locale": "en_US",
                "urls": {
                    "rest": f"{base_url}/services/data/v{{version}}/",
                    "sobjects": f"{base_url}/services/data/v{{version}}/sobjects/",
                    "query": f"{base_url}/services/data/v{{version}}/query/",
                },
            }
        )


def _page(title: str, body: str, status: int) -> Response:
    document = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(document, status=status, content_type="text/html; charset=utf-8")
