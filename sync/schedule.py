"""When each mailbox's sessions run, and the loop that enqueues them (``calsync scheduler``).

The database is the schedule: ``Mailbox.next_sync_at`` (when the next session is due),
``sync_interval_minutes`` (the adaptive interval) and ``backoff_until`` / ``backoff_reason`` (the API budget
back-off). The decisions are pure functions of those values and a ``now`` (`is_due`, `next_interval`,
`budget_backoff`, `over_budget`, `after_session`), so tests drive them with any clock.

`Scheduler.tick` is one pass of ``calsync scheduler``: only the holder of the leader lock in Redis acts (two
schedulers never enqueue twice, and job ids dedupe as a second line), it hands sessions of dead workers back
to RQ (`recover_abandoned`), moves RQ's scheduled retries to the queue, and enqueues the due mailboxes. "Sync
now" (`sync_now`) enqueues at once. Jobs are enqueued by name (``sync.jobs.sync_mailbox``): this module does
not import the job code.

What RQ does here and what it does not: unique job ids dedupe, ``Retry`` backs off failed jobs, RQ's
`RQScheduler` moves retries whose wait is over, its registries find dead workers' jobs, ``job_timeout`` and
``meta`` bound and report a session. The periodic schedule itself is not an RQ feature we could reuse:
``rq cron`` (beta in 2.x) repeats fixed intervals and has no lock across processes, and scheduling each
mailbox's next session with ``enqueue_in`` would park a job under the mailbox's unique id for up to two hours,
so "sync now" would find it taken (and a lost scheduled job would stop the mailbox for good). Keeping the
schedule in the database and one leader-locked pass that enqueues what is due avoids both.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import LockError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from calsync.settings import Settings
from sync.job_queue import session_queue
from sync.models import Mailbox, utcnow
from sync.push.config import PushConfig, push_config
from sync.push.health import exchange_push_states
from sync.push.requests import drop_request, due_requests, outlook_requests
from sync.push.salesforce_rows import with_scan

log = logging.getLogger("calsync.schedule")

JOB_FUNCTION = "sync.jobs.sync_mailbox"
GROUP_JOB_FUNCTION = "sync.jobs.sync_group"
GROUP_JOB_PREFIX = "group-"  # the job ids of group jobs
GROUP_PREFIX = "calsync:push:group:"  # mailbox id → the id of the group job that will run its session
LEADER_KEY = "calsync:scheduler:leader"
LOCK_PREFIX = "calsync:lock:mailbox:"
BUDGET_HEALTH_CODE = "api_budget_exhausted"  # the code run_session records on REQUEST_LIMIT_EXCEEDED


@dataclass(frozen=True)
class ScheduleConfig:
    """What workers and the scheduler need to know; `schedule_config` builds it from the settings."""

    queue: str = "sync"
    intervals: tuple[int, ...] = (30, 60, 120)  # minutes: after a change, then after each quiet session
    job_timeout: int = 900
    retries: int = 3
    retry_intervals: tuple[int, ...] = (30, 120, 600)
    failure_ttl: int = 7 * 24 * 3600
    lock_ttl: int = 60
    leader_ttl: int = 120
    batch: int = 1000
    budget_max_requests: int = 0  # 0: no count limit
    budget_max_percent: float = 90.0  # 0: no percentage limit
    backoff_first: dt.timedelta = dt.timedelta(hours=2.5)
    backoff_step: dt.timedelta = dt.timedelta(hours=2)
    backoff_cap: dt.timedelta = dt.timedelta(hours=24.5)
    # The org's usage as the last session saw it is trusted this long for the check before a session.
    usage_max_age: dt.timedelta = dt.timedelta(minutes=15)
    push: PushConfig = field(default_factory=PushConfig)  # change-driven sync (docs/push.md)


def schedule_config(settings: Settings) -> ScheduleConfig:
    """The schedule and job settings (CALSYNC_SYNC_INTERVALS, CALSYNC_JOB_*, CALSYNC_API_BUDGET_*, ...)."""
    first, step, cap = settings.numbers("api_budget_backoff_hours")
    return ScheduleConfig(
        queue=settings.sync_queue,
        intervals=tuple(int(m) for m in settings.numbers("sync_intervals")),
        job_timeout=settings.job_timeout,
        retries=settings.job_retries,
        retry_intervals=tuple(int(s) for s in settings.numbers("job_retry_intervals")),
        failure_ttl=settings.job_failure_ttl,
        lock_ttl=settings.lock_ttl,
        leader_ttl=settings.scheduler_leader_ttl,
        batch=settings.scheduler_batch,
        budget_max_requests=settings.api_budget_max_requests,
        budget_max_percent=settings.api_budget_max_percent,
        backoff_first=dt.timedelta(hours=first),
        backoff_step=dt.timedelta(hours=step),
        backoff_cap=dt.timedelta(hours=cap),
        push=push_config(settings),
    )


def job_id(mailbox_id: int) -> str:
    """The RQ job id of a mailbox's session: one queued or running session per mailbox (ids dedupe).
    RQ allows only letters, digits, ``_`` and ``-`` in ids, so it is the database id, not the e-mail."""
    return f"sync-{int(mailbox_id)}"


def mailbox_id_of(job_id_: str) -> int | None:
    prefix, _, rest = job_id_.partition("-")
    return int(rest) if prefix == "sync" and rest.isdigit() else None


def lock_key(mailbox_id: int) -> str:
    return f"{LOCK_PREFIX}{int(mailbox_id)}"


# -- pure decisions ---------------------------------------------------------------------------------------
def is_due(mailbox: Any, now: dt.datetime) -> bool:
    """An enabled mailbox whose next session time has come (never synced: at once) and that is not backing off."""
    if not mailbox.enabled:
        return False
    if mailbox.backoff_until is not None and mailbox.backoff_until > now:
        return False
    return mailbox.next_sync_at is None or mailbox.next_sync_at <= now


def due_mailboxes(db: Session, now: dt.datetime, limit: int = 1000) -> list[Mailbox]:
    """The mailboxes `is_due` at ``now``, the longest-waiting first (the same rule, as one query)."""
    query = (
        select(Mailbox)
        .where(
            Mailbox.enabled.is_(True),
            or_(Mailbox.backoff_until.is_(None), Mailbox.backoff_until <= now),
            or_(Mailbox.next_sync_at.is_(None), Mailbox.next_sync_at <= now),
        )
        .order_by(Mailbox.next_sync_at.is_not(None), Mailbox.next_sync_at, Mailbox.id)
        .limit(limit)
    )
    return list(db.scalars(query))


def next_interval(current: int, changed: bool, steps: tuple[int, ...]) -> int:
    """Adaptive interval (minutes): back to the first step after a session that found a change, else one step
    longer (30 → 60 → 120 → 120 with the default steps)."""
    if changed:
        return steps[0]
    longer = [s for s in steps if s > current]
    return min(longer) if longer else steps[-1]


def over_budget(used: int | None, limit: int | None, config: ScheduleConfig) -> bool:
    """The org's daily API usage is at or above the configured count or percentage."""
    if used is None:
        return False
    if config.budget_max_requests > 0 and used >= config.budget_max_requests:
        return True
    return bool(config.budget_max_percent > 0 and limit and used * 100 >= config.budget_max_percent * limit)


