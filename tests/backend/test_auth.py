"""Bearer-token checks against the real sandbox identity provider (HTTPS, its own CA, a real JWKS)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm

from backend.auth import MAX_TOKEN_LENGTH
from calsync.settings import ConfigError
from sandbox.identity import IdentityProvider
from tests.backend.conftest import REP_EMAIL, bearer, make_settings


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(_identity, token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _hs256(header: dict, claims: dict, secret: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def assert_invalid_token(response, message_part: str) -> None:
    assert response.status_code == 401, response.get_json()
    body = response.get_json()
    assert body["error"]["code"] == "invalid_token"
    assert message_part in body["error"]["message"]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="calsync", error="invalid_token", error_description="')
    assert message_part in challenge


# -- the happy path ---------------------------------------------------------------------------------------
def test_a_valid_token_for_a_known_mailbox_reaches_me(client, identity, mailbox):
    response = client.get("/api/v1/me", headers=bearer(identity.token()))
    assert response.status_code == 200
    body = response.get_json()
    assert body["email"] == REP_EMAIL
    assert body["salesforce_user_id"] == mailbox.salesforce_user_id
    assert body["mailbox"]["state"] == "active"


def test_preferred_username_is_matched_case_insensitively(client, identity, mailbox):
    token = identity.token(extra_claims={"preferred_username": REP_EMAIL.upper()})
    response = client.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json()["email"] == REP_EMAIL


def test_clock_skew_within_the_leeway_is_tolerated(client, identity, mailbox):
    # Expired 20 s ago: inside the default 60 s leeway, so still accepted.
    response = client.get("/api/v1/me", headers=bearer(identity.token(lifetime=-20)))
    assert response.status_code == 200


def test_unknown_mailbox_is_forbidden_with_a_clear_message(client, identity, mailbox):
    response = client.get("/api/v1/me", headers=bearer(identity.token("nobody@calsync.example")))
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "mailbox_not_found"
    assert "nobody@calsync.example" in error["message"]
    assert "administrator" in error["message"]


# -- bad tokens -------------------------------------------------------------------------------------------
def _forged_same_kid(identity) -> str:
    """Right claims and the real kid, signed with a key the identity provider never published."""
    claims = _claims(identity, identity.token())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": identity.provider.kid})


def _other_provider(identity) -> str:
    other = IdentityProvider()
    other.info(identity.url)  # same issuer URL, different key and kid
    return other.issue_token(REP_EMAIL)


def _alg_none(identity) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": identity.provider.kid}
    payload = _claims(identity, identity.token())
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}."


def _hs256_with_public_key(identity) -> str:
    # The classic key-confusion attack: HMAC "signed" with the published RSA public key.
    jwk = identity.provider.jwks()["keys"][0]
    public_pem = RSAAlgorithm.from_jwk(jwk).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": identity.provider.kid}
    return _hs256(header, _claims(identity, identity.token()), public_pem)


def _tampered(identity) -> str:
    header, payload, signature = identity.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["preferred_username"] = "carol.chen@calsync.example"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


BAD_TOKENS = {
    "expired": (lambda i: i.token(lifetime=-3600), "has expired"),
    "expired beyond the leeway": (lambda i: i.token(lifetime=-120), "has expired"),
    "not valid yet": (lambda i: i.token(now=time.time() + 3600), "not valid yet"),
    "wrong audience": (lambda i: i.token(audience="api://elsewhere/00000000-0000-4000-8000-000000000000"), "audience"),
    "wrong issuer": (
        lambda i: i.token(extra_claims={"iss": "https://login.microsoftonline.com/other/v2.0"}),
        "unexpected issuer",
    ),
    "forged with the real kid": (_forged_same_kid, "signature is invalid"),
    "another provider's key": (_other_provider, "unknown key"),
    "alg none": (_alg_none, "RS256"),
    "HS256 with the public key": (_hs256_with_public_key, "RS256"),
    "tampered payload": (_tampered, "signature is invalid"),
    "no kid": (
        lambda i: jwt.encode({"sub": "x"}, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        "no signing key",
    ),
    "missing preferred_username": (
        lambda i: i.token(extra_claims={"preferred_username": None}),
        "lacks the preferred_username claim",
    ),
    "missing exp": (lambda i: i.token(extra_claims={"exp": None}), "lacks the exp claim"),
    "app-only token without scp": (lambda i: i.token(extra_claims={"scp": None, "roles": ["x"]}), "lacks the scp"),
    "preferred_username not an e-mail": (
        lambda i: i.token(extra_claims={"preferred_username": "alice"}),
        "not an e-mail address",
    ),
    "not a JWT": (lambda i: "abc.def", "not a well-formed JWT"),
    "garbage segments": (lambda i: "abc.def.ghi", "not a well-formed JWT"),
}


@pytest.mark.parametrize("name", list(BAD_TOKENS))
def test_bad_tokens_are_refused_with_401_json_and_a_challenge(client, identity, mailbox, name):
    make, message = BAD_TOKENS[name]
    response = client.get("/api/v1/me", headers=bearer(make(identity)))
    assert_invalid_token(response, message)


def test_a_token_without_our_scope_is_forbidden_with_insufficient_scope(client, identity, mailbox):
    response = client.get("/api/v1/me", headers=bearer(identity.token(scope="User.Read Mail.Read")))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "insufficient_scope"
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="access_as_user"' in challenge


def test_the_scope_must_be_a_whole_word_of_scp(client, identity, mailbox):
    response = client.get("/api/v1/me", headers=bearer(identity.token(scope="access_as_user_not")))
    assert response.status_code == 403


def test_several_audiences_may_be_configured(make_app, database_url, identity, mailbox):
    audiences = f"{identity.info['client_id']}, {identity.info['audience']}"
    app = make_app(make_settings(database_url, identity, auth_audience=audiences))
    token = identity.token(audience=identity.info["client_id"])  # v2.0 tokens carry the client id
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 200


# -- missing or malformed credentials ---------------------------------------------------------------------
def test_no_token_is_401_with_a_bare_challenge(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "missing_token"
    # RFC 6750 3.1: no error code when the request carried no credentials at all.
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="calsync"'


def test_a_token_in_the_query_string_is_not_accepted(client, identity, mailbox):
    response = client.get(f"/api/v1/me?access_token={identity.token()}")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Bearer",
        "Bearer    ",
        "Token abc.def.ghi",
        "Bearer a.b.c d.e.f",
        "Bearer " + "a" * 200_000,
        "Bearer " + "a." * 10 + "a",
        "Bearer é.é.é",
        "Bearer ..",
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.",
        "Bearer eyJ.eyJ.eyJ",
        "Bearer " + _b64(b'{"alg":"RS256","kid":"' + b"k" * 5000 + b'"}') + ".e30.c2ln",
        "Bearer " + _b64(b"[1,2,3]") + ".e30.c2ln",
        "Bearer " + _b64(b'{"alg":"RS256","kid":123}') + ".e30.c2ln",
        "Bearer " + _b64(b'{"alg":"RS256","kid":"x","crit":["exp"]}') + ".e30.c2ln",
    ],
)
def test_malformed_authorization_headers_are_401_never_500(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] in {"missing_token", "invalid_token"}
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="calsync"')


def test_oversized_tokens_are_refused_without_asking_the_identity_provider(client, identity):
    before = identity.jwks_fetches()
    response = client.get("/api/v1/me", headers=bearer("a" * (MAX_TOKEN_LENGTH + 1)))
    assert response.status_code == 401
    assert identity.jwks_fetches() == before


# -- the JWKS ---------------------------------------------------------------------------------------------
def test_the_jwks_is_fetched_once_and_cached(make_app, settings, identity, mailbox):
    app = make_app(settings)
    client = app.test_client()
    before = identity.jwks_fetches()
    for _ in range(5):
        assert client.get("/api/v1/me", headers=bearer(identity.token())).status_code == 200
    # A token naming an unknown key may trigger one refresh, but not while the cooldown runs.
    for _ in range(3):
        assert client.get("/api/v1/me", headers=bearer(_other_provider(identity))).status_code == 401
    assert identity.jwks_fetches() - before == 1


def test_an_unreachable_jwks_is_503_not_a_pass_and_not_a_500(make_app, database_url, identity, mailbox):
    app = make_app(make_settings(database_url, identity, auth_jwks_url="https://127.0.0.1:1/keys"))
    response = app.test_client().get("/api/v1/me", headers=bearer(identity.token()))
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "auth_unavailable"
    assert response.headers["Retry-After"] == "30"


def test_the_sandbox_ca_is_trusted_only_when_configured(make_app, database_url, identity, mailbox):
    # Without CALSYNC_AUTH_CA_FILE the system CAs apply (REQUESTS_CA_BUNDLE plays no part): the sandbox's
    # certificate is refused, so no token can be checked.
    app = make_app(make_settings(database_url, identity, auth_ca_file=""))
    response = app.test_client().get("/api/v1/me", headers=bearer(identity.token()))
    assert response.status_code == 503


# -- configuration ----------------------------------------------------------------------------------------
def test_without_auth_settings_the_api_answers_503_and_health_still_works(make_app, database_url, identity):
    app = make_app(
        make_settings(database_url, identity, auth_issuer="", auth_audience="", auth_jwks_url="", auth_ca_file="")
    )
    client = app.test_client()
    response = client.get("/api/v1/me", headers=bearer(identity.token()))
    assert response.status_code == 503
    assert "CALSYNC_AUTH_ISSUER" in response.get_json()["error"]["message"]
    assert client.get("/api/v1/health").status_code == 200


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"auth_issuer": "", "auth_jwks_url": ""}, "must be set in production"),
        ({"auth_jwks_url": "http://idp.example/keys"}, "must be an https URL"),
        ({"auth_ca_file": "/nonexistent/ca.pem"}, "no such file"),
        ({"auth_leeway": 3600}, "CALSYNC_AUTH_LEEWAY"),
    ],
)
def test_production_refuses_to_start_with_unusable_auth_settings(make_app, database_url, identity, overrides, message):
    settings = make_settings(database_url, identity, environment="production", secret_key="s" * 40, **overrides)
    with pytest.raises(ConfigError, match=message):
        make_app(settings)
