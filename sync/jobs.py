"""RQ jobs: one job per mailbox session.

Job functions take ids, never objects, and build what they need from the `WorkerContext` that the worker
process installs (``calsync worker`` does; so does `install`, for tests). That context is the one module
global here: RQ calls jobs by name, so it is the only way to hand them a configuration.

What a session job guarantees:
- **one session per mailbox at a time**: a Redis lock per mailbox (``calsync:lock:mailbox:<id>``) with a TTL,
  renewed by a thread while the session runs; a dead worker's lock expires after ``lock_ttl`` seconds. A job
  that finds the lock taken raises `MailboxBusy` and RQ retries it later (``Retry`` with back-off).
- **deduped requests**: the job id is ``sync-<mailbox id>`` (see `sync.schedule.enqueue_session`).
- **group jobs** (`sync_group`, docs/push.md "Batched writes"): the sessions of several mailboxes with Outlook
  changes, each exactly as `sync_mailbox` runs it (its lock, its database session, its connectors), in threads,
  their Salesforce writes merged by one `sync.push.batching.SharedWriter`. A mailbox whose lock is taken is
  skipped (its request stays pending).
- **progress** in ``job.meta["progress"]``: ``{"phase", "done", "total"}`` (writes done of planned).
- **the API budget guard**: before the session (with the org usage the last session saw) and between
  committed batches (with the usage Salesforce just reported), usage above the configured count or
  percentage stops the session cleanly; the mailbox backs off (2.5 h, 4.5 h, 6.5 h, ...), with a health entry
  and ``Mailbox.backoff_reason``.
- **the schedule**: afterwards the mailbox's next session time and adaptive interval are set
  (`sync.schedule.after_session`), stretched to the safety interval while the mailbox's Exchange push channel
  is up and brought to the fallback interval when it is down (`sync.schedule.with_push`, docs/push.md).
- **push** (docs/push.md): before reading, the session takes the mailbox's pending push request (and its
  ``full`` flag: the Exchange feed is read again without the cursor); every write goes through connectors
  that record it for echo suppression (`sync.push.echo.RecordingExchange` / `RecordingSalesforce`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import LockError, RedisError
from rq import get_current_job
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync import health, settings_store
from sync.connectors.base import ExchangeCalendar, SalesforceOrg
from sync.connectors.errors import BudgetExhausted
from sync.models import HealthEntry, Mailbox, SyncSession, utcnow
from sync.push.batching import SharedWriter, run_group
from sync.push.echo import RecordingExchange, RecordingSalesforce
from sync.push.health import exchange_push_state
from sync.push.requests import take_request
from sync.push.salesforce_rows import ScannedSalesforce, with_scan
from sync.schedule import (
    BUDGET_HEALTH_CODE,
    ScheduleConfig,
    after_session,
    lock_key,
    over_budget,
    release_group_claim,
    with_push,
)
from sync.session import SessionResult, run_session

log = logging.getLogger("calsync.jobs")

USAGE_KEY = "calsync:salesforce:usage"  # the org's API usage as the last session saw it
BUDGET_PREFIX = "Salesforce API budget exhausted"  # how run_session words a BudgetExhausted session error


class MailboxBusy(Exception):
    """Another session of this mailbox holds its lock; RQ retries the job later."""


@dataclass
class WorkerContext:
    """Everything a session job needs, built once per worker process from the settings."""

    redis: Redis
    make_db: Callable[[], sessionmaker[Session]]
    salesforce: Callable[[], SalesforceOrg]
    exchange: Callable[[str], ExchangeCalendar]
    config: ScheduleConfig = field(default_factory=ScheduleConfig)
    clock: Callable[[], dt.datetime] = utcnow
    # Sessions read the Salesforce org scan's rows while its last pass is this recent (sync.push.salesforce_rows).
    scan_healthy_seconds: float = 180.0
    _db: sessionmaker[Session] | None = None
    _db_pid: int = 0

    def db(self) -> sessionmaker[Session]:
        """The session factory of this process (RQ forks a work horse per job: pooled connections must not
        cross a fork, so each process builds its own engine)."""
        if self._db is None or self._db_pid != os.getpid():
            self._db, self._db_pid = self.make_db(), os.getpid()
        return self._db


_context: WorkerContext | None = None


def install(context: WorkerContext | None) -> None:
    """Make ``context`` the one that jobs in this process use (``None`` removes it)."""
    global _context
    _context = context


def current_context() -> WorkerContext:
    if _context is None:
        raise RuntimeError(
            "no worker context: run jobs with `calsync worker` (or `rq worker -w calsync.rq_worker.Worker`)"
        )
    return _context


# -- the per-mailbox lock ---------------------------------------------------------------------------------
class MailboxLock:
    """A Redis lock with a TTL on one mailbox, renewed every ``ttl / 3`` seconds while held."""

    def __init__(self, redis: Redis, mailbox_id: int, ttl: int) -> None:
        self.ttl = ttl
        self.lock = redis.lock(lock_key(mailbox_id), timeout=ttl, blocking=False, thread_local=False)
        self.held = False
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> MailboxLock:
        self.held = bool(self.lock.acquire(blocking=False))
        if self.held:
            self._thread = threading.Thread(target=self._renew, name=f"renew {self.lock.name}", daemon=True)
            self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.lock.reacquire()
            except LockError:
                self.lost = True
                log.error("lost %s (expired while the session ran): another session may start", self.lock.name)
                return
            except RedisError as exc:  # Redis down or restarting: keep trying; a lost key shows as LockError
                log.warning("could not renew %s: %s", self.lock.name, exc)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.held and not self.lost:
            try:
                self.lock.release()
            except LockError:
                pass


# -- progress and the API budget guard ------------------------------------------------------------------------
class Progress:
    """The ``progress`` callback of a session: writes ``job.meta["progress"]`` (at each new phase, otherwise at
    most every ``every`` seconds) and stops the session when the org's API usage crosses the budget."""

    def __init__(self, job: Job | None, salesforce: SalesforceOrg, config: ScheduleConfig, every: float = 1.0):
        self.job = job
        self.salesforce = salesforce
        self.config = config
        self.every = every
        self.phase = ""
        self.saved_at = 0.0
        self.stopped: str | None = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.job is not None and (phase != self.phase or time.monotonic() - self.saved_at >= self.every):
            self.job.meta["progress"] = {"phase": phase, "done": done, "total": total}
            try:
                self.job.save_meta()
            except RedisError as exc:  # progress is for people watching: Redis down must not stop the session
                log.warning("could not save the progress of %s: %s", self.job.id, exc)
            self.saved_at = time.monotonic()
        self.phase = phase
        usage = self.salesforce.usage
        if phase in {"planning", "applying"} and over_budget(usage.org_used, usage.org_max, self.config):
            self.stopped = budget_message(usage.org_used, usage.org_max, self.config)
            raise BudgetExhausted(self.stopped, code="CALSYNC_BUDGET_GUARD", service="salesforce")


