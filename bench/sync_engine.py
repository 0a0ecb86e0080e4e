"""Benchmark of the sync engine against the sandboxes: requests per service, time, CPU and memory (issue 4 targets).

    .venv/bin/python bench/sync_engine.py [--items 2000] [--changes 50,500] [--backend ews|graph] [--profile]
                                          [--no-memory-pass]

``--backend graph`` runs every scenario twice, on fresh sandboxes each time: with the mailbox on EWS, then on
Microsoft Graph (one Exchange store behind both), and prints both in one comparison table; ``--backend ews`` (the
default) runs EWS only. The Graph token cache lives in Redis at ``REDIS_URL`` (default redis://localhost:6379/0).

Three processes keep the figures apart: the sandboxes (Salesforce, Exchange, identity) run in one, a driver that
seeds and edits data through the real clients (exchangelib, simple-salesforce) in another, and this process runs
only the sessions (``sync.session.run_session`` with the connectors ``sync.runtime`` builds), so its CPU time
(``time.process_time``), ``ru_maxrss`` and tracemalloc peak are the engine's alone.

Scenarios (one mailbox, default policies: Event two-way, Task down, scope 14 days past / 60 days future):
1. initial sync of ``--items`` tagged Exchange items and ``--items`` Salesforce Events (spread over 50 days);
2. two sessions with no change right after convergence;
3. for each N of ``--changes``: N/2 subject edits in Exchange and N/2 in Salesforce (different items), one
   session, then two quiet sessions;
4. steady state: one Salesforce edit 10 minutes later (sandbox clock) moves the watermark past the bursts above,
   then two quiet sessions.
A memory pass repeats scenario 1 on fresh sandboxes with tracemalloc on (its overhead would distort the times).

Requests are counted twice: by the connectors (``usage.calls``) and by the sandboxes (Salesforce
``/__sandbox__/stats``, Exchange ``/__sandbox__/log``, Graph ``/__sandbox__/log``, reset before each session). On
Graph the floor (issue 16) is: a quiet session costs 1 delta request per mailbox and 1 SOQL query per kind; N
changes cost ⌈N/20⌉ ``$batch`` requests per direction (plus the delta pages, ⌈feed/200⌉, and ⌈fetched/20⌉ batches
of reads); a ``$batch`` counts as one request, its items are listed apart. Results go to
``bench/results/sync_engine.json``; ``--profile`` runs the initial sync under cProfile and prints the hotspots.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import logging
import math
import multiprocessing as mp
import os
import pstats
import resource
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
SF_BATCH, EX_BATCH = 200, 100  # sObject Collections records per call; EWS items per bulk call (exchangelib)
GRAPH_BATCH, GRAPH_DELTA_PAGE = 20, 200  # requests in one Graph $batch; the delta page size the connector asks for
EX_FEED_PAGE, EX_GET_PAGE, SF_QUERY_PAGE = 512, 100, 2000  # SyncFolderItems page, GetItem chunk, query page
EX_WRITE_OPS = {"CreateItem", "UpdateItem", "DeleteItem", "MoveItem", "CreateUserConfiguration",
                "UpdateUserConfiguration"}  # fmt: skip
EX_CATEGORY_OPS = {"GetUserConfiguration", "CreateUserConfiguration", "UpdateUserConfiguration"}
SF_WRITE_NAMES = {
    "collection_create", "collection_update", "collection_delete", "collection_upsert",
    "sobject_create", "sobject_update", "sobject_delete", "sobject_upsert", "external_id_delete",
}  # fmt: skip
SPREAD_DAYS = 50
LATER = dt.timedelta(minutes=10)  # Salesforce sandbox clock shift for the steady-state sessions


def quiet_logs() -> None:
    for name in ("exchangelib", "urllib3", "werkzeug"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


# -- process 1: the sandboxes -------------------------------------------------------------------------------------
def sandbox_main(state_dir: str, conn) -> None:
    """Start the sandboxes, send their info, then answer "cpu" (process CPU seconds) until "stop"."""
    quiet_logs()
    from sandbox.runner import SandboxOptions, start_sandboxes

    running = start_sandboxes(SandboxOptions(state_dir=Path(state_dir), seed="empty"))
    conn.send(running.info)
    try:
        while True:
            command = conn.recv()
            if command == "cpu":
                conn.send(time.process_time())
            elif command == "stop":
                break
    finally:
        running.stop()
        conn.send("stopped")


class Sandboxes:
    def __init__(self, state_dir: Path) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=sandbox_main, args=(str(state_dir), child), daemon=True)
        self.process.start()
        self.info: dict[str, Any] = self.conn.recv()
        sf = self.info["salesforce"]
        self.sf_admin = requests.Session()
        self.sf_admin.trust_env = False
        self.sf_admin.verify = sf["ca_file"]
        self.sf_admin_url = sf["admin_url"]
        self.ex_admin_url = self.info["exchange"]["http_endpoint"].split("/EWS/")[0] + "/__sandbox__"
        self.ex_admin = requests.Session()
        self.ex_admin.trust_env = False
        graph = self.info["graph"]
        self.graph_admin_url = graph["admin_url"]
        self.graph_admin = requests.Session()
        self.graph_admin.trust_env = False
        self.graph_admin.verify = graph["ca_file"]

    def cpu(self) -> float:
        self.conn.send("cpu")
        return self.conn.recv()

    def reset_counters(self) -> None:
        self.sf_admin.delete(f"{self.sf_admin_url}/stats", timeout=30).raise_for_status()
        self.ex_admin.post(f"{self.ex_admin_url}/reset", timeout=30).raise_for_status()
        self.graph_admin.post(f"{self.graph_admin_url}/reset", timeout=30).raise_for_status()

    def counters(self) -> tuple[dict[str, Any], dict[str, Any]]:
        sf = self.sf_admin.get(f"{self.sf_admin_url}/stats", timeout=30).json()
        ex = self.ex_admin.get(f"{self.ex_admin_url}/log", timeout=60).json()
        graph = self.graph_admin.get(f"{self.graph_admin_url}/log", timeout=60).json()
        # HTTP requests per operation (a $batch is one; its items are counted in "batch_items" by operation).
        graph_http: dict[str, int] = {}
        batch_items: dict[str, int] = {}
        for call in graph["calls"]:
            bucket = batch_items if call["batch_id"] else graph_http
            bucket[call["operation"]] = bucket.get(call["operation"], 0) + 1
        return sf, {"requests": ex["requests"], "invitations": len(ex["invitations"]),
                    "cancellations": len(ex["cancellations"]), "graph_requests": graph_http,
                    "graph_batch_items": batch_items}  # fmt: skip

    def shift_salesforce_clock(self, seconds: float) -> None:
        url = f"{self.sf_admin_url}/clock"
        self.sf_admin.put(url, json={"offset_seconds": seconds}, timeout=30).raise_for_status()

    def stop(self) -> None:
        try:
            self.conn.send("stop")
            self.conn.recv()
        finally:
            self.process.join(timeout=30)


# -- process 2: the driver (seeds and edits through the real clients) ---------------------------------------------
_driver: dict[str, Any] = {}


def _rep(email: str):
    from sandbox.seed import REPS

    return next(r for r in REPS if r.email == email)


def _account(info: dict[str, Any], email: str):
    from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, Version
    from exchangelib.version import EXCHANGE_2013_SP1

    key = ("account", info["exchange"]["http_endpoint"], email)
    if key not in _driver:
        quiet_logs()
        rep = _rep(email)
        config = Configuration(service_endpoint=info["exchange"]["http_endpoint"],
                               credentials=Credentials(rep.email, rep.password), auth_type=BASIC,
                               version=Version(build=EXCHANGE_2013_SP1))  # fmt: skip
        _driver[key] = Account(rep.email, config=config, autodiscover=False, access_type=DELEGATE)
    return _driver[key]


def _salesforce(info: dict[str, Any], email: str):
    from simple_salesforce import Salesforce

    key = ("sf", info["salesforce"]["instance_url"], email)
    if key not in _driver:
        user = next(u for u in info["salesforce"]["users"] if u["email"] == email)
        session = requests.Session()
        session.trust_env = False
        session.verify = info["salesforce"]["ca_file"]
        _driver[key] = (
            Salesforce(
                instance_url=info["salesforce"]["instance_url"],
                session_id=user["session_id"],
                session=session,
                version="59.0",
            ),  # fmt: skip
            user["user_id"],
        )
    return _driver[key]


def _slot(i: int, n: int, now: dt.datetime) -> dt.datetime:
    """The i-th of n half-hour slots spread over the next SPREAD_DAYS days, on whole quarter hours."""
    minutes = (i * SPREAD_DAYS * 24 * 60) // max(n, 1)
    start = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=24, minutes=minutes)
    return start.replace(minute=start.minute - start.minute % 15)


def seed_exchange(info: dict[str, Any], email: str, n: int) -> float:
    """n tagged items in the mailbox's calendar (bulk CreateItem as the mailbox user); returns seconds."""
    from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone

    started = time.perf_counter()
    account = _account(info, email)
    tz = EWSTimeZone(_rep(email).timezone)
    now = dt.datetime.now(dt.UTC)
    items = []
    for i in range(n):
        start = EWSDateTime.from_datetime(_slot(i, n, now)).astimezone(tz)
        items.append(CalendarItem(account=account, folder=account.calendar, subject=f"EX bench {i}",
                                  body=f"Agenda {i}", location=f"Room {i % 7}", categories=["Salesforce"],
                                  start=start, end=start + dt.timedelta(minutes=30)))  # fmt: skip
    results = account.bulk_create(folder=account.calendar, items=items, send_meeting_invitations="SendToNone")
    errors = [r for r in results if isinstance(r, Exception)]
    if errors:
        raise RuntimeError(f"{len(errors)} Exchange creates failed: {errors[0]!r}")
    return time.perf_counter() - started


