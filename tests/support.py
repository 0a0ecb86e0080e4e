"""Helpers that several test folders share (fixtures stay in the conftest files): the real Redis server the
tests use and a clean database on it, a free loopback port, ``calsync`` commands run as real processes, and
stopping the processes a test started (bench/push_bench.py stops its own with it too)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

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


# -- calsync as real processes (the worker process tests, the chaos soak) ------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
CALSYNC = str(Path(sys.executable).with_name("calsync"))  # the console script of this virtualenv


def start_calsync(args: list[str], env: dict[str, str], log: Path, *, append: bool = False,
                  new_session: bool = False) -> subprocess.Popen:  # fmt: skip
    """``calsync <args>`` from the checkout's root, its output (both streams) to ``log``. ``new_session``: its
    own process group, so that a Ctrl-C of the caller does not reach it (the soak stops its processes itself)."""
    out = log.open("a" if append else "w")
    try:
        return subprocess.Popen([CALSYNC, *args], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=new_session)  # fmt: skip
    finally:
        out.close()  # the child holds its own copy


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (a worker's work horse), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def sigkill_tree(process: subprocess.Popen) -> list[int]:
    """SIGKILL a process and its children at once (a machine that died: no warm shutdown); the pids killed."""
    pids = [*children(process.pid), process.pid]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(10)
    return pids


def wait_for(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.05) -> None:
    """Poll ``predicate`` until it is true; TimeoutError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


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