def budget_backoff(attempt: int, config: ScheduleConfig) -> dt.timedelta:
    """Wait after the ``attempt``-th budget stop in a row: 2.5 h, 4.5 h, 6.5 h, ... (capped)."""
    wait = config.backoff_first + config.backoff_step * (max(attempt, 1) - 1)
    return min(wait, config.backoff_cap)


@dataclass(frozen=True)
class Decision:
    """A mailbox's schedule after a session (or a budget stop before one)."""

    interval: int
    next_sync_at: dt.datetime
    backoff_until: dt.datetime | None
    backoff_reason: str | None


def after_session(
    current_interval: int,
    *,
    status: str,
    changed: bool,
    now: dt.datetime,
    config: ScheduleConfig,
    budget_attempt: int = 0,
    budget_reason: str | None = None,
) -> Decision:
    """The next session of a mailbox. ``budget_attempt`` > 0: it was stopped by the API budget for that many
    sessions in a row and backs off; a failed session keeps its interval; otherwise the interval adapts."""
    if budget_attempt > 0:
        until = now + budget_backoff(budget_attempt, config)
        hours = (until - now).total_seconds() / 3600
        reason = (
            f"{budget_reason or 'Salesforce API budget'} (stop {budget_attempt} in a row: paused {hours:g} h, "
            f"until {until.isoformat(timespec='minutes')})"
        )
        return Decision(current_interval, until, until, reason)
    interval = current_interval if status == "failed" else next_interval(current_interval, changed, config.intervals)
    return Decision(interval, now + dt.timedelta(minutes=interval), None, None)


