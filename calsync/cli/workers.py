"""``calsync worker``, ``calsync scheduler`` and ``calsync enqueue``: the job system. Each builds the process's
runtime (`sync.runtime.Runtime`) once from the settings.

RQ and the engine are imported inside the commands (a heavy import, about 2 s of CPU): every ``calsync``
command loads this module, and most of them never touch a queue.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from calsync.cli.common import CONTEXT, load_settings
from calsync.redact import mask_url
from calsync.settings import Settings

if TYPE_CHECKING:
    from sync.runtime import Runtime

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    """One line per record on stderr for calsync's loggers, so the session log line (``calsync.session``:
    ``session {json}``) is one line; chatty libraries stay at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("calsync")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    for name in ("exchangelib", "sandbox"):
        logging.getLogger(name).setLevel(logging.WARNING)


def queue_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """The process's runtime, once Redis answers at REDIS_URL (the queue commands need it); ``migrate``
    then brings the database to the newest schema."""
    from redis.exceptions import RedisError

    from calsync.database import upgrade
    from sync.runtime import Runtime

    runtime = Runtime.build(settings)
    try:
        runtime.redis.ping()
    except RedisError as exc:
        raise click.ClickException(
            mask_url(
                f"no Redis answers at REDIS_URL ({settings.redis_url}): {exc}. Start one (redis-server) or set "
                "REDIS_URL."
            )
        ) from None
    if migrate:
        upgrade(settings.database_url)
    return runtime


@contextlib.contextmanager
def inline_session_lock(runtime: Runtime, email: str) -> Iterator[None]:
    """Hold the mailbox's lock around a session run outside the queue (``calsync sync``), so that it never
    overlaps a worker's session of the same mailbox. Without Redis (a laptop without the queue) it runs
    unlocked, with a warning."""
    from redis.exceptions import RedisError

    from sync import mailboxes
    from sync.jobs import MailboxLock

    settings = runtime.settings
    with runtime.session_factory() as db:
        mailbox = mailboxes.find(db, email)
    if mailbox is None:  # run_session says so, in its own words
        yield
        return
    try:
        runtime.redis.ping()
    except RedisError:
        click.echo(f"warning: no Redis at REDIS_URL: running without the mailbox lock ({mask_url(settings.redis_url)})",
                   err=True)  # fmt: skip
        yield
        return
    with MailboxLock(runtime.redis, mailbox.id, settings.lock_ttl) as lock:
        if not lock.held:
            raise click.ClickException(f"a session of {mailbox.email} is running on a worker; try again later")
        yield


LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)


@click.command("worker", context_settings=CONTEXT)
@click.option("--burst", is_flag=True, help="Quit once the queue is empty (scripts and tests).")
@click.option(
    "--with-scheduler",
    is_flag=True,
    help="Also run RQ's scheduler here (moves retries that wait out their back-off to the queue; "
    "`calsync scheduler` does it as well).",
)
@click.option(
    "--fork/--no-fork",
    default=True,
    show_default=True,
    help="Run each session in a forked work horse (a crash or timeout never takes the worker down), or in the "
    "worker process itself (less overhead per job).",
)
@click.option("--name", help="Worker name shown in the operator view (default: RQ's random name).")
@click.option("--log-level", type=LEVELS, default="INFO", show_default=True, help="calsync log level.")
def worker(burst: bool, with_scheduler: bool, fork: bool, name: str | None, log_level: str) -> None:
    """Run an RQ worker for sync sessions (queue CALSYNC_SYNC_QUEUE on REDIS_URL).

    Start as many as you like, on as many machines: they share Redis and the database. Each session logs
    one line `session {json}` (mailbox, counts, requests, duration, outcome).
    """
    import rq

    from sync import jobs
    from sync.job_queue import session_queue, worker_options

    configure_logging(log_level.upper())
    runtime = queue_runtime(load_settings())
    if name:
        _claim_name(runtime, name)
    jobs.install(runtime.worker_context())
    worker_class = rq.Worker if fork else rq.SimpleWorker
    queue = session_queue(runtime.schedule.queue, runtime.redis)
    rq_worker = worker_class([queue], connection=runtime.redis, name=name, **worker_options())
    rq_worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=log_level.upper())


