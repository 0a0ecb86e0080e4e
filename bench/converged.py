"""Shared start-up of the one-mailbox benchmarks (bench/verify.py, bench/preview.py): the sandboxes (seed "empty"),
a SQLite runtime with the rep's mailbox, ``items`` tagged Outlook items and ``items`` Salesforce Events synced
until quiet, and the request counters both read their figures from."""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Converged:
    world: Any  # tests.e2e.actors.World
    runtime: Any  # sync.runtime.Runtime
    email: str
    outlook_items: list[str]
    salesforce_events: list[str]

    def connectors(self) -> dict:
        return {"salesforce": self.runtime.salesforce(), "exchange": self.runtime.exchange(self.email)}

    def session(self):
        from sync.session import run_session

        return run_session(self.runtime.session_factory, self.email, **self.connectors())

    def counters(self) -> tuple:
        stats = self.world.salesforce_stats()
        log = self.world.exchange_log()
        return Counter(stats["requests"]), stats["writes"], Counter(log["requests"]), len(log["calls"])

    def measured(self, run: Callable[[], Any]) -> tuple[Any, dict]:
        """``run()``'s answer and its figures: wall time, requests per service, record writes, EWS write calls."""
        before = self.counters()
        started = time.perf_counter()
        out = run()
        return out, figures(time.perf_counter() - started, before, self.counters())


@contextmanager
def converged_mailbox(items: int) -> Iterator[Converged]:
    for name in ("exchangelib", "sandbox.exchange", "werkzeug"):
        logging.getLogger(name).setLevel(logging.ERROR)

    from calsync.settings import Settings
    from sandbox.runner import SandboxOptions, start_sandboxes
    from sync import mailboxes
    from sync.runtime import Runtime
    from tests.e2e.actors import World, at

    with tempfile.TemporaryDirectory() as tmp:
        running = start_sandboxes(SandboxOptions(state_dir=Path(tmp) / "sandboxes", seed="empty"))
        try:
            info = Path(tmp) / "sandbox.json"
            running.write_info(info)
            settings = Settings.from_env({"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(info),
                                          "DATABASE_URL": f"sqlite:///{tmp}/bench.db"})  # fmt: skip
            world = World(running)
            world.reset()
            runtime = Runtime.build(settings, migrate=True)
            email = world.rep.email
            with runtime.session_factory() as db:
                mailboxes.add(db, email, world.rep.salesforce_user_id, time_zone=world.rep.timezone)
                db.commit()
            outlook, sf = world.outlook(), world.salesforce()
            own = [outlook.create(f"Outlook {n}", at(1 + n % 40, 8 + n % 9), at(1 + n % 40, 8 + n % 9, 30))
                   for n in range(items)]  # fmt: skip
            events = [sf.create_event(Subject=f"Salesforce {n}", StartDateTime=at(1 + n % 40, 9),
                                      EndDateTime=at(1 + n % 40, 9, 45)) for n in range(items)]  # fmt: skip
            mailbox = Converged(world, runtime, email, own, events)
            for _ in range(4):
                if mailbox.session().writes == 0:
                    break
            yield mailbox
            runtime.close()
            world.close()
        finally:
            running.stop()


def figures(seconds: float, before: tuple, after: tuple) -> dict:
    sf_requests = after[0] - before[0]
    ex_requests = after[2] - before[2]
    return {"seconds": round(seconds, 3), "salesforce_requests": sum(sf_requests.values()),
            "salesforce_by_endpoint": dict(sf_requests), "salesforce_record_writes": after[1] - before[1],
            "exchange_requests": sum(ex_requests.values()), "exchange_by_operation": dict(ex_requests),
            "exchange_write_calls": after[3] - before[3]}  # fmt: skip
