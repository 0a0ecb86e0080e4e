"""``make test`` / ``make demo`` check the machine first (scripts/prerequisites.py): a missing program is
installed with apt-get where that works, else one line says what to install; a test service that does not
answer stops the run with one line. apt-get here is a stand-in on PATH, so the machine is never changed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REDIS_SERVER, free_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prerequisites.py"


def run(target: str, path: Path, **env: str) -> subprocess.CompletedProcess:
    """The check with PATH reduced to ``path`` (so no redis-server, no apt-get unless put there)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    full.update({"PATH": str(path), "CALSYNC_CHROMIUM": sys.executable, **env})  # any executable: a Chromium
    return subprocess.run([sys.executable, str(SCRIPT), target], env=full, capture_output=True, text=True)


def fake_apt_get(bin_dir: Path, provides: str) -> Path:
    """An apt-get that 'installs' by dropping an executable ``provides`` into ``bin_dir`` and logs its calls."""
    script = bin_dir / "apt-get"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{bin_dir}/apt.log"\n'
        f'[ "$1" = install ] && printf "#!/bin/sh\\n" > "{bin_dir}/{provides}" \\\n'
        f'  && /bin/chmod +x "{bin_dir}/{provides}"\n'
        "exit 0\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.fixture
def redis_url() -> str:
    return REDIS_SERVER


def test_a_missing_program_stops_at_once_with_one_line_naming_it(tmp_path):
    result = run("demo", tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "make demo: missing redis-server: install it with `apt-get install redis-server`"
    ]


def test_a_missing_chromium_is_named_with_the_variable_that_points_elsewhere(tmp_path, redis_url):
    result = run(
        "test",
        tmp_path,
        CALSYNC_CHROMIUM=str(tmp_path / "no-chromium"),
        CALSYNC_NO_INSTALL="1",
        CALSYNC_TEST_REDIS_SERVER=redis_url,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "apt-get install chromium" in line and "CALSYNC_CHROMIUM" in line and "apt-get install redis-server" in line


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="apt-get installs only as root")
def test_a_missing_program_is_installed_with_apt_get_where_it_can(tmp_path):
    fake_apt_get(tmp_path, "redis-server")
    result = run("demo", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "redis-server").exists()
    assert "install -y -q redis-server" in (tmp_path / "apt.log").read_text()
    assert run("demo", tmp_path, CALSYNC_NO_INSTALL="1").returncode == 0  # there now: nothing more to do


def test_test_services_that_do_not_answer_stop_the_run_with_one_line(tmp_path):
    fake_apt_get(tmp_path, "redis-server")
    (tmp_path / "redis-server").write_text("#!/bin/sh\n")
    (tmp_path / "redis-server").chmod(0o755)
    redis_port, postgres_port = free_port(), free_port()
    result = run(
        "test",
        tmp_path,
        CALSYNC_TEST_REDIS_SERVER=f"redis://127.0.0.1:{redis_port}",
        CALSYNC_TEST_POSTGRES_URL=f"postgresql+psycopg://postgres@127.0.0.1:{postgres_port}/test",
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert f"no Redis answers at 127.0.0.1:{redis_port}" in line and "redis-server --daemonize yes" in line
    assert f"no PostgreSQL answers at 127.0.0.1:{postgres_port}" in line and "CALSYNC_TEST_POSTGRES_URL=" in line


def test_everything_there_passes(tmp_path, redis_url):
    (tmp_path / "redis-server").write_text("#!/bin/sh\n")
    (tmp_path / "redis-server").chmod(0o755)
    assert run("test", tmp_path, CALSYNC_TEST_REDIS_SERVER=redis_url).returncode == 0
