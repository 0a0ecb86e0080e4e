"""The auth and add-in settings appended to calsync/settings.py, and how the sandbox info file fills them."""

from __future__ import annotations

import json

from calsync.settings import Settings


def test_auth_settings_default_to_unset_with_the_api_scope():
    settings = Settings.from_env({"CALSYNC_ENV": "test"})
    assert (settings.auth_issuer, settings.auth_audience, settings.auth_jwks_url, settings.auth_ca_file) == ("",) * 4
    assert settings.auth_scope == "access_as_user"
    assert settings.auth_leeway == 60


def test_auth_settings_are_read_from_the_environment():
    settings = Settings.from_env(
        {
            "CALSYNC_ENV": "test",
            "CALSYNC_AUTH_ISSUER": "https://login.microsoftonline.com/tenant/v2.0",
            "CALSYNC_AUTH_AUDIENCE": "api://calsync.example.com/client",
            "CALSYNC_AUTH_JWKS_URL": "https://login.microsoftonline.com/tenant/discovery/v2.0/keys",
            "CALSYNC_AUTH_LEEWAY": "30",
        }
    )
    assert settings.auth_issuer.endswith("/tenant/v2.0")
    assert settings.auth_leeway == 30


def test_the_sandbox_identity_section_fills_auth_settings_but_explicit_values_win(tmp_path, identity):
    info = {"identity": {**identity.info, "ca_file": str(identity.ca_file)}}
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps(info))
    settings = Settings.from_env(
        {"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(path), "CALSYNC_AUTH_SCOPE": "explicit"}
    )
    assert settings.auth_issuer == identity.info["issuer"]
    assert settings.auth_audience == identity.info["audience"]
    assert settings.auth_jwks_url == identity.info["jwks_uri"]
    assert settings.auth_ca_file == str(identity.ca_file)
    assert settings.addin_client_id == identity.info["client_id"]
    assert settings.auth_scope == "explicit"


def test_every_new_setting_is_documented():
    documented = {env: doc for env, _, doc in Settings.documentation()}
    for env in [
        "CALSYNC_AUTH_ISSUER",
        "CALSYNC_AUTH_AUDIENCE",
        "CALSYNC_AUTH_JWKS_URL",
        "CALSYNC_AUTH_CA_FILE",
        "CALSYNC_AUTH_SCOPE",
        "CALSYNC_AUTH_LEEWAY",
        "CALSYNC_ADDIN_CLIENT_ID",
        "CALSYNC_ADDIN_ID",
        "CALSYNC_PUBLIC_URL",
        "CALSYNC_FRAME_ANCESTORS",
    ]:
        assert documented[env]
    assert "login.microsoftonline.com/{tenant-id}/v2.0" in documented["CALSYNC_AUTH_ISSUER"]
    assert "discovery/v2.0/keys" in documented["CALSYNC_AUTH_JWKS_URL"]
