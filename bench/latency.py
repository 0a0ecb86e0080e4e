"""Edit → other side latency and API requests, push against 30-minute polling, real processes (issue 18, Measure).

    nice .venv/bin/python bench/latency.py [--mailboxes 200] [--minutes 10] [--edits N] [--outlook-share 0.5]
        [--items 3] [--workers 1] [--graph-share 0.5] [--redis-url redis://127.0.0.1:6381/10] [--database-url URL]
        [--json]

Two groups of ``--mailboxes`` / 2 reps each, **push** and **poll**, in each a ``--graph-share`` of the mailboxes
(every other one at 0.5) on Microsoft Graph (``mailboxes.backend = "graph"``), the rest on EWS; each group with
its own sandboxes (started in this process, seed "empty", the sandbox clock real; their own request counters),
PostgreSQL schema and Redis database (``--redis-url`` and the next number), so nothing of one group's traffic is
in the other's figures:

- push: ``calsync scheduler`` (push pass every 2 s), ``--workers`` × ``calsync worker``, ``calsync listener``
  (EWS streaming subscriptions, and the Graph subscription keeper: one subscription per Graph mailbox) and
  ``calsync salesforce-scan`` (CALSYNC_SALESFORCE_SCAN_SECONDS); the web app served over HTTPS in this process
  with the sandboxes' certificate (CALSYNC_PUBLIC_URL), which the Graph sandbox validates and notifies as Graph
  would (the webhook's path as tests/graph/test_push_end_to_end.py runs it); the periodic safety net staggered
  over its 6 hours;
- poll: ``calsync scheduler`` and one ``calsync worker``, no listener and no scan: every mailbox has a session
  every 30 minutes (CALSYNC_SYNC_INTERVALS=30), staggered over the half hour.

Each rep has ``--items`` Outlook appointments (category Salesforce) and ``--items`` Salesforce Events, synced
first. Then, for ``--minutes`` (the window), ``--edits`` edits (default: one per mailbox of both groups) at
random moments (seeded): an ``--outlook-share`` of them subject edits in Outlook through exchangelib with the
rep's own login, the rest subject edits of the rep's Events through simple-salesforce with the rep's own
session. Rep *i* of both groups makes the same edit at the same moment.

Arrival on the other side is read from the latency samples the sessions record (``push_latency_samples``:
our write's end minus the source's own modification time, per write), not by polling the other side (which would
add requests to the counters). After the window the push group gets up to 3 minutes to deliver every edit;
polling is not waited for (up to 30 minutes): its edits not yet delivered get their mailbox's next session start
(``next_sync_at``) as a lower bound, in ``edit_to_next_poll_s``.

Counted over the window: sessions started (by trigger), Salesforce requests (the sandbox's counter per endpoint,
minus the reps' own edits; for push, ``composite`` is the scan), Exchange requests by the service account (the
sessions and the listener; the reps' own logins are left out). Per hour = counted × 60 / minutes. Salesforce
calls per day for 1,000 and 10,000 reps: session calls per mailbox scale with the reps, the scan costs its
passes per day × ⌈objects × ⌈reps / owner chunk⌉ / 5⌉ calls; once at the measured edit rate, once at 20 edits a
rep a day (from the measured per-session and per-edit costs). Latencies, sessions and Exchange requests are also
given per protocol (``by_protocol``: ``ews``, ``graph``; Exchange requests are EWS by the service account, and
every Graph request, all of them calsync's app's: the reps edit through EWS with their own logins on the store
both protocols serve). Results: a table, ``bench/results/latency.json``,
and with ``--json`` the JSON on stdout too.

``--mailboxes 20 --minutes 3`` takes about 6 minutes on a loaded 2-core machine; the defaults about 25.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.push_bench import (  # noqa: E402
    CALSYNC,
    Processes,
    drop_schema,
    per_pass_calls,
    percentiles,
    quiet_logs,
    rep_email,
    rep_user,
    schema_url,
    seed,
    utcnow,
)

RESULTS = ROOT / "bench" / "results"
POSTGRES_URL = os.environ.get("CALSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
POLL_MINUTES, SAFETY_HOURS = 30, 6
PUSH_DRAIN_SECONDS = 180
OBJECTS = 2  # Event two-way, Task down (the default policies): what the scan queries per owner chunk
PASSWORD = "bench-password"


class Group:
    """One deployment: its sandboxes, schema, Redis database, mailboxes, actors and processes."""

    def __init__(self, name: str, n: int, items: int, work: Path, database_url: str, redis_url: str,
                 graph_share: float = 0.0) -> None:  # fmt: skip
        from redis import Redis

        from calsync.database import make_engine, make_session_factory, upgrade
        from sandbox.runner import SandboxOptions, start_sandboxes
        from sandbox.salesforce.oauth import session_id_for
        from sync import mailboxes

        self.name, self.n, self.database_url = name, n, database_url
        self.running = start_sandboxes(SandboxOptions(state_dir=work / f"sandboxes-{name}", seed="empty",
                                                      salesforce_daily_budget=10**9))  # fmt: skip
        self.items = seed(self.running, [name], n, items)
        sf = self.running.salesforce
        with sf.lock:  # the reps' own sessions, for simple-salesforce (seeded reps have theirs already)
            for i in range(n):
                sf.oauth.state.access_tokens[session_id_for(rep_user(name, i))] = rep_user(name, i)
        self.info_file = work / f"sandbox-{name}.json"
        self.running.write_info(self.info_file)
        self.actor_info = copy.deepcopy(self.running.info)
        self.actor_info["exchange"]["mailboxes"] = [
            {"email": rep_email(name, i), "username": rep_email(name, i), "password": PASSWORD} for i in range(n)
        ]
        self.actor_info["salesforce"]["users"] = [
            {"email": rep_email(name, i), "user_id": rep_user(name, i), "session_id": session_id_for(rep_user(name, i)),
             "name": f"Rep {name} {i:04d}", "username": rep_email(name, i), "password": PASSWORD}
            for i in range(n)
        ]  # fmt: skip
        self.url, self.schema = schema_url(database_url, f"bench_latency_{name}")
        upgrade(self.url)
        self.engine = make_engine(self.url)
        self.factory = make_session_factory(self.engine)
        # Spread evenly (every other one at 0.5), so that the random edits fall on both protocols alike.
        graph = {i for i in range(n) if int((i + 1) * graph_share) > int(i * graph_share)}
        with self.factory() as db:
            self.ids, self.backend = [], {}
            for i in range(n):
                backend = "graph" if i in graph else "ews"
                mailbox = mailboxes.add(db, rep_email(name, i), rep_user(name, i), backend=backend)
                db.flush()
                self.ids.append(mailbox.id)
                self.backend[mailbox.id] = backend
            db.commit()
        self.n_graph = len(graph)
        self.redis_url = redis_url
        self.redis = Redis.from_url(redis_url)
        self.redis.flushdb()
        self.env = dict(os.environ, CALSYNC_SANDBOX_INFO=str(self.info_file), DATABASE_URL=self.url,
                        REDIS_URL=redis_url, CALSYNC_ENV="development", SALESFORCE_AUTH="client_credentials",
                        CALSYNC_SYNC_INTERVALS=str(POLL_MINUTES), PYTHONPATH=str(ROOT))  # fmt: skip
        self.procs = Processes(work / f"logs-{name}")
        self.webhook: Any = None
        self._outlook: dict[int, Any] = {}
        self._salesforce: dict[int, Any] = {}
        self.edits: list[dict[str, Any]] = []  # i, side, at (epoch seconds)
        self.next_item: Counter[tuple[int, str]] = Counter()

    # -- the reps, through the real clients ------------------------------------------------------------------
    def edit(self, i: int, side: str, subject: str) -> None:
        from tests.e2e.actors import OutlookUser, SalesforceUser

        k = self.next_item[(i, side)]
        self.next_item[(i, side)] += 1
        if side == "outlook":
            if i not in self._outlook:
                self._outlook[i] = OutlookUser(self.actor_info, rep_email(self.name, i))
            user = self._outlook[i]
            items = self.items[(self.name, i)]["outlook"]
            user.edit(items[k % len(items)], subject=subject)
        else:
            if i not in self._salesforce:
                self._salesforce[i] = SalesforceUser(self.actor_info, rep_email(self.name, i))
            user = self._salesforce[i]
            events = self.items[(self.name, i)]["salesforce"]
            user.update("Event", events[k % len(events)], Subject=subject)
        self.edits.append({"i": i, "side": side, "at": time.time()})

    # -- counters ------------------------------------------------------------------------------------------------
    def reset_counters(self) -> None:
        with self.running.salesforce.lock:
            self.running.salesforce.requests.clear()
            self.running.salesforce.composite_subrequests = 0
        self.running.exchange.reset_log()
        self.running.graph.wsgi_app.reset_log()

    def counters(self) -> dict[str, Any]:
        from sandbox.seed import SERVICE_ACCOUNT

        with self.running.salesforce.lock:
            sf = dict(self.running.salesforce.requests)
        log = self.running.exchange.log_snapshot()
        graph = self.running.graph.wsgi_app.log_snapshot()
        return {"salesforce": sf, "exchange": log["requests"],
                "exchange_service_account": log["requests_by_login"].get(SERVICE_ACCOUNT[0], 0),
                "graph": graph["requests"]}  # fmt: skip

    def serve_webhook(self) -> str:
        """The web app over HTTPS (the sandboxes' certificate, which the Graph sandbox trusts): Graph's webhook.
        Its URL becomes the group's CALSYNC_PUBLIC_URL (the keeper's notificationUrl)."""
        from calsync.settings import Settings
        from calsync.web import create_app
        from sandbox.server import ServerThread

        app = create_app(Settings.from_env(self.env))
        self.webhook = (ServerThread(app, ssl_context=self.running.tls.server_context()), app)
        self.env["CALSYNC_PUBLIC_URL"] = self.webhook[0].url
        return self.webhook[0].url

    def graph_subscriptions(self) -> int:
        from sqlalchemy import func, select

        from sync.models import GraphSubscription

        with self.factory() as db:
            return db.scalar(select(func.count()).select_from(GraphSubscription)) or 0

    def close(self) -> None:
        self.procs.stop()
        if self.webhook is not None:
            from backend.globals import runtime_of

            self.webhook[0].stop()
            runtime_of(self.webhook[1]).close()
        for user in [*self._outlook.values(), *self._salesforce.values()]:
            if hasattr(user, "close"):
                user.close()
        self.engine.dispose()
        self.running.stop()
        drop_schema(self.database_url, self.schema)
        self.redis.flushdb()


def initial_sync(groups: list[Group]) -> None:
    """Every mailbox's first session (not measured), one burst worker per group side by side."""
    from sync.job_queue import session_queue
    from sync.schedule import ScheduleConfig, enqueue_session

    for group in groups:
        queue = session_queue("sync", group.redis)
        for mailbox_id in group.ids:
            enqueue_session(queue, mailbox_id, ScheduleConfig())
    procs = [subprocess.Popen([CALSYNC, "worker", "--burst"], env=g.env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for g in groups]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"initial sync failed: {err.decode()[-2000:]}")


