"""Server-to-server OAuth grants of the Salesforce sandbox: JWT bearer and client credentials.

Shaped like the org's token endpoint (``POST /services/oauth2/token``):

- **JWT bearer** (https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_jwt_flow.htm):
  ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>``. The JWT is RS256-signed with the
  key whose X.509 certificate is registered for the app; ``iss`` = the consumer key, ``sub`` = a username,
  ``aud`` = the login URL (here: the sandbox's own URL, or login/test.salesforce.com), ``exp`` in the future
  and at most 5 minutes ahead. No refresh token is issued.
- **Client credentials**
  (https://help.salesforce.com/s/articleView?id=xcloud.meta_configure_client_credentials_flow_for_external_client_apps.htm):
  ``grant_type=client_credentials`` with the consumer key and secret in an HTTP Basic header or the body; the
  session belongs to the app's "Run As" user (the integration user here). No refresh token.

Errors are 400 ``{"error", "error_description"}`` with the texts Salesforce answers: ``invalid_client_id`` /
"client identifier invalid", ``invalid_grant`` / "invalid assertion" (bad signature or not a JWT), "audience is
invalid", "expired authorization code" (``exp`` past or too far ahead: clock skew), "user hasn't approved this
consumer" (unknown or unapproved user), ``invalid_client`` / "invalid client credentials".
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_CREDENTIALS = "client_credentials"
MAX_JWT_LIFETIME = 5 * 60  # seconds an assertion's exp may lie ahead
DEFAULT_SESSION_TIMEOUT = 2 * 3600  # an org's default session timeout
# Where a JWT's aud may point besides the sandbox's own URL (what a real org accepts).
PUBLIC_LOGIN_URLS = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass(frozen=True)
class IntegrationUser:
    """The API-only user that JWT bearer and client credentials sessions run as (the app's Run As user)."""

    username: str = "integration@calsync.example"
    user_id: str = "005000000000000099"
    first_name: str = "CalSync"
    last_name: str = "Integration"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


INTEGRATION_USER = IntegrationUser()


class GrantError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


@dataclass(frozen=True)
class JwtKeys:
    """The key pair of the app's certificate: calsync signs with the key, the sandbox checks the certificate."""

    private_key_file: Path | None
    certificate_file: Path | None
    private_key_pem: bytes
    certificate_pem: bytes


def make_jwt_keys(directory: Path | None) -> JwtKeys:
    """An RSA key and its self-signed certificate, kept in ``directory`` (reused when present) or in memory."""
    key_file = directory / "salesforce-jwt-key.pem" if directory is not None else None
    cert_file = directory / "salesforce-jwt-cert.pem" if directory is not None else None
    if key_file is not None and cert_file is not None and key_file.exists() and cert_file.exists():
        return JwtKeys(key_file, cert_file, key_file.read_bytes(), cert_file.read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calsync JWT bearer (sandbox)")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    if key_file is not None and cert_file is not None:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # a private key: owner only
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        cert_file.write_bytes(cert_pem)
    return JwtKeys(key_file, cert_file, key_pem, cert_pem)


def check_assertion(
    assertion: str,
    *,
    certificate_pem: bytes,
    client_ids: set[str],
    audiences: set[str],
    users: dict[str, str],
    now: dt.datetime,
) -> str:
    """The user id a JWT bearer assertion signs in as, or `GrantError` as the org would word it.

    ``users`` maps usernames (lower case) to user ids; ``now`` is the org's clock."""
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise GrantError("invalid_grant", "invalid assertion") from None
    if claims.get("iss") not in client_ids:
        raise GrantError("invalid_client_id", "client identifier invalid")
    if header.get("alg") != "RS256":
        raise GrantError("invalid_grant", "invalid assertion")
    public_key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    try:
        # Only the signature here: the claims are checked below, each with the org's own error text.
        unchecked = {"verify_exp": False, "verify_aud": False, "verify_iat": False, "verify_nbf": False}
        jwt.decode(assertion, public_key, algorithms=["RS256"], options=unchecked)
    except jwt.PyJWTError:
        raise GrantError("invalid_grant", "invalid assertion") from None
    aud = claims.get("aud")
    aud_values = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a.rstrip("/") in audiences for a in aud_values):
        raise GrantError("invalid_grant", "audience is invalid")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or not now.timestamp() < exp <= now.timestamp() + MAX_JWT_LIFETIME:
        raise GrantError("invalid_grant", "expired authorization code")
    user_id = users.get(str(claims.get("sub", "")).strip().lower())
    if user_id is None:
        raise GrantError("invalid_grant", "user hasn't approved this consumer")
    return user_id
