"""Shared start-up of the push benchmarks (bench/latency.py, bench/salesforce_calls.py, bench/push_dispatch.py):
bench reps seeded straight into the sandboxes' stores, a fresh PostgreSQL schema per run, `calsync` processes
started and stopped, percentiles, and the scan's cost per pass."""

from __future__ import annotations

import datetime as dt
import logging
import math
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
CALSYNC = str(Path(sys.executable).with_name("calsync"))


def rep_email(group: str, i: int) -> str:
    return f"{group}.rep{i:04d}@calsync.example"


def rep_user(group: str, i: int) -> str:
    return f"005{'P' if group == 'poll' else 'S'}{i:014d}"


def quiet_logs() -> None:
    for name in ("exchangelib", "urllib3", "werkzeug", "sandbox", "calsync"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


# -- set-up -----------------------------------------------------------------------------------------------------
def seed(running: Any, groups: list[str], n: int, items: int) -> dict[tuple[str, int], dict[str, list]]:
    """Users, mailboxes and items; returns (group, i) → {"outlook": [Exchange items], "salesforce": [Event ids]}."""
    from sandbox.exchange.demo import SALESFORCE, _add
    from sandbox.exchange.xml import el, fmt_datetime, t
    from sandbox.salesforce.schema import OBJECTS
    from sandbox.seed import REPS

    sf, ex = running.salesforce, running.exchange
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    out: dict[tuple[str, int], dict[str, list]] = {}
    with sf.lock:
        template = dict(sf.store.tables["User"][REPS[0].salesforce_user_id])
        for group in groups:
            for i in range(n):
                sf.store.insert_seed(OBJECTS["User"], {
                    **template, "Id": rep_user(group, i), "Username": rep_email(group, i),
                    "Email": rep_email(group, i), "FirstName": "Rep", "LastName": f"{group} {i:04d}",
                    "Name": f"Rep {group} {i:04d}", "Alias": f"r{i:04d}",
                })  # fmt: skip
                events = []
                for k in range(items):
                    start = today + dt.timedelta(days=2 + k % 30, hours=14 + k % 4)
                    record = sf.store.create(OBJECTS["Event"], {
                        "Subject": f"Salesforce call {k}", "OwnerId": rep_user(group, i),
                        "StartDateTime": start.isoformat(),
                        "EndDateTime": (start + dt.timedelta(minutes=30)).isoformat(),
                    }, rep_user(group, i))  # fmt: skip
                    events.append(record["Id"])
                out[(group, i)] = {"salesforce": events, "outlook": []}
    for group in groups:
        for i in range(n):
            ex.add_mailbox(rep_email(group, i), "bench-password")
    with ex.store.lock:
        for group in groups:
            for i in range(n):
                mb = ex.store.mailbox(rep_email(group, i))
                for k in range(items):
                    start = today + dt.timedelta(days=1 + k % 30, hours=8 + k % 6)
                    item = _add(ex, ex.store, mb, Subject=f"Customer meeting {k}", Start=fmt_datetime(start),
                                End=fmt_datetime(start + dt.timedelta(minutes=45)),
                                Categories=el(t("Categories"), children=[el(t("String"), SALESFORCE)]))  # fmt: skip
                    out[(group, i)]["outlook"].append(item.id)
    return out


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """count, p50, p95 (nearest rank: a measured value) and max."""
    from sync.push.latency import percentile

    ordered = sorted(values)
    return {"count": len(ordered), "p50": percentile(ordered, 0.5), "p95": percentile(ordered, 0.95),
            "max": ordered[-1] if ordered else None}  # fmt: skip


def schema_url(base: str, prefix: str = "bench_push") -> tuple[str, str]:
    """A database URL whose connections use a new schema (created here; `drop_schema` removes it)."""
    from sqlalchemy import create_engine, text

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}", schema


def drop_schema(base: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


class Processes:
    """`calsync` subprocesses with their output in ``logs/<name>.log``; `stop` sends SIGTERM, then kills."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, env: dict[str, str], *args: str) -> subprocess.Popen:
        proc = subprocess.Popen([CALSYNC, *args], env=env, cwd=ROOT, stdout=(self.logs / f"{name}.log").open("w"),
                                stderr=subprocess.STDOUT)  # fmt: skip
        self.running.append(proc)
        return proc

    def stop(self) -> None:
        from tests.support import stop_processes

        stop_processes(self.running, grace=20)
        self.running.clear()


def per_pass_calls(reps: int, objects: int, chunk: int) -> int:
    """Composite requests of one scan pass for that many reps (five queries each)."""
    return math.ceil(objects * math.ceil(reps / chunk) / 5)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
