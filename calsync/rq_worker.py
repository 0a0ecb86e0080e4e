"""An RQ worker class for plain ``rq worker``: ``rq worker -w calsync.rq_worker.Worker sync``.

``calsync worker`` is the usual way; this class lets RQ's own command line (and its options) run calsync's
session jobs, installing the job context from the environment the way ``calsync worker`` does (one runtime, on the
worker's own Redis connection).
"""

from __future__ import annotations

import rq

from calsync.settings import ConfigError, Settings
from sync import jobs
from sync.job_queue import RidesOutRedisOutages, worker_options
from sync.runtime import Runtime


class Worker(RidesOutRedisOutages, rq.Worker):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.update(worker_options())  # JSON and calsync's job functions only, whatever `rq worker` says
        super().__init__(*args, **kwargs)
        try:
            jobs.current_context()
        except RuntimeError:
            try:
                settings = Settings.from_env()
            except ConfigError as exc:
                raise SystemExit(f"calsync: {exc}") from None  # one line, no traceback
            jobs.install(Runtime.build(settings, redis=self.connection).worker_context())
