"""Fixtures: the e2e sandboxes and engine, a private ``redis-server`` (never the shared one on 6379: this one is
stopped and started again by the tests), and a PostgreSQL database whose connections a test can terminate.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from redis import Redis
from sqlalchemy import create_engine, text

from calsync.database import upgrade
from tests.e2e.conftest import sandbox_info_file, sandbox_settings, sandboxes, world  # noqa: F401
from tests.e2e.engine import engine  # noqa: F401
from tests.support import free_port

REDIS_DB = 10  # this helper's test database number (also on the private server, for clarity)
POSTGRES_URL = os.environ.get("CALSYNC_TEST_POSTGRES_URL", "")
VICTIM = "calsync-victim"  # application_name of the connections a test terminates


class RedisServer:
    """A ``redis-server`` child process on a free port, without persistence: a restart loses every key, the
    worst case of a real restart."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/{REDIS_DB}"

    def start(self) -> None:
        log = (self.workdir / "redis.log").open("a")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except Exception:  # noqa: BLE001 - not up yet
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def restart(self, down_for: float = 0.5) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL schema; connections made with this URL carry ``application_name`` `VICTIM`."""
    if not POSTGRES_URL:
        pytest.skip("CALSYNC_TEST_POSTGRES_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}&application_name={VICTIM}-{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": f"{VICTIM}-{schema}"},
            )
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def terminate_connections(url: str) -> int:
    """``pg_terminate_backend`` on every connection opened with ``url`` (by its application_name)."""
    name = url.rsplit("application_name=", 1)[1]
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            rows = connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": name},
            ).all()
        return len(rows)
    finally:
        admin.dispose()
