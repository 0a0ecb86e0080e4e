"""Benchmark of sync sessions as RQ jobs: sessions per second with 1 and 2 workers, and Redis commands per session.

    .venv/bin/python bench/workers.py [--mailboxes 500] [--items 40] [--workers 1,2] [--database-url URL]

For each worker count, on fresh sandboxes, a fresh database and a fresh Redis:
1. the sandboxes (their own process) get ``--mailboxes`` extra Exchange mailboxes (``ExchangeSandbox.add_mailbox``)
   and as many extra Salesforce Users (one per mailbox, inserted into the sandbox's store in that process the
   way its seed inserts the four demo reps, since the Salesforce sandbox has no API to add users), and each
   mailbox gets ``--items`` appointments tagged "Salesforce" over the next 40 days, inserted into the Exchange
   store the way the demo seed does (not through EWS, to keep the set-up short);
2. every mailbox is added to the database and one session per mailbox is enqueued (``sync.schedule``);
3. N ``calsync worker --burst`` processes run them: the *initial* pass (each session creates ``--items``
   Events in Salesforce and writes the sync keys back to Exchange);
4. the same again with no change: the *quiet* pass (what most scheduled sessions are).
Sessions per second are sessions / (last session end - first session start) from the session rows; the wall
time including worker start-up is given too. Redis figures come from a private ``redis-server`` this script
starts (so nobody else's commands count): commands per session from ``INFO commandstats`` deltas, and round
trips per session from the ``total_reads_processed`` delta of ``INFO stats`` (the server handles one read event
per request a client sends, a single command or a whole pipeline). Both include the workers' own
bookkeeping (registries, heartbeats, the final empty-queue check), divided over the sessions of the pass. CPU
seconds of the sandbox process and of the workers show where the time goes (all share one machine).

The database defaults to a fresh schema in the PostgreSQL of ``make test`` (production's database; SQLite
would serialise the two workers' writes). Results go to ``bench/results/workers.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
POSTGRES_URL = os.environ.get("CALSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_PORT = 6391


def user_id(i: int) -> str:
    return f"005B{i:014d}"


def email(i: int) -> str:
    return f"bench.rep{i:04d}@calsync.example"


# -- process 1: the sandboxes -------------------------------------------------------------------------------------
def sandbox_main(state_dir: str, mailboxes: int, items: int, conn) -> None:
    for name in ("exchangelib", "urllib3", "werkzeug", "sandbox"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from sandbox.exchange.demo import SALESFORCE, _add
    from sandbox.exchange.xml import el, fmt_datetime, t
    from sandbox.runner import SandboxOptions, start_sandboxes
    from sandbox.salesforce.schema import OBJECTS
    from sandbox.seed import REPS

    running = start_sandboxes(SandboxOptions(state_dir=Path(state_dir), seed="empty",
                                             salesforce_daily_budget=100_000_000))  # fmt: skip
    sf, ex = running.salesforce, running.exchange
    with sf.lock:
        template = dict(sf.store.tables["User"][REPS[0].salesforce_user_id])
        for i in range(mailboxes):
            sf.store.insert_seed(OBJECTS["User"], {
                **template, "Id": user_id(i), "Username": email(i), "Email": email(i), "FirstName": "Rep",
                "LastName": f"{i:04d}", "Name": f"Rep {i:04d}", "Alias": f"rep{i:04d}",
            })  # fmt: skip
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for i in range(mailboxes):
        ex.add_mailbox(email(i), "bench-password")
    with ex.store.lock:
        for i in range(mailboxes):
            mb = ex.store.mailbox(email(i))
            for n in range(items):
                start = today + dt.timedelta(days=1 + n % 40, hours=8 + n % 9)
                _add(ex, ex.store, mb, Subject=f"Customer meeting {n}", Start=fmt_datetime(start),
                     End=fmt_datetime(start + dt.timedelta(minutes=45)),
                     Categories=el(t("Categories"), children=[el(t("String"), SALESFORCE)]))  # fmt: skip
    conn.send(running.info)
    try:
        while conn.recv() != "stop":
            pass
    finally:
        running.stop()


class Sandboxes:
    def __init__(self, work: Path, mailboxes: int, items: int) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=sandbox_main, args=(str(work / "sandboxes"), mailboxes, items, child))
        self.process.start()
        self.info = self.conn.recv()
        self.info_file = work / "sandbox.json"
        self.info_file.write_text(json.dumps(self.info))

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(30)


# -- Redis and the database ---------------------------------------------------------------------------------------
class PrivateRedis:
    def __init__(self, work: Path) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(work)], stdout=subprocess.DEVNULL,
        )  # fmt: skip
        from redis import Redis

        self.url = f"redis://127.0.0.1:{REDIS_PORT}/0"
        self.client = Redis.from_url(self.url)
        for _ in range(100):
            try:
                self.client.ping()
                break
            except Exception:  # noqa: BLE001 - still starting
                time.sleep(0.05)

    def commands(self) -> dict[str, int]:
        stats = self.client.info("commandstats")
        return {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items() if k != "cmdstat_info"}

    def reads(self) -> int:
        """Read events the server processed: one per request a client sends (a command, or a whole pipeline),
        so the delta counts round trips (plus one for this INFO call itself)."""
        return int(self.client.info("stats")["total_reads_processed"])

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(10)


def fresh_database(url: str | None) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text

    if url:
        return url, None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}", drop


# -- one run --------------------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (from /proc), to show where the time of a pass goes."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for workers and their work horses
    return usage.ru_utime + usage.ru_stime


def run_pass(label: str, workers: int, env: dict[str, str], factory, redis: PrivateRedis, ids: list[int],
             work: Path, sandbox_pid: int) -> dict[str, Any]:  # fmt: skip
    from sqlalchemy import func, select

    from calsync.settings import Settings
    from sync.job_queue import session_queue
    from sync.models import SyncSession
    from sync.schedule import enqueue_session, schedule_config

    config = schedule_config(Settings.from_env(env))
    queue = session_queue(config.queue, redis.client)
    with factory() as db:
        before_id = db.scalar(select(func.max(SyncSession.id))) or 0
    c0, r0 = redis.commands(), redis.reads()
    for mailbox_id in ids:
        assert enqueue_session(queue, mailbox_id, config) == "enqueued"
    c1, r1 = redis.commands(), redis.reads()
    sandbox_cpu, workers_cpu, load = cpu_seconds(sandbox_pid), children_cpu_seconds(), os.getloadavg()[0]
    started = time.monotonic()
    procs = [
        subprocess.Popen([sys.executable, "-m", "calsync.cli", "worker", "--burst", "--log-level",
                          "warning", "--name", f"{label}-{workers}-{n}"], env=env, cwd=ROOT,
                         stdout=(work / f"{label}-{workers}-{n}.log").open("w"), stderr=subprocess.STDOUT)
        for n in range(workers)
    ]  # fmt: skip
    for proc in procs:
        assert proc.wait(3600) == 0, f"worker failed: see {work}"
    wall = time.monotonic() - started
    c2, r2 = redis.commands(), redis.reads()
    sandbox_cpu, workers_cpu = cpu_seconds(sandbox_pid) - sandbox_cpu, children_cpu_seconds() - workers_cpu
    with factory() as db:
        rows = list(db.scalars(select(SyncSession).where(SyncSession.id > before_id)))
    span = (max(r.finished_at for r in rows) - min(r.started_at for r in rows)).total_seconds()
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    worker_cmds = {k: v - c1.get(k, 0) for k, v in c2.items() if v - c1.get(k, 0)}
    enqueue_cmds = sum(v - c0.get(k, 0) for k, v in c1.items())
    n = len(rows)
    return {
        "pass": label, "workers": workers, "sessions": n, "statuses": statuses,
        "created_per_session": round(sum(sum(r.counts["created"].values()) for r in rows) / n, 2),
        "write_calls_per_session": round(sum(r.writes for r in rows) / n, 2),
        "span_s": round(span, 2), "sessions_per_s": round(n / span, 2),
        "wall_s_with_startup": round(wall, 2), "sessions_per_s_wall": round(n / wall, 2),
        "redis_commands_per_session_worker": round(sum(worker_cmds.values()) / n, 1),
        "redis_commands_per_session_enqueue": round(enqueue_cmds / n, 1),
        # Each INFO call between the marks adds one read (two per delta: commandstats and stats).
        "redis_round_trips_per_session_worker": round((r2 - r1 - 2) / n, 1),
        "redis_round_trips_per_session_enqueue": round((r1 - r0 - 2) / n, 1),
        "cpu_s_sandboxes": round(sandbox_cpu, 1), "cpu_s_workers": round(workers_cpu, 1),
        "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
        "redis_commands_by_name": dict(sorted(worker_cmds.items(), key=lambda kv: -kv[1])),
    }  # fmt: skip


def run_workers(args: argparse.Namespace, workers: int) -> list[dict[str, Any]]:
    from calsync.database import make_engine, make_session_factory, upgrade
    from sync.mailboxes import add

    work = Path(tempfile.mkdtemp(prefix=f"bench-workers-{workers}-"))
    t0 = time.monotonic()
    sandboxes = Sandboxes(work, args.mailboxes, args.items)
    redis = PrivateRedis(work)
    url, drop = fresh_database(args.database_url)
    engine = None
    try:
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with factory() as db:
            boxes = [add(db, email(i), user_id(i)) for i in range(args.mailboxes)]
            db.commit()
            ids = [m.id for m in boxes]
        print(f"[{workers} worker(s)] set-up {time.monotonic() - t0:.1f} s", flush=True)
        env = dict(os.environ, CALSYNC_SANDBOX_INFO=str(sandboxes.info_file), DATABASE_URL=url, REDIS_URL=redis.url,
                   PYTHONPATH=str(ROOT))  # fmt: skip
        env.setdefault("CALSYNC_ENV", "development")
        rows = []
        for label in ("initial", "quiet"):
            row = run_pass(label, workers, env, factory, redis, ids, work, sandboxes.process.pid)
            print(json.dumps({k: v for k, v in row.items() if k != "redis_commands_by_name"}), flush=True)
            rows.append(row)
        return rows
    finally:
        if engine is not None:
            engine.dispose()
        if drop:
            drop()
        redis.stop()
        sandboxes.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=500)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, comma-separated")
    parser.add_argument("--database-url", help="default: a fresh schema in CALSYNC_TEST_POSTGRES_URL's database")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    rows = [row for workers in counts for row in run_workers(args, workers)]
    summary: dict[str, Any] = {}
    for label in ("initial", "quiet"):
        rate = {r["workers"]: r["sessions_per_s"] for r in rows if r["pass"] == label}
        if 1 in rate and 2 in rate:
            summary[f"{label}_ratio_2_over_1"] = round(rate[2] / rate[1], 2)
    result = {"mailboxes": args.mailboxes, "items": args.items, "cpus": os.cpu_count(), "rows": rows,
              "summary": summary}  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "workers.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
