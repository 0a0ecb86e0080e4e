"""Confidential-client app registrations and the ``client_credentials`` grant, as Microsoft Entra answers it.

An app has a client id in a tenant, client secrets and/or certificates, the application roles an admin
consented (``Calendars.ReadWrite``, ...) and a token lifetime. ``authenticate()`` checks one token request's
client authentication, either ``client_secret`` or a certificate assertion
(``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``): a JWT signed RS256 with
``x5t`` (SHA-1 thumbprint) or PS256 with ``x5t#S256`` (SHA-256 thumbprint) by the private key of a registered
certificate, ``aud`` = the token endpoint, ``iss`` = ``sub`` = the client id, ``exp`` in the future, ``nbf`` in
the past, a ``jti``. Failures raise :class:`EntraError` with the AADSTS code Entra puts in
``error_description``.

Reference: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow and
https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_DEFAULT_SCOPE = GRAPH_RESOURCE + "/.default"
GRAPH_ROLES = ("Calendars.ReadWrite", "MailboxSettings.ReadWrite", "User.Read.All")


class EntraError(Exception):
    """An OAuth error answer: ``error`` code, AADSTS description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Certificate:
    """A public certificate uploaded to an app registration, with its JOSE thumbprints."""

    pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.pem)

    @property
    def x5t(self) -> str:
        return _b64url(self.cert.fingerprint(hashes.SHA1()))  # noqa: S303 - x5t is SHA-1 by definition

    @property
    def x5t_s256(self) -> str:
        return _b64url(self.cert.fingerprint(hashes.SHA256()))

    @property
    def sha1_hex(self) -> str:
        return self.cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303


@dataclass
class AppRegistration:
    client_id: str
    tenant_id: str
    display_name: str = "calsync"
    secrets: list[str] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    roles: list[str] = field(default_factory=lambda: list(GRAPH_ROLES))
    token_lifetime: int = 3599
    # The service principal's object id in the tenant (the `oid` claim of app tokens).
    object_id: str = ""

    def __post_init__(self) -> None:
        if not self.object_id:
            self.object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{self.tenant_id}:{self.client_id}"))


def make_certificate(directory: Path, name: str = "graph-app") -> tuple[Path, Path, Certificate]:
    """A self-signed RSA certificate and its private key (PEM files, key readable by the owner only)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"calsync sandbox {name}")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt.pem", directory / f"{name}.key.pem"
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return cert_file, key_file, Certificate(pem)


def new_secret() -> str:
    # Entra secrets are 40 characters with a "~" in them; the shape does not matter to clients.
    return secrets.token_urlsafe(24)[:30] + "~" + secrets.token_urlsafe(8)[:9]


def authenticate(app: AppRegistration, form, token_endpoint: str, now: float) -> None:
    """Check the client authentication of a token request for ``app``; raise :class:`EntraError`."""
    secret = form.get("client_secret")
    assertion = form.get("client_assertion")
    if secret and assertion:
        raise EntraError(
            "invalid_request", "AADSTS7000219: Only one of 'client_assertion' or 'client_secret' may be sent."
        )
    if secret:
        if not any(secrets.compare_digest(secret, s) for s in app.secrets):
            raise EntraError(
                "invalid_client",
                f"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app '{app.client_id}'.",
                401,
            )
        return
    if not assertion:
        raise EntraError(
            "invalid_client",
            "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
            401,
        )
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise EntraError("invalid_request", f"AADSTS50027: client_assertion_type must be '{ASSERTION_TYPE}'.", 400)
    _check_assertion(app, assertion, token_endpoint, now)


def _check_assertion(app: AppRegistration, assertion: str, token_endpoint: str, now: float) -> None:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise EntraError("invalid_client", "AADSTS50027: JWT token is invalid or malformed.", 401) from None
    alg = header.get("alg")
    if alg == "RS256":
        thumb, attr = header.get("x5t"), "x5t"
    elif alg == "PS256":
        thumb, attr = header.get("x5t#S256"), "x5t_s256"
    else:
        raise EntraError(
            "invalid_client", f"AADSTS5002738: Invalid JWT token. '{alg}' is not a supported signature algorithm.", 401
        )
    if not thumb:
        raise EntraError(
            "invalid_client",
            f"AADSTS700027: Client assertion contains an invalid signature. [Reason - The key used is expired or "
            f"no x5t/x5t#S256 header for {alg}.]",
            401,
        )
    # Thumbprints are base64url; MSAL keeps the "=" padding, other clients drop it.
    wanted = str(thumb).rstrip("=")
    cert = next((c for c in app.certificates if getattr(c, attr) == wanted), None)
    if cert is None:
        raise EntraError(
            "invalid_client",
            f"AADSTS700027: The certificate with identifier used to sign the client assertion is not registered "
            f"on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumb}', "
            f"Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for "
            f"app Id '{app.client_id}'.]",
            401,
        )
    try:
        claims = jwt.decode(
            assertion,
            cert.cert.public_key(),
            algorithms=[alg],
            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise EntraError("invalid_client", "AADSTS700027: Client assertion failed signature validation.", 401) from None
    if claims.get("aud") != token_endpoint:
        raise EntraError(
            "invalid_client",
            f"AADSTS700212: The audience '{claims.get('aud')}' of the client assertion does not match the token "
            f"endpoint '{token_endpoint}'.",
            401,
        )
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise EntraError(
            "invalid_client", "AADSTS700023: Client assertion audience/issuer/subject claim does not match.", 401
        )
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat", 0))
    if not isinstance(exp, int | float) or exp < now - 300 or (isinstance(nbf, int | float) and nbf > now + 300):
        raise EntraError("invalid_client", "AADSTS700024: Client assertion is not within its valid time range.", 401)


def check_scope(scope: str) -> str:
    """The resource of a client-credentials scope (only ``<resource>/.default`` is valid)."""
    scopes = [s for s in (scope or "").split() if s not in {"openid", "profile", "offline_access"}]
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise EntraError(
            "invalid_scope",
            f"AADSTS1002012: The provided value for scope {scope} is not valid. Client credential flows must have "
            f"a scope value with /.default suffixed to the resource identifier (application ID URI).",
        )
    resource = scopes[0].removesuffix("/.default")
    if resource.rstrip("/") != GRAPH_RESOURCE:
        raise EntraError(
            "invalid_resource",
            f"AADSTS500011: The resource principal named {resource} was not found in the tenant. This can happen "
            f"if the application has not been installed by the administrator of the tenant.",
        )
    return GRAPH_RESOURCE