def stagger(group: Group, start: dt.datetime, span: dt.timedelta) -> None:
    """Next periodic sessions spread evenly over ``span`` from ``start`` (the steady state of a fleet)."""
    from sqlalchemy import update

    from sync.models import Mailbox

    with group.factory() as db:
        for k, mailbox_id in enumerate(group.ids):
            at = start + span * ((k + 0.5) / group.n)
            db.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(next_sync_at=at))
        db.commit()


def queue_idle(group: Group) -> bool:
    from sync.job_queue import session_queue
    from sync.push.requests import PENDING_KEY

    queue = session_queue("sync", group.redis)
    return not group.redis.zcard(PENDING_KEY) and not len(queue) and not queue.started_job_registry.count


def wait_push_settled(push: Group, timeout: float) -> float:
    """Until the listener streams every EWS mailbox, every Graph mailbox has its subscription, the scan has
    passed, and the catch-up sessions of the first subscriptions have run (the queue and the push requests quiet
    for 10 s)."""
    began = time.time()
    quiet_since = None
    while time.time() - began < timeout:
        raw = push.redis.get("calsync:push:status:listener:bench")
        streaming = json.loads(raw).get("streaming", 0) if raw else 0
        scanned = push.redis.exists(f"calsync:sfscan:cover:{push.ids[-1]}")
        subscribed = push.graph_subscriptions()
        if streaming >= push.n - push.n_graph and subscribed >= push.n_graph and scanned and queue_idle(push):
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since >= 10:
                return time.time() - began
        else:
            quiet_since = None
        time.sleep(1)
    raise SystemExit(f"push group not settled after {timeout:.0f} s (streaming {streaming}/"
                     f"{push.n - push.n_graph}, Graph subscriptions {subscribed}/{push.n_graph})")  # fmt: skip


