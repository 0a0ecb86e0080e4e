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
- ``POST /__sandbox__/token``: tests mint tokens with any claims (expired, wrong audience, unknown user).
- ``POST /__sandbox__/apps``: register (or replace) an app: ``{"client_id", "tenant_id", "secret",
  "certificate_pem", "roles", "token_lifetime"}``; ``GET /__sandbox__/apps`` lists them (no secrets).
- ``PUT /__sandbox__/clock`` ``{"offset_seconds": N}``: move the provider's clock (token ``iat``/``exp`` and
  assertion time checks); ``GET`` reads it.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, request
from jwt.algorithms import RSAAlgorithm

from sandbox.identity.apps import AppRegistration, Certificate, EntraError, authenticate, check_scope
from sandbox.seed import REPS, rep_by_email

TENANT_ID = "72f988bf-0000-4000-8000-00000000ca15"
DEFAULT_AUDIENCE = "api://localhost/7c1d7a52-0000-4000-8000-00000000c0de"
DEFAULT_SCOPE = "access_as_user"
# The add-in's own client id (the `azp` of its tokens).
ADDIN_CLIENT_ID = "7c1d7a52-0000-4000-8000-00000000c0de"


def _oauth_error(code: str, description: str, status: int = 400):
    response = jsonify({"error": code, "error_description": description})
    response.status_code = status
    return response


class IdentityProvider:
    """The sandbox identity provider. ``wsgi_app`` serves it; ``info(base_url)`` describes it."""

    def __init__(self, *, key_file: Path | None = None, audience: str = DEFAULT_AUDIENCE) -> None:
        self.audience = audience
        self.apps: dict[str, AppRegistration] = {}
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
        """The claims of an app token this provider issued for ``audience``; raises ``jwt.PyJWTError``."""
        return jwt.decode(
            token,
            self._key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            options={"require": ["exp", "tid", "appid"], "verify_exp": False},
        )

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
            if grant != "password":
                return _oauth_error(
                    "unsupported_grant_type",
                    "AADSTS70003: The sandbox grants password and client_credentials only.",
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
            "users": [{"email": r.email, "password": r.password} for r in REPS],
        }