def with_push(decision: Decision, push_state: str, *, status: str, now: dt.datetime, push: PushConfig) -> Decision:
    """The periodic safety net under change-driven sync (docs/push.md, "Safety interval").

    ``push_state`` is the mailbox's Exchange channel (`sync.push.health.exchange_push_state`): ``up`` → the
    next periodic session after the safety interval (default 6 h); ``down`` (it was up: reported down or its
    heartbeat expired) → the fallback interval (default 30 minutes); ``none`` (never had push) and ``off``
    (push not configured, e.g. no https CALSYNC_PUBLIC_URL for Graph) → the adaptive decision as it is. A
    budget back-off is kept as it is. A failed or partial session (its failed items come back at the next
    session) runs again within the fallback interval: a session push asked for may have taken the only
    request, and must not leave its change waiting six hours."""
    if decision.backoff_until is not None or push_state in ("none", "off"):
        return decision
    if status in ("failed", "partial"):
        soon = now + dt.timedelta(minutes=push.fallback_interval_minutes)
        return Decision(decision.interval, min(decision.next_sync_at, soon), None, None)
    minutes = push.safety_interval_minutes if push_state == "up" else push.fallback_interval_minutes
    return Decision(minutes, now + dt.timedelta(minutes=minutes), None, None)


def pulled_back(next_sync_at: dt.datetime | None, interval: int, push_state: str,
                push: PushConfig) -> tuple[int, dt.datetime] | None:  # fmt: skip
    """A mailbox waiting out a stretched interval whose push went down: its next session comes forward to the
    fallback interval after its last one (``next_sync_at - interval``); None when nothing changes."""
    if push_state == "up" or next_sync_at is None or interval <= push.fallback_interval_minutes:
        return None
    if push_state in ("none", "off") and interval != push.safety_interval_minutes:
        return None  # the adaptive interval of a mailbox without push (30/60/120) stays
    earlier = next_sync_at - dt.timedelta(minutes=interval - push.fallback_interval_minutes)
    return push.fallback_interval_minutes, min(next_sync_at, earlier)


def batch_groups(outlook: dict[int, float], now: float, push: PushConfig) -> list[list[int]] | None:
    """The batching window (docs/push.md, "Batched writes"): ``outlook`` maps the mailboxes ready for a session
    whose request came from Outlook (EWS, Graph) to their first request's time. ``None`` while the oldest is
    less than CALSYNC_PUSH_BATCH_SECONDS old (more may join); then all of them, oldest first, in groups of at
    most CALSYNC_PUSH_BATCH_MAILBOXES (a group of one is an ordinary session). The window runs from the oldest
    request, not from each: per-mailbox windows closing one by one would make groups of the few requests of one
    push pass."""
    if not outlook:
        return []
    if min(outlook.values()) > now - push.batch_seconds:
        return None
    members = sorted(outlook, key=lambda m: (outlook[m], m))
    size = max(1, push.batch_mailboxes)
    return [members[i : i + size] for i in range(0, len(members), size)]


# -- enqueueing -------------------------------------------------------------------------------------------
def enqueue_session(queue: Queue, mailbox_id: int, config: ScheduleConfig, *, reason: str = "schedule") -> str:
    """Enqueue the session of a mailbox unless one is already queued, scheduled or running.

    Returns ``enqueued``, ``requeued`` (its previous job had failed: it runs again under the same id) or
    ``duplicate``. Successful jobs are deleted at once (``result_ttl=0``; the session rows keep the history)
    so that they never block the id; failed ones stay in RQ's failed registry until requeued here.
    """
    retry = None
    if config.retries > 0:
        retry = Retry(max=config.retries, interval=list(config.retry_intervals) or 0)
    for _attempt in range(2):
        try:
            queue.enqueue(
                JOB_FUNCTION, mailbox_id, reason, job_id=job_id(mailbox_id), unique=True,
                job_timeout=config.job_timeout, result_ttl=0, failure_ttl=config.failure_ttl, retry=retry,
                description=f"sync mailbox {mailbox_id} ({reason})",
            )  # fmt: skip
            return "enqueued"
        except DuplicateJobError:
            pass
        try:
            job = Job.fetch(job_id(mailbox_id), connection=queue.connection, serializer=queue.serializer)
        except NoSuchJobError:
            continue  # it finished between the two calls
        status = job.get_status(refresh=False)
        if status == JobStatus.FAILED:
            try:
                FailedJobRegistry(queue=queue).requeue(job)
            except InvalidJobOperation:  # another scheduler (or an operator) requeued it first
                return "duplicate"
            log.info("requeued failed session job %s", job.id)
            return "requeued"
        if status in (JobStatus.STOPPED, JobStatus.CANCELED):
            job.delete()
            continue
        return "duplicate"
    return "duplicate"


