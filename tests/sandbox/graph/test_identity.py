"""Client-credentials tokens for Graph, as MSAL gets them from Entra: by secret, by certificate (RS256 with x5t
and PS256 with x5t#S256), Entra-style errors, roles, expiry."""

import jwt
import pytest
import requests

from .conftest import SCOPE, Graph, http_session, msal_app, read_file


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_openid_configuration_per_tenant(info):
    session = http_session(info["ca_file"])
    config = session.get(info["authority"] + "/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == info["authority"] + "/oauth2/v2.0/token"
    assert {"authorization_endpoint", "issuer", "jwks_uri"} <= set(config)
    other = session.get(info["authority"].rsplit("/", 1)[0] + "/not-a-tenant/v2.0/.well-known/openid-configuration")
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_tenant" and "AADSTS90002" in other.json()["error_description"]


def test_msal_gets_a_token_by_secret_with_graph_roles(info):
    app = msal_app(info, info["client_secret"])
    result = app.acquire_token_for_client(scopes=SCOPE)
    assert result["token_type"] == "Bearer" and result["expires_in"] > 3000
    claims = _claims(result["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["appid"] == info["client_id"] and claims["tid"] == info["tenant_id"]
    assert {"Calendars.ReadWrite", "MailboxSettings.ReadWrite"} <= set(claims["roles"])
    assert app.acquire_token_for_client(scopes=SCOPE)["token_source"] == "cache"


def test_msal_gets_a_token_by_certificate_rs256_x5t(info):
    credential = {"private_key": read_file(info["private_key_file"]), "thumbprint": info["thumbprint"]}
    result = msal_app(info, credential).acquire_token_for_client(scopes=SCOPE)
    assert "access_token" in result, result
    assert _claims(result["access_token"])["appidacr"] == "2"


def test_msal_gets_a_token_by_certificate_ps256_x5t_s256(info):
    credential = {
        "private_key": read_file(info["private_key_file"]),
        "public_certificate": read_file(info["certificate_file"]),
    }
    result = msal_app(info, credential).acquire_token_for_client(scopes=SCOPE)
    assert "access_token" in result, result


def test_wrong_secret_unknown_app_and_unregistered_certificate_are_entra_errors(info, tmp_path):
    wrong = msal_app(info, "not-the-secret").acquire_token_for_client(scopes=SCOPE)
    assert wrong["error"] == "invalid_client" and "AADSTS7000215" in wrong["error_description"]
    unknown = msal_app(info, "x", client_id="11111111-2222-3333-4444-555555555555").acquire_token_for_client(
        scopes=SCOPE
    )
    assert unknown["error"] == "unauthorized_client" and "AADSTS700016" in unknown["error_description"]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    other_cert = msal_app(info, {"private_key": pem, "thumbprint": "AB" * 20}).acquire_token_for_client(scopes=SCOPE)
    assert other_cert["error"] == "invalid_client" and "AADSTS700027" in other_cert["error_description"]


def test_scope_must_be_the_graph_default_scope(info):
    session = http_session(info["ca_file"])
    answer = session.post(
        info["authority"] + "/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "scope": "Calendars.ReadWrite",
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_scope" and "AADSTS1002012" in answer.json()["error_description"]


def test_tokens_expire_and_graph_refuses_them(info, token, mailboxes):
    graph = Graph(info, token)
    assert graph.get(f"/users/{mailboxes[0]}/events").status_code == 200
    graph.control("PUT", "/clock", {"offset_seconds": 7200})
    try:
        expired = graph.get(f"/users/{mailboxes[0]}/events")
        assert expired.status_code == 401
        assert expired.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert "expired" in expired.json()["error"]["message"]
    finally:
        graph.control("PUT", "/clock", {"offset_seconds": 0})


@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer not.a.jwt", "Basic abc"])
def test_missing_or_bad_bearer_is_401(info, mailboxes, header):
    headers = {"Authorization": header} if header else {}
    answer = requests.get(
        f"{info['base_url']}/users/{mailboxes[0]}/events", headers=headers, verify=info["ca_file"], timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_a_user_token_of_the_identity_provider_is_not_a_graph_token(running, info, mailboxes):
    idp = running.info["identity"]
    user = next(u for u in idp["users"] if u["email"] == mailboxes[0])
    user_token = (
        http_session(idp["ca_file"])
        .post(
            idp["token_endpoint"],
            data={"grant_type": "password", "username": user["email"], "password": user["password"]},
        )
        .json()["access_token"]
    )
    answer = Graph(info, user_token).get(f"/users/{mailboxes[0]}/events")
    assert answer.status_code == 401


def test_an_app_without_a_role_is_denied(running, info, mailboxes):
    session = http_session(info["ca_file"])
    idp = running.info["identity"]
    registered = session.post(
        idp["issuer"].rsplit("/", 2)[0] + "/__sandbox__/apps",
        json={
            "client_id": "22222222-0000-4000-8000-000000000022",
            "secret": "s3cret",
            "roles": ["Calendars.ReadWrite"],
        },
    )
    assert registered.status_code == 201
    result = msal_app(info, "s3cret", client_id="22222222-0000-4000-8000-000000000022").acquire_token_for_client(
        scopes=SCOPE
    )
    graph = Graph(info, result["access_token"])
    assert graph.get(f"/users/{mailboxes[0]}/events").status_code == 200
    denied = graph.get(f"/users/{mailboxes[0]}/outlook/masterCategories")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ErrorAccessDenied"
