"""Fixtures for the add-in API against the real parts: the sandboxes (Salesforce, EWS, identity provider) of
``tests/e2e``, a real database, the real Redis (db 11 only, flushed around each test) for RQ, and sessions run
by an in-process RQ ``SimpleWorker`` in burst mode with the worker's own job context.

Import them into a conftest (``from tests.backend.addin_fixtures import *``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from flask import Flask
from redis import Redis
from rq import Queue, SimpleWorker

from backend.globals import runtime_of
from calsync.settings import Settings
from calsync.web import create_app
from sync import jobs, mailboxes
from sync.runtime import Runtime
from tests.e2e.conftest import sandbox_info_file, sandbox_settings, sandboxes, world  # noqa: F401
from tests.e2e.engine import engine  # noqa: F401
from tests.support import REDIS_SERVER, clean_redis

REDIS_DB = 11
REDIS_URL = f"{REDIS_SERVER}/{REDIS_DB}"

__all__ = [
    "REDIS_URL", "addin_settings", "api_app", "api_client", "engine", "redis11", "run_worker", "sandbox_info_file",
    "sandbox_settings", "sandboxes", "token_for", "world",
]  # fmt: skip


@pytest.fixture
def redis11() -> Iterator[Redis]:
    yield from clean_redis(REDIS_URL, "add-in tests")


@pytest.fixture
def addin_settings(sandbox_settings, redis11) -> Settings:  # noqa: F811
    """The sandboxes' settings (EWS, Salesforce, identity provider), the test database and Redis db 11."""
    return replace(sandbox_settings, redis_url=REDIS_URL, environment="test", job_retries=0)


@pytest.fixture
def api_app(addin_settings, engine) -> Iterator[Flask]:  # noqa: F811
    """The backend app; ``engine`` registered the default rep's mailbox."""
    app = create_app(addin_settings, {"TESTING": True})
    yield app
    runtime_of(app).close()


@pytest.fixture
def api_client(api_app):
    return api_app.test_client()


@pytest.fixture
def token_for(sandboxes) -> Callable[..., str]:  # noqa: F811
    def issue(email: str, **kwargs) -> str:
        return sandboxes.identity.issue_token(email, **kwargs)

    return issue


@pytest.fixture
def run_worker(addin_settings, redis11) -> Iterator[Callable[[], int]]:
    """Run every queued session job now, in this process (RQ ``SimpleWorker``, burst mode); returns how many
    jobs it ran."""
    jobs.install(Runtime.build(addin_settings, redis=redis11).worker_context())

    def run() -> int:
        queue = Queue(addin_settings.sync_queue, connection=redis11)
        before = queue.count
        SimpleWorker([queue], connection=redis11).work(burst=True, with_scheduler=False)
        return before

    yield run
    jobs.install(None)


def add_mailbox(settings: Settings, email: str, salesforce_user_id: str, time_zone: str) -> None:
    runtime = Runtime.build(settings)
    with runtime.session_factory() as db:
        mailboxes.add(db, email, salesforce_user_id, time_zone=time_zone)
        db.commit()
    runtime.close()
