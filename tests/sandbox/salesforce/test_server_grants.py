"""Server-to-server grants of the sandbox's token endpoint (JWT bearer, client credentials), refresh-token
rotation and session timeouts, through requests and simple-salesforce as a client would use them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce.exceptions import SalesforceExpiredSession

from tests.sandbox.salesforce.conftest import client, https_session

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture
def http(sf_info: dict[str, Any]) -> requests.Session:
    return https_session(sf_info["ca_file"])


@pytest.fixture
def jwt_app(sf_info: dict[str, Any]) -> dict[str, str]:
    return sf_info["oauth"]["jwt"]


@pytest.fixture
def sessions(sf_sandbox, admin):
    """The sandbox's session settings, restored after the test."""
    before = sf_sandbox.oauth.settings()
    yield admin
    sf_sandbox.oauth.configure({k: before[k] for k in ("timeout_seconds", "rotate_refresh_tokens")})


def assertion(app: dict[str, str], *, key: bytes | None = None, **claims: Any) -> str:
    body = {"iss": app["client_id"], "sub": app["username"], "aud": app["login_url"], "exp": int(time.time()) + 180}
    body.update(claims)
    return jwt.encode(body, key or Path(app["private_key_file"]).read_bytes(), algorithm="RS256")


def token(http: requests.Session, sf_info: dict[str, Any], **form: str) -> requests.Response:
    return http.post(sf_info["oauth"]["token_url"], data=form)


def test_info_file_describes_both_server_grants(sf_info):
    oauth = sf_info["oauth"]
    assert set(oauth["jwt"]) >= {"client_id", "username", "private_key_file", "login_url"}
    assert Path(oauth["jwt"]["private_key_file"]).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert set(oauth["client_credentials"]) >= {"client_id", "client_secret", "login_url"}


def test_jwt_bearer_grant_gives_a_session_of_the_integration_user(http, sf_info, jwt_app):
    answer = token(http, sf_info, grant_type=JWT_GRANT, assertion=assertion(jwt_app))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "refresh_token" not in body and body["instance_url"] == sf_info["instance_url"]
    user_id = sf_info["oauth"]["integration_user"]["user_id"]
    assert body["id"].endswith(f"/{sf_info['org_id']}/{user_id}")
    sf = client(body["instance_url"], body["access_token"], sf_info["ca_file"])
    rows = sf.query(f"SELECT Username FROM User WHERE Id = '{user_id}'")["records"]
    assert [r["Username"] for r in rows] == [jwt_app["username"]]


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        ({"aud": "https://login.example.com"}, "invalid_grant", "audience is invalid"),
        ({"exp": int(time.time()) - 10}, "invalid_grant", "expired authorization code"),
        ({"exp": int(time.time()) + 3600}, "invalid_grant", "expired authorization code"),
        ({"sub": "nobody@calsync.example"}, "invalid_grant", "user hasn't approved this consumer"),
        ({"iss": "3MVGunknownClient"}, "invalid_client_id", "client identifier invalid"),
    ],
)
def test_jwt_bearer_refusals_use_the_orgs_words(http, sf_info, jwt_app, claims, error, description):
    answer = token(http, sf_info, grant_type=JWT_GRANT, assertion=assertion(jwt_app, **claims))
    assert answer.status_code == 400
    assert answer.json() == {"error": error, "error_description": description}


def test_jwt_signed_by_another_key_is_an_invalid_assertion(http, sf_info, jwt_app):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for value in (assertion(jwt_app, key=other), "not-a-jwt"):
        answer = token(http, sf_info, grant_type=JWT_GRANT, assertion=value)
        assert (answer.status_code, answer.json()) == (400, {"error": "invalid_grant",
                                                             "error_description": "invalid assertion"})  # fmt: skip