def seed_salesforce(info: dict[str, Any], email: str, n: int) -> float:
    """n Events owned by the rep (composite/sobjects, 200 a call); returns seconds."""
    started = time.perf_counter()
    sf, owner = _salesforce(info, email)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=7)  # off the Exchange slots
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    records = []
    for i in range(n):
        start = _slot(i, n, now)
        records.append({"attributes": {"type": "Event"}, "Subject": f"SF bench {i}", "OwnerId": owner,
                        "StartDateTime": start.strftime(fmt),
                        "EndDateTime": (start + dt.timedelta(minutes=30)).strftime(fmt),
                        "Location": f"Call {i % 5}", "Description": f"Notes {i}"})  # fmt: skip
    for at in range(0, n, SF_BATCH):
        answer = sf.restful("composite/sobjects", method="POST",
                            json={"allOrNone": True, "records": records[at : at + SF_BATCH]})  # fmt: skip
        if not all(r.get("success") for r in answer):
            raise RuntimeError(f"Salesforce seed failed: {answer[:2]}")
    return time.perf_counter() - started


def edit_exchange(info: dict[str, Any], email: str, n: int, tag: str) -> int:
    """Change the subject of n items that were created in Exchange ("EX bench ...")."""
    if n <= 0:
        return 0
    account = _account(info, email)
    items = [i for i in account.calendar.all().only("subject", "changekey") if (i.subject or "").startswith("EX ")]
    items.sort(key=lambda i: int(i.subject.split()[2]))
    chosen = items[:n]
    for item in chosen:
        item.subject = f"EX bench {item.subject.split()[2]} ({tag})"
    results = list(account.bulk_update(items=[(i, ["subject"]) for i in chosen], conflict_resolution="AutoResolve",
                                       send_meeting_invitations_or_cancellations="SendToNone"))  # fmt: skip
    errors = [r for r in results if isinstance(r, Exception)]
    if errors:
        raise RuntimeError(f"{len(errors)} Exchange edits failed: {errors[0]!r}")
    return len(chosen)