def budget_message(used: int | None, limit: int | None, config: ScheduleConfig) -> str:
    limits = []
    if config.budget_max_requests:
        limits.append(f"{config.budget_max_requests} requests")
    if config.budget_max_percent:
        limits.append(f"{config.budget_max_percent:g} %")
    return f"the org has used {used} of {limit} daily API requests (guard: {' or '.join(limits)})"


def save_usage(redis: Redis, salesforce: SalesforceOrg, now: dt.datetime) -> None:
    usage = salesforce.usage
    if usage.org_used is not None:
        redis.hset(USAGE_KEY, mapping={"used": usage.org_used, "max": usage.org_max or 0, "at": now.timestamp()})


def known_usage(redis: Redis, now: dt.datetime, max_age: dt.timedelta) -> tuple[int, int] | None:
    """The org usage the last session saw, if recent enough to decide on."""
    used, limit, at = redis.hmget(USAGE_KEY, ["used", "max", "at"])
    if used is None or at is None or now.timestamp() - float(at) > max_age.total_seconds():
        return None
    return int(used), int(limit or 0)


# -- the job ----------------------------------------------------------------------------------------------
def sync_mailbox(mailbox_id: int, reason: str = "schedule") -> dict[str, Any]:
    """RQ job: one sync session of one mailbox, under its lock; then its next session is scheduled."""
    context = current_context()
    with MailboxLock(context.redis, mailbox_id, context.config.lock_ttl) as lock:
        if not lock.held:
            raise MailboxBusy(f"mailbox {mailbox_id} is syncing in another session; retried later")
        return _session(context, mailbox_id, reason)


