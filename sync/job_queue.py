"""The RQ queue of sync sessions, always with RQ's JSON serializer.

RQ pickles jobs by default: anyone who can write to Redis could then make every web process and worker that
loads a job run code of their choosing. Session jobs carry only JSON (a mailbox id and a reason; results and
``job.meta["progress"]`` are plain dicts), so every queue, worker and job lookup of calsync uses
``JSONSerializer``: a planted pickle is refused as undecodable data instead of being executed.

A JSON job still names the function a worker calls, so `SessionJob` also runs only calsync's own job
functions (``JOB_FUNCTIONS``): a job planted for ``os.system`` fails without running. Redis itself should still
require a password (and TLS across machines): ``REDIS_URL=rediss://:password@host:6380/0``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import rq
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

if TYPE_CHECKING:
    from redis import Redis

SERIALIZER = JSONSerializer
# The only functions a calsync worker runs (sync.schedule.JOB_FUNCTION and GROUP_JOB_FUNCTION; previews:
# sync.preview_jobs.JOB_FUNCTION; verify: sync.verify_jobs.JOB_FUNCTION).
JOB_FUNCTIONS = frozenset({"sync.jobs.sync_mailbox", "sync.jobs.sync_group", "sync.preview_jobs.preview_job",
                           "sync.verify_jobs.verify_job"})  # fmt: skip


class NotACalsyncJob(Exception):
    """A job in the queue names a function calsync never enqueues."""


class SessionJob(Job):
    """An RQ job that runs only functions of ``JOB_FUNCTIONS``."""

    def perform(self) -> Any:
        if self.func_name not in JOB_FUNCTIONS:
            raise NotACalsyncJob(f"job {self.id} names {self.func_name!r}, which calsync does not run")
        return super().perform()


def session_queue(name: str, connection: Redis) -> Queue:
    return Queue(name, connection=connection, serializer=SERIALIZER, job_class=SessionJob)


def worker_options() -> dict[str, Any]:
    """Keyword arguments for every RQ worker of calsync."""
    return {"serializer": SERIALIZER, "job_class": SessionJob}


# How long a worker waits for Redis to come back after losing it, before it gives up and exits (an operator's
# process manager restarts it then).
REDIS_OUTAGE_SECONDS = 300.0
log = logging.getLogger("calsync.worker")


class RidesOutRedisOutages:
    """Mixin for RQ workers: a Redis connection lost around a job (a Redis restart or failover) makes the worker
    wait for Redis and carry on, where RQ's own loop quits on the first unhandled ``ConnectionError`` (found by the
    chaos soak, docs/soak.md). The session itself needs no Redis to finish (sync.jobs); a restarted Redis has
    forgotten the worker, so it registers again. Dequeuing already retries on its own in RQ."""

    outage_seconds = REDIS_OUTAGE_SECONDS

    def execute_job(self, job: Job, queue: Queue) -> Any:
        try:
            return super().execute_job(job, queue)  # type: ignore[misc]
        except RedisConnectionError as exc:
            self._wait_for_redis(exc)
            return None

    def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().heartbeat(*args, **kwargs)  # type: ignore[misc]
        except RedisConnectionError as exc:
            self._wait_for_redis(exc)
            return None

    def run_maintenance_tasks(self) -> Any:
        try:
            return super().run_maintenance_tasks()  # type: ignore[misc]
        except RedisConnectionError as exc:
            self._wait_for_redis(exc)
            return None

    def _wait_for_redis(self, error: Exception) -> None:
        worker: Any = self
        log.warning("worker %s lost Redis (%s); waiting up to %.0f s for it", worker.name, error, self.outage_seconds)
        deadline, delay = time.monotonic() + self.outage_seconds, 0.5
        while True:
            try:
                worker.connection.ping()
                break
            except RedisConnectionError:
                if worker._stop_requested or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        try:
            worker.register_birth()  # a Redis restarted empty has forgotten this worker
        except ValueError:
            pass  # it kept its data: the worker is still registered
        log.warning("worker %s has Redis again", worker.name)


class Worker(RidesOutRedisOutages, rq.Worker):
    """calsync's forking worker (each session in a work horse)."""


class SimpleWorker(RidesOutRedisOutages, rq.SimpleWorker):
    """calsync's worker that runs sessions in its own process (``calsync worker --no-fork``)."""


def all_queues(connection: Redis) -> list[Queue]:
    return Queue.all(connection=connection, serializer=SERIALIZER, job_class=SessionJob)


def fetch_job(job_id: str, connection: Redis) -> Job:
    return SessionJob.fetch(job_id, connection=connection, serializer=SERIALIZER)


def fetch_jobs(job_ids: list[str], connection: Redis) -> list[Job | None]:
    return SessionJob.fetch_many(job_ids, connection=connection, serializer=SERIALIZER)