def edit_salesforce(info: dict[str, Any], email: str, n: int, tag: str) -> int:
    """Change the subject of n Events that were created in Salesforce ("SF bench ...")."""
    if n <= 0:
        return 0
    sf, owner = _salesforce(info, email)
    rows = sf.query_all(f"SELECT Id, Subject FROM Event WHERE OwnerId = '{owner}' AND Subject LIKE 'SF bench %'")
    rows = sorted(rows["records"], key=lambda r: int(r["Subject"].split()[2]))[:n]
    records = [
        {"attributes": {"type": "Event"}, "Id": r["Id"], "Subject": f"SF bench {r['Subject'].split()[2]} ({tag})"}
        for r in rows
    ]
    for at in range(0, len(records), SF_BATCH):
        answer = sf.restful("composite/sobjects", method="PATCH",
                            json={"allOrNone": True, "records": records[at : at + SF_BATCH]})  # fmt: skip
        if not all(r.get("success") for r in answer):
            raise RuntimeError(f"Salesforce edit failed: {answer[:2]}")
    return len(records)


def census(info: dict[str, Any], email: str) -> dict[str, Any]:
    """What each side holds: tagged Exchange items, the rep's Events, and subjects that differ."""
    account = _account(info, email)
    ex = [i for i in account.calendar.all().only("subject", "categories") if "Salesforce" in (i.categories or [])]
    sf, owner = _salesforce(info, email)
    events = sf.query_all(f"SELECT Id, Subject FROM Event WHERE OwnerId = '{owner}'")["records"]
    ex_subjects, sf_subjects = sorted(i.subject for i in ex), sorted(r["Subject"] for r in events)
    return {"exchange_tagged": len(ex), "salesforce_events": len(events), "subjects_equal": ex_subjects == sf_subjects}


# -- process 3 (this one): the engine -----------------------------------------------------------------------------
def ceil_div(a: int, b: int) -> int:
    return math.ceil(a / b) if a > 0 else 0


