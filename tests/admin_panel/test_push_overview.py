"""The Overview's change-driven sync section (issue 18): push health from `sync.push.push_overview` over real
Redis, and the latency chart from samples in the database, rendered by the panel."""

from __future__ import annotations

import datetime as dt
import re
import time

from redis import Redis
from sqlalchemy import select

from admin_panel.push_health import push_section
from backend.globals import runtime_of
from sync.models import LatencySample, Mailbox, utcnow
from sync.push import record_channel, record_notification, request_sync
from sync.push.health import record_event, record_status
from sync.push.latency import TO_OUTLOOK, TO_SALESFORCE


def _db(app):
    return runtime_of(app).session_factory()


def _seed(app, redis_db) -> dict[str, int]:
    now = time.time()
    with _db(app) as db:
        rows = [Mailbox(email="alice@calsync.example"), Mailbox(email="bob@calsync.example"),
                Mailbox(email="carol@calsync.example"),
                Mailbox(email="dave@calsync.example", backend="graph")]  # fmt: skip
        db.add_all(rows)
        db.flush()
        alice, bob, carol, dave = (row.id for row in rows)
        today = utcnow()
        yesterday = today - dt.timedelta(days=1)
        # Yesterday 10 writes each way (p50 of 1..10 s is 5 s, p95 10 s); today 3 Outlook → Salesforce.
        db.add_all([LatencySample(mailbox_id=alice, direction=d, seconds=float(s), written_at=yesterday,
                                  trigger="push")
                    for d in (TO_SALESFORCE, TO_OUTLOOK) for s in range(1, 11)])  # fmt: skip
        db.add_all([LatencySample(mailbox_id=bob, direction=TO_SALESFORCE, seconds=s, written_at=today,
                                  trigger="push") for s in (20.0, 30.0, 400.0)])  # fmt: skip
        db.commit()
    record_channel(redis_db, alice, "ews-streaming", "up", ttl=300, now=now)
    record_channel(redis_db, bob, "graph-webhook", "down", "subscriptionRemoved", now=now)
    record_channel(redis_db, dave, "graph-webhook", "off", "public_url_missing: set CALSYNC_PUBLIC_URL", now=now)
    record_notification(redis_db, alice, "ews-streaming", now=now - 120)
    request_sync(redis_db, alice, source="ews", now=now)
    record_status(redis_db, "listener", "host-1", {"shard": "0/1", "subscriptions": 1}, ttl=60)
    record_status(redis_db, "graph-subscriptions", "keeper-1", {"active": 0, "next_expiry": "none"}, ttl=60)
    record_event(redis_db, "renewal", mailbox_id=bob, channel="graph-webhook", now=now - 30)
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_overview_shows_push_health_and_the_latency_per_day(admin_client, app, redis_db):
    ids = _seed(app, redis_db)
    html = admin_client.get("/admin/").get_data(as_text=True)
    text = _text(html)
    assert "1 of 4 mailboxes on push" in text
    assert "3 on fallback polling ( 1 push not configured: polled at the adaptive interval)" in text
    assert "1 waiting for a session" in text
    assert re.search(r"last notification 2 min ago \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\) \(ews-streaming, "
                     r"alice@calsync\.example\)", text), text  # fmt: skip
    assert "renewals today 1 (last 30 s ago" in text
    assert "ews-streaming 1 0 0 1" in text and "graph-webhook 0 1 1 0" in text
    assert "listener host-1" in text and "shard: 0/1, subscriptions: 1" in text
    assert "Graph subscriptions keeper-1" in text and "active: 0, next expiry: none" in text
    # Fallback: bob (reported down, with Graph's reason), dave (push not configured), carol (never reported).
    fallback = html[html.index('id="push-fallback"') :]
    order = [fallback.index(f"{name}@calsync.example") for name in ("bob", "dave", "carol")]
    assert order == sorted(order)
    assert "dave@calsync.example not configured graph-webhook: public_url_missing" in _text(fallback)
    assert f'/admin/mailboxes/{ids["bob"]}"' in fallback and "subscriptionRemoved" in fallback
    assert "never reported" in fallback

    # The latency charts: one per direction, p50 and p95 lines, figures per day.
    assert "Outlook → Salesforce (13 writes)" in text and "Salesforce → Outlook (10 writes)" in text
    assert 'aria-label="Outlook → Salesforce latency over 14 days: p50 at most 30 s; p95 at most 6.7 min"' in html
    assert 'aria-label="Salesforce → Outlook latency over 14 days: p50 at most 5 s; p95 at most 10 s"' in html
    assert html.count("<polyline") == 2  # only Outlook → Salesforce has two days in a row with samples
    day = (utcnow() - dt.timedelta(days=1)).date().isoformat()
    assert f"{day} 10 5 s 10 s" in text
    assert f"{utcnow().date().isoformat()} 3 30 s 6.7 min" in text


def test_overview_without_push_says_every_mailbox_is_polled(admin_client):
    text = _text(admin_client.get("/admin/").get_data(as_text=True))
    assert "0 of 0 mailboxes on push" in text and "last notification never" in text
    assert "no listener running: start one with calsync listener" in text
    assert "Outlook → Salesforce (0 writes)" in text and "p50 no samples; p95 no samples" in text


def test_redis_down_is_said_and_the_latency_still_shows(app):
    with _db(app) as db:
        db.add(Mailbox(email="alice@calsync.example"))
        db.flush()
        alice = db.scalars(select(Mailbox.id)).one()
        db.add(LatencySample(mailbox_id=alice, direction=TO_OUTLOOK, seconds=12.0, written_at=utcnow()))
        db.commit()
        section = push_section(Redis(host="127.0.0.1", port=1, socket_connect_timeout=1), db)
    assert section["health"]["error"].startswith("Redis at REDIS_URL does not answer")
    assert [chart["count"] for chart in section["latency"]] == [0, 1]
