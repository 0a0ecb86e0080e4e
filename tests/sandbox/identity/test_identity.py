"""The identity provider's tokens verify with PyJWT against its own JWKS, as the backend will check them."""

import time

import jwt
import pytest
import requests

from sandbox.identity import IdentityProvider
from sandbox.seed import REPS
from sandbox.server import ServerThread
from sandbox.tls import make_tls_files


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    files = make_tls_files(tmp_path_factory.mktemp("tls"))
    provider = IdentityProvider()
    with ServerThread(provider.wsgi_app, ssl_context=files.server_context()) as server:
        session = requests.Session()
        session.trust_env = False
        session.verify = str(files.ca_file)
        yield provider, provider.info(server.url), session


def _verify(token, info, session, audience=None):
    jwks = jwt.PyJWKSet.from_dict(session.get(info["jwks_uri"]).json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience or info["audience"], issuer=info["issuer"])


def test_openid_configuration_points_at_jwks_and_token(idp):
    _, info, session = idp
    config = session.get(info["openid_configuration"]).json()
    assert config["issuer"] == info["issuer"]
    assert config["jwks_uri"] == info["jwks_uri"]
    assert config["token_endpoint"] == info["token_endpoint"]


def test_password_grant_issues_an_office_sso_shaped_token(idp):
    _, info, session = idp
    rep = REPS[1]
    answer = session.post(
        info["token_endpoint"],
        data={"grant_type": "password", "username": rep.email, "password": rep.password,
              "scope": f"{info['audience']}/access_as_user openid"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    claims = _verify(answer.json()["access_token"], info, session)
    assert claims["preferred_username"] == rep.email
    assert claims["oid"] == rep.object_id
    assert claims["scp"] == "access_as_user"
    assert claims["tid"] == info["tenant_id"]
    assert claims["exp"] > time.time() + 3000


@pytest.mark.parametrize(
    "form, error",
    [
        ({"grant_type": "password", "username": REPS[0].email, "password": "wrong"}, "invalid_grant"),
        ({"grant_type": "password", "username": "nobody@calsync.example", "password": "x"}, "invalid_grant"),
        ({"grant_type": "client_credentials"}, "invalid_request"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
    ],
)
def test_token_errors_are_oauth_json(idp, form, error):
    _, info, session = idp
    answer = session.post(info["token_endpoint"], data=form)
    assert answer.status_code == 400
    assert answer.json()["error"] == error


def test_minted_tokens_for_negative_tests_fail_verification_as_they_should(idp):
    provider, info, session = idp
    expired = provider.issue_token(REPS[0].email, lifetime=-120)
    with pytest.raises(jwt.ExpiredSignatureError):
        _verify(expired, info, session)
    other_audience = session.post(
        f"{info['issuer'].rsplit('/', 2)[0]}/__sandbox__/token", json={"username": REPS[0].email, "audience": "x"}
    ).json()["access_token"]
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(other_audience, info, session)


def test_tokens_from_another_key_are_rejected(idp):
    _, info, session = idp
    stranger = IdentityProvider()
    stranger.base_url = info["issuer"].rsplit("/", 2)[0]
    forged = stranger.issue_token(REPS[0].email)
    with pytest.raises(StopIteration):  # its kid is not in our JWKS
        _verify(forged, info, session)
    jwks = jwt.PyJWKSet.from_dict(session.get(info["jwks_uri"]).json())
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, jwks.keys[0], algorithms=["RS256"], audience=info["audience"])


def test_key_file_keeps_the_same_signing_key_across_restarts(tmp_path):
    first = IdentityProvider(key_file=tmp_path / "k.pem")
    second = IdentityProvider(key_file=tmp_path / "k.pem")
    assert first.jwks() == second.jwks()