def instrument(salesforce, exchange) -> dict[str, Any]:
    """Wrap the connectors' read methods (on these instances only) to record how much each read returned."""
    reads: dict[str, Any] = {"salesforce_rows": {}, "exchange_feed": [], "exchange_fetched": 0}
    changed_records, changes, fetch = salesforce.changed_records, exchange.changes, exchange.fetch

    def counted_records(sobject, fields, *, owner_id, since, **kw):
        rows = changed_records(sobject, fields, owner_id=owner_id, since=since, **kw)
        stamps = sorted(r["SystemModstamp"] for r in rows if r.get("SystemModstamp"))
        reads["salesforce_rows"][sobject] = {
            "rows": len(rows), "since": since.isoformat() if since else None,
            "modstamps": [stamps[0], stamps[-1]] if stamps else None,
        }  # fmt: skip
        return rows

    def counted_changes(sync_state, **kw):
        feed = changes(sync_state, **kw)
        reads["exchange_feed"].append({"entries": len(feed.changes), "full": feed.full})
        return feed

    def counted_fetch(item_ids, *args, **kw):
        reads["exchange_fetched"] += len(item_ids)
        return fetch(item_ids, *args, **kw)

    salesforce.changed_records, exchange.changes, exchange.fetch = counted_records, counted_changes, counted_fetch
    return reads


class Phases:
    """Wall and CPU seconds per engine step, by wrapping (for this process only) the functions the session calls.
    Steps nest (a connector call inside a feed read inside the session); each is timed on its own."""

    SESSION_FUNCS = ("read_exchange", "read_salesforce", "make_plan")
    APPLY_METHODS = ("_delete_salesforce", "_delete_exchange", "_save_pending", "_create_salesforce",
                     "_create_exchange", "_update_salesforce", "_update_exchange", "_remove_categories",
                     "_finish_links")  # fmt: skip
    CONNECTOR_METHODS = {
        "salesforce": ("changed_records", "upsert", "update", "delete", "query"),
        "exchange": ("changes", "fetch", "create", "update", "delete", "ensure_categories"),
    }

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}
        import sync.apply
        import sync.links
        import sync.session

        for name in self.SESSION_FUNCS:
            setattr(sync.session, name, self.timed(f"session.{name}", getattr(sync.session, name)))
        sync.links.load = self.timed("links.load", sync.links.load)
        for name in self.APPLY_METHODS:
            setattr(sync.apply.Applier, name, self.timed(f"apply.{name}", getattr(sync.apply.Applier, name)))

    def timed(self, label: str, func):
        def wrapper(*args, **kwargs):
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                total = self.totals.setdefault(label, [0.0, 0.0, 0])
                total[0] += time.perf_counter() - wall
                total[1] += time.process_time() - cpu
                total[2] += 1

        return wrapper

    def connectors(self, salesforce, exchange) -> None:
        for side, connector in (("salesforce", salesforce), ("exchange", exchange)):
            for name in self.CONNECTOR_METHODS[side]:
                setattr(connector, name, self.timed(f"{side}.{name}", getattr(connector, name)))

    def take(self) -> dict[str, dict[str, float]]:
        out = {k: {"wall_s": round(v[0], 3), "cpu_s": round(v[1], 3), "calls": v[2]} for k, v in self.totals.items()}
        self.totals = {}
        return out


