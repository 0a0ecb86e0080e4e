"""Benchmark of the Microsoft Graph sandbox driven by msal + requests over loopback HTTPS.

    .venv/bin/python bench/graph_sandbox.py [--events 1000] [--rounds 5] [--batches 20]

Seeds ``--events`` single events into one mailbox (straight into the shared Exchange store, so seeding is not
measured), then reports:

- a full delta round read as one page of 1,000 events (``Prefer: odata.maxpagesize=1000``): pages and events
  per second, and the time of one page;
- an incremental delta round after 1,000 edits (the same page size);
- ``$batch`` of 20 GET-event requests: batches and requests per second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msal  # noqa: E402
import requests  # noqa: E402

from sandbox.exchange import calendar  # noqa: E402
from sandbox.exchange.xml import el, fmt_datetime, t  # noqa: E402
from sandbox.runner import SandboxOptions, start_sandboxes  # noqa: E402


def seed_events(sandboxes, email: str, count: int, start: dt.datetime) -> None:
    exchange = sandboxes.exchange
    store = exchange.store
    with store.lock:
        mb = store.mailbox(email)
        for n in range(count):
            item = store.new_item(mb, mb.folder("calendar"))
            begin = start + dt.timedelta(minutes=30 * n)
            for name, value in (
                ("Subject", f"bench {n}"),
                ("Start", fmt_datetime(begin)),
                ("End", fmt_datetime(begin + dt.timedelta(minutes=25))),
                ("Location", "Room 1"),
            ):
                item.fields[name] = el(t(name), value)
            item.fields["Categories"] = el(t("Categories"), children=[el(t("String"), "Salesforce")])
            item.fields["Body"] = el(t("Body"), f"Notes for bench {n}", {"BodyType": "Text"})
            calendar.apply_rules(mb, item, "UTC", creating=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()

    with start_sandboxes(SandboxOptions(state_dir=Path(tempfile.mkdtemp(prefix="graph-bench-")), seed="empty")) as sbx:
        info = sbx.info["graph"]
        session = requests.Session()
        session.trust_env = False
        session.verify = info["ca_file"]
        app = msal.ConfidentialClientApplication(
            info["client_id"],
            client_credential=info["client_secret"],
            authority=info["authority"],
            http_client=session,
            instance_discovery=False,
        )
        token = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        user = info["mailboxes"][0]["email"]
        start = dt.datetime(2032, 1, 1, 8, tzinfo=dt.UTC)
        seed_events(sbx, user, args.events, start)
        window = {"startDateTime": "2032-01-01T00:00:00Z", "endDateTime": "2033-01-01T00:00:00Z"}
        prefer = {"Prefer": f"odata.maxpagesize={args.events}"}
        base = info["base_url"]

        full_times, delta_link = [], None
        for _ in range(args.rounds):
            began = time.perf_counter()
            answer = session.get(f"{base}/users/{user}/calendarView/delta", params=window, headers=prefer)
            body = answer.json()
            full_times.append(time.perf_counter() - began)
            assert answer.status_code == 200 and len(body["value"]) == args.events, answer.text[:300]
            delta_link = body["@odata.deltaLink"]
        best = min(full_times)
        print(
            f"delta, full round, one page of {args.events} events: median {statistics.median(full_times):.3f} s, "
            f"best {best:.3f} s -> {1 / best:.2f} pages/s, {args.events / best:.0f} events/s"
        )

        with sbx.exchange.store.lock:
            mb = sbx.exchange.store.mailbox(user)
            for item in list(mb.items.values()):
                item.fields["Subject"] = el(t("Subject"), item.fields["Subject"].text + " (edited)")
                sbx.exchange.store.touch(item)
        began = time.perf_counter()
        answer = session.get(delta_link, headers=prefer)
        incremental = time.perf_counter() - began
        assert len(answer.json()["value"]) == args.events
        print(
            f"delta, incremental round after {args.events} edits, one page: {incremental:.3f} s "
            f"-> {args.events / incremental:.0f} events/s"
        )

        ids = [e["id"] for e in body["value"][:20]]
        batch = {
            "requests": [
                {"id": str(i), "method": "GET", "url": f"/users/{user}/events/{event_id}"}
                for i, event_id in enumerate(ids)
            ]
        }
        times = []
        for _ in range(args.batches):
            began = time.perf_counter()
            answer = session.post(f"{base}/$batch", json=batch)
            times.append(time.perf_counter() - began)
            assert all(r["status"] == 200 for r in answer.json()["responses"])
        best = min(times)
        print(
            f"$batch of 20 GET event requests: median {statistics.median(times) * 1000:.1f} ms, best "
            f"{best * 1000:.1f} ms -> {1 / best:.1f} batches/s, {20 / best:.0f} requests/s"
        )
        times = []
        for event_id in ids:
            began = time.perf_counter()
            session.get(f"{base}/users/{user}/events/{event_id}").raise_for_status()
            times.append(time.perf_counter() - began)
        print(f"single GET event (for comparison): median {statistics.median(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
