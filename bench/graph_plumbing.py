"""Benchmark of the Graph plumbing: app-only tokens (MsalTokenSource with the Redis-shared cache) and moving a
mailbox between EWS and Graph (translateExchangeIds over its links), against the sandboxes over loopback HTTPS.

    .venv/bin/python bench/graph_plumbing.py [--links 2000] [--redis redis://127.0.0.1:6379/15] [--workers 8]

Reports:

- tokens: the first token (an identity-provider request), ``token()`` served from the process copy (per call),
  a new source served from Redis (what a forked job pays), and ``--workers`` forked processes that all miss at
  once (how many token requests reach the identity provider);
- move: ``--links`` links of one mailbox moved EWS → Graph and back: translateExchangeIds requests and wall time.

The Redis database given is flushed before and after (never db 0).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis import Redis  # noqa: E402

from calsync.settings import Settings  # noqa: E402
from sandbox.exchange.xml import el, fmt_datetime, t  # noqa: E402
from sandbox.runner import SandboxOptions, start_sandboxes  # noqa: E402
from sync import mailboxes  # noqa: E402
from sync.connectors.graph.auth import MsalTokenSource, credentials_from_settings  # noqa: E402
from sync.models import Link  # noqa: E402
from sync.runtime import Runtime  # noqa: E402


def seed_items(sandboxes, email: str, count: int) -> list[str]:
    store = sandboxes.exchange.store
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
    made = []
    with store.lock:
        mb = store.mailbox(email)
        for n in range(count):
            item = store.new_item(mb, mb.folder("calendar"))
            begin = start + dt.timedelta(minutes=30 * n)
            item.fields["Subject"] = el(t("Subject"), f"bench {n}")
            item.fields["Start"] = el(t("Start"), fmt_datetime(begin))
            item.fields["End"] = el(t("End"), fmt_datetime(begin + dt.timedelta(minutes=25)))
            made.append(item.id)
    return made


def _worker(settings: Settings, redis_url: str, queue) -> None:
    source = MsalTokenSource(credentials_from_settings(settings), Redis.from_url(redis_url))
    source.token()
    queue.put(source.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    redis = Redis.from_url(args.redis)
    assert redis.connection_pool.connection_kwargs.get("db", 0) != 0, "never db 0"
    redis.flushdb()
    workdir = Path(tempfile.mkdtemp(prefix="graph-plumbing-bench-"))
    with start_sandboxes(SandboxOptions(state_dir=workdir / "sandboxes", seed="empty")) as sbx:
        info_file = workdir / "sandbox.json"
        sbx.write_info(info_file)
        settings = Settings.from_env({"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(info_file),
                                      "DATABASE_URL": f"sqlite:///{workdir / 'calsync.db'}",
                                      "REDIS_URL": args.redis})  # fmt: skip
        credentials = credentials_from_settings(settings)

        source = MsalTokenSource(credentials, redis)
        began = time.perf_counter()
        source.token()
        first = time.perf_counter() - began
        began = time.perf_counter()
        for _ in range(10_000):
            source.token()
        cached = (time.perf_counter() - began) / 10_000
        began = time.perf_counter()
        fresh = MsalTokenSource(credentials, redis)
        fresh.token()
        shared = time.perf_counter() - began
        print(f"tokens: first (identity provider) {first * 1000:.1f} ms; token() from the process copy "
              f"{cached * 1e6:.2f} µs a call; a new source from Redis {shared * 1000:.2f} ms "
              f"({fresh.requests} identity-provider requests)")  # fmt: skip
        redis.flushdb()
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        procs = [context.Process(target=_worker, args=(settings, args.redis, queue)) for _ in range(args.workers)]
        began = time.perf_counter()
        for p in procs:
            p.start()
        asked = sum(queue.get(timeout=120) for _ in procs)
        for p in procs:
            p.join()
        print(f"tokens: {args.workers} forked workers missing at once: {asked} identity-provider request(s), "
              f"{(time.perf_counter() - began) * 1000:.0f} ms until all had a token")  # fmt: skip

        email = sbx.info["graph"]["mailboxes"][0]["email"]
        ids = seed_items(sbx, email, args.links)
        runtime = Runtime.build(settings, migrate=True, redis=redis)
        with runtime.session_factory() as db:
            box = mailboxes.add(db, email)
            db.flush()
            for n, item_id in enumerate(ids):
                db.add(Link(mailbox_id=box.id, kind="event", origin="exchange", state="active",
                            exchange_item_id=item_id, sync_key=f"bench-{n:08d}"))  # fmt: skip
            db.commit()
        for target in ("graph", "ews"):
            began = time.perf_counter()
            report = runtime.move_mailbox(email, target)
            took = time.perf_counter() - began
            print(f"move to {target}: {report.links} links, {report.requests} translateExchangeIds request(s), "
                  f"{took:.2f} s ({report.links / took:,.0f} links/s)")  # fmt: skip
        runtime.close()
    redis.flushdb()


if __name__ == "__main__":
    main()