def sync_now(queue: Queue, mailbox_id: int, config: ScheduleConfig) -> str:
    """ "Sync now" from the API or the admin panel: enqueue at once (``duplicate`` if one is queued or running)."""
    return enqueue_session(queue, mailbox_id, config, reason="now")


def group_key(mailbox_id: int) -> str:
    return f"{GROUP_PREFIX}{int(mailbox_id)}"


def enqueue_group(queue: Queue, mailbox_ids: list[int], config: ScheduleConfig, *, reason: str = "push") -> str:
    """Enqueue one group job for ``mailbox_ids`` (`sync.jobs.sync_group`: their sessions in threads, sharing
    their Salesforce writes; docs/push.md "Batched writes"). Each mailbox is claimed for the job
    (``calsync:push:group:<id>``, until the job's timeout) so that the push pass leaves it to that job; the
    job drops each claim when that session ends. No RQ retry: a lost or failed group job leaves the requests
    pending, and the next pass enqueues them again. Returns the job id."""
    group_id = f"{GROUP_JOB_PREFIX}{uuid.uuid4().hex}"
    with queue.connection.pipeline(transaction=False) as pipe:
        for mailbox_id in mailbox_ids:
            pipe.set(group_key(mailbox_id), group_id, ex=config.job_timeout + 60)
        pipe.execute()
    queue.enqueue(
        GROUP_JOB_FUNCTION, list(mailbox_ids), reason, group_id, job_id=group_id, job_timeout=config.job_timeout,
        result_ttl=0, failure_ttl=config.failure_ttl,
        description=f"sync mailboxes {', '.join(str(m) for m in mailbox_ids)} ({reason}, shared writes)",
    )  # fmt: skip
    return group_id


def release_group_claim(redis: Redis, mailbox_id: int, group_id: str) -> None:
    """The group job's session of this mailbox is over: the push pass may enqueue it again (only our claim)."""
    redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
               1, group_key(mailbox_id), group_id)  # fmt: skip


def recover_stranded(queue: Queue, config: ScheduleConfig, *, now: float | None = None) -> list[str]:
    """Put back on the queue the sessions (and group jobs) a worker took off it and died before starting (found
    by the chaos soak).

    RQ moves a job from the queue to its intermediate list when a worker dequeues it, then to the started
    registry when the job starts; a worker killed in between leaves it in neither, while its status stays
    ``queued`` (so `enqueue_session` answers ``duplicate`` for the mailbox), until RQ's own worker maintenance
    (every 10 minutes) sees it twice. Here a session job in the intermediate list and not started, first seen
    more than ``lock_ttl`` ago (a live worker starts it within milliseconds), goes back to the front of the queue."""
    now = time.time() if now is None else now
    redis = queue.connection
    intermediate = queue.intermediate_queue
    started = set(StartedJobRegistry(queue=queue).get_job_ids(cleanup=False))
    stranded = []
    for jid in intermediate.get_job_ids():
        if (mailbox_id_of(jid) is None and not jid.startswith(GROUP_JOB_PREFIX)) or jid in started:
            continue
        if intermediate.set_first_seen(jid):  # RQ's own first-seen mark: our passes and its maintenance agree
            continue
        first = intermediate.get_first_seen(jid)
        if first is None or now - first.timestamp() < config.lock_ttl:
            continue
        if redis.lrem(intermediate.key, 1, jid):  # one scheduler (the leader) wins it
            redis.delete(intermediate.get_first_seen_key(jid))
            queue.push_job_id(jid, at_front=True)
            stranded.append(jid)
    if stranded:
        log.warning("sessions a dead worker had taken off the queue put back: %s", ", ".join(stranded))
    return stranded


