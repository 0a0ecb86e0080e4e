"""Fixtures for the admin panel: an app on the test database (Redis db 12), accounts, a logged-in client,
and the panel served over HTTP in a thread for the browser tests."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from redis import Redis
from werkzeug.serving import make_server

from admin_panel.accounts import create
from backend.globals import runtime_of
from calsync.database import make_engine, make_session_factory
from calsync.settings import Settings
from calsync.web import create_app
from tests.support import REDIS_SERVER, clean_redis

REDIS_URL = f"{REDIS_SERVER}/12"
ADMIN = ("admin@calsync.example", "admin-password-1")
VIEWER = ("viewer@calsync.example", "viewer-password-1")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def redis_db() -> Iterator[Redis]:
    yield from clean_redis(REDIS_URL, "admin panel tests")


def add_accounts(database_url: str) -> None:
    db_engine = make_engine(database_url)
    with make_session_factory(db_engine)() as db:
        create(db, *ADMIN, role="admin")
        create(db, *VIEWER, role="viewer")
        db.commit()
    db_engine.dispose()


@pytest.fixture
def panel_settings(database_url) -> Settings:
    return Settings.from_env({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL})


@pytest.fixture
def app(panel_settings, redis_db):
    add_accounts(panel_settings.database_url)
    app = create_app(panel_settings, {"TESTING": True})
    yield app
    runtime_of(app).close()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_of(response) -> str:
    match = CSRF.search(response.get_data(as_text=True))
    assert match, "no CSRF token in the page"
    return match.group(1)


def log_in(client, email: str, password: str):
    token = csrf_of(client.get("/admin/login"))
    return client.post("/admin/login", data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def admin_client(client):
    assert log_in(client, *ADMIN).status_code == 303
    return client


class ServedPanel:
    """The whole backend app (panel included) on a free loopback port, in a thread."""

    def __init__(self, settings: Settings) -> None:
        add_accounts(settings.database_url)
        self.app = create_app(settings)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)
        runtime_of(self.app).close()


@pytest.fixture
def served_panel(sandbox_settings, redis_db) -> Iterator[ServedPanel]:  # noqa: F811 - the e2e fixture
    panel = ServedPanel(replace(sandbox_settings, redis_url=REDIS_URL))
    yield panel
    panel.close()


from tests.e2e.conftest import sandbox_info_file, sandbox_settings, sandboxes, world  # noqa: E402,F401
from tests.e2e.engine import engine  # noqa: E402,F401