def sync_group(mailbox_ids: list[int], reason: str = "push", group_id: str = "") -> dict[str, Any]:
    """RQ job: the sessions of ``mailbox_ids`` at once, in threads, sharing their Salesforce writes (see the
    module docstring). Each result is that mailbox's own; one mailbox's failure is not the others'."""
    context = current_context()

    def one(mailbox_id: int) -> Callable[[SharedWriter], dict[str, Any]]:
        def run(writer: SharedWriter) -> dict[str, Any]:
            try:
                with MailboxLock(context.redis, mailbox_id, context.config.lock_ttl) as lock:
                    if not lock.held:  # its own session runs: the request stays pending for one after it
                        return {"mailbox_id": mailbox_id, "status": "skipped", "reason": "syncing elsewhere"}
                    return _session(context, mailbox_id, reason, writer=writer)
            finally:
                if group_id:
                    try:
                        release_group_claim(context.redis, mailbox_id, group_id)
                    except RedisError:  # the claim expires with the job's timeout
                        log.warning("could not release the group claim of mailbox %s", mailbox_id)

        return run

    outcomes, stats = run_group([one(m) for m in mailbox_ids], wait_seconds=context.config.push.batch_wait_seconds)
    sessions = {}
    for mailbox_id, outcome in zip(mailbox_ids, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            log.error("group session of mailbox %s raised", mailbox_id, exc_info=outcome)
            outcome = {"mailbox_id": mailbox_id, "status": "failed", "error": repr(outcome)}
        sessions[str(mailbox_id)] = outcome
    return {"sessions": sessions, "salesforce_write_calls": stats.calls, "write_callers": stats.callers}


def _session(context: WorkerContext, mailbox_id: int, reason: str,
             writer: SharedWriter | None = None) -> dict[str, Any]:  # fmt: skip
    factory = context.db()
    config = context.config
    with factory() as db:
        # Intervals and API budget as an admin set them in the panel override the environment's.
        config = settings_store.apply_to_schedule(settings_store.load(db), config)
        mailbox = db.get(Mailbox, mailbox_id)
        if mailbox is None or not mailbox.enabled:
            return {"mailbox_id": mailbox_id, "status": "skipped", "reason": "removed or disabled"}
        email = mailbox.email
        # We hold the lock: a session row still "running" belongs to a worker that died mid-session.
        for row in db.scalars(select(SyncSession).where(SyncSession.mailbox_id == mailbox_id,
                                                        SyncSession.status == "running")):  # fmt: skip
            row.status, row.error = "abandoned", "the worker running this session died"
            row.finished_at = row.finished_at or context.clock()
        db.commit()
    usage = known_usage(context.redis, context.clock(), config.usage_max_age)
    if usage is not None and over_budget(usage[0], usage[1], config):
        message = f"{BUDGET_PREFIX}: {budget_message(usage[0], usage[1], config)}"
        _budget_stop(factory, mailbox_id, message, context.clock(), config)
        skipped = {"mailbox": email, "status": "skipped", "reason": message}
        log.info("session %s", json.dumps(skipped, sort_keys=True))  # the same one line a session logs
        return skipped

    # A group job's sessions share one RQ job: its progress meta is not any one mailbox's.
    job = get_current_job() if writer is None else None
    # Before anything is read: the push requests made until now are this session's (later ones make one more).
    taken = take_request(context.redis, mailbox_id)
    # While the org scan is healthy its rows answer the session's change queries (zero Salesforce calls).
    scanned = ScannedSalesforce(context.salesforce(), context.redis, mailbox_id,
                                healthy_seconds=context.scan_healthy_seconds)  # fmt: skip
    # In a group job the writes go through the shared writer, under the echo recording (each mailbox records its
    # own results); reads and the usage counters stay this session's connector's.
    shared = writer.client(scanned) if writer is not None else scanned
    salesforce = RecordingSalesforce(shared, context.redis, mailbox_id, config.push)
    exchange = RecordingExchange(context.exchange(email), context.redis, mailbox_id, config.push)
    progress = Progress(job, salesforce, config)
    result = run_session(factory, email, salesforce=salesforce, exchange=exchange, progress=progress,
                         full_exchange=taken.full, trigger=reason)  # fmt: skip
    now = context.clock()
    save_usage(context.redis, salesforce, now)
    _reschedule(factory, mailbox_id, result, now, config, push_state=_push_state(context.redis, mailbox_id))
    return {**result.to_json(), "reason": reason, "push_request": taken.requested, "full": taken.full}


def _push_state(redis: Redis, mailbox_id: int) -> str:
    try:
        return with_scan(redis, {mailbox_id: exchange_push_state(redis, mailbox_id)})[mailbox_id]
    except RedisError:  # the schedule must not fail for a health read: poll as if push were down
        log.warning("could not read the push health of mailbox %s; polling it", mailbox_id)
        return "down"


def _open_budget_entry(db: Session, mailbox_id: int) -> HealthEntry | None:
    return db.scalars(
        select(HealthEntry).where(
            HealthEntry.mailbox_id == mailbox_id,
            HealthEntry.item_ref == health.MAILBOX_REF,
            HealthEntry.code == BUDGET_HEALTH_CODE,
            HealthEntry.status == "open",
        )
    ).one_or_none()


def _budget_stop(factory: sessionmaker[Session], mailbox_id: int, message: str, now: dt.datetime,
                 config: ScheduleConfig) -> None:  # fmt: skip
    """No session: record why (the health entry counts the stops in a row) and back off."""
    with factory() as db:
        entry = health.record(db, mailbox_id=mailbox_id, item_ref=health.MAILBOX_REF, side="salesforce",
                              code=BUDGET_HEALTH_CODE, message=message, now=now)  # fmt: skip
        mailbox = db.get(Mailbox, mailbox_id)
        _apply(mailbox, after_session(mailbox.sync_interval_minutes, status="failed", changed=False, now=now,
                                      config=config, budget_attempt=entry.attempts, budget_reason=message))  # fmt: skip
        db.commit()


def _reschedule(factory: sessionmaker[Session], mailbox_id: int, result: SessionResult, now: dt.datetime,
                config: ScheduleConfig, push_state: str = "none") -> None:  # fmt: skip
    with factory() as db:
        mailbox = db.get(Mailbox, mailbox_id)
        if mailbox is None:
            return
        budget_attempt = 0
        if result.status == "failed" and (result.error or "").startswith(BUDGET_PREFIX):
            # run_session recorded (or bumped) the mailbox's budget health entry: its attempts count the stops.
            entry = _open_budget_entry(db, mailbox_id)
            budget_attempt = entry.attempts if entry is not None else 1
        elif result.status != "failed":
            health.resolve(db, mailbox_id=mailbox_id, item_ref=health.MAILBOX_REF, codes={BUDGET_HEALTH_CODE})
        changed = result.writes > 0 or result.failed > 0
        decision = after_session(mailbox.sync_interval_minutes, status=result.status, changed=changed, now=now,
                                 config=config, budget_attempt=budget_attempt, budget_reason=result.error)  # fmt: skip
        decision = with_push(decision, push_state, status=result.status, now=now, push=config.push)
        _apply(mailbox, decision)
        db.commit()


def _apply(mailbox: Mailbox, decision) -> None:
    mailbox.sync_interval_minutes = decision.interval
    mailbox.next_sync_at = decision.next_sync_at
    mailbox.backoff_until = decision.backoff_until
    mailbox.backoff_reason = decision.backoff_reason
