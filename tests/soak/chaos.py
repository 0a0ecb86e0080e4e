"""Faults at random moments (seeded), each logged with its time: SIGKILL of a worker (or the scheduler, or the
listener), a restart of the soak's Redis, ``pg_terminate_backend`` on the soak database's connections, and bursts of
503s and throttling from the sandboxes (their ``/__sandbox__/faults`` knobs; see each sandbox's ``faults.py``).

`Supervisor` keeps the ``calsync`` processes running: one the soak killed comes back after its down time; one that
died by itself is restarted too, and recorded as a finding (with the tail of its log).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.soak.sandbox_admin import SandboxAdmin
from tests.soak.services import Database, Managed, RedisServer
from tests.support import children

log = logging.getLogger("soak.chaos")

# kind -> weight; kinds whose target does not exist (no PostgreSQL, no listener) are left out.
KINDS = {
    "worker_sigkill": 22, "scheduler_sigkill": 5, "listener_sigkill": 5, "redis_restart": 12, "postgres_kill": 12,
    "salesforce_503_burst": 10, "salesforce_unavailable_window": 5, "salesforce_lock_row_burst": 5,
    "ews_503_burst": 8, "ews_server_busy_burst": 8, "graph_429_burst": 8, "graph_503_burst": 6,
    "slow_sandboxes_window": 6, "webhook_restart": 6, "salesforce_scan_sigkill": 4,
}  # fmt: skip
NEEDS = {"listener_sigkill": "listener", "webhook_restart": "webhook", "salesforce_scan_sigkill": "scanner"}


@dataclass
class Supervisor:
    processes: list[Managed]
    lock: threading.Lock = field(default_factory=threading.Lock)
    restart_at: dict[str, float] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def down_for(self, process: Managed, seconds: float) -> None:
        """The soak took ``process`` down: start it again in ``seconds``."""
        with self.lock:
            self.restart_at[process.name] = time.monotonic() + seconds

    def check(self) -> None:
        with self.lock:
            for process in self.processes:
                if process.alive():
                    continue
                due = self.restart_at.get(process.name)
                if due is not None:
                    if time.monotonic() < due:
                        continue
                    del self.restart_at[process.name]
                elif process.process is not None:
                    finding = {"at": now_iso(), "process": process.name, "returncode": process.process.returncode,
                               "log_tail": process.tail(40)}  # fmt: skip
                    process.unexpected_exits.append(finding)
                    self.findings.append(finding)
                    log.error("%s exited by itself (rc %s); restarting it. Its log ends:\n%s", process.name,
                              process.process.returncode, finding["log_tail"])  # fmt: skip
                process.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the supervisor must outlive anything
                log.exception("supervisor pass failed")


class Skipped(Exception):
    """The fault has no target right now (e.g. every worker is already down): not injected, not counted."""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Chaos:
    def __init__(self, rng: random.Random, *, mean_interval: float, supervisor: Supervisor, workers: list[Managed],
                 scheduler: Managed, listener: Managed | None, redis: RedisServer, database: Database,
                 admin: SandboxAdmin, journal: Path, webhook: Managed | None = None,
                 scanner: Managed | None = None) -> None:  # fmt: skip
        self.rng = rng
        self.mean_interval = mean_interval
        self.supervisor = supervisor
        self.workers = workers
        self.scheduler = scheduler
        self.listener = listener
        self.webhook = webhook  # calsync serve: the Graph webhook
        self.scanner = scanner  # calsync salesforce-scan
        self.redis = redis
        self.database = database
        self.admin = admin
        self.journal = journal
        self.kinds = {k: w for k, w in KINDS.items()
                      if not (k == "postgres_kill" and not database.postgres)
                      and not (k in NEEDS and getattr(self, NEEDS[k]) is None)}  # fmt: skip
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.rng.expovariate(1 / self.mean_interval)):
            kind = self.rng.choices(list(self.kinds), weights=list(self.kinds.values()))[0]
            try:
                detail = getattr(self, kind)()
            except Skipped:
                continue
            except Exception as exc:  # noqa: BLE001 - a fault that could not be injected is logged, not fatal
                self.errors.append(f"{kind}: {exc!r}")
                log.warning("fault %s could not be injected: %r", kind, exc)
                continue
            self.counts[kind] += 1
            entry = {"at": now_iso(), "kind": kind, **detail}
            log.info("FAULT %s %s", kind, json.dumps(detail, default=str))
            with self.journal.open("a") as out:
                out.write(json.dumps(entry, default=str) + "\n")

    # -- process faults -------------------------------------------------------------------------------------------
    def _sigkill(self, process: Managed, longest: float = 8.0) -> dict[str, Any]:
        down = round(self.rng.uniform(0.5, longest), 1)
        with self.supervisor.lock:  # killed and given its restart time at once: never taken for a crash
            pids = process.sigkill()
            self.supervisor.restart_at[process.name] = time.monotonic() + down
        return {"process": process.name, "pids": pids, "down_s": down}

    def worker_sigkill(self) -> dict[str, Any]:
        """Mostly a worker in the middle of a session (it has a work horse): the case that leaves a job started,
        a lock held and pairs pending."""
        alive = [w for w in self.workers if w.alive()]
        if not alive:
            raise Skipped("no worker is up")
        busy = [w for w in alive if children(w.process.pid)]
        target = self.rng.choice(busy if busy and self.rng.random() < 0.75 else alive)
        return {**self._sigkill(target), "mid_session": target in busy}

    def scheduler_sigkill(self) -> dict[str, Any]:
        if not self.scheduler.alive():
            raise Skipped("the scheduler is down")
        return self._sigkill(self.scheduler)

    def listener_sigkill(self) -> dict[str, Any]:
        if not self.listener.alive():
            raise Skipped("the listener is down")
        return self._sigkill(self.listener)

    def webhook_restart(self) -> dict[str, Any]:
        """The backend serving Graph's webhook dies and comes back: Graph's deliveries meanwhile fail and are not
        retried (as Graph drops them after its retries), so only the periodic safety net covers those changes."""
        if not self.webhook.alive():
            raise Skipped("the webhook server is down")
        return self._sigkill(self.webhook, longest=10.0)

    def salesforce_scan_sigkill(self) -> dict[str, Any]:
        if not self.scanner.alive():
            raise Skipped("the Salesforce scan is down")
        return self._sigkill(self.scanner)

    def redis_restart(self) -> dict[str, Any]:
        down = round(self.rng.uniform(0.5, 6.0), 1)
        self.redis.restart(down)
        return {"down_s": down, "port": self.redis.port}

    def postgres_kill(self) -> dict[str, Any]:
        return {"terminated": self.database.terminate_connections(), "database": self.database.name}

    # -- sandbox faults -------------------------------------------------------------------------------------------
    def salesforce_503_burst(self) -> dict[str, Any]:
        n = self.rng.randint(3, 20)
        self.admin.faults("salesforce", fail_next_requests=n)
        return {"next_requests": n}

    def salesforce_unavailable_window(self) -> dict[str, Any]:
        rate, seconds = round(self.rng.uniform(0.2, 0.6), 2), round(self.rng.uniform(3, 12), 1)
        self.admin.faults("salesforce", unavailable_rate=rate)
        self._stop.wait(seconds)
        self.admin.faults("salesforce", unavailable_rate=0.0)
        return {"rate": rate, "seconds": seconds}

    def salesforce_lock_row_burst(self) -> dict[str, Any]:
        n = self.rng.randint(2, 10)
        self.admin.faults("salesforce", fail_next_writes=n)
        return {"next_writes": n}

    def ews_503_burst(self) -> dict[str, Any]:
        n = self.rng.randint(3, 20)
        self.admin.faults("exchange", http_503_next=n)
        return {"next_requests": n}

    def ews_server_busy_burst(self) -> dict[str, Any]:
        n, back_off = self.rng.randint(3, 20), self.rng.choice((100, 500, 1500))
        self.admin.faults("exchange", server_busy_next=n, back_off_ms=back_off)
        return {"next_requests": n, "back_off_ms": back_off}

    def graph_429_burst(self) -> dict[str, Any]:
        n, retry_after = self.rng.randint(3, 20), self.rng.choice((1, 2))
        self.admin.faults("graph", http_429_next=n, retry_after=retry_after)
        return {"next_requests": n, "retry_after": retry_after}

    def slow_sandboxes_window(self) -> dict[str, Any]:
        """Every sandbox answers late for a while: sessions last longer, so kills land mid-session more often."""
        latency, seconds = self.rng.choice((150, 300, 600)), round(self.rng.uniform(5, 15), 1)
        for sandbox in ("salesforce", "exchange", "graph"):
            self.admin.faults(sandbox, latency_ms=latency)
        self._stop.wait(seconds)
        for sandbox in ("salesforce", "exchange", "graph"):
            self.admin.faults(sandbox, latency_ms=0)
        return {"latency_ms": latency, "seconds": seconds}

    def graph_503_burst(self) -> dict[str, Any]:
        n = self.rng.randint(3, 15)
        self.admin.faults("graph", http_503_next=n)
        return {"next_requests": n}
