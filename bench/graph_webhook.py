"""Benchmark of the Graph webhook (``POST /api/v1/graph/notifications``): how fast the web app answers Graph's
deliveries, against Graph's 3-second acknowledgement deadline.

    .venv/bin/python bench/graph_webhook.py [--mailboxes 200] [--singles 1000] [--batches 50] [--batch-size 100]
                                            [--redis redis://127.0.0.1:6379] [--database-url URL]

What it does:

1. a fresh SQLite database (or ``--database-url``) gets ``--mailboxes`` Graph mailboxes and a subscription row
   each (as the keeper stores them: the SHA-256 of a random clientState); Redis is db 7 of ``--redis``, flushed;
2. the real web app (``calsync.web.create_app``) is served over HTTPS by werkzeug's threaded server on
   loopback, with a throw-away certificate (``sandbox.tls``), the rate limit off;
3. ``--singles`` deliveries of one change each (a random mailbox), then ``--batches`` deliveries of
   ``--batch-size`` changes each (random mailboxes); half of the changes name a write recorded with
   ``record_writes`` (an echo), the rest somebody's edit;
4. figures: answer time (request sent → 202 received, one keep-alive HTTPS connection) p50, p95, max, for
   singles and batches; notifications and echoes counted by the webhook; pending requests (one per mailbox that
   had a non-echo change, however many).

Results go to ``bench/results/graph_webhook.json``. Reported by hand in docs/push.md ("Microsoft Graph").
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from redis import Redis  # noqa: E402

from calsync.database import make_engine, make_session_factory, upgrade  # noqa: E402
from calsync.settings import Settings  # noqa: E402
from calsync.web import create_app  # noqa: E402
from sandbox.server import ServerThread  # noqa: E402
from sandbox.tls import make_tls_files  # noqa: E402
from sync.models import GraphSubscription, Mailbox  # noqa: E402
from sync.push import record_writes  # noqa: E402
from sync.push.requests import pending_requests  # noqa: E402

PATH = "/api/v1/graph/notifications"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def figures(times: list[float]) -> dict[str, float]:
    return {"n": len(times), "p50_ms": round(statistics.median(times) * 1000, 1),
            "p95_ms": round(percentile(times, 95) * 1000, 1), "max_ms": round(max(times) * 1000, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--redis", default=os.environ.get("CALSYNC_TEST_REDIS_SERVER", "redis://127.0.0.1:6379"))
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="graph-webhook-bench-"))
    database_url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    upgrade(database_url)
    redis_url = f"{args.redis.rstrip('/')}/7"
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    settings = replace(Settings.from_env({"CALSYNC_ENV": "test"}), database_url=database_url, redis_url=redis_url,
                       graph_webhook_rate_limit="")  # fmt: skip

    engine = make_engine(database_url)
    rows: list[tuple[int, str, str]] = []  # (mailbox id, subscription id, clientState)
    with make_session_factory(engine)() as db:
        for n in range(args.mailboxes):
            mailbox = Mailbox(email=f"bench{n}@calsync.example", backend="graph")
            db.add(mailbox)
            db.flush()
            state = secrets.token_urlsafe(32)
            sub = f"sub-{n:05d}"
            db.add(GraphSubscription(subscription_id=sub, mailbox_id=mailbox.id, mailbox_email=mailbox.email,
                                     resource=f"/users/{mailbox.email}/events",
                                     client_state_hash=hashlib.sha256(state.encode()).hexdigest(),
                                     expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=2)))  # fmt: skip
            rows.append((mailbox.id, sub, state))
        db.commit()
    engine.dispose()

    rng = random.Random(18)
    counter = 0

    def change() -> dict:
        nonlocal counter
        counter += 1
        mailbox_id, sub, state = rng.choice(rows)
        item, key = f"item-{counter}", f"ck-{counter}"
        if counter % 2:
            record_writes(redis, mailbox_id, "exchange", [(item, key)])  # our own write: an echo
        data = {"id": item, "@odata.etag": f'W/"{key}"'}
        return {"subscriptionId": sub, "clientState": state, "changeType": "updated",
                "resource": f"Users/x/Events/{item}", "resourceData": data}  # fmt: skip

    tls = make_tls_files(work / "tls")
    app = create_app(settings)
    server = ServerThread(app, ssl_context=tls.server_context())
    http = requests.Session()
    http.trust_env = False
    http.verify = str(tls.ca_file)
    results: dict[str, object] = {"mailboxes": args.mailboxes}
    try:
        for name, count, size in (("singles", args.singles, 1), ("batches", args.batches, args.batch_size)):
            times: list[float] = []
            for _ in range(count):
                body = {"value": [change() for _ in range(size)]}
                start = time.perf_counter()
                answer = http.post(server.url + PATH, json=body, timeout=10)
                times.append(time.perf_counter() - start)
                assert answer.status_code == 202, answer.text
            results[name] = {"batch_size": size, **figures(times)}
            print(name, results[name])
    finally:
        http.close()
        server.stop()
    counters = {k.decode(): int(v) for k, v in redis.hgetall("calsync:push:graph:webhook").items()}
    results["counters"] = counters
    results["pending_requests"] = len(pending_requests(redis))
    print("counters", counters, "pending requests", results["pending_requests"])
    out = ROOT / "bench" / "results" / "graph_webhook.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    redis.flushdb()


if __name__ == "__main__":
    main()
