"""Benchmark of the EWS sandbox's notifications, driven by exchangelib over loopback HTTP.

    .venv/bin/python bench/exchange_notifications.py [--writes 50] [--drain 2000] [--connections 20]

Reports the latency from an item write (UpdateItem) to its event on a streaming connection and at a push
listener (median and 95th percentile), how fast GetEvents drains a backlog of changes (events per second, 50
per answer), and the write-to-event latency with many streaming connections open at once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone  # noqa: E402
from exchangelib.services import SendNotification  # noqa: E402

from bench.ews_accounts import account_for  # noqa: E402
from sandbox import seed  # noqa: E402
from sandbox.exchange import EWS_PATH, ExchangeSandbox  # noqa: E402
from sandbox.server import ServerThread  # noqa: E402

UTC = EWSTimeZone("UTC")


def new_item(account, subject: str, hour: int = 9) -> CalendarItem:
    start = EWSDateTime(2026, 11, 2, hour % 24, tzinfo=UTC)
    item = CalendarItem(account=account, folder=account.calendar, subject=subject, start=start,
                        end=start + dt.timedelta(minutes=30))  # fmt: skip
    item.save(send_meeting_invitations="SendToNone")
    return item


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def streaming_latency(account, writes: int, connections: int = 1) -> list[float]:
    subs = [account.calendar.subscribe_to_streaming(event_types=["ModifiedEvent"]) for _ in range(connections)]
    seen: dict[str, list[float]] = {}
    lock = threading.Lock()

    def listen(sub_id: str) -> None:
        for note in account.calendar.get_streaming_events(sub_id, connection_timeout=1):
            now = time.perf_counter()
            for e in note.events:
                if e.event_type == "item":
                    with lock:
                        seen.setdefault(e.item_id.changekey, []).append(now)

    threads = [threading.Thread(target=listen, args=(s,), daemon=True) for s in subs]
    for th in threads:
        th.start()
    time.sleep(0.3)
    item = new_item(account, "streamed")
    out = []
    for i in range(writes):
        item.subject = f"streamed {i}"
        began = time.perf_counter()
        item.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
        while True:
            with lock:
                arrivals = seen.get(item.changekey, [])
                if len(arrivals) >= connections:
                    out += [a - began for a in arrivals]
                    break
            time.sleep(0.001)
    for th in threads:
        th.join(timeout=90)
    return out


class Listener:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.server = ServerThread(self)

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        now = time.perf_counter()
        for note in SendNotification(protocol=None).parse(body):
            for e in note.events:
                if getattr(e, "item_id", None) is not None:
                    self.arrivals.setdefault(e.item_id.changekey, now)
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
        return [SendNotification(protocol=None).ok_payload()]


def push_latency(account, writes: int) -> list[float]:
    listener = Listener()
    account.calendar.subscribe_to_push(listener.server.url + "/push", event_types=["ModifiedEvent"])
    item = new_item(account, "pushed")
    out = []
    for i in range(writes):
        item.subject = f"pushed {i}"
        began = time.perf_counter()
        item.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
        while item.changekey not in listener.arrivals:
            time.sleep(0.001)
        out.append(listener.arrivals[item.changekey] - began)
    listener.server.stop()
    return out


def drain(account, changes: int) -> tuple[int, float]:
    sub_id, watermark = account.calendar.subscribe_to_pull(event_types=["CreatedEvent"])
    items = [
        CalendarItem(
            account=account,
            folder=account.calendar,
            subject=f"n{i}",
            start=EWSDateTime(2026, 12, 1, tzinfo=UTC) + dt.timedelta(hours=i),
            end=EWSDateTime(2026, 12, 1, tzinfo=UTC) + dt.timedelta(hours=i, minutes=30),
        )  # fmt: skip
        for i in range(changes)
    ]
    account.bulk_create(folder=account.calendar, items=items, send_meeting_invitations="SendToNone")
    began = time.perf_counter()
    count = sum(len(n.events) for n in account.calendar.get_events(sub_id, watermark))
    return count, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--drain", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("exchangelib").setLevel(logging.CRITICAL)
    # A sandbox minute of 10 s: one-minute streaming connections outlast the measurement without waiting a minute.
    sandbox = ExchangeSandbox(seed="empty", notification_minute_seconds=10)
    server = ServerThread(sandbox.wsgi_app)
    account = account_for(server.url + EWS_PATH, seed.REPS[0], max_connections=64)

    def show(name: str, values: list[float]) -> None:
        ms = [v * 1000 for v in values]
        print(f"{name}: median {statistics.median(ms):.1f} ms, p95 {pct(ms, 0.95):.1f} ms ({len(ms)} events)")

    show("write -> streaming event", streaming_latency(account, args.writes))
    show("write -> push delivery", push_latency(account, args.writes))
    count, took = drain(account, args.drain)
    print(f"GetEvents drain: {count} events in {took:.2f} s ({count / took:,.0f} events/s)")
    show(f"write -> event on {args.connections} streaming connections",
         streaming_latency(account, max(5, args.writes // 5), args.connections))  # fmt: skip
    sandbox.stop()
    server.stop()


if __name__ == "__main__":
    main()
