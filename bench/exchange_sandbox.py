"""Benchmark of the Exchange (EWS) sandbox driven by exchangelib over loopback HTTP.

    .venv/bin/python bench/exchange_sandbox.py [--items 2000] [--single 200] [--sync-items 10000] [--validate]

Reports CreateItem and GetItem throughput (items per second; bulk through ``account.bulk_create`` /
``account.fetch``, and one item a request), and the time to page SyncFolderItems through a 10,000-item calendar
512 changes a call (ids only, and with every field).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone  # noqa: E402
from exchangelib.services import SyncFolderItems  # noqa: E402

from bench.ews_accounts import account_for  # noqa: E402
from sandbox import seed  # noqa: E402
from sandbox.exchange import EWS_PATH, ExchangeSandbox  # noqa: E402
from sandbox.exchange.xml import el, fmt_datetime, t  # noqa: E402
from sandbox.server import ServerThread  # noqa: E402

LONDON = EWSTimeZone("Europe/London")


def make_items(account: Account, count: int, offset: int = 0) -> list[CalendarItem]:
    base = EWSDateTime(2026, 1, 5, 9, tzinfo=LONDON)
    return [
        CalendarItem(
            account=account,
            folder=account.calendar,
            subject=f"bench {offset + n}",
            body=f"body {n}",
            location="Room 1",
            categories=["Salesforce"],
            start=base + dt.timedelta(hours=offset + n),
            end=base + dt.timedelta(hours=offset + n, minutes=30),
        )
        for n in range(count)
    ]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f} items/s  ({count} items in {seconds:.2f} s)"


def seed_directly(sandbox: ExchangeSandbox, email: str, count: int) -> None:
    store = sandbox.store
    with store.lock:
        mb = store.mailbox(email)
        folder = mb.folder("calendar")
        base = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
        for n in range(count):
            item = store.new_item(mb, folder)
            start = base + dt.timedelta(hours=n)
            item.fields = {
                "Subject": el(t("Subject"), f"sync {n}"),
                "Start": el(t("Start"), fmt_datetime(start)),
                "End": el(t("End"), fmt_datetime(start + dt.timedelta(minutes=30))),
                "IsAllDayEvent": el(t("IsAllDayEvent"), "false"),
                "UID": el(t("UID"), f"uid-{n}"),
            }


def page_sync(account: Account, shape: str) -> tuple[int, int, float]:
    svc = SyncFolderItems(account=account, chunk_size=None)
    state, seen, pages = None, 0, 0
    started = time.perf_counter()
    while True:
        changes = list(
            svc.call(
                folder=account.calendar,
                shape=shape,
                additional_fields=None,
                sync_state=state,
                ignore=None,
                max_changes_returned=512,
                sync_scope=None,
            )
        )
        seen += len(changes)
        pages += 1
        state = svc.sync_state
        if svc.includes_last_item_in_range:
            return seen, pages, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="items for the bulk measurements")
    parser.add_argument("--single", type=int, default=200, help="items for the one-a-request measurements")
    parser.add_argument("--sync-items", type=int, default=10_000)
    parser.add_argument("--validate", action="store_true", help="validate every message against the XSDs")
    args = parser.parse_args()
    logging.getLogger("exchangelib").setLevel(logging.CRITICAL)

    sandbox = ExchangeSandbox(seed="empty", validate_schema=args.validate)
    with ServerThread(sandbox.wsgi_app) as server:
        endpoint = server.url + EWS_PATH
        alice, bob = seed.REPS[0], seed.REPS[1]
        account = account_for(endpoint, alice)
        account.calendar  # noqa: B018 - resolve the folder outside the timings
        print(f"Exchange sandbox benchmark (schema validation {'on' if args.validate else 'off'})")

        items = make_items(account, args.items)
        started = time.perf_counter()
        created = account.bulk_create(folder=account.calendar, items=items, send_meeting_invitations="SendToNone")
        print("CreateItem bulk  :", rate(len(created), time.perf_counter() - started))

        singles = make_items(account, args.single, offset=args.items)
        started = time.perf_counter()
        for item in singles:
            item.save(send_meeting_invitations="SendToNone")
        print("CreateItem single:", rate(len(singles), time.perf_counter() - started))

        started = time.perf_counter()
        fetched = list(account.fetch(ids=created))
        assert len(fetched) == len(created)
        print("GetItem bulk     :", rate(len(fetched), time.perf_counter() - started))

        started = time.perf_counter()
        for item in singles:
            list(account.fetch(ids=[item]))
        print("GetItem single   :", rate(len(singles), time.perf_counter() - started))

        seed_directly(sandbox, bob.email, args.sync_items)
        bob_account = account_for(endpoint, bob)
        bob_account.calendar  # noqa: B018
        for shape in ("IdOnly", "AllProperties"):
            seen, pages, seconds = page_sync(bob_account, shape)
            assert seen == args.sync_items
            print(
                f"SyncFolderItems {shape:13s}: {seen} items in {pages} pages of <=512: {seconds:.2f} s "
                f"({seen / seconds:.0f} items/s)"
            )


if __name__ == "__main__":
    main()
