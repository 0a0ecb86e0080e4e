"""An RQ worker class for plain ``rq worker``: ``rq worker -w calsync.rq_worker.Worker sync``.

``calsync worker`` is the usual way; this class lets RQ's own command line (and its options) run calsync's
session jobs, installing the job context from the environment the way ``calsync worker`` does (one runtime, on the
worker's own Redis connection).
"""

from __future__ import annotations

import rq

from calsync.settings import Settings
from sync import jobs
from sync.runtime import Runtime


class Worker(rq.Worker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        try:
            jobs.current_context()
        except RuntimeError:
            jobs.install(Runtime.build(Settings.from_env(), redis=self.connection).worker_context())