class Bench:
    def __init__(self, work: Path, items: int, profile: bool, backend: str = "ews") -> None:
        self.backend = backend
        self.work = work
        self.items = items
        self.profile = profile
        self.sandboxes = Sandboxes(work / "sandbox")
        info_path = work / "info.json"
        info_path.write_text(json.dumps(self.sandboxes.info))
        from calsync.settings import Settings
        from sandbox.seed import REPS
        from sync import mailboxes
        from sync.runtime import Runtime

        self.phases = PHASES
        self.rep = REPS[0]
        redis_url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
        self.settings = Settings.from_env({"CALSYNC_ENV": "development", "CALSYNC_SANDBOX_INFO": str(info_path),
                                           "DATABASE_URL": f"sqlite:///{work}/calsync.db",
                                           "REDIS_URL": redis_url})  # fmt: skip
        self.runtime = Runtime.build(self.settings, migrate=True)
        self.db = self.runtime.session_factory
        self.sql: dict[str, int] = {}
        from sqlalchemy import event

        @event.listens_for(self.db.kw["bind"], "before_cursor_execute")
        def count_sql(conn, cursor, statement, parameters, context, executemany) -> None:
            verb = statement.lstrip().split(None, 1)[0].upper()
            self.sql[verb] = self.sql.get(verb, 0) + 1

        with self.db() as db:
            mailboxes.add(db, self.rep.email, self.rep.salesforce_user_id, backend=backend)
            db.commit()

    def session(self, label: str, *, expect: dict[str, Any], trace_memory: bool = False) -> dict[str, Any]:
        from sync.session import run_session

        salesforce = self.runtime.salesforce(self.settings)
        exchange = self.runtime.exchange(self.rep.email, self.settings)
        reads = instrument(salesforce, exchange)
        self.phases.connectors(salesforce, exchange)
        self.phases.take()
        self.sql.clear()
        self.sandboxes.reset_counters()
        sandbox_cpu = self.sandboxes.cpu()
        profiler = cProfile.Profile() if self.profile and label.startswith(("initial", "quiet #3")) else None
        if trace_memory:
            tracemalloc.start()
            tracemalloc.reset_peak()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        result = run_session(self.db, self.rep.email, salesforce=salesforce, exchange=exchange)
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = None
        if trace_memory:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        sandbox_cpu = self.sandboxes.cpu() - sandbox_cpu
        sf_stats, ex_log = self.sandboxes.counters()
        row = {
            "label": label,
            "backend": self.backend,
            "result": result.to_json(),
            "wall_s": round(wall, 3),
            "engine_cpu_s": round(cpu, 3),
            "sandbox_cpu_s": round(sandbox_cpu, 3),
            "ru_maxrss_mib_before": round(rss_before / 1024, 1),
            "ru_maxrss_mib_after": round(rss_after / 1024, 1),
            "tracemalloc_peak_mib": round(peak / 2**20, 1) if peak is not None else None,
            "connector_calls": {"salesforce": salesforce.usage.calls, "exchange": exchange.usage.calls},
            "salesforce_by_resource": dict(salesforce.usage.by_resource),
            "sandbox_salesforce": {
                "requests": sf_stats["requests"],
                "total": sf_stats["total_requests"],
                "writes": sf_stats["writes"],
            },  # fmt: skip
            "sandbox_exchange": ex_log,
            "reads": reads,
            "phases": self.phases.take(),
            "sql_statements": dict(self.sql),
            "profiled": profiler is not None,
        }
        row.update(self.judge_graph(row, expect) if self.backend == "graph" else self.judge(row, expect))
        if profiler:
            row["profile"] = self.hotspots(profiler, label)
        return row

    @staticmethod
    def judge(row: dict[str, Any], expect: dict[str, Any]) -> dict[str, Any]:
        """Compare the session's requests with the issue's minimum for what it had to do."""
        sf_req, ex_req = row["sandbox_salesforce"]["requests"], row["sandbox_exchange"]["requests"]
        sf_writes = sum(n for name, n in sf_req.items() if name in SF_WRITE_NAMES)
        ex_writes = sum(n for op, n in ex_req.items() if op in EX_WRITE_OPS)
        ex_item_writes = sum(n for op, n in ex_req.items() if op in EX_WRITE_OPS - EX_CATEGORY_OPS)
        ex_category = sum(n for op, n in ex_req.items() if op in EX_CATEGORY_OPS)
        out: dict[str, Any] = {
            "salesforce_requests": sum(sf_req.values()),
            "exchange_requests": sum(ex_req.values()),
            "salesforce_write_requests": sf_writes,
            "exchange_write_requests": ex_writes,
            "exchange_item_write_requests": ex_item_writes,
            # The master category list check (GetUserConfiguration, + Create/Update when one is missing) runs in
            # the first session and then once a day (sync/session.py CATEGORY_CHECK_INTERVAL); reported apart.
            "exchange_category_requests": ex_category,
        }
        if expect.get("quiet"):
            kinds = expect["kinds"]
            out["target"] = {"exchange_requests": 1, "salesforce_requests": kinds, "writes": 0}
            out["met"] = {
                "exchange_requests": out["exchange_requests"] <= 1,
                "salesforce_requests": out["salesforce_requests"] <= kinds,
                "writes": row["result"]["writes"] == 0 and sf_writes == 0 and ex_writes == 0,
            }
            return out
        to_sf, to_ex = expect["to_salesforce"], expect["to_exchange"]
        feed, fetch, sf_rows = expect["exchange_feed"], expect["exchange_fetch"], expect["salesforce_rows"]
        target = {
            "salesforce_write_requests": ceil_div(to_sf, SF_BATCH),
            "exchange_write_requests": ceil_div(to_ex, EX_BATCH),
            "exchange_read_requests": max(1, ceil_div(feed, EX_FEED_PAGE)) + ceil_div(fetch, EX_GET_PAGE),
            "salesforce_read_requests": sum(max(1, ceil_div(n, SF_QUERY_PAGE)) for n in sf_rows),
        }
        target["exchange_requests"] = target["exchange_write_requests"] + target["exchange_read_requests"]
        target["salesforce_requests"] = target["salesforce_write_requests"] + target["salesforce_read_requests"]
        out["target"] = target
        out["met"] = {
            "salesforce_write_requests": sf_writes <= target["salesforce_write_requests"],
            "exchange_write_requests": ex_item_writes <= target["exchange_write_requests"],
            "exchange_requests": out["exchange_requests"] - ex_category <= target["exchange_requests"],
            "salesforce_requests": out["salesforce_requests"] <= target["salesforce_requests"],
        }
        return out

    @staticmethod
    def judge_graph(row: dict[str, Any], expect: dict[str, Any]) -> dict[str, Any]:
        """The Graph floor (module docstring): HTTP requests to Graph ($batch = 1) against what the session had
        to do. Salesforce is judged as on EWS."""
        out = Bench.judge({**row, "sandbox_exchange": {**row["sandbox_exchange"], "requests": {}}}, expect)
        http = row["sandbox_exchange"]["graph_requests"]
        items = row["sandbox_exchange"]["graph_batch_items"]
        writes = sum(n for op, n in items.items() if op.startswith("events.") and op != "events.get")
        category = sum(n for op, n in http.items() if op.startswith("masterCategories"))
        out.update({
            "exchange_requests": sum(http.values()),
            "exchange_write_requests": http.get("$batch", 0) if writes else 0,
            "exchange_item_write_requests": writes,
            "exchange_category_requests": category,
            "exchange_delta_requests": http.get("calendarView.delta", 0),
        })  # fmt: skip
        if expect.get("quiet"):
            out["target"]["exchange_requests"] = 1
            out["met"]["exchange_requests"] = out["exchange_requests"] - category <= 1
            out["met"]["writes"] = out["met"]["writes"] and writes == 0
            return out
        to_ex, feed, fetch = expect["to_exchange"], expect["exchange_feed"], expect["exchange_fetch"]
        batches = ceil_div(to_ex, GRAPH_BATCH) + ceil_div(fetch, GRAPH_BATCH)
        target = out["target"]
        target["exchange_write_requests"] = ceil_div(to_ex, GRAPH_BATCH)
        target["exchange_read_requests"] = max(1, ceil_div(feed, GRAPH_DELTA_PAGE)) + ceil_div(fetch, GRAPH_BATCH)
        target["exchange_requests"] = target["exchange_read_requests"] + target["exchange_write_requests"]
        out["met"]["exchange_write_requests"] = True  # writes share $batch requests with reads: judged in total
        out["met"]["exchange_requests"] = out["exchange_requests"] - category <= target["exchange_requests"]
        out["graph_batches"] = {"made": http.get("$batch", 0), "floor": batches}
        return out

    def hotspots(self, profiler: cProfile.Profile, label: str) -> dict[str, Any]:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"sync_engine_{label.split()[0]}.prof"
        profiler.dump_stats(path)
        out = {"file": str(path.relative_to(ROOT))}
        for key in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(key).print_stats(25)
            out[key] = buf.getvalue()
        return out

    def stop(self) -> None:
        self.sandboxes.stop()


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'session':<28}{'wall s':>8}{'eng CPU':>8}{'sbx CPU':>8}{'maxrss':>8}{'tm peak':>8}"
            f"{'SF req':>7}{'SF wr':>6}{'EX req':>7}{'EX wr':>6}{'EX cat':>7}{'writes':>7}  "
            f"{'target (SF req/wr, EX req/wr)':<30}met")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        t = r["target"]
        if "writes" in t:
            target = f"SF<={t['salesforce_requests']} EX<={t['exchange_requests']} writes=0"
        else:
            target = (f"SF {t['salesforce_requests']}/{t['salesforce_write_requests']} "
                      f"EX {t['exchange_requests']}/{t['exchange_write_requests']}")  # fmt: skip
        met = "yes" if all(r["met"].values()) else "NO: " + ",".join(k for k, v in r["met"].items() if not v)
        peak = "-" if r["tracemalloc_peak_mib"] is None else f"{r['tracemalloc_peak_mib']:.0f}M"
        print(f"{r['label']:<28}{r['wall_s']:>8.2f}{r['engine_cpu_s']:>8.2f}{r['sandbox_cpu_s']:>8.2f}"
              f"{r['ru_maxrss_mib_after']:>7.0f}M{peak:>8}{r['salesforce_requests']:>7}"
              f"{r['salesforce_write_requests']:>6}{r['exchange_requests']:>7}{r['exchange_write_requests']:>6}"
              f"{r['exchange_category_requests']:>7}{r['result']['writes']:>7}  {target:<30}{met}")  # fmt: skip
    print()
    print("Requests per operation (counted by the sandboxes):")
    for r in rows:
        sf = ", ".join(f"{k}={v}" for k, v in sorted(r["sandbox_salesforce"]["requests"].items()))
        ex = ", ".join(f"{k}={v}" for k, v in sorted(r["sandbox_exchange"]["requests"].items()))
        calls = r["connector_calls"]
        print(f"  {r['label']:<28} SF [{sf}]  EX [{ex}]")
        reads = r["reads"]
        sf_rows = ", ".join(f"{k}={v['rows']}" for k, v in reads["salesforce_rows"].items())
        feed = "+".join(str(f["entries"]) for f in reads["exchange_feed"])
        print(
            f"  {'':<28} (connectors counted: SF {calls['salesforce']}, EX {calls['exchange']}; read: SF rows "
            f"{sf_rows}, EX feed entries {feed}, EX items fetched {reads['exchange_fetched']})"
        )


