"""Finding 15: RQ jobs are JSON (never pickle) in web and workers, workers run only calsync's job functions,
and ``REDIS_URL`` with a password (AUTH) and ``rediss://`` (TLS) works end to end: CLI, worker, API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry
from rq.serializers import PickleSerializer
from sqlalchemy import select

from backend.globals import runtime_of
from calsync.web import create_app
from sandbox.tls import make_tls_files
from sync import mailboxes
from sync.models import SyncSession
from sync.runtime import Runtime
from tests.e2e.actors import at
from tests.processes.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
CALSYNC = str(Path(sys.executable).with_name("calsync"))
PASSWORD = "redis-pass-13"
# Redis's AUTH, TLS and job serialisation: nothing here depends on the database, so SQLite only (the processes'
# PostgreSQL runs are tests/processes/test_services.py).
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class SecuredRedis:
    """A private redis-server child that needs a password, and optionally speaks only TLS."""

    def __init__(self, workdir: Path, *, tls: bool) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        args = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir),
                "--requirepass", PASSWORD]  # fmt: skip
        if tls:
            files = make_tls_files(workdir / "tls")
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(files.cert_file),
                     "--tls-key-file", str(files.key_file), "--tls-ca-cert-file", str(files.ca_file),
                     "--tls-auth-clients", "no"]  # fmt: skip
            self.url = f"rediss://:{PASSWORD}@127.0.0.1:{self.port}/1?ssl_ca_certs={files.ca_file}"
        else:
            args += ["--port", str(self.port)]
            self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}/1"
        self.process = subprocess.Popen(args, stdout=(workdir / "redis.log").open("w"), stderr=subprocess.STDOUT)
        client = Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except Exception:  # noqa: BLE001 - not up yet
                assert time.monotonic() < deadline, (workdir / "redis.log").read_text()
                time.sleep(0.05)
        client.close()

    def client(self) -> Redis:
        return Redis.from_url(self.url)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(params=["password", "tls+password"])
def secured_redis(request, tmp_path):
    server = SecuredRedis(tmp_path, tls=request.param == "tls+password")
    yield server
    server.stop()


def _env(sandbox_info_file, database_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env.update(CALSYNC_ENV="test", CALSYNC_SANDBOX_INFO=str(sandbox_info_file), DATABASE_URL=database_url,
               REDIS_URL=redis_url, CALSYNC_JOB_RETRIES="0", PYTHONPATH=str(ROOT))  # fmt: skip
    return env


def _calsync(env, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CALSYNC, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _mailbox(settings, email: str, user_id: str) -> int:
    with Runtime.build(settings, migrate=True).session_factory() as db:
        mailbox = mailboxes.add(db, email, user_id)
        db.commit()
        return mailbox.id


def test_sessions_run_end_to_end_on_a_redis_with_auth_and_tls(world, sandbox_settings, sandbox_info_file,
                                                              secured_redis, tmp_path):  # fmt: skip
    world.outlook().create("Shared over a secured Redis", at(2, 10), at(2, 11), categories=["Salesforce"])
    mailbox_id = _mailbox(sandbox_settings, world.rep.email, world.rep.salesforce_user_id)
    env = _env(sandbox_info_file, sandbox_settings.database_url, secured_redis.url)
    enqueued = _calsync(env, "enqueue", world.rep.email)
    assert enqueued.returncode == 0 and "session enqueued" in enqueued.stdout, enqueued.stderr
    # What an attacker with a copy of Redis sees is JSON, not a pickle.
    raw = secured_redis.client().hget(f"rq:job:sync-{mailbox_id}", "data")
    assert json.loads(zlib.decompress(raw))[2] == [mailbox_id, "now"]
    worker = _calsync(env, "worker", "--burst")
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert PASSWORD not in worker.stdout + worker.stderr
    with Runtime.build(sandbox_settings).session_factory() as db:
        statuses = [s.status for s in db.scalars(select(SyncSession).where(SyncSession.mailbox_id == mailbox_id))]
    assert statuses == ["ok"]
    assert world.salesforce().find_event("Shared over a secured Redis") is not None


def test_the_api_queues_sessions_on_a_redis_with_auth(sandbox_settings, secured_redis, sandboxes):
    from dataclasses import replace

    settings = replace(sandbox_settings, redis_url=secured_redis.url)
    _mailbox(settings, "alice.archer@calsync.example", "005000000000001AAA")
    app = create_app(settings, {"TESTING": True})
    token = sandboxes.identity.issue_token("alice.archer@calsync.example")
    answer = app.test_client().post("/api/v1/sync", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 202, answer.get_json()
    assert secured_redis.client().exists(f"rq:job:{answer.get_json()['id']}")
    runtime_of(app).close()


def test_a_wrong_redis_password_is_a_clean_masked_error(sandbox_settings, sandbox_info_file, secured_redis):
    wrong = secured_redis.url.replace(PASSWORD, "not-the-password")
    result = _calsync(_env(sandbox_info_file, sandbox_settings.database_url, wrong), "worker", "--burst")
    assert result.returncode == 1
    assert "no Redis answers at REDIS_URL" in result.stderr and "not-the-password" not in result.stderr


# -- planted jobs: nothing a Redis writer puts in the queue runs as code ---------------------------------------
class _Payload:
    """Unpickling this runs a command (what pickle allows anyone who can write to Redis)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_worker_runs_neither_planted_pickles_nor_foreign_functions(sandbox_settings, sandbox_info_file,
                                                                     secured_redis, tmp_path):  # fmt: skip
    redis = secured_redis.client()
    pickled_marker, foreign_marker = tmp_path / "pickled-ran", tmp_path / "foreign-ran"
    Queue("sync", connection=redis, serializer=PickleSerializer).enqueue(print, _Payload(pickled_marker),
                                                                         job_id="planted-pickle")  # fmt: skip
    # A JSON job is decodable, but names a function calsync never enqueues.
    Queue("sync", connection=redis).enqueue("os.system", f"touch {foreign_marker}", job_id="planted-json")
    redis.hset("rq:job:planted-json", "data", zlib.compress(json.dumps(
        ["os.system", None, [f"touch {foreign_marker}"], {}]).encode()))  # fmt: skip
    result = _calsync(_env(sandbox_info_file, sandbox_settings.database_url, secured_redis.url), "worker", "--burst",
                      "--no-fork")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert not pickled_marker.exists() and not foreign_marker.exists()
    assert set(FailedJobRegistry("sync", connection=redis).get_job_ids()) == {"planted-pickle", "planted-json"}


def test_the_web_never_unpickles_a_planted_job(sandbox_settings, secured_redis, sandboxes, tmp_path):
    from dataclasses import replace

    settings = replace(sandbox_settings, redis_url=secured_redis.url)
    mailbox_id = _mailbox(settings, "alice.archer@calsync.example", "005000000000001AAA")
    marker = tmp_path / "web-ran"
    redis = secured_redis.client()
    # The job the task pane polls, with a pickle in its meta (what `Job.fetch` loads at once).
    pickling = Queue("sync", connection=redis, serializer=PickleSerializer)
    pickling.enqueue(print, "x", job_id=f"sync-{mailbox_id}", meta={"progress": _Payload(marker)})
    app = create_app(settings, {"TESTING": True})
    token = sandboxes.identity.issue_token("alice.archer@calsync.example")
    answer = app.test_client().get(f"/api/v1/jobs/sync-{mailbox_id}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code < 500, answer.get_data(as_text=True)
    assert not marker.exists()
    runtime_of(app).close()
