"""OpenID configuration, JWKS and a token endpoint, shaped like the Microsoft identity platform (v2.0).

Tokens carry the claims our backend reads from Office SSO / nested-app-auth access tokens: ``iss``, ``aud``,
``tid``, ``oid``, ``preferred_username``, ``name``, ``scp``, ``iat``, ``nbf``, ``exp`` and ``ver``.

Endpoints (``{base}`` is the server's URL, ``{tenant}`` the sandbox tenant id):
- ``GET  /{tenant}/v2.0/.well-known/openid-configuration``
- ``GET  /{tenant}/discovery/v2.0/keys`` (JWKS)
- ``POST /{tenant}/oauth2/v2.0/token``: ``grant_type=password`` (a seeded rep's e-mail and password), or
  ``grant_type=client_credentials`` for a registered app (``sandbox/identity/apps.py``: client secret or
  certificate assertion, ``scope=https://graph.microsoft.com/.default``) answering
  ``{token_type, expires_in, ext_expires_in, access_token}``; errors are OAuth JSON as Entra answers them
  (``invalid_client``, ``unauthorized_client``, ``invalid_scope``, ... with the AADSTS code in
  ``error_description``).
- App tokens (for Microsoft Graph): ``aud`` ``https://graph.microsoft.com``, ``iss``
  ``https://sts.windows.net/{tenant}/``, ``tid``, ``appid``/``azp`` (client id), ``oid`` (service principal),
  ``idtyp`` ``app``, ``roles`` (the app's consented application roles), ``ver`` ``1.0``, ``exp``.
- Tenants: the sandbox tenant plus the tenant of every registered app each have their OpenID configuration
  and token endpoint; any other tenant answers ``invalid_tenant`` (AADSTS90002).
- Single-page apps (``sandbox/identity/spa.py``): ``GET|POST /{tenant}/oauth2/v2.0/authorize`` (the
  authorization code flow with PKCE and a login form for the seeded reps), ``grant_type=authorization_code``
  and ``grant_type=refresh_token`` at the token endpoint (CORS for the origins of registered SPA redirect
  URIs), ``GET /{tenant}/oauth2/v2.0/logout``. Answers carry an access token for our API, an ID token
  (``nonce``, ``aud`` = the client id), ``client_info`` (base64url ``{"uid": oid, "utid": tid}``) and a rotating
  refresh token, so msal-browser works against it with ``knownAuthorities`` (see ``msal_config()``). The
  add-in's client (``ADDIN_CLIENT_ID``) is registered from the start, with the ``brk-multihub://localhost``
  redirect URI nested app authentication uses and no browser redirect URI until one is added.
- ``POST /__sandbox__/spa-clients``: register (or replace) an SPA client ``{"client_id", "redirect_uris",
  "token_lifetime"}``; ``GET /__sandbox__/spa-grants`` lists the grant types token requests used.
- ``POST /__sandbox__/token``: tests mint tokens with any claims (expired, wrong audience, unknown user).
- ``POST /__sandbox__/apps``: register (or replace) an app: ``{"client_id", "tenant_id", "secret",
  "certificate_pem", "roles", "token_lifetime"}``; ``GET /__sandbox__/apps`` lists them (no secrets).
- ``PUT /__sandbox__/clock`` ``{"offset_seconds": N}``: move the provider's clock (token ``iat``/``exp`` and
  assertion time checks); ``GET`` reads it.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, redirect, render_template_string, request
from jwt.algorithms import RSAAlgorithm

from sandbox.identity.apps import AppRegistration, Certificate, EntraError, authenticate, check_scope
from sandbox.identity.spa import OIDC_SCOPES, AuthorizeRequest, Grant, SpaClient, SpaFlows, api_scopes
from sandbox.seed import REPS, rep_by_email

TENANT_ID = "72f988bf-0000-4000-8000-00000000ca15"
DEFAULT_AUDIENCE = "api://localhost/7c1d7a52-0000-4000-8000-00000000c0de"
DEFAULT_SCOPE = "access_as_user"
# The add-in's own client id (the `azp` of its tokens).
ADDIN_CLIENT_ID = "7c1d7a52-0000-4000-8000-00000000c0de"
# Nested app authentication's redirect URI for the add-in's SPA registration (brk-multihub://<add-in domain>).
NAA_REDIRECT_URI = "brk-multihub://localhost"
SESSION_COOKIE = "sandbox_idp_session"
# Request headers msal-browser may send cross-origin to the token endpoint.
CORS_HEADERS = (
    "Content-Type, client-request-id, return-client-request-id, x-client-sku, x-client-ver, x-client-os, "
    "x-client-cpu, x-ms-lib-capability, x-client-current-telemetry, x-client-last-telemetry"
)

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title>
<style>body{font-family:sans-serif;max-width:22rem;margin:3rem auto}label,input,button{display:block;width:100%;
margin:.3rem 0}input{padding:.4rem}button{padding:.5rem;margin-top:1rem}.error{color:#a4262c}</style></head>
<body><h1>Sign in</h1><p>{{ client_name }} wants to sign you in (calsync sandbox identity provider).</p>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="">
{% for name, value in params.items() %}<input type="hidden" name="{{ name }}" value="{{ value }}">{% endfor %}
<label for="username">Email</label><input id="username" name="username" type="email" autocomplete="username"
value="{{ login_hint }}" required>
<label for="password">Password</label><input id="password" name="password" type="password"
autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
<p>Sandbox users: {{ users }}</p></body></html>"""

