import json

import pytest

from calsync.settings import INSTANCE_DIR, ConfigError, Settings


def test_defaults_need_only_a_local_environment():
    settings = Settings.from_env({"CALSYNC_ENV": "development"})
    assert settings.database_url == f"sqlite:///{INSTANCE_DIR / 'calsync.db'}"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.http_timeout == 30.0


def test_environment_overrides_and_types():
    settings = Settings.from_env(
        {
            "CALSYNC_ENV": "test",
            "DATABASE_URL": "postgresql+psycopg://u@h/db",
            "CALSYNC_HTTP_TIMEOUT": "2.5",
            "REDIS_URL": "redis://r:1/2",
        }  # fmt: skip
    )
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.http_timeout == 2.5
    assert settings.redis_url == "redis://r:1/2"


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"CALSYNC_HTTP_TIMEOUT": "soon"}, "CALSYNC_HTTP_TIMEOUT must be a number"),
        ({"CALSYNC_ENV": "staging"}, "CALSYNC_ENV must be"),
        ({"CALSYNC_ENV": "production"}, "CALSYNC_SECRET_KEY is not set"),
        ({}, "CALSYNC_SECRET_KEY is not set.*CALSYNC_ENV=development"),
        ({"CALSYNC_ENV": "production", "CALSYNC_SECRET_KEY": "short"}, "32\\+ characters"),
        ({"CALSYNC_ENV": "test", "EXCHANGE_AUTH_TYPE": "ntlm"}, "EXCHANGE_AUTH_TYPE must be basic or oauth"),
        ({"CALSYNC_SANDBOX_INFO": "/nonexistent/info.json"}, "cannot read"),
    ],
)
def test_bad_values_give_messages_for_people(environ, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)


def test_production_accepts_a_real_secret():
    assert Settings.from_env({"CALSYNC_ENV": "production", "CALSYNC_SECRET_KEY": "k" * 40}).environment == "production"


def test_sandbox_info_fills_connection_settings_but_explicit_values_win(tmp_path):
    info = {
        "salesforce": {"instance_url": "https://localhost:9443", "ca_file": "/ca.pem"},
        "exchange": {
            "endpoint": "https://localhost:9444/EWS/Exchange.asmx",
            "ca_file": "/ca.pem",
            "version": "Exchange2013_SP1",
            "service_account": {"username": "svc", "password": "pw"},
        },
    }
    path = tmp_path / "info.json"
    path.write_text(json.dumps(info))
    settings = Settings.from_env(
        {"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(path), "EXCHANGE_PASSWORD": "explicit"}
    )
    assert settings.salesforce_instance_url == "https://localhost:9443"
    assert settings.salesforce_ca_file == "/ca.pem"
    assert settings.exchange_endpoint.endswith("/EWS/Exchange.asmx")
    assert settings.exchange_username == "svc"
    assert settings.exchange_password == "explicit"


def test_redacted_masks_secrets_and_documentation_lists_every_variable():
    settings = Settings.from_env({"CALSYNC_ENV": "test", "EXCHANGE_PASSWORD": "hunter2"})
    shown = settings.redacted()
    assert shown["EXCHANGE_PASSWORD"] == "***"
    assert shown["CALSYNC_SECRET_KEY"] == "(built-in development key)"
    assert "hunter2" not in json.dumps(shown)
    assert Settings.from_env({"CALSYNC_SECRET_KEY": "k" * 40}).redacted()["CALSYNC_SECRET_KEY"] == "***"
    documented = {env for env, _, _ in Settings.documentation()}
    assert documented == set(shown)
