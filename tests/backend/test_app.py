"""The app factory, the database glue, /api/v1/me and /health, the add-in's files and the security headers."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import g
from lxml import etree

from addin.manifest import validate_manifest
from backend.app import OUTLOOK_WEB_ORIGINS
from backend.globals import db_session, runtime_of
from calsync.settings import ConfigError
from sync.models import SyncSession
from tests.backend.conftest import REP_EMAIL, bearer, make_settings


# -- the factory and the database ---------------------------------------------------------------------------
def test_create_app_applies_settings_then_test_config(app, settings, make_app):
    assert runtime_of(app).settings is settings
    assert app.config["SECRET_KEY"] == settings.secret_key
    assert app.testing
    other = make_app(settings, {"MAX_CONTENT_LENGTH": 10})
    assert other.config["MAX_CONTENT_LENGTH"] == 10


def test_one_runtime_per_app_and_one_session_per_request_closed_at_teardown(app, settings):
    runtime = runtime_of(app)
    assert str(runtime.engine.url) == settings.database_url
    with app.test_request_context("/api/v1/health"):
        first = db_session()
        assert db_session() is first  # the same session for the whole request
        first.execute(SyncSession.__table__.select())
        assert first.in_transaction()
    # Teardown closed it (and so ended its transaction) and forgot it.
    assert not first.in_transaction()
    with app.test_request_context("/api/v1/health"):
        assert "calsync_db_session" not in g
        assert db_session() is not first
    assert runtime_of(app) is runtime


# -- /health and /me ------------------------------------------------------------------------------------------
def test_health_needs_no_token_and_no_database(make_app, identity):
    # An unreachable database does not matter to liveness.
    app = make_app(make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none", identity))
    response = app.test_client().get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"
    assert response.get_json()["version"]


def test_me_reports_mailbox_state_and_the_latest_session(client, identity, mailbox, db_session):
    now = dt.datetime.now(dt.UTC)
    mailbox.next_sync_at = now + dt.timedelta(minutes=5)
    db_session.add_all(
        [
            SyncSession(mailbox_id=mailbox.id, started_at=now - dt.timedelta(hours=2), status="failed"),
            SyncSession(
                mailbox_id=mailbox.id,
                started_at=now - dt.timedelta(minutes=30),
                finished_at=now - dt.timedelta(minutes=29),
                status="ok",
            ),
        ]
    )
    db_session.commit()
    body = client.get("/api/v1/me", headers=bearer(identity.token())).get_json()
    assert body["email"] == REP_EMAIL
    assert body["name"]  # the token's display name
    box = body["mailbox"]
    assert box["state"] == "active"
    assert box["enabled"] is True
    assert box["last_session"]["status"] == "ok"
    assert box["last_session"]["finished_at"].endswith("Z")
    assert abs(dt.datetime.fromisoformat(box["next_sync_at"]) - mailbox.next_sync_at) < dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    "enabled, backoff_minutes, state",
    [(True, None, "active"), (True, 10, "backing_off"), (True, -10, "active"), (False, 10, "disabled")],
)
def test_me_mailbox_states(client, identity, mailbox, db_session, enabled, backoff_minutes, state):
    mailbox.enabled = enabled
    if backoff_minutes is not None:
        mailbox.backoff_until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=backoff_minutes)
        mailbox.backoff_reason = "Salesforce answered REQUEST_LIMIT_EXCEEDED"
    db_session.commit()
    body = client.get("/api/v1/me", headers=bearer(identity.token())).get_json()
    assert body["mailbox"]["state"] == state
    assert body["mailbox"]["last_session"] is None


# -- the add-in's files ---------------------------------------------------------------------------------------
def test_the_task_pane_assets_are_served(client):
    response = client.get("/addin/assets/icon-32.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG")


def test_the_manifest_is_served_rendered_for_this_server(client, identity):
    response = client.get("/addin/manifest.xml", base_url="https://calsync.example.com")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert validate_manifest(response.data) == []
    root = etree.fromstring(response.data)
    ns = {"o": "http://schemas.microsoft.com/office/mailappversionoverrides/1.1"}
    assert root.findtext(".//o:WebApplicationInfo/o:Id", namespaces=ns) == identity.info["client_id"]
    # The sandbox audience is an api:// URI: the manifest asks Office SSO for exactly that resource.
    assert root.findtext(".//o:WebApplicationInfo/o:Resource", namespaces=ns) == identity.info["audience"]
    assert b"https://calsync.example.com/addin/taskpane.html" in response.data


def test_production_serves_the_manifest_only_for_the_configured_public_url(make_app, database_url, identity):
    production = {"environment": "production", "secret_key": "s" * 40}
    app = make_app(make_settings(database_url, identity, **production))
    response = app.test_client().get("/addin/manifest.xml", base_url="https://attacker.example")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "manifest_unavailable"
    app = make_app(make_settings(database_url, identity, public_url="https://calsync.example.com", **production))
    response = app.test_client().get("/addin/manifest.xml", base_url="https://attacker.example")
    assert response.status_code == 200
    assert b"attacker" not in response.data


# -- security headers -----------------------------------------------------------------------------------------
def test_api_responses_forbid_framing_and_caching(client):
    for path in ["/api/v1/health", "/api/v1/me", "/nope"]:
        headers = client.get(path).headers
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in headers  # not over plain http in development
    assert client.get("/api/v1/me").headers["Cache-Control"] == "no-store"


def test_task_pane_routes_may_be_framed_by_outlook_on_the_web(client):
    for path in ["/addin/assets/icon-16.png", "/addin/taskpane.html", "/addin/manifest.xml"]:
        headers = client.get(path).headers
        assert "X-Frame-Options" not in headers
        csp = headers["Content-Security-Policy"]
        assert csp.startswith("frame-ancestors 'self' ")
        for origin in OUTLOOK_WEB_ORIGINS:
            assert origin in csp.split()
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_extra_frame_ancestors_come_from_settings_and_are_validated(make_app, database_url, identity):
    app = make_app(make_settings(database_url, identity, frame_ancestors="https://mail.example.com:8443"))
    csp = app.test_client().get("/addin/assets/icon-16.png").headers["Content-Security-Policy"]
    assert csp.split()[-1] == "https://mail.example.com:8443"
    with pytest.raises(ConfigError, match="CALSYNC_FRAME_ANCESTORS"):
        make_app(make_settings(database_url, identity, frame_ancestors="https://ok.example; script-src *"))


def test_production_adds_hsts(make_app, database_url, identity):
    app = make_app(make_settings(database_url, identity, environment="production", secret_key="s" * 40))
    assert app.test_client().get("/api/v1/health").headers["Strict-Transport-Security"].startswith("max-age=")