def print_comparison(rows: list[dict[str, Any]]) -> None:
    """One table, both protocols: Exchange requests against the floor, engine CPU per item, wall time."""
    by_label: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_label.setdefault(r["label"], {})[r["backend"]] = r
    head = (
        f"{'session':<28}{'items':>6} | {'EWS req':>7}{'floor':>6}{'CPU ms/it':>10}{'wall s':>8} | "
        f"{'Graph req':>9}{'floor':>6}{'$batch':>7}{'delta':>6}{'CPU ms/it':>10}{'wall s':>8}{'msgs':>5}"
    )
    print(
        "EWS and Microsoft Graph side by side (Exchange requests as the sandboxes counted them, category list "
        "requests left out; floor = the issue's; CPU ms/it = engine CPU per item written, or per session when "
        "none; msgs = meeting messages sync writes sent):"
    )
    print(head)
    print("-" * len(head))
    for label, sides in by_label.items():
        any_row = next(iter(sides.values()))
        items = sum(any_row["result"][k][side] for k in ("created", "updated", "deleted", "reverted")
                    for side in ("salesforce", "exchange"))  # fmt: skip
        cells = [f"{label:<28}{items:>6} |"]
        for backend in ("ews", "graph"):
            r = sides.get(backend)
            if r is None:
                cells.append(" " * (31 if backend == "ews" else 45))
                continue
            req = r["exchange_requests"] - r["exchange_category_requests"]
            per = 1000 * r["engine_cpu_s"] / max(items, 1)
            floor = r["target"]["exchange_requests"]
            if backend == "ews":
                cells.append(f"{req:>7}{floor:>6}{per:>10.2f}{r['wall_s']:>8.2f} |")
            else:
                http = r["sandbox_exchange"]["graph_requests"]
                msgs = r["sandbox_exchange"]["invitations"] + r["sandbox_exchange"]["cancellations"]
                cells.append(f"{req:>9}{floor:>6}{http.get('$batch', 0):>7}{http.get('calendarView.delta', 0):>6}"
                             f"{per:>10.2f}{r['wall_s']:>8.2f}{msgs:>5}")  # fmt: skip
        print(" ".join(cells))