MESSAGE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1><p role="alert">{{ message }}</p></body></html>"""


def _oauth_error(code: str, description: str, status: int = 400):
    response = jsonify({"error": code, "error_description": description})
    response.status_code = status
    return response


class IdentityProvider:
    """The sandbox identity provider. ``wsgi_app`` serves it; ``info(base_url)`` describes it."""

    def __init__(self, *, key_file: Path | None = None, audience: str = DEFAULT_AUDIENCE) -> None:
        self.audience = audience
        self.apps: dict[str, AppRegistration] = {}
        self.spa = SpaFlows()
        self.spa.register(SpaClient(ADDIN_CLIENT_ID, [NAA_REDIRECT_URI]))
        self.sessions: dict[str, str] = {}  # browser session cookie -> e-mail (prompt=none, sign-out)
        self.clock_offset = 0.0  # seconds added to the wall clock (tests of token expiry)
        self._key = self._load_or_make_key(key_file)
        self.kid = "calsync-sandbox-" + uuid.uuid5(uuid.NAMESPACE_URL, self._public_pem()).hex[:12]
        self.base_url = ""  # set by info(); tokens need to know their issuer
        self.wsgi_app = self._make_app()

    # -- keys -------------------------------------------------------------------------------------------
    @staticmethod
    def _load_or_make_key(key_file: Path | None) -> rsa.RSAPrivateKey:
        if key_file is not None and key_file.exists():
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            return key
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if key_file is not None:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            key_file.chmod(0o600)
        return key

    def _public_pem(self) -> str:
        return (
            self._key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    # -- clock and apps ---------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset

    def register_app(self, app: AppRegistration) -> AppRegistration:
        self.apps[app.client_id.lower()] = app
        return app

    def tenants(self) -> set[str]:
        return {TENANT_ID} | {a.tenant_id.lower() for a in self.apps.values()}

    def app_token_issuer(self, tenant_id: str) -> str:
        return f"https://sts.windows.net/{tenant_id}/"

    def issue_app_token(self, app: AppRegistration, resource: str, *, lifetime: int | None = None) -> str:
        now = self.now()
        lifetime = app.token_lifetime if lifetime is None else lifetime
        claims = {
            "aud": resource,
            "iss": self.app_token_issuer(app.tenant_id),
            "iat": int(now),
            "nbf": int(now) - 300,
            "exp": int(now) + lifetime,
            "aio": uuid.uuid4().hex,
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": "2" if app.certificates else "1",
            "azp": app.client_id,
            "idp": self.app_token_issuer(app.tenant_id),
            "idtyp": "app",
            "oid": app.object_id,
            "roles": list(app.roles),
            "sub": app.object_id,
            "tid": app.tenant_id,
            "uti": uuid.uuid4().hex[:22],
            "ver": "1.0",
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})

    def verify_app_token(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of an app token this provider issued for ``audience``; raises ``jwt.PyJWTError``. Times
        (``nbf``, ``iat``) are checked against this provider's clock, which tests may move: a token issued
        after a clock move is not "immature" to the wall clock's eyes; the caller checks ``exp`` the same way."""
        claims = jwt.decode(
            token,
            self._key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            options={"require": ["exp", "tid", "appid"], "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
        if float(claims.get("nbf", 0)) > self.now() + 300:  # Entra's 5 minutes of clock skew
            raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
        return claims

    def _client_credentials(self, tenant: str, form) -> dict[str, Any]:
        client_id = (form.get("client_id") or "").strip()
        if not client_id:
            raise EntraError(
                "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'client_id'."
            )
        app = self.apps.get(client_id.lower())
        if app is None or app.tenant_id.lower() != tenant.lower():
            raise EntraError(
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can happen if the application has not been installed by the administrator of "
                f"the tenant or consented to by any user in the tenant.",
            )
        authenticate(app, form, f"{self.base_url}/{tenant}/oauth2/v2.0/token", self.now())
        resource = check_scope(form.get("scope", ""))
        return {
            "token_type": "Bearer",
            "expires_in": app.token_lifetime,
            "ext_expires_in": app.token_lifetime,
            "access_token": self.issue_app_token(app, resource),
        }

    # -- tokens -----------------------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{TENANT_ID}/v2.0"

    def issue_token(
        self,
        email: str,
        *,
        audience: str | None = None,
        scope: str = DEFAULT_SCOPE,
        lifetime: int = 3600,
        now: float | None = None,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """An access token for a seeded rep (or any e-mail, for tests of unknown users)."""
        now = self.now() if now is None else now
        rep = rep_by_email(email)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience or self.audience,
            "tid": TENANT_ID,
            "oid": rep.object_id if rep else str(uuid.uuid5(uuid.NAMESPACE_DNS, email.lower())),
            "sub": uuid.uuid5(uuid.NAMESPACE_OID, email.lower()).hex,
            "preferred_username": rep.email if rep else email,
            "name": rep.name if rep else email,
            "scp": scope,
            "azp": ADDIN_CLIENT_ID,
            "ver": "2.0",
            "iat": int(now),
            "nbf": int(now) - 60,
            "exp": int(now) + lifetime,
        }
        claims.update(extra_claims or {})
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def issue_id_token(self, email: str, client_id: str, *, nonce: str, lifetime: int = 3600) -> str:
        """An ID token for a client (``aud`` = its client id), as the v2.0 endpoint issues it."""
        now = self.now()
        rep = rep_by_email(email)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client_id,
            "tid": TENANT_ID,
            "oid": rep.object_id if rep else str(uuid.uuid5(uuid.NAMESPACE_DNS, email.lower())),
            "sub": uuid.uuid5(uuid.NAMESPACE_OID, f"{client_id}:{email.lower()}").hex,
            "preferred_username": rep.email if rep else email,
            "name": rep.name if rep else email,
            "ver": "2.0",
            "iat": int(now),
            "nbf": int(now) - 60,
            "exp": int(now) + lifetime,
        }
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def _spa_tokens(self, grant: Grant, *, nonce: str = "") -> dict[str, Any]:
        """The token answer for an SPA grant: access token for our API, ID token, client_info, refresh token."""
        client = self.spa.client(grant.client_id)
        assert client is not None
        names = api_scopes(grant.scopes, self.audience, DEFAULT_SCOPE)
        rep = rep_by_email(grant.email)
        oid = rep.object_id if rep else str(uuid.uuid5(uuid.NAMESPACE_DNS, grant.email.lower()))
        client_info = json.dumps({"uid": oid, "utid": TENANT_ID}, separators=(",", ":")).encode()
        lifetime = client.token_lifetime
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(f"{self.audience}/{n}" for n in names)
            + "".join(f" {s}" for s in grant.scopes if s in OIDC_SCOPES),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self.issue_token(
                grant.email,
                scope=" ".join(names),
                lifetime=lifetime,
                extra_claims={"azp": client.client_id, "uti": secrets.token_urlsafe(16)},
            ),
            "client_info": base64.urlsafe_b64encode(client_info).rstrip(b"=").decode(),
        }
        if "openid" in grant.scopes:
            answer["id_token"] = self.issue_id_token(grant.email, client.client_id, nonce=nonce, lifetime=lifetime)
        if "offline_access" in grant.scopes:
            answer["refresh_token"] = self.spa.issue_refresh_token(grant, self.now())
            answer["refresh_token_expires_in"] = 24 * 3600
        return answer

    def msal_config(self, client_id: str = ADDIN_CLIENT_ID) -> dict[str, Any]:
        """The msal-browser ``auth`` options that reach this provider (a non-Microsoft host)."""
        host = self.base_url.split("://", 1)[-1]
        return {"clientId": client_id, "authority": f"{self.base_url}/{TENANT_ID}", "knownAuthorities": [host]}

    # -- HTTP -------------------------------------------------------------------------------------------
    def _make_app(self) -> Flask:
        app = Flask("sandbox.identity")

        @app.before_request
        def _learn_base_url() -> None:
            if not self.base_url:
                self.base_url = request.host_url.rstrip("/")

        def unknown_tenant(tenant_id: str):
            if tenant_id.lower() in self.tenants():
                return None
            return _oauth_error(
                "invalid_tenant",
                f"AADSTS90002: Tenant '{tenant_id}' not found. Check to make sure you have the correct tenant ID and "
                f"are signing in to the correct cloud.",
            )

        @app.after_request
        def _cors(response: Response) -> Response:
            # Discovery and keys are public (Entra answers them with "*"); the token endpoint allows the origins
            # of registered SPA redirect URIs only (set by the view).
            if request.path.endswith(("/openid-configuration", "/keys")):
                response.headers.setdefault("Access-Control-Allow-Origin", "*")
            return response

        def spa_cors(response: Response, origin: str | None) -> Response:
            if origin and any(origin.lower() in c.origins() for c in self.spa.clients.values()):
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Vary"] = "Origin"
                response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
                response.headers["Access-Control-Max-Age"] = "600"
            return response

        def message_page(title: str, message: str, status: int = 400) -> Response:
            return Response(render_template_string(MESSAGE_PAGE, title=title, message=message), status=status)

        def back_to_client(req: AuthorizeRequest, params: dict[str, str]) -> Response:
            if req.state:
                params = {**params, "state": req.state}
            separator = "#" if req.response_mode == "fragment" else ("&" if "?" in req.redirect_uri else "?")
            return redirect(req.redirect_uri + separator + urlencode(params), code=302)

        def login_page(req: AuthorizeRequest, error: str = "", status: int = 200) -> Response:
            params = {k: v for k, v in request.values.items() if k not in {"username", "password"}}
            html = render_template_string(
                LOGIN_PAGE,
                client_name="calsync" if req.client_id.lower() == ADDIN_CLIENT_ID else req.client_id,
                error=error,
                params=params,
                login_hint=request.form.get("username") or req.login_hint,
                users=", ".join(r.email for r in REPS[:3]) + ", ...",
            )
            return Response(html, status=status)

        def signed_in(req: AuthorizeRequest, email: str) -> Response:
            code = self.spa.issue_code(req, email, self.now())
            rep = rep_by_email(email)
            oid = rep.object_id if rep else ""
            client_info = json.dumps({"uid": oid, "utid": TENANT_ID}, separators=(",", ":")).encode()
            response = back_to_client(
                req, {"code": code, "client_info": base64.urlsafe_b64encode(client_info).rstrip(b"=").decode()}
            )
            cookie = secrets.token_urlsafe(24)
            self.sessions[cookie] = email
            response.set_cookie(SESSION_COOKIE, cookie, httponly=True, secure=True, samesite="None")
            return response

        @app.route("/<tenant_id>/oauth2/v2.0/authorize", methods=["GET", "POST"])
        def authorize(tenant_id: str):
            if tenant_id.lower() != TENANT_ID:
                return message_page("Sign-in failed", f"AADSTS90002: Tenant '{tenant_id}' not found.")
            try:
                req = self.spa.check_authorize(request.values, tenant_id)
            except EntraError as e:
                if e.status != 302:  # the redirect URI cannot be trusted: show the error, never redirect
                    return message_page("Sign-in failed", e.description)
                redirect_uri = request.values.get("redirect_uri", "")
                mode = request.values.get("response_mode") or "query"
                bare = AuthorizeRequest("", redirect_uri, [], request.values.get("state", ""), "", "", mode, "", "")
                return back_to_client(bare, {"error": e.error, "error_description": e.description})
            session_user = self.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
            if request.method == "GET":
                if req.prompt == "none":
                    if session_user is None:
                        return back_to_client(
                            req,
                            {
                                "error": "login_required",
                                "error_description": "AADSTS50058: A silent sign-in "
                                "request was sent but no user is signed in.",
                            },
                        )
                    return signed_in(req, session_user)
                if session_user and req.prompt not in {"login", "select_account"}:
                    return signed_in(req, session_user)
                return login_page(req)
            rep = rep_by_email(request.form.get("username", ""))
            if rep is None or not secrets.compare_digest(request.form.get("password", ""), rep.password):
                return login_page(req, "Your account or password is incorrect. (AADSTS50126)", status=200)
            return signed_in(req, rep.email)

        @app.get("/<tenant_id>/oauth2/v2.0/logout")
        def logout(tenant_id: str):
            cookie = request.cookies.get(SESSION_COOKIE, "")
            email = self.sessions.pop(cookie, None) or request.args.get("logout_hint", "")
            if email:
                self.spa.revoke(email)
            target = request.args.get("post_logout_redirect_uri", "")
            registered = any(target in c.redirect_uris for c in self.spa.clients.values())
            if target and registered:
                state = request.args.get("state")
                separator = "&" if "?" in target else "?"
                response = redirect(target + (separator + urlencode({"state": state}) if state else ""), code=302)
            else:
                response = message_page("Signed out", "You have signed out of your account.", 200)
            response.delete_cookie(SESSION_COOKIE)
            return response

        @app.route("/<tenant_id>/oauth2/v2.0/token", methods=["OPTIONS"])
        def token_preflight(tenant_id: str):
            return spa_cors(Response(status=204), request.headers.get("Origin"))

        @app.get("/<tenant_id>/v2.0/.well-known/openid-configuration")
        def openid_configuration(tenant_id: str):
            if (error := unknown_tenant(tenant_id)) is not None:
                return error
            tenant = f"/{tenant_id}"
            return jsonify(
                {
                    "issuer": f"{self.base_url}{tenant}/v2.0",
                    "jwks_uri": f"{self.base_url}{tenant}/discovery/v2.0/keys",
                    "token_endpoint": f"{self.base_url}{tenant}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{self.base_url}{tenant}/oauth2/v2.0/authorize",
                    "end_session_endpoint": f"{self.base_url}{tenant}/oauth2/v2.0/logout",
                    "code_challenge_methods_supported": ["S256"],
                    "grant_types_supported": [
                        "authorization_code",
                        "refresh_token",
                        "client_credentials",
                        "password",
                    ],
                    "response_types_supported": ["code", "id_token", "token"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "none"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access", DEFAULT_SCOPE],
                    "claims_supported": ["iss", "aud", "tid", "oid", "preferred_username", "name", "scp"],
                    "tenant_region_scope": "EU",
                }
            )

        @app.get("/<tenant_id>/discovery/v2.0/keys")
        def keys(tenant_id: str):
            if (error := unknown_tenant(tenant_id)) is not None:
                return error
            return jsonify(self.jwks())

        @app.post("/<tenant_id>/oauth2/v2.0/token")
        def token(tenant_id: str):
            if (error := unknown_tenant(tenant_id)) is not None:
                return error
            form = request.form
            grant = form.get("grant_type", "")
            if grant == "client_credentials":
                try:
                    return jsonify(self._client_credentials(tenant_id, form))
                except EntraError as e:
                    return _oauth_error(e.error, e.description, e.status)
            if grant in {"authorization_code", "refresh_token"}:
                origin = request.headers.get("Origin")
                if tenant_id.lower() != TENANT_ID:
                    return spa_cors(unknown_tenant(""), origin)
                try:
                    if grant == "authorization_code":
                        code_grant = self.spa.redeem_code(form, origin, self.now())
                        answer = self._spa_tokens(code_grant, nonce=code_grant.nonce)
                    else:
                        answer = self._spa_tokens(self.spa.redeem_refresh_token(form, origin, self.now()))
                except EntraError as e:
                    return spa_cors(_oauth_error(e.error, e.description, e.status), origin)
                return spa_cors(jsonify(answer), origin)
            if grant != "password":
                return _oauth_error(
                    "unsupported_grant_type",
                    "AADSTS70003: The sandbox grants authorization_code, refresh_token, password and "
                    "client_credentials only.",
                )
            if tenant_id.lower() != TENANT_ID:
                return unknown_tenant("")
            rep = rep_by_email(form.get("username", ""))
            if rep is None or form.get("password") != rep.password:
                return _oauth_error(
                    "invalid_grant",
                    "AADSTS50126: Error validating credentials due to invalid username or password.",
                )
            scope = (
                " ".join(
                    s.rsplit("/", 1)[-1]
                    for s in form.get("scope", DEFAULT_SCOPE).split()
                    if s not in {"openid", "profile", "offline_access", "email"}
                )
                or DEFAULT_SCOPE
            )
            lifetime = 3600
            return jsonify(
                {
                    "token_type": "Bearer",
                    "scope": scope,
                    "expires_in": lifetime,
                    "ext_expires_in": lifetime,
                    "access_token": self.issue_token(rep.email, scope=scope, lifetime=lifetime),
                }
            )

        @app.post("/__sandbox__/token")
        def mint():
            body = request.get_json(silent=True) or {}
            email = body.get("username") or body.get("email")
            if not isinstance(email, str) or not email:
                return _oauth_error("invalid_request", "username is required")
            token = self.issue_token(
                email,
                audience=body.get("audience"),
                scope=body.get("scope", DEFAULT_SCOPE),
                lifetime=int(body.get("lifetime", 3600)),
                extra_claims=body.get("claims") or {},
            )
            return jsonify({"access_token": token, "token_type": "Bearer"})

        @app.route("/__sandbox__/apps", methods=["GET", "POST"])
        def apps():
            if request.method == "GET":
                return jsonify(
                    [
                        {
                            "client_id": a.client_id,
                            "tenant_id": a.tenant_id,
                            "roles": a.roles,
                            "token_lifetime": a.token_lifetime,
                            "certificates": [c.x5t for c in a.certificates],
                        }
                        for a in self.apps.values()
                    ]
                )
            body = request.get_json(silent=True) or {}
            client_id = body.get("client_id")
            if not isinstance(client_id, str) or not client_id:
                return _oauth_error("invalid_request", "client_id is required")
            try:
                certs = [Certificate(body["certificate_pem"].encode())] if body.get("certificate_pem") else []
                if certs:
                    certs[0].cert  # noqa: B018 - parse now, so a bad PEM is a 400
                app_reg = AppRegistration(
                    client_id=client_id,
                    tenant_id=str(body.get("tenant_id") or TENANT_ID),
                    display_name=str(body.get("display_name") or client_id),
                    secrets=[body["secret"]] if body.get("secret") else [],
                    certificates=certs,
                    roles=[str(r) for r in body.get("roles", ["Calendars.ReadWrite"])],
                    token_lifetime=int(body.get("token_lifetime", 3599)),
                )
            except (TypeError, ValueError) as e:
                return _oauth_error("invalid_request", f"bad app registration: {e}")
            self.register_app(app_reg)
            return jsonify({"client_id": app_reg.client_id, "tenant_id": app_reg.tenant_id}), 201

        @app.post("/__sandbox__/spa-clients")
        def spa_clients():
            body = request.get_json(silent=True) or {}
            client_id, uris = body.get("client_id") or ADDIN_CLIENT_ID, body.get("redirect_uris", [])
            if (
                not isinstance(client_id, str)
                or not isinstance(uris, list)
                or not all(isinstance(u, str) for u in uris)
            ):
                return _oauth_error("invalid_request", "client_id must be a string and redirect_uris a list of URLs")
            try:
                lifetime = int(body.get("token_lifetime", 3600))
            except (TypeError, ValueError):
                return _oauth_error("invalid_request", "token_lifetime must be a number of seconds")
            client = self.spa.register(SpaClient(client_id, list(uris), token_lifetime=lifetime))
            return jsonify({"client_id": client.client_id, "redirect_uris": client.redirect_uris}), 201

        @app.get("/__sandbox__/spa-grants")
        def spa_grants():
            return jsonify({"grants": list(self.spa.grant_log), "refresh_tokens": len(self.spa.refresh_tokens)})

        @app.route("/__sandbox__/clock", methods=["GET", "PUT"])
        def clock():
            if request.method == "PUT":
                body = request.get_json(silent=True) or {}
                try:
                    self.clock_offset = float(body.get("offset_seconds", 0))
                except (TypeError, ValueError):
                    return _oauth_error("invalid_request", "offset_seconds must be a number")
            return jsonify({"offset_seconds": self.clock_offset, "now": self.now()})

        return app

    def info(self, base_url: str) -> dict[str, Any]:
        self.base_url = base_url.rstrip("/")
        return {
            "issuer": self.issuer,
            "tenant_id": TENANT_ID,
            "openid_configuration": f"{self.issuer}/.well-known/openid-configuration",
            "jwks_uri": f"{self.base_url}/{TENANT_ID}/discovery/v2.0/keys",
            "token_endpoint": f"{self.base_url}/{TENANT_ID}/oauth2/v2.0/token",
            "audience": self.audience,
            "scope": DEFAULT_SCOPE,
            "client_id": ADDIN_CLIENT_ID,
            "authorization_endpoint": f"{self.base_url}/{TENANT_ID}/oauth2/v2.0/authorize",
            "msal": self.msal_config(),
            "users": [{"email": r.email, "password": r.password} for r in REPS],
        }
