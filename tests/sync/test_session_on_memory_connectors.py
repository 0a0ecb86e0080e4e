"""A whole sync session on the in-memory connectors (which pass the same contract as the real ones against the
sandboxes): the engine runs on the protocols alone, with no exchangelib or simple-salesforce object in play."""

from __future__ import annotations

import datetime as dt

from calsync.database import make_session_factory
from sync import mailboxes
from sync.connectors.base import ItemChange, NewItem
from sync.entry import Entry
from sync.mapping.exchange import entry_from_exchange, entry_to_exchange
from sync.mapping.salesforce import event_to_salesforce
from sync.session import run_session
from tests.connectors.memory import MemoryCalendar, MemoryOrg

EMAIL, OWNER = "rep@example.com", "005000000000000001"
NOW = dt.datetime(2026, 12, 8, 9, tzinfo=dt.UTC)


def _entry(subject: str, days: int, **fields) -> Entry:
    start = NOW + dt.timedelta(days=days)
    return Entry(subject=subject, start=start, end=start + dt.timedelta(hours=1), time_zone="UTC", **fields)


def test_a_session_on_memory_connectors_syncs_both_ways_then_writes_nothing(db_engine):
    factory = make_session_factory(db_engine)
    with factory() as db:
        mailboxes.add(db, EMAIL, OWNER, time_zone="UTC")
        db.commit()
    calendar, org = MemoryCalendar(EMAIL), MemoryOrg(clock=NOW)
    [outlook] = calendar.create(
        [NewItem(entry_to_exchange(_entry("Pipeline review", 1, categories=("Salesforce",)))[0])]
    )
    fields, _ = event_to_salesforce(_entry("Renewal call", 2))
    [salesforce] = org.create("Event", [{**fields, "OwnerId": OWNER}])

    first = run_session(factory, EMAIL, salesforce=org, exchange=calendar, now=NOW)
    assert first.status == "ok" and first.writes == 2, first.to_json()
    events = org.changed_records("Event", ["Subject"], owner_id=OWNER, since=None)
    assert sorted(r["Subject"] for r in events if not r["IsDeleted"]) == ["Pipeline review", "Renewal call"]
    feed = calendar.changes(None)
    subjects = sorted(i.fields["subject"] for i in calendar.fetch([c.item_id for c in feed.changes]) if i)
    assert subjects == ["Pipeline review", "Renewal call"]

    quiet = run_session(factory, EMAIL, salesforce=org, exchange=calendar, now=NOW)
    assert quiet.status == "ok" and quiet.writes == 0, quiet.to_json()

    # An Outlook edit goes up; a Salesforce deletion untags the Outlook copy (defaults: two-way, keep).
    [item] = calendar.fetch([outlook.item_id])
    assert item is not None
    edited = entry_from_exchange(item.fields).entry.replace(subject="Pipeline review (moved)")
    calendar.update([_subject_change(item, edited)])
    org.delete([salesforce.id])
    third = run_session(factory, EMAIL, salesforce=org, exchange=calendar, now=NOW + dt.timedelta(minutes=10))
    assert third.status == "ok", third.to_json()
    events = org.changed_records("Event", ["Subject"], owner_id=OWNER, since=None)
    assert [r["Subject"] for r in events if not r["IsDeleted"]] == ["Pipeline review (moved)"]
    listed = calendar.fetch([c.item_id for c in calendar.changes(None).changes])
    assert sorted((i.fields["subject"], i.categories) for i in listed if i) == [
        ("Pipeline review (moved)", ("Salesforce",)),
        ("Renewal call", ()),
    ]
    assert (
        run_session(factory, EMAIL, salesforce=org, exchange=calendar, now=NOW + dt.timedelta(minutes=20)).writes == 0
    )


def _subject_change(item, entry) -> ItemChange:
    return ItemChange(item.item_id, item.change_key, {"subject": entry.subject})


def test_a_notifying_calendar_gets_no_write_to_a_meeting_with_attendees_but_a_health_note(db_engine):
    """`MemoryCalendar(notifies_attendees=True)` stands in for Graph: a Salesforce edit of the rep's meeting with
    attendees is held (`graph_would_notify`), the Outlook item keeps its subject; without attendees it is written."""
    from sqlalchemy import select

    from sync.models import HealthEntry

    factory = make_session_factory(db_engine)
    with factory() as db:
        mailboxes.add(db, EMAIL, OWNER, time_zone="UTC")
        db.commit()
    calendar, org = MemoryCalendar(EMAIL, notifies_attendees=True), MemoryOrg(clock=NOW)
    meeting = _entry("Pipeline review", 1, categories=("Salesforce",))
    [with_people, alone] = calendar.create(
        [
            NewItem(entry_to_exchange(meeting)[0] | {"required_attendees": ["ann@example.com", "bob@example.com"]}),
            NewItem(entry_to_exchange(meeting.replace(subject="Solo review"))[0]),
        ]  # fmt: skip
    )
    assert run_session(factory, EMAIL, salesforce=org, exchange=calendar, now=NOW).status == "ok"
    events = {r["Subject"]: r["Id"] for r in org.changed_records("Event", ["Subject"], owner_id=OWNER, since=None)}
    later = NOW + dt.timedelta(minutes=10)
    org.clock = later
    org.update("Event", [{"Id": events["Pipeline review"], "Subject": "Moved in Salesforce"},
                         {"Id": events["Solo review"], "Subject": "Solo moved"}])  # fmt: skip
    result = run_session(factory, EMAIL, salesforce=org, exchange=calendar, now=later)
    assert result.status == "ok" and result.updated["exchange"] == 1, result.to_json()
    subjects = {i.item_id: i.fields["subject"] for i in calendar.fetch([with_people.item_id, alone.item_id]) if i}
    assert subjects == {with_people.item_id: "Pipeline review", alone.item_id: "Solo moved"}
    with factory() as db:
        notes = [(h.code, h.item_ref) for h in db.scalars(select(HealthEntry).where(HealthEntry.status == "open"))]
    assert notes == [("graph_would_notify", f"exchange:{with_people.item_id}")]
