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
# protocol only says ``@pytest.mark.parametrize("exchange_protocol", ["graph"])``. A test on both protocols and both
# databases runs on PostgreSQL on EWS only (its Graph run is on SQLite): what differs between the databases lies in
# the link store and the session's transactions, which the protocol does not change. A module marked
# ``graph_on_postgresql`` keeps its Graph run on PostgreSQL too; a test about Graph only keeps both databases.
EXCHANGE_PROTOCOLS = ("ews", "graph")


@pytest.fixture(params=EXCHANGE_PROTOCOLS)
def exchange_protocol(request) -> str:
    """The protocol of the engine's mailboxes: ``ews`` (Exchange Web Services) or ``graph`` (Microsoft Graph)."""
    return request.param


def pytest_collection_modifyitems(config, items: list[pytest.Item]) -> None:
    """Deselect the Graph-on-PostgreSQL run of each test that also runs on EWS with PostgreSQL (see
    ``EXCHANGE_PROTOCOLS``): a quarter of the engine's e2e runs, the same database code a second time."""

    def params(item: pytest.Item) -> dict:
        return getattr(getattr(item, "callspec", None), "params", {})

    def sibling(item: pytest.Item) -> tuple:
        rest = sorted((name, repr(value)) for name, value in params(item).items() if name != "exchange_protocol")
        return item.path, item.cls, item.originalname, tuple(rest)

    on_postgresql = [item for item in items if params(item).get("database_url") == "postgresql"]
    ews = {sibling(item) for item in on_postgresql if params(item).get("exchange_protocol") == "ews"}
    dropped = [
        item
        for item in on_postgresql
        if params(item).get("exchange_protocol") == "graph"
        and sibling(item) in ews
        and item.get_closest_marker("graph_on_postgresql") is None
    ]
    if dropped:
        dropped_ids = {id(item) for item in dropped}
        items[:] = [item for item in items if id(item) not in dropped_ids]
        config.hook.pytest_deselected(items=dropped)


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