def test_client_credentials_by_basic_header_or_body(http, sf_info):
    app = sf_info["oauth"]["client_credentials"]
    by_header = http.post(sf_info["oauth"]["token_url"], data={"grant_type": "client_credentials"},
                          auth=(app["client_id"], app["client_secret"]))  # fmt: skip
    by_body = token(http, sf_info, grant_type="client_credentials", client_id=app["client_id"],
                    client_secret=app["client_secret"])  # fmt: skip
    for answer in (by_header, by_body):
        assert answer.status_code == 200, answer.text
        assert "refresh_token" not in answer.json()
        assert client(sf_info["instance_url"], answer.json()["access_token"], sf_info["ca_file"]).limits()
    wrong = token(http, sf_info, grant_type="client_credentials", client_id=app["client_id"], client_secret="nope")
    assert (wrong.status_code, wrong.json()["error"], wrong.json()["error_description"]) == (
        400, "invalid_client", "invalid client credentials")  # fmt: skip


def _refresh_token(http, sf_info) -> str:
    oauth = sf_info["oauth"]
    rep = sf_info["users"][1]
    redirect = "http://localhost:5000/salesforce/oauth/callback"
    query = {"response_type": "code", "client_id": oauth["client_id"], "redirect_uri": redirect,
             "login_hint": rep["email"]}  # fmt: skip
    start = http.get(oauth["authorize_url"], allow_redirects=False, params=query)
    code = start.headers["Location"].split("code=", 1)[1].split("&", 1)[0]
    answer = token(http, sf_info, grant_type="authorization_code", code=code, redirect_uri=redirect,
                   client_id=oauth["client_id"], client_secret=oauth["client_secret"])  # fmt: skip
    return answer.json()["refresh_token"]


def test_refresh_token_rotation_spends_the_old_token_and_a_replay_revokes_the_chain(http, sf_info, sessions):
    sessions._call("PUT", "sessions", {"rotate_refresh_tokens": True})
    oauth = sf_info["oauth"]
    first = _refresh_token(http, sf_info)
    answer = token(http, sf_info, grant_type="refresh_token", refresh_token=first, client_id=oauth["client_id"])
    second = answer.json()["refresh_token"]
    assert second != first
    replay = token(http, sf_info, grant_type="refresh_token", refresh_token=first, client_id=oauth["client_id"])
    assert replay.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}
    # Reuse of a spent token revokes its successors too (Refresh Token Rotation).
    after = token(http, sf_info, grant_type="refresh_token", refresh_token=second, client_id=oauth["client_id"])
    assert after.status_code == 400
    with pytest.raises(SalesforceExpiredSession):
        client(sf_info["instance_url"], answer.json()["access_token"], sf_info["ca_file"]).limits()


def test_without_rotation_the_refresh_token_stays(http, sf_info, sessions):
    sessions._call("PUT", "sessions", {"rotate_refresh_tokens": False})
    refresh = _refresh_token(http, sf_info)
    for _ in range(2):
        answer = token(http, sf_info, grant_type="refresh_token", refresh_token=refresh,
                       client_id=sf_info["oauth"]["client_id"])  # fmt: skip
        assert answer.status_code == 200 and "refresh_token" not in answer.json()


def test_issued_sessions_expire_after_the_timeout_and_all_at_once(http, sf_info, jwt_app, sessions, user):
    sessions._call("PUT", "sessions", {"timeout_seconds": 600})
    new = lambda: token(http, sf_info, grant_type=JWT_GRANT, assertion=assertion(jwt_app)).json()["access_token"]  # noqa: E731
    first = client(sf_info["instance_url"], new(), sf_info["ca_file"])
    first.limits()
    sessions.shift_clock(601)  # the org's clock: ten minutes without use
    with pytest.raises(SalesforceExpiredSession):
        first.limits()
    sessions.shift_clock(0)
    a, b = (client(sf_info["instance_url"], new(), sf_info["ca_file"]) for _ in range(2))
    assert sessions._call("POST", "sessions/expire", {})["expired"] >= 2
    for sf in (a, b):
        with pytest.raises(SalesforceExpiredSession):
            sf.limits()
    # The info file's fixed sessions are static tokens: neither the timeout nor expire-all ends them.
    assert client(sf_info["instance_url"], user["session_id"], sf_info["ca_file"]).limits()