PHASES: Phases  # set in run()


def print_phases(rows: list[dict[str, Any]]) -> None:
    wanted = [r for r in rows if r["label"].startswith(("initial sync", "quiet #3", "500 changes"))]
    if not wanted:
        return
    print("Engine time per step (wall / CPU seconds; steps nest, e.g. exchange.fetch is inside read_exchange):")
    for r in wanted:
        parts = sorted(r["phases"].items(), key=lambda kv: -kv[1]["cpu_s"])
        steps = ", ".join(f"{k} {v['wall_s']:.2f}/{v['cpu_s']:.2f}" for k, v in parts if v["wall_s"] >= 0.05)
        print(f"  [{r['backend']}] {r['label']}: {steps}")
        print(f"    SQL statements: {r['sql_statements']}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    global PHASES
    PHASES = Phases()
    n = args.items
    kinds = 2  # Event (two-way) and Task (down) are enabled by default; no custom object is mapped
    backends = ["ews", "graph"] if args.backend == "graph" else ["ews"]
    ctx = mp.get_context("spawn")
    rows: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="calsync-bench-") as tmp, \
            ProcessPoolExecutor(max_workers=1, mp_context=ctx) as driver:  # fmt: skip
        for backend in backends:
            print(f"== {backend}", flush=True)
            run_backend(args, backend, driver, Path(tmp) / backend, rows, checks.setdefault(backend, {}))
    return {
        "items": n, "changes": args.changes, "enabled_kinds": kinds, "backends": backends, "rows": rows,
        "checks": checks, "python": sys.version.split()[0],
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }  # fmt: skip


