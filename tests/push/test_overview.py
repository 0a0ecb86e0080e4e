"""`push_overview` over a migrated database and real Redis: what the panel's Overview shows."""

from __future__ import annotations

from sync.models import Mailbox
from sync.push import push_overview, record_channel, record_notification, request_sync
from sync.push.health import record_event, record_status


def _mailboxes(db, count: int) -> list[int]:
    rows = [Mailbox(email=f"rep{i}@example.com") for i in range(count)]
    rows.append(Mailbox(email="gone@example.com", enabled=False))
    db.add_all(rows)
    db.commit()
    return [row.id for row in rows[:count]]


def test_overview_counts_push_fallback_and_notifications(redis, db_session):
    a, b, c, d = _mailboxes(db_session, 4)
    record_channel(redis, a, "ews-streaming", "up", ttl=300, now=1000)
    record_channel(redis, b, "graph-webhook", "up", ttl=60, now=900)  # expired by 1000
    record_channel(redis, c, "ews-streaming", "down", "403 ErrorImpersonateUserDenied", now=990)
    record_channel(redis, d, "salesforce-scan", "up", ttl=300, now=1000)  # Salesforce only: Exchange is polled
    record_notification(redis, a, "ews-streaming", now=995)
    record_notification(redis, b, "graph-webhook", now=950)
    request_sync(redis, a, source="ews", now=995)
    record_status(redis, "listener", "host-1", {"subscriptions": 1}, ttl=60)
    record_status(redis, "graph-subscriptions", "keeper", {"active": 1}, ttl=60)
    record_event(redis, "renewal", mailbox_id=b, channel="graph-webhook", now=1000)

    view = push_overview(redis, db_session, now=1000)

    assert (view["mailboxes"], view["on_push"], view["on_fallback"]) == (4, 1, 3)
    assert [(row["id"], row["state"]) for row in view["fallback"]] == [(b, "down"), (c, "down"), (d, "none")]
    assert "ErrorImpersonateUserDenied" in view["fallback"][1]["detail"]
    assert view["channels"]["ews-streaming"] == {"up": 1, "down": 1, "off": 0}
    assert view["channels"]["graph-webhook"] == {"up": 0, "down": 1, "off": 0}
    assert view["channels"]["salesforce-scan"] == {"up": 1, "down": 0, "off": 0}
    assert view["last_notification"] == {"at": 995.0, "mailbox_id": a, "email": "rep0@example.com",
                                         "channel": "ews-streaming"}  # fmt: skip
    assert view["notifications"]["ews-streaming"] == 1 and view["notifications"]["graph-webhook"] == 1
    assert view["pending"] == 1
    assert view["listeners"][0]["name"] == "host-1" and view["subscriptions"][0]["active"] == 1
    assert view["renewals"]["count"] == 1


def test_overview_of_an_empty_deployment(redis, db_session):
    view = push_overview(redis, db_session)
    assert (view["mailboxes"], view["on_push"], view["on_fallback"], view["fallback"]) == (0, 0, 0, [])
    assert view["last_notification"] is None and view["renewals"] == {"count": 0, "last": None}