def recover_abandoned(queue: Queue, config: ScheduleConfig, *, now: float | None = None) -> list[str]:
    """Hand sessions of dead workers back to RQ without waiting for RQ's own detection.

    A killed worker leaves its job in the started registry until its heartbeat score expires (about
    90 s, and RQ looks only during maintenance, every 10 minutes by default). A running session renews its
    mailbox lock every ``lock_ttl / 3``: a started job older than ``lock_ttl`` whose lock is gone has no
    worker. Its entry is marked expired and RQ's own ``StartedJobRegistry.cleanup`` does the rest
    (AbandonedJobError: a retry if the job has retries left, else the failed registry, which
    `enqueue_session` requeues when the mailbox is due).
    """
    now = time.time() if now is None else now
    redis = queue.connection
    registry = StartedJobRegistry(queue=queue)
    entries = registry.get_job_and_execution_ids(cleanup=False)
    candidates = [(jid, eid) for jid, eid in entries if mailbox_id_of(jid) is not None]
    if not candidates:
        return []
    with redis.pipeline(transaction=False) as pipe:
        for jid, _eid in candidates:
            pipe.exists(lock_key(mailbox_id_of(jid)))
            pipe.hget(Job.key_for(jid), "started_at")
        answers = pipe.execute()
    stale: dict[str, int] = {}
    for index, (jid, eid) in enumerate(candidates):
        locked, started = answers[2 * index], answers[2 * index + 1]
        if locked:
            continue
        started_at = _timestamp(started)
        if started_at is not None and now - started_at < config.lock_ttl:
            continue  # just started: its lock may not be taken yet
        stale[f"{jid}:{eid}"] = 0
    if not stale:
        return []
    redis.zadd(registry.key, stale, xx=True)
    registry.cleanup()
    abandoned = sorted({key.split(":", 1)[0] for key in stale})
    log.warning("sessions of dead workers handed back to RQ: %s", ", ".join(abandoned))
    return abandoned


def _timestamp(raw: bytes | str | None) -> float | None:
    if not raw:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()


# -- leader lock and the loop ---------------------------------------------------------------------------------
class LeaderLock:
    """Only one scheduler acts at a time: a Redis lock with a TTL, renewed on every pass by its holder."""

    def __init__(self, redis: Redis, ttl: int, key: str = LEADER_KEY) -> None:
        self.lock = redis.lock(key, timeout=ttl, blocking=False, thread_local=False)
        self.held = False

    def hold(self) -> bool:
        """Renew the lock if we hold it, else try to take it. True: act in this pass."""
        if self.held:
            try:
                self.lock.reacquire()
                return True
            except LockError:
                log.warning("scheduler lost its leader lock (paused longer than its TTL?)")
                self.held = False
        self.held = bool(self.lock.acquire(blocking=False, token=uuid.uuid4().hex))
        if self.held:
            log.info("this scheduler is the leader")
        return self.held

    def release(self) -> None:
        if self.held:
            try:
                self.lock.release()
            except LockError:
                pass
            self.held = False


@dataclass
class TickReport:
    leader: bool
    enqueued: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    pushed: list[int] = field(default_factory=list)  # sessions enqueued for push requests
    pulled_back: list[int] = field(default_factory=list)  # stretched intervals shortened: push went down


# RQ job statuses of a session that will still run (or runs): a push request waits for it.
_WAITING = frozenset({JobStatus.QUEUED.value, JobStatus.STARTED.value, JobStatus.SCHEDULED.value,
                      JobStatus.DEFERRED.value})  # fmt: skip


