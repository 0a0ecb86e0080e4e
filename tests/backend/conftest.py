"""Backend fixtures: the real sandbox identity provider over HTTPS, settings pointing at it, the app, a rep.

The identity provider runs in-process on loopback with a throw-away CA (``sandbox.tls``); the app trusts that
CA through ``CALSYNC_AUTH_CA_FILE`` exactly as it would in a local demo. A WSGI wrapper counts the requests
it serves so that tests can check the JWKS is fetched once and then cached.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.globals import runtime_of
from calsync.settings import Settings
from calsync.web import create_app
from sandbox.identity import IdentityProvider
from sandbox.seed import REPS
from sandbox.server import ServerThread
from sandbox.tls import make_tls_files
from sync.mailboxes import add as add_mailbox

REP_EMAIL = REPS[0].email
REP_SALESFORCE_ID = "005000000000001AAA"


@dataclass
class Identity:
    """The running identity provider, what it says about itself, and the paths it has been asked for."""

    provider: IdentityProvider
    info: dict[str, Any]
    ca_file: Path
    url: str
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def token(self, email: str = REP_EMAIL, **kwargs: Any) -> str:
        return self.provider.issue_token(email, **kwargs)

    def jwks_fetches(self) -> int:
        with self.lock:
            return sum(1 for path in self.requests if path.endswith("/discovery/v2.0/keys"))


@pytest.fixture(scope="session")
def identity(tmp_path_factory) -> Iterator[Identity]:
    provider = IdentityProvider()
    tls = make_tls_files(tmp_path_factory.mktemp("identity-tls"))
    box: dict[str, Identity] = {}

    def counting_app(environ, start_response):
        ident = box["identity"]
        with ident.lock:
            ident.requests.append(environ.get("PATH_INFO", ""))
        return provider.wsgi_app(environ, start_response)

    server = ServerThread(counting_app, ssl_context=tls.server_context())
    ident = Identity(provider=provider, info=provider.info(server.url), ca_file=tls.ca_file, url=server.url)
    box["identity"] = ident
    try:
        yield ident
    finally:
        server.stop()


def make_settings(database_url: str, identity: Identity, **overrides: Any) -> Settings:
    """Settings for tests: nothing read from the machine's environment."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "auth_issuer": identity.info["issuer"],
        "auth_audience": identity.info["audience"],
        "auth_jwks_url": identity.info["jwks_uri"],
        "auth_ca_file": str(identity.ca_file),
        "auth_scope": identity.info["scope"],
        "addin_client_id": identity.info["client_id"],
        # No rate limits here: they would count in the Redis at REDIS_URL (tests/backend/test_rate_limits.py).
        "api_rate_limit": "",
        "api_lookup_rate_limit": "",
        "api_sync_rate_limit": "",
    }
    values.update(overrides)
    return Settings.from_env({"CALSYNC_ENV": "test"}, **values)


@pytest.fixture
def settings(database_url, identity) -> Settings:
    return make_settings(database_url, identity)


@pytest.fixture
def make_app():
    """Build apps from settings and dispose of their engines afterwards."""
    apps: list[Flask] = []

    def build(settings: Settings, test_config: dict | None = None) -> Flask:
        app = create_app(settings, {"TESTING": True, **(test_config or {})})
        apps.append(app)
        return app

    yield build
    for app in apps:
        runtime_of(app).close()


@pytest.fixture
def app(make_app, settings) -> Flask:
    return make_app(settings)


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def mailbox(db_session):
    """The first seeded rep's mailbox, committed so the app's own sessions see it."""
    row = add_mailbox(db_session, REP_EMAIL, REP_SALESFORCE_ID)
    db_session.commit()
    return row


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def exchange_protocol() -> str:
    """The e2e engine's mailboxes stay on EWS here: these tests are about the API and the workers, not a protocol
    (tests/e2e runs the engine on both, tests/graph covers the add-in API on Graph mailboxes)."""
    return "ews"
