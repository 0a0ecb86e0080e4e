"""Helpers that several test folders share (fixtures stay in the conftest files): the real Redis server the
tests use and a clean database on it, a free loopback port, and stopping the `calsync` processes a test started
(bench/push_bench.py stops its own with it too)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterable, Iterator

import pytest
from redis import Redis

# The Redis server the test folders take their own databases on; another one lets parallel runs stay apart.
REDIS_SERVER = os.environ.get("CALSYNC_TEST_REDIS_SERVER", "redis://127.0.0.1:6379").rstrip("/")


def clean_redis(url: str, purpose: str) -> Iterator[Redis]:
    """The real Redis database at ``url``, flushed before and after (never db 0): each test folder owns one."""
    connection = Redis.from_url(url)
    try:
        connection.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{purpose} need the real Redis at {url}: {exc}")
    assert connection.connection_pool.connection_kwargs["db"] != 0  # never flush the default database
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_processes(processes: Iterable[subprocess.Popen], grace: float = 15.0) -> None:
    """SIGTERM to every process still running, then up to ``grace`` seconds each to exit before a SIGKILL: all
    are told at once, so that they shut down side by side."""
    processes = list(processes)
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