def _claim_name(runtime: Runtime, name: str) -> None:
    """Take over ``name`` from a dead worker of this host (killed before it could say so: sync.worker_names), or
    stop with one clear line when a live worker holds it (RQ would raise a traceback)."""
    from sync.worker_names import free_stale_name, holder

    if free_stale_name(runtime.redis, name):
        logging.getLogger("calsync.worker").warning("worker name %s was held by a dead worker: taken over", name)
        return
    found = holder(runtime.redis, name)
    if found is not None:
        raise click.ClickException(
            f"a worker named {name!r} is running (host {found['hostname']}, pid {found['pid']}); pick another "
            "--name, or stop that one first"
        )


@click.command("scheduler", context_settings=CONTEXT)
@click.option("--once", is_flag=True, help="Make one pass and exit (cron, scripts, tests).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    help="Seconds between passes (default: CALSYNC_SCHEDULER_INTERVAL).",
)
@click.option("--log-level", type=LEVELS, default="INFO", show_default=True, help="calsync log level.")
def scheduler(once: bool, interval: float | None, log_level: str) -> None:
    """Enqueue due sync sessions (adaptive 30/60/120-minute intervals, API budget back-off), and the sessions
    push notifications request (every CALSYNC_PUSH_PASS_SECONDS, after the coalescing window).

    Run one per deployment, or several for availability: a leader lock in Redis lets only one act at a time.
    It also hands sessions of dead workers back to the queue and moves retries whose back-off is over.
    """
    from sync.schedule import Scheduler

    settings = load_settings()
    runtime = queue_runtime(settings)
    configure_logging(log_level.upper())
    runner = Scheduler(
        runtime.redis, runtime.session_factory, runtime.schedule, interval=interval or settings.scheduler_interval
    )
    if once:
        report = runner.tick()
        runner.close()
        if not report.leader:
            click.echo("another scheduler holds the leader lock: nothing done")
            return
        click.echo(
            f"enqueued {len(report.enqueued)}, requeued {len(report.requeued)}, "
            f"already queued or running {len(report.duplicates)}, "
            f"handed back from dead workers {len(report.abandoned)}, "
            f"enqueued for push requests {len(report.pushed)}, "
            f"back to fallback polling {len(report.pulled_back)}"
        )
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"scheduler: a pass every {runner.interval:g} s, push requests every {runner.push_interval:g} s "
               "(Ctrl-C stops it)")  # fmt: skip
    runner.run(stop=stop)


@click.command("enqueue", context_settings=CONTEXT)
@click.argument("email")
def enqueue(email: str) -> None:
    """Sync now: enqueue a session of EMAIL's mailbox at once (a worker runs it)."""
    from sync import mailboxes, profiles
    from sync.job_queue import session_queue
    from sync.schedule import sync_now

    runtime = queue_runtime(load_settings())
    with runtime.session_factory() as db:
        mailbox = mailboxes.find(db, email)
        if mailbox is None:
            raise click.ClickException(f"{email} is not a synced mailbox (add it with `calsync mailboxes add`)")
        mailbox_id = mailbox.id
        profiles.mark_stale(db, mailbox)  # "sync now" reads the rep's Salesforce user again (policy profiles)
        db.commit()
    outcome = sync_now(session_queue(runtime.schedule.queue, runtime.redis), mailbox_id, runtime.schedule)
    click.echo({"enqueued": f"{email}: session enqueued",
                "requeued": f"{email}: its failed session was requeued",
                "duplicate": f"{email}: a session is already queued or running"}[outcome])  # fmt: skip
