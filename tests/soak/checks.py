"""The end of a soak: quiesce (sessions through the real workers until one session of every mailbox writes
nothing), then the checks: both sides against the ledger, the session history, the RQ registries, and
``calsync verify --all --json`` when the command exists.

Every check returns a list of problems (empty: passed); the runner prints them and fails the run on any.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import statistics
import subprocess
import time
from collections import Counter, defaultdict
from typing import Any

from redis import Redis
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.api.graph_notifications import COUNTERS_KEY as GRAPH_WEBHOOK_COUNTERS
from sync.job_queue import session_queue
from sync.models import GraphSubscription, HealthEntry, LatencySample, Link, Mailbox, SyncSession
from sync.push import salesforce_rows
from sync.schedule import ScheduleConfig, enqueue_session
from tests.e2e.actors import SALESFORCE_CATEGORY
from tests.soak.ledger import DELETED_EXCHANGE, DELETED_SALESFORCE, LIVE, UNCERTAIN, UNSHARED, Ledger
from tests.soak.workload import (
    Workload,
    exchange_fields,
    outlook_items,
    salesforce_events,
    salesforce_fields,
    token_of,
)
from tests.support import CALSYNC, ROOT

log = logging.getLogger("soak.checks")


# -- quiescence ----------------------------------------------------------------------------------------------------
def quiesce(factory: sessionmaker[Session], redis: Redis, config: ScheduleConfig, *, rounds: int = 6,
            timeout: float = 600, scan: bool = False) -> dict[str, Any]:  # fmt: skip
    """Rounds of one fresh session per mailbox (started after the round began), through the queue and the real
    workers, until a round in which every session was ``ok`` with zero writes and zero failed items.

    ``scan``: `calsync salesforce-scan` runs, and sessions read its rows instead of querying Salesforce, so a
    session sees Salesforce as of the scan's last pass (up to its interval late, by design). Each round then
    first waits for a pass that finished after the round began: a quiet round must have read every edit."""
    queue = session_queue(config.queue, redis)
    history = []
    for number in range(1, rounds + 1):
        if scan:
            wait_for_scan(factory, redis, time.time())
        with factory() as db:
            mailboxes = {m.id: m.email for m in db.scalars(select(Mailbox))}
            baseline = db.scalar(select(func.max(SyncSession.id))) or 0
        sessions: dict[int, SyncSession] = {}
        deadline = time.monotonic() + timeout
        while len(sessions) < len(mailboxes):
            if time.monotonic() > deadline:
                missing = sorted(mailboxes[i] for i in mailboxes if i not in sessions)
                raise TimeoutError(f"quiesce round {number}: no session finished for {missing}")
            for mailbox_id in mailboxes:
                if mailbox_id not in sessions:
                    try:
                        enqueue_session(queue, mailbox_id, config, reason="soak-quiesce")  # dedupes while queued
                    except Exception as exc:  # noqa: BLE001 - Redis restarting: try again next pass
                        log.warning("quiesce: enqueue failed: %r", exc)
            time.sleep(2)
            with factory() as db:
                rows = db.scalars(select(SyncSession).where(SyncSession.id > baseline,
                                                            SyncSession.status != "running")
                                  .order_by(SyncSession.id))  # fmt: skip
                for row in rows:
                    sessions.setdefault(row.mailbox_id, row)
                    db.expunge(row)
        writes = {mailboxes[i]: s.writes for i, s in sessions.items() if s.writes}
        unsettled = {mailboxes[i]: f"{s.status} failed={s.failed} {s.error or ''}".strip()
                     for i, s in sessions.items() if s.status != "ok" or s.failed}  # fmt: skip
        history.append({"round": number, "writes": sum(s.writes for s in sessions.values()),
                        "mailboxes_writing": writes, "not_ok": unsettled})  # fmt: skip
        log.info("quiesce round %d: %d writes in %d mailboxes, %d not ok", number, history[-1]["writes"],
                 len(writes), len(unsettled))  # fmt: skip
        if not writes and not unsettled:
            return {"converged": True, "rounds": number, "history": history}
    return {"converged": False, "rounds": rounds, "history": history}


# -- both sides against the ledger -----------------------------------------------------------------------------------
def wait_for_scan(factory: sessionmaker[Session], redis: Redis, since: float, timeout: float = 300) -> None:
    """Until the Salesforce scan holds every mailbox's rows of every object as a pass finished after ``since``
    (epoch) read them (each cover's ``at``; docs/push.md, Salesforce scan)."""
    with factory() as db:
        mailbox_ids = list(db.scalars(select(Mailbox.id)))
    deadline = time.monotonic() + timeout

    def behind() -> list[int]:
        late = []
        for mailbox_id in mailbox_ids:
            covers = redis.hgetall(salesforce_rows.cover_key(mailbox_id)).values()
            if not covers or any(salesforce_rows.Cover.parse(raw).at <= since for raw in covers):
                late.append(mailbox_id)
        return late

    while True:
        try:
            late = behind()
        except Exception as exc:  # noqa: BLE001 - Redis restarting: look again
            late = [f"unreadable: {exc!r}"]
        if not late:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Salesforce scan did not cover mailboxes {late} within {timeout:g} s")
        time.sleep(2)


def check_ledger(ledger: Ledger, workload: Workload) -> tuple[list[str], dict[str, Any]]:
    problems: list[str] = []
    stats: Counter[str] = Counter()
    for mailbox in workload.mailboxes:
        outlook = defaultdict(list)
        for item in outlook_items(workload.outlook[mailbox]):
            token = token_of(item["subject"])
            if token and token.startswith(workload.prefix):
                outlook[token].append(item)
        salesforce = defaultdict(list)
        for record in salesforce_events(workload.salesforce[mailbox], workload.prefix):
            salesforce[token_of(record["Subject"])].append(record)
        mine = {i.token: i for i in ledger.of(mailbox)}
        for token in sorted(set(outlook) | set(salesforce)):
            if token not in mine:
                problems.append(f"{mailbox}: {token} exists (Outlook {len(outlook[token])}, Salesforce "
                                f"{len(salesforce[token])}) but the workload never made it here")  # fmt: skip
        for token, item in sorted(mine.items()):
            ex, sf = outlook.get(token, []), salesforce.get(token, [])
            tagged = [i for i in ex if SALESFORCE_CATEGORY in i["categories"]]
            stats[item.state] += 1
            where = f"{mailbox}: {token} ({item.state}, made in {item.origin}, last edit in {item.last_side})"
            if len(ex) > 1:
                problems.append(f"{where}: duplicate in Outlook: {len(ex)} items")
            if len(sf) > 1:
                problems.append(f"{where}: duplicate in Salesforce: {len(sf)} Events")
            if item.state == UNCERTAIN or item.state == "creating":
                continue
            expected = item.fields()
            if item.state == LIVE:
                if len(tagged) != 1 or len(sf) != 1:
                    problems.append(f"{where}: lost: Outlook {len(tagged)} tagged of {len(ex)}, Salesforce {len(sf)}"
                                    f" (expected one each)")  # fmt: skip
                    continue
                for side, got in (("Outlook", exchange_fields(tagged[0])), ("Salesforce", salesforce_fields(sf[0]))):
                    diff = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
                    if diff:
                        problems.append(f"{where}: lost edit in {side}: " + ", ".join(
                            f"{k} is {g!r}, expected {e!r}" for k, (g, e) in diff.items()))  # fmt: skip
            elif item.state == DELETED_EXCHANGE:
                if ex or sf:
                    problems.append(f"{where}: deleted in Outlook, but Outlook {len(ex)}, Salesforce {len(sf)}")
            elif item.state == DELETED_SALESFORCE:
                if sf:
                    problems.append(f"{where}: deleted in Salesforce, but {len(sf)} Event(s) left")
                if item.exchange_id is None and not ex:
                    pass  # deleted before any session brought it down: it never reached Outlook
                elif len(ex) != 1:
                    problems.append(f"{where}: unexpected deletion: the Outlook item must stay (salesforce_deletion"
                                    f" = keep), found {len(ex)}")  # fmt: skip
                elif tagged:
                    problems.append(f"{where}: the Outlook item still has the Salesforce category")
            elif item.state == UNSHARED:
                if item.salesforce_id is None and not sf:
                    pass  # unshared before any session sent it up: no Event ever existed
                elif len(sf) != 1:
                    problems.append(f"{where}: unshared (on_unshare = keep_salesforce): expected the Event to stay, "
                                    f"found {len(sf)}")  # fmt: skip
                if len(ex) != 1 or tagged:
                    problems.append(f"{where}: unshared: expected one untagged Outlook item, found {len(ex)} "
                                    f"({len(tagged)} tagged)")  # fmt: skip
    return problems, dict(stats)


# -- the database's view ------------------------------------------------------------------------------------------
def check_sessions(factory: sessionmaker[Session], started: dt.datetime, ended: dt.datetime,
                   max_gap: dt.timedelta) -> tuple[list[str], dict[str, Any]]:  # fmt: skip
    """Every session finished (none left ``running``), and no mailbox went without a session for longer than
    ``max_gap`` during the run (a job lost from the queue shows up here)."""
    problems: list[str] = []
    with factory() as db:
        rows = list(db.scalars(select(SyncSession).order_by(SyncSession.id)))
        emails = {m.id: m.email for m in db.scalars(select(Mailbox))}
        links = Counter(state for (state,) in db.execute(select(Link.state)))
        health = Counter(code for (code,) in db.execute(select(HealthEntry.code).where(HealthEntry.status == "open")))
    statuses = Counter(r.status for r in rows)
    running = [r for r in rows if r.status == "running"]
    if running:
        problems.append(f"{len(running)} session(s) still 'running' after quiescence: ids {[r.id for r in running]}")
    starts: dict[int, list[dt.datetime]] = defaultdict(list)
    for row in rows:
        starts[row.mailbox_id].append(_utc(row.started_at))
    gaps = {}
    for mailbox_id, email in emails.items():
        times = [started, *sorted(t for t in starts[mailbox_id] if started <= t <= ended), ended]
        gap = max(b - a for a, b in zip(times, times[1:], strict=False))
        gaps[email] = round(gap.total_seconds())
        if gap > max_gap:
            problems.append(f"{email}: no session for {gap} during the run (a lost job?)")
    errors = Counter((r.error or "").split(":", 1)[0][:80] for r in rows if r.status in ("failed", "abandoned"))
    failed_items = sum(r.failed for r in rows)
    return problems, {"sessions": len(rows), "by_status": dict(statuses), "failed_items": failed_items,
                      "errors": dict(errors.most_common(12)), "max_gap_s": max(gaps.values() or [0]),
                      "gap_by_mailbox_s": gaps, "links": dict(links), "open_health": dict(health)}  # fmt: skip


def check_queue(redis: Redis, config: ScheduleConfig, factory: sessionmaker[Session]) -> tuple[list[str], dict]:
    """After the workers stopped: nothing queued or started; each failed job is explained by a later ``ok``
    session of its mailbox (the schedule requeues a failed job when the mailbox is due again)."""
    problems: list[str] = []
    queue = session_queue(config.queue, redis)
    started = StartedJobRegistry(queue=queue).get_job_ids()
    scheduled = ScheduledJobRegistry(queue=queue).get_job_ids()
    failed_registry = FailedJobRegistry(queue=queue)
    failed = []
    with factory() as db:
        newest = select(SyncSession.mailbox_id, func.max(SyncSession.finished_at))
        last_ok = dict(db.execute(newest.where(SyncSession.status == "ok").group_by(SyncSession.mailbox_id)).all())
    for job_id in failed_registry.get_job_ids():
        job = queue.fetch_job(job_id)
        reason = (job.latest_result().exc_string if job and job.latest_result() else "") or ""
        reason = reason.strip().splitlines()[-1] if reason.strip() else "(no exception recorded)"
        ended = _utc(job.ended_at) if job and job.ended_at else None
        mailbox_id = int(job_id.split("-", 1)[1]) if job_id.startswith("sync-") else None
        ok_at = last_ok.get(mailbox_id)
        explained = bool(ok_at and ended and _utc(ok_at) >= ended)
        failed.append({"job": job_id, "reason": reason[:200], "explained": explained})
        if not explained:
            problems.append(f"failed job {job_id} not followed by an ok session of its mailbox: {reason[:200]}")
    if started:
        problems.append(f"jobs left in the started registry with every worker stopped: {started}")
    return problems, {"queued": queue.count, "started": started, "scheduled": scheduled, "failed": failed}


def run_verify(env: dict[str, str]) -> tuple[list[str], dict[str, Any] | None]:
    """``calsync verify --all --json`` (issue 20), when this checkout has it: any reported problem fails."""
    probe = subprocess.run([CALSYNC, "verify", "--help"], env=env, cwd=ROOT, capture_output=True, text=True)
    if probe.returncode != 0:
        return [], None
    done = subprocess.run([CALSYNC, "verify", "--all", "--json"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return [f"calsync verify --all --json exited {done.returncode}, not JSON: {done.stdout[-500:]}"
                f"{done.stderr[-1500:]}"], None  # fmt: skip
    problems = [f"calsync verify: {p}" for p in verify_problems(report)]
    if done.returncode != 0 and not problems:  # 1: findings, 2: a mailbox could not be read
        problems.append(f"calsync verify exited {done.returncode}: {done.stderr[-500:]}")
    return problems, report


def verify_problems(report: dict[str, Any]) -> list[str]:
    """The findings of a ``--all`` report (docs/verify.md: ``{"reports": [...], "total": {...}}``), one line each."""
    out: list[str] = []
    for entry in report.get("reports", []):
        if entry.get("status") != "ok":
            out.append(f"{entry.get('mailbox')}: verify failed: {entry.get('error')}")
        for finding in entry.get("findings", []):
            writes = (finding.get("next_session") or {}).get("writes")
            out.append(f"{entry.get('mailbox')}: {finding.get('kind')}: {finding.get('subject')!r}: "
                       f"{finding.get('message')} (next session writes {writes})")  # fmt: skip
    return out


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def check_push(redis: Redis, factory: sessionmaker[Session], graph_push: bool) -> tuple[list[str], dict[str, Any]]:
    """What push did: the Graph webhook's counters, the sessions by trigger and backend, and the writes a session
    started by push made (`LatencySample`, by direction and backend, with their median delay after the edit).
    With Graph push on, Graph edits must have reached Salesforce by push: a run in which no Graph notification led
    to a session writing an Outlook edit to Salesforce is a problem (the safety net alone converged it)."""
    with factory() as db:
        backends = {m.id: m.backend for m in db.scalars(select(Mailbox))}
        triggers = Counter(f"{backends.get(mailbox_id)}:{trigger}" for mailbox_id, trigger in
                           db.execute(select(SyncSession.mailbox_id, SyncSession.trigger)))  # fmt: skip
        samples: dict[str, list[float]] = defaultdict(list)
        for mailbox_id, direction, seconds, trigger in db.execute(
            select(LatencySample.mailbox_id, LatencySample.direction, LatencySample.seconds, LatencySample.trigger)
        ):
            samples[f"{backends.get(mailbox_id)}:{direction}:{trigger}"].append(seconds)
        subscriptions = db.scalar(select(func.count()).select_from(GraphSubscription)) or 0
    webhook = {k.decode(): int(v) for k, v in redis.hgetall(GRAPH_WEBHOOK_COUNTERS).items()}
    latency = {key: {"writes": len(values), "median_s": round(statistics.median(values), 1)}
               for key, values in sorted(samples.items())}  # fmt: skip
    problems = []
    if graph_push:
        if not webhook.get("enqueued"):
            problems.append(f"the Graph webhook enqueued no session (its counters: {webhook})")
        if not samples.get("graph:outlook_to_salesforce:push"):
            problems.append("no Outlook edit of a Graph mailbox reached Salesforce in a session started by push")
    return problems, {
        "graph_webhook": webhook,
        "graph_subscriptions_at_end": subscriptions,
        "sessions_by_backend_trigger": dict(sorted(triggers.items())),
        "writes_by_trigger": latency,
    }