def run_backend(args, backend: str, driver, work: Path, rows: list[dict[str, Any]], checks: dict[str, Any]) -> None:
    """Every scenario (module docstring) with the mailbox on ``backend``, on fresh sandboxes."""
    n = args.items
    kinds = 2
    bench = Bench(work / "pass1", n, args.profile, backend)
    try:
        info, email = bench.sandboxes.info, bench.rep.email
        t_ex = driver.submit(seed_exchange, info, email, n).result()
        t_sf = driver.submit(seed_salesforce, info, email, n).result()
        print(f"seeded {n} Exchange items in {t_ex:.1f} s and {n} Salesforce Events in {t_sf:.1f} s", flush=True)
        initial = {"to_salesforce": n, "to_exchange": n, "exchange_feed": n, "exchange_fetch": n,
                   "salesforce_rows": [n, 0]}  # fmt: skip
        rows.append(bench.session(f"initial sync {n}+{n}", expect=initial))
        print(f"initial sync: {rows[-1]['wall_s']:.1f} s", flush=True)
        checks["after_initial"] = driver.submit(census, info, email).result()
        for i in (2, 3):
            rows.append(bench.session(f"quiet #{i} (after initial)", expect={"quiet": True, "kinds": kinds}))
        for changes in args.changes:
            half_ex = changes // 2
            half_sf = changes - half_ex
            tag = f"edit{changes}"
            driver.submit(edit_exchange, info, email, half_ex, tag).result()
            driver.submit(edit_salesforce, info, email, half_sf, tag).result()
            expect = {"to_salesforce": half_ex, "to_exchange": half_sf, "exchange_feed": half_ex,
                      "exchange_fetch": half_ex, "salesforce_rows": [half_sf, 0]}  # fmt: skip
            rows.append(bench.session(f"{changes} changes ({half_ex} EX+{half_sf} SF)", expect=expect))
            rows.append(bench.session(f"quiet (after {changes})", expect={"quiet": True, "kinds": kinds}))
            rows.append(bench.session(f"quiet 2 (after {changes})", expect={"quiet": True, "kinds": kinds}))
            checks[f"after_{changes}_changes"] = driver.submit(census, info, email).result()
        # Steady state: one Salesforce edit made later than the watermark overlap (5 min) after the bursts
        # above moves the watermark past them, as any later edit does in production.
        bench.sandboxes.shift_salesforce_clock(LATER.total_seconds())
        driver.submit(edit_salesforce, info, email, 1, "late").result()
        expect = {"to_salesforce": 0, "to_exchange": 1, "exchange_feed": 0, "exchange_fetch": 0,
                  "salesforce_rows": [1, 0]}  # fmt: skip
        rows.append(bench.session("1 SF change 10 min later", expect=expect))
        for i in (1, 2):
            rows.append(bench.session(f"quiet {i} (steady state)", expect={"quiet": True, "kinds": kinds}))
        checks["after_late_change"] = driver.submit(census, info, email).result()
    finally:
        bench.stop()
    if args.memory_pass:
        bench = Bench(work / "pass2", n, False, backend)
        try:
            info, email = bench.sandboxes.info, bench.rep.email
            driver.submit(seed_exchange, info, email, n).result()
            driver.submit(seed_salesforce, info, email, n).result()
            rows.append(bench.session(f"initial {n}+{n} tracemalloc", expect=initial, trace_memory=True))
        finally:
            bench.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="tagged Exchange items and Salesforce Events each")
    parser.add_argument("--changes", type=lambda s: [int(x) for x in s.split(",") if x], default=[50, 500],
                        help="comma-separated edit counts, split between the two sides (default 50,500)")  # fmt: skip
    parser.add_argument("--backend", choices=("ews", "graph"), default="ews",
                        help="graph: run every scenario on EWS and then on Microsoft Graph, side by side")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="run the initial sync under cProfile")
    parser.add_argument("--no-memory-pass", dest="memory_pass", action="store_false",
                        help="skip the second initial sync with tracemalloc on")  # fmt: skip
    args = parser.parse_args()
    quiet_logs()
    started = time.perf_counter()
    report = run(args)
    report["total_s"] = round(time.perf_counter() - started, 1)
    print()
    print(
        f"calsync sync engine vs sandboxes: {args.items} + {args.items} items, 1 mailbox, default policies "
        f"({report['enabled_kinds']} object kinds enabled){' [initial sync under cProfile]' if args.profile else ''}"
    )
    print(
        "eng CPU = engine process CPU s; sbx CPU = sandbox process CPU s; maxrss = engine ru_maxrss after; "
        "tm peak = tracemalloc peak; SF/EX req = requests per service (sandbox counters); wr = write requests "
        "(all);\nEX cat = master category list requests (first session, then daily), left out of the EX targets"
    )
    for backend in report["backends"]:
        print(f"\n== mailbox on {backend}")
        print_table([r for r in report["rows"] if r["backend"] == backend])
    if len(report["backends"]) > 1:
        print()
        print_comparison(report["rows"])
    print()
    print_phases(report["rows"])
    print()
    print("State checks:", json.dumps(report["checks"]))
    for row in report["rows"]:
        if row.get("profile"):
            print(f"\ncProfile of {row['label']} (saved to {row['profile']['file']}), by own time:")
            print(row["profile"]["tottime"])
            print("by cumulative time:")
            print(row["profile"]["cumulative"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "sync_engine.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"results: {out.relative_to(ROOT)}  (total {report['total_s']} s)")


if __name__ == "__main__":
    main()
