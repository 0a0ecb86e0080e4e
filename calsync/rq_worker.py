"""An RQ worker class for plain ``rq worker``: ``rq worker -w calsync.rq_worker.Worker sync``.

``calsync worker`` is the usual way; this class lets RQ's own command line (and its options) run calsync's
session jobs, installing the job context from the environment the way ``calsync worker`` does.
"""

from __future__ import annotations

import rq

from calsync.settings import ConfigError, Settings
from calsync.worker_commands import build_context


class Worker(rq.Worker):
    def __init__(self, *args, **kwargs) -> None:
        from sync.job_queue import worker_options

        kwargs.update(worker_options())  # JSON and calsync's job functions only, whatever `rq worker` says
        super().__init__(*args, **kwargs)
        from sync import jobs

        try:
            jobs.current_context()
        except RuntimeError:
            try:
                settings = Settings.from_env()
            except ConfigError as exc:
                raise SystemExit(f"calsync: {exc}") from None  # one line, no traceback
            jobs.install(build_context(settings, self.connection))
