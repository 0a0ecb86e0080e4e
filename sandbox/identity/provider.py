"""OpenID configuration, JWKS and a token endpoint, shaped like the Microsoft identity platform (v2.0).

Tokens carry the claims our backend reads from Office SSO / nested-app-auth access tokens: ``iss``, ``aud``,
``tid``, ``oid``, ``preferred_username``, ``name``, ``scp``, ``iat``, ``nbf``, ``exp`` and ``ver``.

Endpoints (``{base}`` is the server's URL, ``{tenant}`` the sandbox tenant id):
- ``GET  /{tenant}/v2.0/.well-known/openid-configuration``
- ``GET  /{tenant}/discovery/v2.0/keys`` (JWKS)
- ``POST /{tenant}/oauth2/v2.0/token``: ``grant_type=password`` (a seeded rep's e-mail and password) or
  ``grant_type=client_credentials`` is refused; errors are OAuth JSON (``invalid_grant``, ...).
- ``POST /__sandbox__/token``: tests mint tokens with any claims (expired, wrong audience, unknown user).
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
        now = time.time() if now is None else now
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
        tenant = f"/{TENANT_ID}"

        @app.before_request
        def _learn_base_url() -> None:
            if not self.base_url:
                self.base_url = request.host_url.rstrip("/")

        @app.get(f"{tenant}/v2.0/.well-known/openid-configuration")
        def openid_configuration():
            return jsonify(
                {
                    "issuer": self.issuer,
                    "jwks_uri": f"{self.base_url}{tenant}/discovery/v2.0/keys",
                    "token_endpoint": f"{self.base_url}{tenant}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{self.base_url}{tenant}/oauth2/v2.0/authorize",
                    "response_types_supported": ["code", "id_token", "token"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "none"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access", DEFAULT_SCOPE],
                    "claims_supported": ["iss", "aud", "tid", "oid", "preferred_username", "name", "scp"],
                    "tenant_region_scope": "EU",
                }
            )

        @app.get(f"{tenant}/discovery/v2.0/keys")
        def keys():
            return jsonify(self.jwks())

        @app.post(f"{tenant}/oauth2/v2.0/token")
        def token():
            form = request.form
            grant = form.get("grant_type", "")
            if grant != "password":
                return _oauth_error(
                    "unsupported_grant_type",
                    "AADSTS70003: The sandbox issues user tokens with grant_type=password only.",
                )
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