def samples(group: Group, since: dt.datetime, backend: str | None = None) -> list[tuple[str, float, str | None,
                                                                                       dt.datetime]]:  # fmt: skip
    """Latency samples written since ``since``, of the mailboxes on ``backend`` only when given."""
    from sqlalchemy import select

    from sync.models import LatencySample

    with group.factory() as db:
        return [(r.direction, r.seconds, r.trigger, r.written_at) for r in db.execute(
            select(LatencySample.direction, LatencySample.seconds, LatencySample.trigger, LatencySample.written_at,
                   LatencySample.mailbox_id)
            .where(LatencySample.written_at >= since))
            if backend is None or group.backend.get(r.mailbox_id) == backend]  # fmt: skip


def sessions(group: Group, since: dt.datetime, until: dt.datetime) -> list[Any]:
    from sqlalchemy import select

    from sync.models import SyncSession

    with group.factory() as db:
        return list(db.execute(select(SyncSession.mailbox_id, SyncSession.started_at, SyncSession.finished_at,
                                      SyncSession.status, SyncSession.trigger)
                               .where(SyncSession.started_at >= since, SyncSession.started_at < until)))  # fmt: skip


def _epoch(value: dt.datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()


def next_poll_waits(group: Group, since: dt.datetime) -> list[float]:
    """Per edit of the poll group: its mailbox's first session start after the edit, else its ``next_sync_at``
    (a lower bound of the arrival: the session still has to read and write)."""
    from sqlalchemy import select

    from sync.models import Mailbox

    rows = sessions(group, since, utcnow() + dt.timedelta(days=1))
    with group.factory() as db:
        nxt = {m.id: m.next_sync_at for m in db.scalars(select(Mailbox))}
    waits = []
    for edit in group.edits:
        mailbox_id = group.ids[edit["i"]]
        starts = [_epoch(r.started_at) for r in rows if r.mailbox_id == mailbox_id]
        starts = [s for s in starts if s >= edit["at"]]
        at = min(starts) if starts else _epoch(nxt[mailbox_id])
        waits.append(max(0.0, at - edit["at"]))
    return waits


def summarize(group: Group, counted: dict[str, Any], minutes: float, since: dt.datetime, until: dt.datetime,
              sf_edits: int) -> dict[str, Any]:  # fmt: skip
    from sync.push.latency import TO_OUTLOOK, TO_SALESFORCE

    rows = sessions(group, since, until)
    got = samples(group, since)
    per_hour = 60 / minutes
    sf = Counter(counted["salesforce"])
    # The reps' own edits: one sObject PATCH each (simple-salesforce's update), under the sandbox's "sobject".
    actor_endpoint = next((k for k in sf if k.startswith("sobject") and sf[k] >= sf_edits), None)
    if actor_endpoint:
        sf[actor_endpoint] -= sf_edits
    sf = +sf
    scan = sf.get("composite", 0) if group.name == "push" else 0
    engine_calls = sum(sf.values())
    writes = sum(v for k, v in sf.items() if k.startswith("collection"))
    out = {
        "mailboxes": group.n,
        "edits": {"outlook": sum(e["side"] == "outlook" for e in group.edits),
                  "salesforce": sum(e["side"] == "salesforce" for e in group.edits)},
        "sessions": len(rows),
        "sessions_by_trigger": dict(Counter(r.trigger or "?" for r in rows)),
        "failed_sessions": sum(r.status == "failed" for r in rows),
        "outlook_to_salesforce_s": percentiles([s for d, s, _, _ in got if d == TO_SALESFORCE]),
        "salesforce_to_outlook_s": percentiles([s for d, s, _, _ in got if d == TO_OUTLOOK]),
        "salesforce_requests": engine_calls,
        "salesforce_by_endpoint": dict(sf),
        "salesforce_scan_calls": scan,
        "salesforce_session_calls": engine_calls - scan,
        "salesforce_writes": writes,
        "salesforce_requests_per_hour": round(engine_calls * per_hour, 1),
        "salesforce_session_calls_per_mailbox_hour": round((engine_calls - scan) * per_hour / group.n, 3),
        "exchange_requests": counted["exchange_service_account"],
        "exchange_requests_per_hour": round(counted["exchange_service_account"] * per_hour, 1),
        "exchange_requests_per_mailbox_hour": round(counted["exchange_service_account"] * per_hour / group.n, 3),
        "exchange_by_operation_all_logins": counted["exchange"],
        "graph_requests": sum(counted["graph"].values()),
        "graph_by_operation": counted["graph"],
    }  # fmt: skip
    out["by_protocol"] = {}
    for backend in ("ews", "graph"):
        ids = {m for m, b in group.backend.items() if b == backend}
        if not ids:
            continue
        mine = samples(group, since, backend)
        edits = [e for e in group.edits if group.backend[group.ids[e["i"]]] == backend]
        requests = counted["exchange_service_account"] if backend == "ews" else out["graph_requests"]
        out["by_protocol"][backend] = {
            "mailboxes": len(ids),
            "edits": {"outlook": sum(e["side"] == "outlook" for e in edits),
                      "salesforce": sum(e["side"] == "salesforce" for e in edits)},
            "sessions": sum(r.mailbox_id in ids for r in rows),
            "outlook_to_salesforce_s": percentiles([s for d, s, _, _ in mine if d == TO_SALESFORCE]),
            "salesforce_to_outlook_s": percentiles([s for d, s, _, _ in mine if d == TO_OUTLOOK]),
            "exchange_requests": requests,
            "exchange_requests_per_mailbox_hour": round(requests * per_hour / len(ids), 3),
        }  # fmt: skip
    return out


def extrapolate(push: dict, poll: dict, minutes: float, scan_seconds: float, chunk: int) -> dict[str, Any]:
    """Salesforce calls per day at 1,000 and 10,000 reps: at the measured edit rate, and at 20 edits a rep a
    day (half in Outlook) from the measured costs per session, per Outlook edit and per safety-net session."""
    passes = 86400 / scan_seconds
    days = 24 * 60 / minutes
    n = push["mailboxes"]
    edits = push["edits"]["outlook"] + push["edits"]["salesforce"]
    out: dict[str, Any] = {"measured_edit_rate_per_rep_day": round(edits / n * days, 1)}
    # Per rep per day at 20 edits (10 Outlook, 10 Salesforce): polling = 48 sessions' queries + the writes of
    # the Outlook edits; push = the writes (sessions read the scan's rows) + the 4 safety-net sessions (0).
    poll_queries = poll["salesforce_requests"] - poll["salesforce_writes"]
    queries_per_poll_session = poll_queries / max(poll["sessions"], 1)
    # Per Outlook edit delivered (most of the poll group's edits reach Salesforce after the window).
    writes_per_outlook_edit = poll["salesforce_writes"] / max(poll["outlook_to_salesforce_s"]["count"], 1)
    push_per_outlook_edit = push["salesforce_session_calls"] / max(push["edits"]["outlook"], 1)
    for reps in (n, 1000, 10000):
        scan = passes * per_pass_calls(reps, OBJECTS, chunk)
        measured_poll = poll["salesforce_requests"] / n * days * reps
        measured_push = push["salesforce_session_calls"] / n * days * reps + scan
        at20_poll = (24 * 60 / POLL_MINUTES * queries_per_poll_session + 10 * writes_per_outlook_edit) * reps
        at20_push = 10 * push_per_outlook_edit * reps + scan
        out[str(reps)] = {
            "measured_rate": {"polling": round(measured_poll), "push": round(measured_push),
                              "ratio": round(measured_push / max(measured_poll, 1), 4)},
            "at_20_edits_per_rep_day": {"polling": round(at20_poll), "push": round(at20_push),
                                        "ratio": round(at20_push / max(at20_poll, 1), 4)},
        }  # fmt: skip
    out["per_rep_costs"] = {"queries_per_poll_session": round(queries_per_poll_session, 3),
                            "poll_writes_per_outlook_edit": round(writes_per_outlook_edit, 3),
                            "push_session_calls_per_outlook_edit": round(push_per_outlook_edit, 3),
                            "scan_calls_per_day": {str(r): round(passes * per_pass_calls(r, OBJECTS, chunk))
                                                   for r in (n, 1000, 10000)}}  # fmt: skip
    return out


def table(result: dict[str, Any]) -> str:
    push, poll = result["push"], result["poll"]

    def lat(d: dict) -> str:
        if not d["count"]:
            return "—"
        return f"{d['p50']:.1f} / {d['p95']:.1f} / {d['max']:.1f} s (n={d['count']})"

    lines = [f"{result['mailboxes']} mailboxes ({push['mailboxes']} push, {poll['mailboxes']} polled), "
             f"{result['minutes']:g} min, scan every {result['scan_seconds']:g} s", ""]  # fmt: skip
    rows = [
        ("", "push", "30-min polling"),
        ("edits (Outlook / Salesforce)", f"{push['edits']['outlook']} / {push['edits']['salesforce']}",
         f"{poll['edits']['outlook']} / {poll['edits']['salesforce']}"),
        ("Outlook→Salesforce p50/p95/max", lat(push["outlook_to_salesforce_s"]), lat(poll["outlook_to_salesforce_s"])),
        ("Salesforce→Outlook p50/p95/max", lat(push["salesforce_to_outlook_s"]), lat(poll["salesforce_to_outlook_s"])),
        ("edit → next poll session p50/p95/max", "", lat(poll["edit_to_next_poll_s"])),
        ("sessions", f"{push['sessions']} {push['sessions_by_trigger']}",
         f"{poll['sessions']} {poll['sessions_by_trigger']}"),
        ("Salesforce requests / hour",
         f"{push['salesforce_requests_per_hour']:g} (scan: {push['salesforce_scan_calls']} in the window)",
         f"{poll['salesforce_requests_per_hour']:g}"),
        ("Exchange requests / hour (EWS, service account)", f"{push['exchange_requests_per_hour']:g}",
         f"{poll['exchange_requests_per_hour']:g}"),
        ("Graph requests / hour", f"{push['graph_requests'] * 60 / result['minutes']:g}",
         f"{poll['graph_requests'] * 60 / result['minutes']:g}"),
    ]  # fmt: skip
    for backend in ("ews", "graph"):
        if backend not in push["by_protocol"]:
            continue
        a, b = push["by_protocol"][backend], poll["by_protocol"].get(backend)
        rows += [
            (f"[{backend}] mailboxes, edits (Outlook / Salesforce)",
             f"{a['mailboxes']}, {a['edits']['outlook']} / {a['edits']['salesforce']}",
             f"{b['mailboxes']}, {b['edits']['outlook']} / {b['edits']['salesforce']}" if b else ""),
            (f"[{backend}] Outlook→Salesforce", lat(a["outlook_to_salesforce_s"]),
             lat(b["outlook_to_salesforce_s"]) if b else ""),
            (f"[{backend}] Salesforce→Outlook", lat(a["salesforce_to_outlook_s"]),
             lat(b["salesforce_to_outlook_s"]) if b else ""),
            (f"[{backend}] sessions, Exchange requests / mailbox-hour",
             f"{a['sessions']}, {a['exchange_requests_per_mailbox_hour']:g}",
             f"{b['sessions']}, {b['exchange_requests_per_mailbox_hour']:g}" if b else ""),
        ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines += [f"{a:<{width}}  {b:<{w1}}  {c}" for a, b, c in rows]
    lines += ["", f"{'Salesforce calls/day':<22} {'polling':>12} {'push+scan':>12} {'ratio':>7}"]
    for reps in (str(result["push"]["mailboxes"]), "1000", "10000"):
        for label in ("measured_rate", "at_20_edits_per_rep_day"):
            row = result["per_day"][reps][label]
            lines.append(f"{reps + ' reps, ' + ('measured' if label == 'measured_rate' else '20/day'):<22} "
                         f"{row['polling']:>12,} {row['push']:>12,} {row['ratio']:>7.1%}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=200, help="both groups together (half each)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--edits", type=int, default=None, help="edits per group (default: --mailboxes)")
    parser.add_argument("--outlook-share", type=float, default=0.5)
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="workers of the push group")
    parser.add_argument("--graph-share", type=float, default=0.5,
                        help="share of each group's mailboxes on Microsoft Graph (0: EWS only)")  # fmt: skip
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6381/10")
    parser.add_argument("--database-url", default=POSTGRES_URL)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--json", action="store_true", help="print the JSON result too")
    args = parser.parse_args()
    quiet_logs()
    from calsync.settings import Settings

    settings = Settings.from_env(dict(os.environ, CALSYNC_ENV="development"))
    n = args.mailboxes // 2
    edits = args.edits if args.edits is not None else args.mailboxes
    base, _, db_number = args.redis_url.rpartition("/")
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    began = time.monotonic()
    groups: list[Group] = []
    try:
        # One after the other: alembic's upgrade is not thread-safe.
        push = Group("push", n, args.items, work, args.database_url, args.redis_url, args.graph_share)
        groups.append(push)
        poll = Group("poll", n, args.items, work, args.database_url, f"{base}/{int(db_number) + 1}", args.graph_share)
        groups.append(poll)
        initial_sync(groups)
        print(f"set-up and initial sync: {time.monotonic() - began:.0f} s", flush=True)
        stagger(push, utcnow(), dt.timedelta(hours=SAFETY_HOURS))
        if push.n_graph:
            push.serve_webhook()  # before the listener: its keeper subscribes with this URL
        push.procs.start("scheduler", push.env, "scheduler")
        for w in range(args.workers):
            push.procs.start(f"worker-{w}", push.env, "worker", "--name", f"bench-latency-push-{w}")
        push.procs.start("listener", push.env, "listener", "--name", "bench")
        push.procs.start("salesforce-scan", push.env, "salesforce-scan")
        settle = wait_push_settled(push, timeout=600)
        print(f"push group settled (listener streaming, catch-up sessions done): {settle:.0f} s", flush=True)

        # The window: polling staggered over the half hour from now, counters from zero.
        start = utcnow()
        stagger(poll, start, dt.timedelta(minutes=POLL_MINUTES))
        poll.procs.start("scheduler", poll.env, "scheduler")
        poll.procs.start("worker", poll.env, "worker", "--name", "bench-latency-poll")
        for group in groups:
            group.reset_counters()
        rng = random.Random(args.seed)
        seconds = args.minutes * 60
        plan = sorted((rng.uniform(0, seconds), rng.randrange(n),
                       "outlook" if rng.random() < args.outlook_share else "salesforce")
                      for _ in range(edits))  # fmt: skip
        t0 = time.time()
        for k, (moment, i, side) in enumerate(plan):
            time.sleep(max(0.0, t0 + moment - time.time()))
            for group in groups if k % 2 else groups[::-1]:  # neither group always first
                group.edit(i, side, f"bench edit {k} {side}")
        time.sleep(max(0.0, t0 + seconds - time.time()))
        end = utcnow()
        counted = {g.name: g.counters() for g in groups}
        print(f"window done ({len(plan)} edits a group); push drain...", flush=True)
        from sync.push.latency import TO_OUTLOOK, TO_SALESFORCE

        want = {TO_SALESFORCE: sum(e["side"] == "outlook" for e in push.edits),
                TO_OUTLOOK: sum(e["side"] == "salesforce" for e in push.edits)}  # fmt: skip
        drain_end = time.time() + PUSH_DRAIN_SECONDS
        while time.time() < drain_end:
            got = Counter(d for d, *_ in samples(push, start))
            if all(got[d] >= w for d, w in want.items()) and queue_idle(push):
                break
            time.sleep(2)
        sf_edits = {g.name: sum(e["side"] == "salesforce" for e in g.edits) for g in groups}
        result: dict[str, Any] = {
            "measured_at": utcnow().isoformat(), "mailboxes": 2 * n, "minutes": args.minutes,
            "outlook_share": args.outlook_share, "items": args.items, "workers": args.workers,
            "graph_share": args.graph_share,
            "scan_seconds": settings.salesforce_scan_seconds, "setup_s": round(time.monotonic() - began, 1),
            "arrival": "latency samples (push_latency_samples), written_at >= window start",
        }  # fmt: skip
        for group in groups:
            result[group.name] = summarize(group, counted[group.name], args.minutes, start, end, sf_edits[group.name])
        result["push"]["delivered_after_drain"] = dict(Counter(d for d, *_ in samples(push, start)))
        result["push"]["expected"] = want
        result["poll"]["edit_to_next_poll_s"] = percentiles(next_poll_waits(poll, start))
        result["per_day"] = extrapolate(result["push"], result["poll"], args.minutes, settings.salesforce_scan_seconds,
                                        settings.salesforce_scan_owner_chunk)  # fmt: skip
    finally:
        for group in groups:
            try:
                group.close()
            except Exception as exc:  # noqa: BLE001 - clean up the other group anyway
                print(f"closing {group.name}: {exc}", file=sys.stderr)
        print(f"logs: {work}", file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latency.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    print(table(result))


if __name__ == "__main__":
    main()
