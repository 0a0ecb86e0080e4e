"""The Graph settings: sandbox info defaults, explicit values winning, validation, redaction, and the stored
Microsoft 365 connection replacing the environment's app as a whole."""

from __future__ import annotations

import json

import pytest

from calsync.settings import ConfigError, Settings
from sync import connections
from sync.connectors.graph.auth import credentials_from_settings
from sync.runtime import with_stored_connections


def test_graph_settings_default_to_the_sandbox_app(sandbox_info_file, graph_info):
    settings = Settings.from_env({"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(sandbox_info_file)})
    assert settings.graph_url == graph_info["base_url"]
    assert f"{settings.graph_authority_host}/{settings.graph_tenant_id}" == graph_info["authority"]
    assert settings.graph_private_key_file == graph_info["private_key_file"]
    credentials = credentials_from_settings(settings)
    assert credentials.method == "certificate" and credentials.client_secret == ""  # the certificate wins
    assert credentials.ca_file == graph_info["ca_file"]
    explicit = Settings.from_env({"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(sandbox_info_file),
                                  "GRAPH_CLIENT_ID": "11111111-2222-3333-4444-555555555555"})  # fmt: skip
    assert explicit.graph_client_id == "11111111-2222-3333-4444-555555555555"


def test_graph_settings_are_validated_and_redacted(tmp_path):
    with pytest.raises(ConfigError, match="CALSYNC_EXCHANGE_BACKEND must be ews or graph"):
        Settings.from_env({"CALSYNC_ENV": "test", "CALSYNC_EXCHANGE_BACKEND": "owa"})
    with pytest.raises(ConfigError, match="GRAPH_URL must be an https URL in production"):
        Settings.from_env({"CALSYNC_SECRET_KEY": "k" * 40, "GRAPH_URL": "http://graph.example/v1.0"})
    shown = Settings.from_env({"CALSYNC_ENV": "test", "GRAPH_CLIENT_SECRET": "s3cret", "GRAPH_PRIVATE_KEY": "PEM"})
    assert shown.redacted()["GRAPH_CLIENT_SECRET"] == "***" and shown.redacted()["GRAPH_PRIVATE_KEY"] == "***"
    assert "s3cret" not in json.dumps(shown.redacted())
    with pytest.raises(ConfigError, match="Microsoft Graph is not configured"):
        credentials_from_settings(Settings.from_env({"CALSYNC_ENV": "test"}))
    no_credential = Settings.from_env({"CALSYNC_ENV": "test", "GRAPH_TENANT_ID": "t", "GRAPH_CLIENT_ID": "c"})
    with pytest.raises(ConfigError, match="no credential"):
        credentials_from_settings(no_credential)
    missing = Settings.from_env({"CALSYNC_ENV": "test", "GRAPH_TENANT_ID": "t", "GRAPH_CLIENT_ID": "c",
                                 "GRAPH_PRIVATE_KEY_FILE": str(tmp_path / "absent.pem")})  # fmt: skip
    with pytest.raises(ConfigError, match="GRAPH_PRIVATE_KEY_FILE: cannot read"):
        credentials_from_settings(missing)


def test_a_stored_secret_replaces_the_environment_certificate(sandbox_settings, db_session):
    connections.save(db_session, connections.StoredConnection(
        "microsoft365", {"tenant_id": "tenant-b", "client_id": "client-b", "method": "secret"},
        {"client_secret": "stored-secret"}), sandbox_settings.secret_key)  # fmt: skip
    db_session.commit()
    laid = with_stored_connections(sandbox_settings, db_session)
    assert (laid.graph_tenant_id, laid.graph_client_id) == ("tenant-b", "client-b")
    assert laid.graph_private_key_file == "" and laid.graph_private_key == ""
    credentials = credentials_from_settings(laid)
    assert credentials.method == "secret" and credentials.client_secret == "stored-secret"
    assert credentials.authority.endswith("/tenant-b")
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        with_stored_connections(Settings.from_env({"CALSYNC_ENV": "test", "CALSYNC_SECRET_KEY": "x" * 40}), db_session)
