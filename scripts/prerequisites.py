"""What ``make test`` and ``make demo`` need from the machine, checked before anything else runs.

    python3 scripts/prerequisites.py test|demo

A missing program is installed with apt-get where that works (root, Debian or Ubuntu), as CI does; otherwise
the check stops at once with one line naming what to install. A service the tests need that does not answer
(Redis, and PostgreSQL when CALSYNC_TEST_POSTGRES_URL is set) stops it with one line saying how to start it.
``CALSYNC_NO_INSTALL=1`` reports instead of installing. Standard library only: it runs before the venv exists.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Program:
    name: str  # what it is called in messages
    found: str  # a command on PATH, or an absolute path
    package: str  # the Debian package that provides it
    hint: str = ""  # another way out, for the one-line message


def venv_module() -> Program:
    return Program("Python's venv module", "", "python3-venv")


def chromium() -> Program:
    path = os.environ.get("CALSYNC_CHROMIUM", "/usr/bin/chromium")
    return Program("Chromium (browser tests)", path, "chromium", f"or set CALSYNC_CHROMIUM (now {path})")


def redis_server() -> Program:
    return Program("redis-server", "redis-server", "redis-server")


def present(program: Program) -> bool:
    if not program.found:  # the venv module: ensurepip is what Debian leaves out of python3
        return subprocess.run([sys.executable, "-c", "import ensurepip, venv"], capture_output=True).returncode == 0
    return bool(shutil.which(program.found)) or os.access(program.found, os.X_OK)


def can_install() -> bool:
    return (
        not os.environ.get("CALSYNC_NO_INSTALL")
        and shutil.which("apt-get") is not None
        and hasattr(os, "geteuid")
        and os.geteuid() == 0
    )


def apt_install(package: str) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", package]
    if subprocess.run(install, env=env, capture_output=True).returncode == 0:
        return True
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)  # a fresh machine has no lists yet
    return subprocess.run(install, env=env, capture_output=True).returncode == 0


def ensure(program: Program) -> str | None:
    """None when the program is there (installing it if need be), else the one line to print."""
    if present(program):
        return None
    if can_install():
        print(f"installing {program.package} ({program.name})", flush=True)
        if apt_install(program.package) and present(program):
            return None
    hint = f" ({program.hint})" if program.hint else ""
    return f"missing {program.name}: install it with `apt-get install {program.package}`{hint}"


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def redis_answers(url: str) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if answers(host, port):
        return None
    return (
        f"no Redis answers at {host}:{port} (CALSYNC_TEST_REDIS_SERVER): start one with "
        f"`redis-server --daemonize yes --port {port} --save '' --appendonly no`"
    )


def postgres_answers(url: str) -> str | None:
    if not url:
        return None
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    if answers(host, port):
        return None
    return (
        f"no PostgreSQL answers at {host}:{port} (CALSYNC_TEST_POSTGRES_URL): start it, "
        "or run `make test CALSYNC_TEST_POSTGRES_URL=` for SQLite only"
    )


def problems(target: str) -> list[str]:
    programs = [venv_module(), redis_server()] + ([chromium()] if target == "test" else [])
    found = [ensure(program) for program in programs]
    if target == "test":
        found.append(redis_answers(os.environ.get("CALSYNC_TEST_REDIS_SERVER", "redis://127.0.0.1:6379")))
        found.append(postgres_answers(os.environ.get("CALSYNC_TEST_POSTGRES_URL", "")))
    return [line for line in found if line]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("test", "demo"):
        print("usage: prerequisites.py test|demo", file=sys.stderr)
        return 2
    lines = problems(argv[0])
    if lines:
        print(f"make {argv[0]}: " + "; ".join(lines), file=sys.stderr)  # one line, everything to fix
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
