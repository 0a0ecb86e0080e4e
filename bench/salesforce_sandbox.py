"""Benchmark of the Salesforce sandbox through simple-salesforce over HTTPS on loopback.

Measures requests per second for (1) a query answering one full 2,000-row page and (2) a 200-record
sObject Collections insert, the two calls a sync session makes most. Run:

    .venv/bin/python bench/salesforce_sandbox.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
from simple_salesforce import Salesforce

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.salesforce import SalesforceSandbox  # noqa: E402
from sandbox.server import ServerThread  # noqa: E402
from sandbox.tls import make_tls_files  # noqa: E402

QUERY = (
    "SELECT Id, Subject, StartDateTime, EndDateTime, IsAllDayEvent, Location, ShowAs, OwnerId, WhoId, "
    "SystemModstamp, CalSync_Key__c FROM Event WHERE OwnerId = '{owner}' ORDER BY StartDateTime"
)


def _records(n: int, offset: int) -> list[dict]:
    return [
        {
            "attributes": {"type": "Event"},
            "Subject": f"Bench meeting {offset + i}",
            "StartDateTime": f"2026-12-{1 + (offset + i) % 28:02d}T{8 + (offset + i) % 9:02d}:00:00Z",
            "DurationInMinutes": 30,
            "Location": "Zoom",
            "Description": "Benchmark agenda.",
        }
        for i in range(n)
    ]


def _measure(call: Callable[[], object], seconds: float) -> tuple[int, float, float]:
    """(calls, calls per second, median latency in ms) of ``call`` repeated for about ``seconds``."""
    call()  # warm up (TLS session, caches)
    latencies = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    return len(latencies), len(latencies) / elapsed, statistics.median(latencies) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time spent on each measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tls = make_tls_files(Path(tmp))
        sandbox = SalesforceSandbox(seed="empty", daily_budget=10_000_000)
        with ServerThread(sandbox.wsgi_app, ssl_context=tls.server_context()) as server:
            info = sandbox.info(server.url)
            user = info["users"][0]
            session = requests.Session()
            session.trust_env = False
            session.verify = str(tls.ca_file)
            sf = Salesforce(
                instance_url=info["instance_url"], session_id=user["session_id"], session=session, version="59.0"
            )
            for batch in range(10):
                results = sf.restful(
                    "composite/sobjects", method="POST", json={"allOrNone": True, "records": _records(200, batch * 200)}
                )
                assert all(r["success"] for r in results)

            query = QUERY.format(owner=user["user_id"])

            def query_page() -> None:
                page = sf.query(query)
                assert len(page["records"]) == 2000

            # A second user inserts, so the query above keeps answering exactly 2,000 rows.
            other = Salesforce(
                instance_url=info["instance_url"],
                session_id=info["users"][1]["session_id"],
                session=session,
                version="59.0",
            )
            counter = iter(range(10**9))

            def insert_200() -> None:
                results = other.restful(
                    "composite/sobjects",
                    method="POST",
                    json={"allOrNone": False, "records": _records(200, next(counter) * 200)},
                )
                assert len(results) == 200 and results[-1]["success"]

            rows = [
                ("query, one 2,000-row page", 2000, *_measure(query_page, args.seconds)),
                ("collection insert, 200 records", 200, *_measure(insert_200, args.seconds)),
            ]
    print(f"Salesforce sandbox via simple-salesforce over HTTPS (loopback), {args.seconds:g} s per row")
    print(f"{'operation':<34}{'calls':>7}{'req/s':>9}{'records/s':>12}{'median ms':>11}")
    for name, per_call, calls, rate, median in rows:
        print(f"{name:<34}{calls:>7}{rate:>9.1f}{rate * per_call:>12.0f}{median:>11.1f}")


if __name__ == "__main__":
    main()
