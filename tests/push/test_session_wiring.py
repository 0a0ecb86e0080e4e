"""The session side of push, on the in-memory connectors: a ``full`` request reads the Exchange feed without
its cursor; the recording connectors record every write (and only successful ones) for echo suppression."""

from __future__ import annotations

import datetime as dt

from calsync.database import make_session_factory
from sync import mailboxes
from sync.connectors.base import NewItem
from sync.entry import Entry
from sync.mapping.exchange import entry_to_exchange
from sync.mapping.salesforce import event_to_salesforce
from sync.models import Mailbox
from sync.push import is_echo
from sync.push.echo import RecordingExchange, RecordingSalesforce
from sync.session import run_session
from tests.connectors.memory import MemoryCalendar, MemoryOrg

EMAIL, OWNER = "rep@example.com", "005000000000000001"
NOW = dt.datetime(2026, 12, 8, 9, tzinfo=dt.UTC)


class CursorSpy(MemoryCalendar):
    """Remembers the cursors the session read the feed from."""

    def __init__(self, email: str) -> None:
        super().__init__(email)
        self.cursors: list[str | None] = []

    def changes(self, cursor):
        self.cursors.append(cursor)
        return super().changes(cursor)


def _entry(subject: str, days: int, **fields) -> Entry:
    start = NOW + dt.timedelta(days=days)
    return Entry(subject=subject, start=start, end=start + dt.timedelta(hours=1), time_zone="UTC", **fields)


def _setup(db_engine):
    factory = make_session_factory(db_engine)
    with factory() as db:
        mailbox = mailboxes.add(db, EMAIL, OWNER, time_zone="UTC")
        db.commit()
        return factory, mailbox.id


def test_a_full_request_reads_the_exchange_feed_from_scratch(db_engine):
    factory, mailbox_id = _setup(db_engine)
    calendar, org = CursorSpy(EMAIL), MemoryOrg(clock=NOW)
    calendar.create([NewItem(entry_to_exchange(_entry("Pipeline review", 1, categories=("Salesforce",)))[0])])
    assert run_session(factory, EMAIL, salesforce=org, exchange=calendar, now=NOW).status == "ok"
    with factory() as db:
        cursor = db.get(Mailbox, mailbox_id).exchange_sync_state
    assert cursor is not None
    calendar.cursors.clear()
    assert run_session(factory, EMAIL, salesforce=org, exchange=calendar, now=NOW).writes == 0
    assert calendar.cursors[0] == cursor  # an ordinary session trusts its cursor
    calendar.cursors.clear()
    full = run_session(factory, EMAIL, salesforce=org, exchange=calendar, now=NOW, full_exchange=True)
    assert full.status == "ok" and full.writes == 0  # everything listed again, nothing to write
    assert calendar.cursors[0] is None
    with factory() as db:
        assert db.get(Mailbox, mailbox_id).exchange_sync_state is not None  # a new cursor once it finished


def test_recording_connectors_record_every_successful_write(db_engine, redis):
    factory, mailbox_id = _setup(db_engine)
    # The org's clock a little behind ours, as a real org's SystemModstamp is behind our write's end.
    calendar, org = MemoryCalendar(EMAIL), MemoryOrg(clock=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30))
    calendar.create([NewItem(entry_to_exchange(_entry("Pipeline review", 1, categories=("Salesforce",)))[0])])
    fields, _ = event_to_salesforce(_entry("Renewal call", 2))
    org.create("Event", [{**fields, "OwnerId": OWNER}])
    before = {r["Id"]: r["SystemModstamp"] for r in org.changed_records("Event", [], owner_id=OWNER, since=None)}
    keys_before = {c.item_id: c.change_key for c in calendar.changes(None).changes}
    exchange = RecordingExchange(calendar, redis, mailbox_id)
    salesforce = RecordingSalesforce(org, redis, mailbox_id)
    result = run_session(factory, EMAIL, salesforce=salesforce, exchange=exchange, now=NOW)
    assert result.status == "ok" and result.api_calls["exchange"] == calendar.usage.calls  # delegated
    # Exchange: every item the session wrote (the Salesforce event created in Outlook) is an echo at its change
    # key, not at another; an item it did not touch (the user's) is not.
    items = calendar.fetch([c.item_id for c in calendar.changes(None).changes])
    written = [i for i in items if keys_before.get(i.item_id) != i.change_key]
    assert [i.fields["subject"] for i in written] == ["Renewal call"] and exchange.recorded == 1
    for item in items:
        assert is_echo(redis, mailbox_id, "exchange", item.item_id, item.change_key) == (item in written)
        assert not is_echo(redis, mailbox_id, "exchange", item.item_id, "an older change key")
    # Salesforce: the event created from Outlook, and any the session updated, are echoes; one it did not touch
    # is not (it was the user's create).
    after = org.changed_records("Event", ["Subject"], owner_id=OWNER, since=None)
    created = next(r for r in after if r["Subject"] == "Pipeline review")
    assert is_echo(redis, mailbox_id, "salesforce", created["Id"], created["SystemModstamp"])
    for record in after:
        touched = record["SystemModstamp"] != before.get(record["Id"])
        assert is_echo(redis, mailbox_id, "salesforce", record["Id"], record["SystemModstamp"]) == touched
    assert not redis.keys("calsync:push:writing:*")  # no marker left behind
