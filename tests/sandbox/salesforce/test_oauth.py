"""OAuth 2.0 web-server flow against the sandbox, with requests (as the backend's connect flow will do)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from simple_salesforce.exceptions import SalesforceExpiredSession

from tests.sandbox.salesforce.conftest import client, https_session

REDIRECT = "http://localhost:5000/salesforce/oauth/callback"


@pytest.fixture
def oauth(sf_info: dict[str, Any]) -> dict[str, Any]:
    return sf_info["oauth"]


@pytest.fixture
def http(sf_info: dict[str, Any]) -> requests.Session:
    return https_session(sf_info["ca_file"])


def authorize(http: requests.Session, oauth: dict[str, Any], **params: str) -> requests.Response:
    query = {"response_type": "code", "client_id": oauth["client_id"], "redirect_uri": REDIRECT, "state": "xyz"}
    query.update(params)
    return http.get(oauth["authorize_url"], params=query, allow_redirects=False)


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT) or location.startswith("http://127.0.0.1")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(http: requests.Session, oauth: dict[str, Any], auth_code: str, **extra: str | None) -> requests.Response:
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": auth_code,
        "client_id": oauth["client_id"],
        "client_secret": oauth["client_secret"],
        "redirect_uri": REDIRECT,
    }
    form.update(extra)
    return http.post(oauth["token_url"], data={k: v for k, v in form.items() if v is not None})


def test_full_flow_with_login_hint(http: requests.Session, oauth: dict[str, Any], sf_info: dict[str, Any]) -> None:
    rep = sf_info["users"][1]
    params = redirect_params(authorize(http, oauth, login_hint=rep["email"]))
    assert params["state"] == "xyz" and params["code"]
    response = exchange(http, oauth, params["code"])
    assert response.status_code == 200
    token = response.json()
    assert token["instance_url"] == sf_info["instance_url"] and token["token_type"] == "Bearer"
    assert token["id"] == f"{sf_info['instance_url']}/id/{sf_info['org_id']}/{rep['user_id']}"
    expected = hmac.new(oauth["client_secret"].encode(), (token["id"] + token["issued_at"]).encode(), hashlib.sha256)
    assert base64.b64decode(token["signature"]) == expected.digest()
    # The access token is a session for simple-salesforce, as that user.
    sf = client(token["instance_url"], token["access_token"], sf_info["ca_file"])
    assert sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1
    created = sf.Task.create({"Subject": "via oauth"})
    assert sf.Task.get(created["id"])["OwnerId"] == rep["user_id"]
    info = http.get(oauth["userinfo_url"], headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert info["email"] == rep["email"] and info["user_id"] == rep["user_id"]
    assert http.get(token["id"]).json()["preferred_username"] == rep["email"]

    # Refresh: a new access token, no new refresh token.
    refreshed = http.post(
        oauth["token_url"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": oauth["client_id"],
            "client_secret": oauth["client_secret"],
        },
    )
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert body["access_token"] != token["access_token"] and "refresh_token" not in body
    # Revoking the refresh token ends the sessions issued from it.
    assert http.post(oauth["revoke_url"], data={"token": token["refresh_token"]}).status_code == 200
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User LIMIT 1")
    again = http.post(
        oauth["token_url"],
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": oauth["client_id"]},
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_login_page_and_password_login(http: requests.Session, oauth: dict[str, Any], sf_info: dict[str, Any]) -> None:
    page = authorize(http, oauth)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    for rep in sf_info["users"]:
        assert rep["email"] in page.text
    form = {"response_type": "code", "client_id": oauth["client_id"], "redirect_uri": REDIRECT, "state": "s1"}
    wrong = http.post(
        oauth["authorize_url"],
        data={**form, "username": sf_info["users"][0]["email"], "password": "no"},
        allow_redirects=False,
    )
    assert wrong.status_code == 200 and "check your username and password" in wrong.text
    user = sf_info["users"][0]
    ok = http.post(
        oauth["authorize_url"],
        data={**form, "username": user["email"], "password": user["password"]},
        allow_redirects=False,
    )
    params = redirect_params(ok)
    assert params["state"] == "s1"
    token = exchange(http, oauth, params["code"]).json()
    assert token["id"].endswith(user["user_id"])
    denied = http.post(oauth["authorize_url"], data={**form, "deny": "1"}, allow_redirects=False)
    assert redirect_params(denied)["error"] == "access_denied"


def test_pkce(http: requests.Session, oauth: dict[str, Any], sf_info: dict[str, Any]) -> None:
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    hint = sf_info["users"][2]["email"]
    code = redirect_params(authorize(http, oauth, login_hint=hint, code_challenge=challenge))["code"]
    bad = exchange(http, oauth, code, client_secret=None, code_verifier="wrong")
    assert bad.json() == {"error": "invalid_grant", "error_description": "invalid code verifier"}
    code = redirect_params(authorize(http, oauth, login_hint=hint, code_challenge=challenge))["code"]
    assert exchange(http, oauth, code, client_secret=None, code_verifier=verifier).status_code == 200


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"client_id": "someone-else"}, "invalid_client_id"),
        ({"client_secret": "guess"}, "invalid_client"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"redirect_uri": "http://localhost:5000/other"}, "invalid_grant"),
        ({"code": "made-up"}, "invalid_grant"),
    ],
)
def test_token_errors(
    http: requests.Session, oauth: dict[str, Any], sf_info: dict[str, Any], changes: dict[str, str], error: str
) -> None:
    code = redirect_params(authorize(http, oauth, login_hint=sf_info["users"][0]["email"]))["code"]
    response = exchange(http, oauth, code, **changes)
    assert response.status_code == 400
    assert response.json()["error"] == error and response.json()["error_description"]


def test_codes_are_single_use(http: requests.Session, oauth: dict[str, Any], sf_info: dict[str, Any]) -> None:
    code = redirect_params(authorize(http, oauth, login_hint=sf_info["users"][0]["email"]))["code"]
    assert exchange(http, oauth, code).status_code == 200
    reused = exchange(http, oauth, code)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_authorize_refusals(http: requests.Session, oauth: dict[str, Any]) -> None:
    assert authorize(http, oauth, client_id="nobody").status_code == 400
    assert "redirect_uri_mismatch" in authorize(http, oauth, redirect_uri="https://evil.example/cb").text
    assert redirect_params(authorize(http, oauth, response_type="token"))["error"] == "unsupported_response_type"
    # Any loopback callback is accepted, so a local backend on any port can connect.
    loopback = "http://127.0.0.1:8123/cb"
    response = authorize(http, oauth, redirect_uri=loopback, login_hint="alice.archer@calsync.example")
    assert response.headers["Location"].startswith(f"{loopback}?code=")


def test_userinfo_needs_a_valid_token(http: requests.Session, oauth: dict[str, Any]) -> None:
    response = http.get(oauth["userinfo_url"], headers={"Authorization": "Bearer nope"})
    assert response.status_code == 403 and response.text == "Bad_OAuth_Token"
    assert http.post(oauth["revoke_url"], data={"token": "nope"}).status_code == 400
