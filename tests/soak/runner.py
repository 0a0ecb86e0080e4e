"""One soak run, start to end: services, mailboxes, processes, workload and faults for ``minutes``, quiescence,
checks, report (``report.json`` in the work directory, beside every process's log, the ledger and the fault log).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from redis import Redis

from calsync.database import make_engine, make_session_factory, upgrade
from calsync.settings import Settings
from sync import mailboxes as mailbox_store
from sync.schedule import schedule_config
from tests.soak import checks
from tests.soak.chaos import Chaos, Supervisor
from tests.soak.ledger import Ledger
from tests.soak.sandbox_admin import SandboxAdmin
from tests.soak.services import Database, Managed, RedisServer, SandboxProcess
from tests.soak.workload import Workload
from tests.support import CALSYNC, ROOT, free_port, wait_for

log = logging.getLogger("soak")


@dataclass
class Options:
    minutes: float
    seed: int
    workdir: Path
    mailboxes: int = 20
    postgres_admin_url: str = ""  # empty: SQLite
    ops_per_second: float = 1.0
    fault_every: float = 30.0  # mean seconds between two faults
    populate: int = 4  # items per mailbox before the processes start
    graph: bool = True  # Exchange Online mailboxes alternate between Graph and EWS
    push: bool = True  # the webhook (calsync serve over https) and calsync salesforce-scan run too
    redis_port: int | None = None  # the soak's own redis-server; None: a free port
    safety_minutes: int = 2  # CALSYNC_PUSH_SAFETY_INTERVAL_MINUTES: the poll under a mailbox whose push is up


def process_env(options: Options, info_path: Path, database_url: str, redis_url: str,
                public_url: str = "") -> dict[str, str]:  # fmt: skip
    """The environment of every calsync process: the sandboxes, the soak's database and Redis, the backend's
    https address (Graph's webhook), and a fast schedule (every mailbox due each minute, short locks so a killed
    worker's session is handed back soon)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALSYNC_", "SALESFORCE_", "EXCHANGE_", "GRAPH_"))}
    env.update(
        CALSYNC_ENV="test", CALSYNC_SANDBOX_INFO=str(info_path), DATABASE_URL=database_url, REDIS_URL=redis_url,
        CALSYNC_SYNC_INTERVALS="1", CALSYNC_SCHEDULER_INTERVAL="3", CALSYNC_SCHEDULER_LEADER_TTL="15",
        CALSYNC_LOCK_TTL="9", CALSYNC_JOB_RETRIES="3", CALSYNC_JOB_RETRY_INTERVALS="2,5,10",
        CALSYNC_JOB_TIMEOUT="300", CALSYNC_HTTP_TIMEOUT="20", PYTHONUNBUFFERED="1",
        CALSYNC_SANDBOX_REPS=str(options.mailboxes),
        # Push (the listener, Graph subscriptions, the Salesforce scan) stretches a mailbox's periodic sessions to
        # a safety net (6 h by default) while its channel is up: here a couple of minutes, so that sessions are
        # mostly push-driven and a change whose notification was lost (the webhook down) still syncs in the run.
        CALSYNC_PUSH_SAFETY_INTERVAL_MINUTES=str(options.safety_minutes), CALSYNC_PUSH_FALLBACK_INTERVAL_MINUTES="1",
    )  # fmt: skip
    if public_url:
        env["CALSYNC_PUBLIC_URL"] = public_url
    return env


def has_command(name: str, env: dict[str, str]) -> bool:
    done = subprocess.run([CALSYNC, name, "--help"], env=env, cwd=ROOT, capture_output=True, text=True)
    return done.returncode == 0


def run(options: Options) -> dict[str, Any]:
    workdir = options.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    log.info("soak: seed %d, %g minutes, %d mailboxes, work directory %s", options.seed, options.minutes,
             options.mailboxes, workdir)  # fmt: skip
    rng = random.Random(options.seed)
    redis_server = RedisServer(workdir, options.redis_port)
    database = Database(workdir, options.postgres_admin_url)
    sandbox = SandboxProcess(workdir, options.mailboxes, process_env(options, workdir / "sandbox.json", "", ""))
    processes: list[Managed] = []
    report: dict[str, Any] = {"seed": options.seed, "minutes": options.minutes, "workdir": str(workdir),
                              "database": "postgresql" if database.postgres else "sqlite"}  # fmt: skip
    supervisor = None
    workload = None
    engine = None
    try:
        redis_server.start()
        database.create()
        upgrade(database.url)  # once, before any process: two workers must not migrate a fresh database at once
        info = sandbox.start()
        webhook_port = free_port()
        public_url = f"https://localhost:{webhook_port}" if options.push else ""
        env = process_env(options, sandbox.info_path, database.url, redis_server.url, public_url)
        settings = Settings.from_env(env)
        engine = make_engine(database.url)
        factory = make_session_factory(engine)
        emails = add_mailboxes(factory, info, options)
        report["mailboxes"] = emails

        ledger = Ledger(workdir / "ledger.jsonl")
        workload = Workload(info, sorted(emails), ledger, random.Random(rng.random()), options.seed)
        workload.populate(options.populate)
        log.info("populated %d items", len(ledger.items))

        workers = [Managed(f"worker{n}", ["worker", "--name", f"soak-worker{n}-{options.seed}"], env,
                           workdir / f"worker{n}.log") for n in (1, 2)]  # fmt: skip
        scheduler = Managed("scheduler", ["scheduler"], env, workdir / "scheduler.log")
        listener = None
        if has_command("listener", env):
            listener = Managed("listener", ["listener"], env, workdir / "listener.log")
        webhook = scanner = None
        if options.push:
            # The backend as an operator serves it to Graph: https on a certificate from a CA that Graph trusts
            # (the sandboxes' own, which the Graph sandbox validates notification URLs against).
            tls = workdir / "sandbox" / "tls"
            webhook = Managed("webhook", ["serve", "--host", "127.0.0.1", "--port", str(webhook_port), "--cert-file",
                                          str(tls / "server.pem"), "--key-file", str(tls / "server-key.pem")],
                              env, workdir / "webhook.log")  # fmt: skip
            if has_command("salesforce-scan", env):
                scanner = Managed("salesforce-scan", ["salesforce-scan"], env, workdir / "salesforce-scan.log")
        processes = [*workers, scheduler, *(p for p in (webhook, listener, scanner) if p is not None)]
        report["processes"] = [p.name for p in processes]
        for process in processes:
            process.start()
            if process is webhook:
                wait_for(lambda: webhook_up(public_url, info), 60, "the webhook server")
        supervisor = Supervisor(processes)
        supervisor.start()
        admin = SandboxAdmin(info)
        chaos = Chaos(random.Random(rng.random()), mean_interval=options.fault_every, supervisor=supervisor,
                      workers=workers, scheduler=scheduler, listener=listener, redis=redis_server,
                      database=database, admin=admin, journal=workdir / "faults.jsonl", webhook=webhook,
                      scanner=scanner)  # fmt: skip

        started = dt.datetime.now(dt.UTC)
        chaos.start()
        deadline = time.monotonic() + options.minutes * 60
        period = 1.0 / options.ops_per_second
        next_report = time.monotonic() + 60
        while time.monotonic() < deadline:
            tick = time.monotonic()
            workload.step()
            if time.monotonic() > next_report:
                next_report += 60
                log.info("workload: %d edits so far (%s); faults %s", ledger.edits, dict(workload.done),
                         dict(chaos.counts))  # fmt: skip
            time.sleep(max(0.0, period - (time.monotonic() - tick)))
        chaos.stop()
        ended = dt.datetime.now(dt.UTC)
        log.info("workload and faults stopped after %s: %d edits; quiescing", ended - started, ledger.edits)
        admin.calm()
        time.sleep(2)
        supervisor.check()  # anything taken down comes back now
        report["run"] = {"started": started.isoformat(), "ended": ended.isoformat(),
                         "duration_s": round((ended - started).total_seconds())}  # fmt: skip
        report["faults"] = {"by_kind": dict(chaos.counts), "total": sum(chaos.counts.values()),
                            "not_injected": chaos.errors, "sandbox_injected": admin.injected()}  # fmt: skip
        report["workload"] = {
            "edits": ledger.edits, "by_op": dict(ledger.counts), "done": dict(workload.done),
            "skipped": dict(workload.skipped), "failed": dict(workload.failed), "gated_to_last_side": workload.gated,
            "absorbed_errors": dict(workload.errors), "writes_by_client": dict(workload.clients),
        }  # fmt: skip

        redis = Redis.from_url(redis_server.url)
        config = schedule_config(settings)
        quiet = checks.quiesce(factory, redis, config, scan=scanner is not None)
        report["quiesce"] = quiet
        problems: dict[str, list[str]] = {}
        if not quiet["converged"]:
            problems["converged"] = [f"no quiet round in {quiet['rounds']}: {quiet['history'][-1]}"]
        problems["ledger"], report["items"] = checks.check_ledger(ledger, workload)
        problems["verify"], verified = checks.run_verify(env)
        report["verify"] = verified and {"total": verified.get("total"), "problems": problems["verify"][:50]}
        supervisor.stop()
        for process in processes:
            process.stop()
        problems["sessions"], report["sessions"] = checks.check_sessions(
            factory, started, ended, max_gap=dt.timedelta(minutes=4)
        )
        problems["queue"], report["queue"] = checks.check_queue(redis, config, factory)
        problems["push"], report["push"] = checks.check_push(redis, factory, options.push and options.graph)
        redis.close()
        problems["processes"] = [f"{f['process']} exited by itself at {f['at']} (rc {f['returncode']})"
                                 for f in supervisor.findings]  # fmt: skip
        report["session_log_lines"] = sum(p.log_path.read_text(errors="replace").count("calsync.session: session {")
                                          for p in workers)  # fmt: skip
        report["process_starts"] = {p.name: p.starts for p in processes}
        report["salesforce_requests"] = admin.salesforce_stats().get("total_requests")
        admin.close()
        report["problems"] = {k: v for k, v in problems.items() if v}
        report["outcome"] = "passed" if not report["problems"] else "FAILED"
        return report
    finally:
        if supervisor is not None:
            supervisor.stop() if supervisor._thread.is_alive() else None  # noqa: SLF001
        for process in processes:
            process.stop(10)
        if workload is not None:
            workload.close()
        if engine is not None:
            engine.dispose()
        sandbox.stop()
        redis_server.stop()
        database.drop()
        (workdir / "report.json").write_text(json.dumps(report, indent=2, default=str))


def webhook_up(public_url: str, info: dict[str, Any]) -> bool:
    try:
        answer = requests.get(public_url + "/api/v1/health", verify=info["graph"]["ca_file"], timeout=5)
    except requests.RequestException:
        return False
    answer.close()
    return True  # any answer over https: it serves


def add_mailboxes(factory, info: dict[str, Any], options: Options) -> list[str]:
    """Every sandbox rep's mailbox: on premises on EWS, Exchange Online alternately on Graph and EWS; each due
    every minute from the start (``sync_interval_minutes`` 1: the scheduler's claim holds it one minute only)."""
    on_premises = {e.lower() for e in info["graph"].get("on_premises", [])}
    users = {u["email"].lower(): u["user_id"] for u in info["salesforce"]["users"]}
    emails = sorted(users)[: options.mailboxes]
    backends: Counter[str] = Counter()
    with factory() as db:
        for n, email in enumerate(emails):
            on_graph = options.graph and n % 2 == 0 and email not in on_premises
            mailbox = mailbox_store.add(db, email, users[email], backend="graph" if on_graph else "ews")
            mailbox.sync_interval_minutes = 1
            backends[mailbox.backend] += 1
        db.commit()
    log.info("mailboxes: %s", dict(backends))
    return emails
