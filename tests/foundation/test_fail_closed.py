"""Finding 2 (fail closed) and 10 (no passwords printed), through the CLI and the app factory.

The built-in secret key is public: it is accepted only when CALSYNC_ENV says development or test. Anywhere
else (CALSYNC_ENV unset included) the app, the worker, the scheduler and the CLI refuse to start with one line
that says what to set.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from calsync.cli import main
from calsync.settings import PROJECT_ROOT

UNSET = {"CALSYNC_ENV": None, "CALSYNC_SECRET_KEY": None, "CALSYNC_SANDBOX_INFO": None}


@pytest.mark.parametrize("command", [["config"], ["serve"], ["worker", "--burst"], ["scheduler", "--once"],
                                     ["enqueue", "a@b.example"], ["mailboxes", "list"]])  # fmt: skip
def test_cli_refuses_the_built_in_key_without_an_explicit_local_environment(command, tmp_path):
    env = {**UNSET, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: CALSYNC_SECRET_KEY is not set")
    assert "CALSYNC_ENV=development" in lines[0]
    assert not (tmp_path / "x.db").exists()  # refused before touching anything


def test_cli_accepts_the_built_in_key_in_development_and_test(tmp_path):
    for environment in ("development", "test"):
        result = CliRunner().invoke(main, ["config"], env={**UNSET, "CALSYNC_ENV": environment})
        assert result.exit_code == 0, result.output
        assert "CALSYNC_SECRET_KEY=(built-in development key)" in result.output


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    return subprocess.run([sys.executable, "-c", code], env={**base, **env, "PYTHONPATH": str(PROJECT_ROOT)},
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_the_wsgi_factory_and_the_rq_worker_class_refuse_with_one_line(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    worker = "from calsync.rq_worker import Worker; from redis import Redis; Worker(['sync'], connection=Redis())"
    for code in ("from calsync.web import create_app; create_app()", worker):
        done = _python(code, env)
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr  # one line, no traceback
        assert "CALSYNC_SECRET_KEY is not set" in done.stderr


def test_a_production_key_starts_and_production_is_the_default(tmp_path):
    tenant = "https://login.microsoftonline.com/t"
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "CALSYNC_SECRET_KEY": "k" * 40,
           "CALSYNC_AUTH_ISSUER": f"{tenant}/v2.0", "CALSYNC_AUTH_AUDIENCE": "api://calsync.example/x",
           "CALSYNC_AUTH_JWKS_URL": f"{tenant}/discovery/v2.0/keys"}  # fmt: skip
    done = _python(
        "from calsync.web import create_app; from backend.globals import runtime_of; "
        "print(runtime_of(create_app()).settings.production)",
        env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


# -- finding 10: passwords in URLs are never printed ------------------------------------------------------------
def test_config_masks_the_passwords_in_database_and_redis_urls():
    env = {**UNSET, "CALSYNC_ENV": "test", "DATABASE_URL": "postgresql+psycopg://calsync:db-s3cret@db.example/calsync",
           "REDIS_URL": "rediss://default:redis-s3cret@cache.example:6380/0"}  # fmt: skip
    result = CliRunner().invoke(main, ["config"], env=env)
    assert result.exit_code == 0, result.output
    assert "db-s3cret" not in result.output and "redis-s3cret" not in result.output
    assert "DATABASE_URL=postgresql+psycopg://calsync:***@db.example/calsync" in result.output
    assert "REDIS_URL=rediss://default:***@cache.example:6380/0" in result.output


def test_worker_and_scheduler_errors_mask_the_redis_password(tmp_path):
    env = {**UNSET, "CALSYNC_ENV": "test", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "REDIS_URL": "redis://:redis-s3cret@127.0.0.1:1/0"}  # fmt: skip
    for command in (["worker", "--burst"], ["scheduler", "--once"]):
        result = CliRunner().invoke(main, command, env=env)
        assert result.exit_code == 1
        assert "no Redis answers at REDIS_URL (redis://:***@127.0.0.1:1/0)" in result.output
        assert "redis-s3cret" not in result.output