class Scheduler:
    """``calsync scheduler``: enqueue due sessions every ``interval`` seconds while holding the leader lock, and
    between those passes, every ``push_interval`` seconds (CALSYNC_PUSH_PASS_SECONDS), a short push pass that
    enqueues the sessions push notifications asked for (`push_tick`). ``epoch`` is the clock of push requests
    (epoch seconds, as `sync.push.request_sync` records them)."""

    def __init__(
        self,
        redis: Redis,
        db_factory: sessionmaker[Session],
        config: ScheduleConfig,
        *,
        interval: float = 30.0,
        push_interval: float | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        epoch: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.db_factory = db_factory
        self.config = config
        self.interval = interval
        self.push_interval = min(interval, config.push.pass_seconds if push_interval is None else push_interval)
        self.clock = clock
        self.epoch = epoch
        self.queue = session_queue(config.queue, redis)
        # The leader lock must outlive a few passes, or a slow pass would hand leadership around.
        self.leader = LeaderLock(redis, max(config.leader_ttl, int(3 * interval) + 1))
        self._rq_scheduler: RQScheduler | None = None

    def tick(self) -> TickReport:
        if not self.leader.hold():
            return TickReport(leader=False)
        report = TickReport(leader=True)
        report.abandoned = recover_abandoned(self.queue, self.config)
        report.abandoned += recover_stranded(self.queue, self.config)
        self._move_scheduled_retries()
        now = self.clock()
        with self.db_factory() as db:
            due = due_mailboxes(db, now, self.config.batch)
            # Claim first: a due mailbox is not picked again by the next pass while its job waits; the job sets
            # the real next time when it finishes, and a lost job makes the mailbox due again after one interval.
            for mailbox in due:
                mailbox.next_sync_at = now + dt.timedelta(minutes=mailbox.sync_interval_minutes or 30)
            db.commit()
            ids = [m.id for m in due]
        for mailbox_id in ids:
            outcome = enqueue_session(self.queue, mailbox_id, self.config)
            {"enqueued": report.enqueued, "requeued": report.requeued}.get(outcome, report.duplicates).append(
                mailbox_id
            )
        if ids:
            log.info("scheduler pass: %d enqueued, %d requeued, %d already queued or running",
                     len(report.enqueued), len(report.requeued), len(report.duplicates))  # fmt: skip
        report.pulled_back = self._pull_back(now)
        report.pushed = self._enqueue_push_requests()
        return report

    def push_tick(self) -> TickReport:
        """The short pass between two full ones: only the push requests whose coalescing window is over."""
        if not self.leader.hold():
            return TickReport(leader=False)
        return TickReport(leader=True, pushed=self._enqueue_push_requests())

    def _enqueue_push_requests(self) -> list[int]:
        """Enqueue a session for every push request past its coalescing window. The request stays pending until
        the session takes it when it starts (`sync.push.requests`); a queued or running session makes the
        enqueue a duplicate, and a mailbox backing off from the API budget waits for its back-off to end."""
        ids = due_requests(self.redis, now=self.epoch(), config=self.config.push, limit=self.config.batch)
        if not ids:
            return []
        now = self.clock()
        with self.db_factory() as db:
            rows = {row.id: row for row in db.execute(
                select(Mailbox.id, Mailbox.enabled, Mailbox.backoff_until).where(Mailbox.id.in_(ids)))}  # fmt: skip
        # One round trip for the whole batch: a mailbox whose session is queued, scheduled or running is left to
        # it (its request stays pending, for this session to take or for one more after it).
        with self.redis.pipeline(transaction=False) as pipe:
            for mailbox_id in ids:
                pipe.hget(Job.key_for(job_id(mailbox_id)), "status")
            statuses = [s.decode() if isinstance(s, bytes) else s for s in pipe.execute()]
        busy = {m for m, status in zip(ids, statuses, strict=True) if status in _WAITING}
        busy |= self._grouped(ids)
        ready = []
        for mailbox_id in ids:
            row = rows.get(mailbox_id)
            if row is None or not row.enabled:
                drop_request(self.redis, mailbox_id)
                continue
            if mailbox_id in busy or (row.backoff_until is not None and row.backoff_until > now):
                continue
            ready.append(mailbox_id)
        held, grouped = self._batched(ready)
        enqueued = list(grouped)
        for mailbox_id in ready:
            if mailbox_id in held:
                continue
            if enqueue_session(self.queue, mailbox_id, self.config, reason="push") != "duplicate":
                enqueued.append(mailbox_id)
        if enqueued:
            log.info("push pass: %d sessions enqueued", len(enqueued))
        return enqueued

    def _batched(self, ready: list[int]) -> tuple[set[int], list[int]]:
        """Batched writes (docs/push.md): of the ``ready`` mailboxes, those with an Outlook-sourced request are
        held until the oldest of them is CALSYNC_PUSH_BATCH_SECONDS old; then all of them go, in group jobs of
        up to CALSYNC_PUSH_BATCH_MAILBOXES (one alone is an ordinary session). Returns the mailboxes held or
        given to a group job, which the caller leaves alone, and those given to a group job."""
        push = self.config.push
        if push.batch_seconds <= 0 or not ready:
            return set(), []
        outlook = outlook_requests(self.redis, ready)
        groups = batch_groups(outlook, self.epoch(), push)
        if groups is None:
            return set(outlook), []  # the window is open: more mailboxes may join
        groups = [group for group in groups if len(group) > 1]  # one alone: the caller enqueues its own session
        grouped = [m for group in groups for m in group]
        for group in groups:
            enqueue_group(self.queue, group, self.config)
        if groups:
            log.info("push pass: %d mailboxes in %d group jobs (shared Salesforce writes)", len(grouped), len(groups))
        return set(grouped), grouped

    def _grouped(self, ids: list[int]) -> set[int]:
        """The mailboxes claimed by a group job that will still run their session: queued, or started and
        either just started or holding the mailbox's lock. A lost group job (its worker died) lets go once the
        lock has expired, so its requests, still pending, are enqueued again."""
        with self.redis.pipeline(transaction=False) as pipe:
            for mailbox_id in ids:
                pipe.get(group_key(mailbox_id))
            claims = {m: g.decode() if isinstance(g, bytes) else g for m, g in zip(ids, pipe.execute(), strict=True)
                      if g}  # fmt: skip
        if not claims:
            return set()
        with self.redis.pipeline(transaction=False) as pipe:
            for mailbox_id, group_id in claims.items():
                pipe.hmget(Job.key_for(group_id), ["status", "started_at"])
                pipe.exists(lock_key(mailbox_id))
            answers = pipe.execute()
        busy, wall = set(), time.time()  # RQ's own clock (started_at), not the requests' epoch
        for index, mailbox_id in enumerate(claims):
            (status, started), locked = answers[2 * index], answers[2 * index + 1]
            status = status.decode() if isinstance(status, bytes) else status
            if status in _WAITING and status != JobStatus.STARTED.value:
                busy.add(mailbox_id)
            elif status == JobStatus.STARTED.value:
                started_at = _timestamp(started)
                if locked or started_at is None or wall - started_at < self.config.lock_ttl:
                    busy.add(mailbox_id)
        return busy

    def _pull_back(self, now: dt.datetime) -> list[int]:
        """Mailboxes waiting out a stretched safety interval whose push went down get the fallback interval
        (`pulled_back`): a dead listener must not leave a mailbox unsynced for six hours."""
        push = self.config.push
        with self.db_factory() as db:
            waiting = list(db.scalars(select(Mailbox).where(
                Mailbox.enabled.is_(True), Mailbox.sync_interval_minutes > push.fallback_interval_minutes,
                Mailbox.next_sync_at > now, or_(Mailbox.backoff_until.is_(None), Mailbox.backoff_until <= now),
            ).limit(self.config.batch)))  # fmt: skip
            if not waiting:
                return []
            states = with_scan(self.redis, exchange_push_states(self.redis, [m.id for m in waiting], now=self.epoch()),
                               now=self.epoch())  # fmt: skip
            moved = []
            for mailbox in waiting:
                change = pulled_back(mailbox.next_sync_at, mailbox.sync_interval_minutes, states[mailbox.id], push)
                if change is not None:
                    mailbox.sync_interval_minutes, mailbox.next_sync_at = change
                    moved.append(mailbox.id)
            db.commit()
        if moved:
            log.info("push down for %d mailboxes: periodic sessions back to every %d minutes", len(moved),
                     push.fallback_interval_minutes)  # fmt: skip
        return moved

    def _move_scheduled_retries(self) -> None:
        """RQ's scheduler duty for the sync queue (retries with back-off wait in its scheduled registry), so
        that retries run even when no worker was started with ``--with-scheduler``. RQ's own per-queue lock
        keeps it to one process at a time."""
        if self._rq_scheduler is None:
            self._rq_scheduler = RQScheduler([self.config.queue], connection=self.redis, interval=int(self.interval),
                                             serializer=self.queue.serializer)  # fmt: skip
        if self._rq_scheduler.acquire_locks():
            self._rq_scheduler.enqueue_scheduled_jobs()

    def run(self, *, once: bool = False, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        next_full = time.monotonic()
        try:
            while True:
                started = time.monotonic()
                full = started >= next_full
                try:
                    self.tick() if full else self.push_tick()
                except Exception:  # a database or Redis hiccup must not end the scheduler
                    log.exception("scheduler pass failed; trying again in %s s", self.push_interval)
                if full:
                    next_full = started + self.interval
                if once:
                    return
                wait = min(self.push_interval, next_full - time.monotonic())
                if stop.wait(max(0.0, wait)):
                    return
        finally:
            self.close()

    def close(self) -> None:
        self.leader.release()
        if self._rq_scheduler is not None and self._rq_scheduler.acquired_locks:
            self._rq_scheduler.release_locks()
