"""The identity provider's authorization code flow with PKCE for single-page apps, driven with plain requests the
way msal-browser drives it, and its tokens checked by the backend's own verifier (``backend/auth.py``)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from backend.auth import AuthConfig, TokenVerifier
from sandbox.identity import IdentityProvider
from sandbox.identity.provider import ADDIN_CLIENT_ID, NAA_REDIRECT_URI, TENANT_ID
from sandbox.seed import REPS
from sandbox.server import ServerThread
from sandbox.tls import make_tls_files

APP_ORIGIN = "https://addin.example"
REDIRECT = f"{APP_ORIGIN}/addin/auth-redirect.html"
REP = REPS[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    files = make_tls_files(tmp_path_factory.mktemp("tls"))
    provider = IdentityProvider()
    with ServerThread(provider.wsgi_app, ssl_context=files.server_context()) as thread:
        yield provider, provider.info(thread.url), files.ca_file


@pytest.fixture
def idp(server):
    provider, info, ca_file = server
    provider.spa.reset()
    provider.sessions.clear()
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_file)
    response = session.post(
        f"{provider.base_url}/__sandbox__/spa-clients",
        json={"client_id": ADDIN_CLIENT_ID, "redirect_uris": [NAA_REDIRECT_URI, REDIRECT], "token_lifetime": 600},
    )
    assert response.status_code == 201
    return provider, info, session, ca_file


def _verifier(info, ca_file) -> TokenVerifier:
    return TokenVerifier(
        AuthConfig(
            issuer=info["issuer"],
            audiences=(info["audience"],),
            jwks_url=info["jwks_uri"],
            scope=info["scope"],
            ca_file=str(ca_file),
        )
    )


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize_params(info, challenge: str, **extra) -> dict[str, str]:
    return {
        "client_id": ADDIN_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "response_mode": "fragment",
        "scope": f"{info['audience']}/{info['scope']} openid profile offline_access",
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "client_info": "1",
        **extra,
    }


def _fragment(response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "#"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}


def _sign_in(idp, **extra) -> tuple[dict[str, str], str]:
    """Authorize page, then the login form posted with the rep's password: the redirect's fragment and verifier."""
    provider, info, session, _ = idp
    verifier, challenge = _pkce()
    params = _authorize_params(info, challenge, **extra)
    session.cookies.clear()  # a browser without the provider's session: the login form
    page = session.get(info["authorization_endpoint"], params=params, allow_redirects=False)
    assert page.status_code == 200 and 'name="password"' in page.text
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    assert hidden["code_challenge"] == challenge and hidden["state"] == "state-123"
    answer = session.post(
        info["authorization_endpoint"],
        data={**hidden, "username": REP.email, "password": REP.password},
        allow_redirects=False,
    )
    return _fragment(answer), verifier


def _redeem(idp, code: str, verifier: str, *, origin: str | None = APP_ORIGIN):
    _, info, session, _ = idp
    headers = {"Origin": origin} if origin else {}
    return session.post(
        info["token_endpoint"],
        data={
            "client_id": ADDIN_CLIENT_ID,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "scope": f"{info['audience']}/{info['scope']} openid profile offline_access",
        },
        headers=headers,
    )


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_discovery_names_the_spa_endpoints_and_is_readable_cross_origin(idp):
    _, info, session, _ = idp
    response = session.get(info["openid_configuration"], headers={"Origin": APP_ORIGIN})
    config = response.json()
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert config["authorization_endpoint"] == info["authorization_endpoint"]
    assert config["end_session_endpoint"].endswith(f"/{TENANT_ID}/oauth2/v2.0/logout")
    assert "S256" in config["code_challenge_methods_supported"]
    assert {"authorization_code", "refresh_token"} <= set(config["grant_types_supported"])


def test_code_flow_with_pkce_gives_tokens_the_backend_accepts(idp):
    provider, info, _, ca_file = idp
    fragment, verifier = _sign_in(idp)
    assert fragment["state"] == "state-123"
    assert json.loads(base64.urlsafe_b64decode(fragment["client_info"] + "==")) == {
        "uid": REP.object_id,
        "utid": TENANT_ID,
    }
    response = _redeem(idp, fragment["code"], verifier)
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 600
    assert tokens["scope"].split()[0] == f"{info['audience']}/{info['scope']}"
    claims = _verifier(info, ca_file).verify(tokens["access_token"])
    assert claims["tid"] == TENANT_ID and claims["oid"] == REP.object_id
    assert claims["preferred_username"] == REP.email and claims["scp"] == info["scope"]
    assert claims["aud"] == info["audience"] and claims["iss"] == info["issuer"] and claims["ver"] == "2.0"
    assert claims["azp"] == ADDIN_CLIENT_ID
    assert claims["exp"] - claims["iat"] == 600 and claims["nbf"] <= claims["iat"]
    id_claims = _claims(tokens["id_token"])
    assert id_claims["aud"] == ADDIN_CLIENT_ID and id_claims["nonce"] == "nonce-456"
    assert id_claims["oid"] == REP.object_id and id_claims["tid"] == TENANT_ID
    assert tokens["refresh_token"] and tokens["refresh_token_expires_in"] == 86400
    assert provider.spa.grant_log == ["authorization_code"]


def test_a_code_is_single_use_and_bound_to_its_verifier_and_origin(idp):
    fragment, verifier = _sign_in(idp)
    assert _redeem(idp, fragment["code"], verifier, origin=None).json()["error_description"].startswith("AADSTS9002327")
    # The refused redemption above did not use the code up (the origin check comes first) ...
    wrong = _redeem(idp, fragment["code"], "x" * 43)
    assert wrong.status_code == 400 and "AADSTS501481" in wrong.json()["error_description"]
    # ... but a wrong verifier did: a stolen code cannot be retried.
    again = _redeem(idp, fragment["code"], verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    fragment, verifier = _sign_in(idp)
    other_origin = _redeem(idp, fragment["code"], verifier, origin="https://evil.example")
    assert other_origin.status_code == 400 and "Access-Control-Allow-Origin" not in other_origin.headers


def test_refresh_tokens_renew_and_rotate(idp):
    provider, info, session, ca_file = idp
    fragment, verifier = _sign_in(idp)
    first = _redeem(idp, fragment["code"], verifier).json()

    def refresh(token: str):
        return session.post(
            info["token_endpoint"],
            data={
                "client_id": ADDIN_CLIENT_ID,
                "grant_type": "refresh_token",
                "refresh_token": token,
                "scope": f"{info['audience']}/{info['scope']} openid profile offline_access",
            },
            headers={"Origin": APP_ORIGIN},
        )

    renewed = refresh(first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    assert _verifier(info, ca_file).verify(second["access_token"])["oid"] == REP.object_id
    reused = refresh(first["refresh_token"])
    assert reused.status_code == 400 and "AADSTS700084" in reused.json()["error_description"]
    assert provider.spa.grant_log == ["authorization_code", "refresh_token"]


def test_short_lived_tokens_on_request(idp):
    provider, info, session, ca_file = idp
    session.post(
        f"{provider.base_url}/__sandbox__/spa-clients",
        json={"client_id": ADDIN_CLIENT_ID, "redirect_uris": [REDIRECT], "token_lifetime": 5},
    )
    fragment, verifier = _sign_in(idp)
    tokens = _redeem(idp, fragment["code"], verifier).json()
    claims = _claims(tokens["access_token"])
    assert tokens["expires_in"] == 5 and claims["exp"] - claims["iat"] == 5


def test_a_wrong_password_shows_the_form_again(idp):
    _, info, session, _ = idp
    _, challenge = _pkce()
    answer = session.post(
        info["authorization_endpoint"],
        data={**_authorize_params(info, challenge), "username": REP.email, "password": "wrong"},
        allow_redirects=False,
    )
    assert answer.status_code == 200
    assert "AADSTS50126" in answer.text and 'name="password"' in answer.text


def test_an_unregistered_redirect_uri_is_an_error_page_never_a_redirect(idp):
    _, info, session, _ = idp
    _, challenge = _pkce()
    params = _authorize_params(info, challenge, redirect_uri="https://evil.example/steal")
    answer = session.get(info["authorization_endpoint"], params=params, allow_redirects=False)
    assert answer.status_code == 400 and "AADSTS50011" in answer.text
    unknown = session.get(
        info["authorization_endpoint"], params={**params, "client_id": "00000000-0000-0000-0000-000000000001"}
    )
    assert unknown.status_code == 400 and "AADSTS700016" in unknown.text


def test_pkce_is_required(idp):
    _, info, session, _ = idp
    params = _authorize_params(info, "")
    fragment = _fragment(session.get(info["authorization_endpoint"], params=params, allow_redirects=False))
    assert fragment["error"] == "invalid_request" and "AADSTS9002325" in fragment["error_description"]
    assert fragment["state"] == "state-123"


def test_a_scope_of_another_resource_is_refused(idp):
    _, info, _, _ = idp
    fragment, verifier = _sign_in(idp, scope="api://someone-else/read openid offline_access")
    answer = _redeem(idp, fragment["code"], verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_scope"


def test_prompt_none_uses_the_session_and_sign_out_ends_it(idp):
    provider, info, session, _ = idp
    _, challenge = _pkce()
    silent = _authorize_params(info, challenge, prompt="none")
    assert (
        _fragment(session.get(info["authorization_endpoint"], params=silent, allow_redirects=False))["error"]
        == "login_required"
    )
    fragment, verifier = _sign_in(idp)
    tokens = _redeem(idp, fragment["code"], verifier).json()
    assert "code" in _fragment(session.get(info["authorization_endpoint"], params=silent, allow_redirects=False))

    logout = session.get(
        info["authorization_endpoint"].replace("/authorize", "/logout"),
        params={"post_logout_redirect_uri": REDIRECT, "state": "bye"},
        allow_redirects=False,
    )
    assert logout.status_code == 302 and logout.headers["Location"] == f"{REDIRECT}?state=bye"
    assert (
        _fragment(session.get(info["authorization_endpoint"], params=silent, allow_redirects=False))["error"]
        == "login_required"
    )
    refused = session.post(
        info["token_endpoint"],
        data={"client_id": ADDIN_CLIENT_ID, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers={"Origin": APP_ORIGIN},
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_the_token_endpoint_answers_the_cors_preflight_for_registered_origins_only(idp):
    _, info, session, _ = idp
    ok = session.options(info["token_endpoint"], headers={"Origin": APP_ORIGIN})
    assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    other = session.options(info["token_endpoint"], headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
