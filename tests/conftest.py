"""Shared fixtures: a migrated database on SQLite (always) and PostgreSQL (when configured), real Redis.

``CALSYNC_TEST_POSTGRES_URL`` (set by ``make test`` and ``.ci/run``) adds a PostgreSQL run of every test that
uses ``database_url``; each test gets its own schema there, so runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from calsync.database import make_engine, make_session_factory, upgrade

# One Chromium per run for every browser test: a second sync Playwright beside the first one fails.
from tests.browser import browser_page, chromium  # noqa: E402, F401

# The built-in secret key and local defaults need an explicit development or test environment (finding: fail
# closed); the CLI runs and the processes the tests start inherit this.
os.environ.setdefault("CALSYNC_ENV", "test")
POSTGRES_URL = os.environ.get("CALSYNC_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


# The Exchange protocols the engine's e2e tests and the simulation run on (tests/e2e/engine.py). A test about one
# protocol only says ``@pytest.mark.parametrize("exchange_protocol", ["graph"])``.
EXCHANGE_PROTOCOLS = ("ews", "graph")


@pytest.fixture(params=EXCHANGE_PROTOCOLS)
def exchange_protocol(request) -> str:
    """The protocol of the engine's mailboxes: ``ews`` (Exchange Web Services) or ``graph`` (Microsoft Graph)."""
    return request.param


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> Iterator[str]:
    """A URL of an empty, migrated database, on each configured backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'calsync.db'}"
        upgrade(url)
        yield url
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db_engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(db_engine) -> Iterator[Session]:
    factory = make_session_factory(db_engine)
    with factory() as session:
        yield session
