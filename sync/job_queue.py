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

from typing import TYPE_CHECKING, Any

from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

if TYPE_CHECKING:
    from redis import Redis

SERIALIZER = JSONSerializer
# The only functions a calsync worker runs (sync.schedule.JOB_FUNCTION; previews: sync.preview_jobs.JOB_FUNCTION;
# verify: sync.verify_jobs.JOB_FUNCTION).
JOB_FUNCTIONS = frozenset({"sync.jobs.sync_mailbox", "sync.preview_jobs.preview_job", "sync.verify_jobs.verify_job"})


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


def all_queues(connection: Redis) -> list[Queue]:
    return Queue.all(connection=connection, serializer=SERIALIZER, job_class=SessionJob)


def fetch_job(job_id: str, connection: Redis) -> Job:
    return SessionJob.fetch(job_id, connection=connection, serializer=SERIALIZER)


def fetch_jobs(job_ids: list[str], connection: Redis) -> list[Job | None]:
    return SessionJob.fetch_many(job_ids, connection=connection, serializer=SERIALIZER)
