"""The soak's own services and processes: a ``redis-server`` it may restart, a database it creates and drops, the
sandboxes as a ``calsync sandbox`` process, and the ``calsync`` processes (workers, scheduler, listener).

Nothing here touches a shared service: the Redis server is the soak's own (its own port and directory), the
PostgreSQL database is created for the run (``soak_<hex>``) and dropped after it, and only that database's
connections are ever terminated.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support import free_port, sigkill_tree, start_calsync, wait_for

log = logging.getLogger("soak")


# -- Redis -------------------------------------------------------------------------------------------------------
class RedisServer:
    """A ``redis-server`` child on a port of its own, with an append-only file in its directory: a restart keeps
    the queue, as a production Redis with persistence does (the jobs then must all finish: "no job lost")."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = port or free_port()
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        out = (self.dir / "redis.log").open("a")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "everysec", "--dir", str(self.dir)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        client = Redis.from_url(self.url, socket_timeout=1)

        def up() -> bool:
            try:
                return bool(client.ping())
            except Exception:  # noqa: BLE001 - not up yet (or still loading the append-only file)
                return False

        try:
            wait_for(up, 30, "redis-server")
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes its append-only file and exits
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, down_for: float) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


# -- the database ------------------------------------------------------------------------------------------------
class Database:
    """A fresh database for the run: PostgreSQL (created as ``soak_<hex>`` next to ``admin_url``'s database, and
    dropped at the end) when ``admin_url`` is given, else a SQLite file in the work directory."""

    def __init__(self, workdir: Path, admin_url: str = "") -> None:
        self.admin_url = admin_url
        self.name = f"soak_{uuid.uuid4().hex[:10]}"
        if admin_url:
            self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)
        else:
            self.url = f"sqlite:///{workdir / 'calsync.db'}"

    @property
    def postgres(self) -> bool:
        return bool(self.admin_url)

    def create(self) -> None:
        if self.postgres:
            self._admin(f'CREATE DATABASE "{self.name}"')

    def terminate_connections(self) -> int:
        """``pg_terminate_backend`` on every connection to this run's database (never anyone else's)."""
        if not self.postgres:
            return 0
        rows = self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()",
            name=self.name,
        )
        return len(rows)

    def drop(self) -> None:
        if self.postgres:
            self.terminate_connections()
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}"')

    def _admin(self, sql: str, **params) -> list:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                result = connection.execute(text(sql), params)
                return result.all() if result.returns_rows else []
        finally:
            engine.dispose()


# -- processes ---------------------------------------------------------------------------------------------------
@dataclass
class Managed:
    """One long-running ``calsync`` process the soak keeps alive (restarted when it dies, logged as a finding
    unless the soak killed it itself)."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    starts: int = 0
    killed_by_soak: bool = False
    unexpected_exits: list[dict] = field(default_factory=list)

    def start(self) -> None:
        with self.log_path.open("a") as out:
            out.write(f"\n=== start {self.starts + 1} at {time.strftime('%H:%M:%S')} ===\n")
        self.process = start_calsync(self.args, self.env, self.log_path, append=True, new_session=True)
        self.starts += 1
        self.killed_by_soak = False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def sigkill(self) -> list[int]:
        """SIGKILL the process and its children (a worker's work horse): a machine that died."""
        if not self.alive():
            return []
        self.killed_by_soak = True
        return sigkill_tree(self.process)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (a worker finishes its session: warm shutdown), SIGKILL after ``timeout``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.killed_by_soak = True
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.sigkill()
        return self.process.returncode

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class SandboxProcess:
    """``calsync sandbox --seed empty`` on free ports, with a roster of ``reps`` reps (``CALSYNC_SANDBOX_REPS``)."""

    def __init__(self, workdir: Path, reps: int, env: dict[str, str]) -> None:
        self.info_path = workdir / "sandbox.json"
        self.managed = Managed(
            "sandbox",
            ["sandbox", "--seed", "empty", "--no-persist", "--info", str(self.info_path), "--state-dir",
             str(workdir / "sandbox"), "--salesforce-port", "0", "--exchange-port", "0", "--exchange-https-port",
             "0", "--identity-port", "0"],
            dict(env, CALSYNC_SANDBOX_REPS=str(reps)),
            workdir / "sandbox.log",
        )  # fmt: skip

    def start(self) -> dict:
        self.managed.start()

        def ready() -> bool:
            if not self.managed.alive():
                raise RuntimeError(f"calsync sandbox exited:\n{self.managed.tail()}")
            return self.info_path.exists() and "Sandboxes are running" in self.managed.tail(200)

        wait_for(ready, 120, "the sandboxes")
        return json.loads(self.info_path.read_text())

    def stop(self) -> None:
        self.managed.stop(20)
