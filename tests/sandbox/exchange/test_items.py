"""CreateItem / GetItem / UpdateItem / DeleteItem through exchangelib: a round trip of every CalendarItem field
exchangelib can set, all-day normalisation, change keys and conflicts, deletes and the invitation log."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import (
    Attendee,
    Body,
    CalendarItem,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    ExtendedProperty,
    HTMLBody,
    Mailbox,
)
from exchangelib.errors import ErrorIrresolvableConflict, ErrorItemNotFound

from sandbox import seed

from .conftest import ALICE, BOB

LONDON = EWSTimeZone("Europe/London")
NEW_YORK = EWSTimeZone("America/New_York")
BERLIN = EWSTimeZone("Europe/Berlin")


class SyncKey(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "CalSyncKey"
    property_type = "String"


class Counter(ExtendedProperty):
    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "Counter"
    property_type = "Integer"


class Flag(ExtendedProperty):
    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_id = 0x8101
    property_type = "Boolean"


class When(ExtendedProperty):
    distinguished_property_set_id = "Common"
    property_name = "SyncedAt"
    property_type = "SystemTime"


class Blob(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "Blob"
    property_type = "Binary"


class Tagged(ExtendedProperty):
    property_tag = 0x3A4F  # PR_MIDDLE_NAME-ish string tag, outside the named range
    property_type = "String"


class Names(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "Names"
    property_type = "StringArray"


class Numbers(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "Numbers"
    property_type = "IntegerArray"


class Times(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "Times"
    property_type = "SystemTimeArray"


class Blobs(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "Blobs"
    property_type = "BinaryArray"


EXTENDED = {
    "x_sync_key": (SyncKey, "key-123"),
    "x_counter": (Counter, 42),
    "x_flag": (Flag, True),
    "x_when": (When, EWSDateTime(2026, 3, 1, 8, 30, tzinfo=EWSTimeZone("UTC"))),
    "x_blob": (Blob, b"\x00\x01binary\xff"),
    "x_tagged": (Tagged, "tagged value"),
    "x_names": (Names, ["a", "b", "c"]),
    "x_numbers": (Numbers, [1, -2, 300]),
    "x_times": (
        Times,
        [EWSDateTime(2026, 1, 1, tzinfo=EWSTimeZone("UTC")), EWSDateTime(2026, 2, 1, tzinfo=EWSTimeZone("UTC"))],
    ),
    "x_blobs": (Blobs, [b"one", b"two"]),
}


@pytest.fixture(scope="module", autouse=True)
def _registered_properties():
    for name, (cls, _) in EXTENDED.items():
        CalendarItem.register(name, cls)
    yield
    for name in EXTENDED:
        CalendarItem.deregister(name)


def test_round_trip_of_every_settable_field(env, alice):
    start = EWSDateTime(2026, 12, 1, 10, 0, tzinfo=LONDON)
    item = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="Quarterly review with Acme",
        body=HTMLBody("<html><body><p>Agenda &amp; notes</p></body></html>"),
        start=start,
        end=EWSDateTime(2026, 12, 1, 14, 30, tzinfo=NEW_YORK),
        location="Acme HQ",
        categories=["Salesforce", "Customer"],
        sensitivity="Private",
        legacy_free_busy_status="Tentative",
        importance="High",
        reminder_is_set=True,
        reminder_minutes_before_start=45,
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address=BOB.email), response_type="Accept"),
            Attendee(mailbox=Mailbox(email_address="wile.coyote@acme.test"), response_type="Tentative"),
        ],
        optional_attendees=[
            Attendee(mailbox=Mailbox(email_address="peter.gibbons@prospect.test"), response_type="Unknown")
        ],
        uid="my-own-uid-123",
        **{name: value for name, (_, value) in EXTENDED.items()},
    )
    item.save(send_meeting_invitations="SendToNone")
    assert item.id and item.changekey

    got = alice.calendar.get(id=item.id)
    assert got.subject == "Quarterly review with Acme"
    assert isinstance(got.body, HTMLBody) and got.body == item.body
    assert got.text_body.strip() == "Agenda & notes"
    assert got.start == start and got.end == EWSDateTime(2026, 12, 1, 14, 30, tzinfo=NEW_YORK)
    assert got._start_timezone == LONDON and got._end_timezone == NEW_YORK
    assert got.location == "Acme HQ"
    assert got.categories == ["Salesforce", "Customer"]
    assert got.sensitivity == "Private"
    assert got.legacy_free_busy_status == "Tentative"
    assert got.importance == "High"
    assert got.reminder_is_set is True and got.reminder_minutes_before_start == 45
    assert got.is_all_day is False
    assert got.uid == "my-own-uid-123"
    assert got.organizer.email_address == ALICE.email and got.organizer.name == ALICE.name
    required = [(a.mailbox.email_address, a.response_type, a.mailbox.name) for a in got.required_attendees]
    assert required == [(BOB.email, "Accept", BOB.name), ("wile.coyote@acme.test", "Tentative", "Wile Coyote")]
    assert [(a.mailbox.email_address, a.response_type) for a in got.optional_attendees] == [
        ("peter.gibbons@prospect.test", "Unknown")
    ]
    assert got.is_meeting is True and got.my_response_type == "Organizer"
    assert got.is_cancelled is False and got.type == "Single" and got.is_recurring is False
    assert got.datetime_created is not None and got.last_modified_time >= got.datetime_created
    assert got.item_class == "IPM.Appointment"
    for name, (_, value) in EXTENDED.items():
        assert getattr(got, name) == value, name
    # Nothing was sent: the call said SendToNone.
    log = env.log()
    assert [c["setting"] for c in log["calls"]] == ["SendToNone"] and log["invitations"] == []


def test_plain_text_body_and_generated_uid(alice):
    item = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="Text",
        body=Body("line 1\nline 2"),
        start=EWSDateTime(2026, 5, 1, 9, tzinfo=BERLIN),
        end=EWSDateTime(2026, 5, 1, 10, tzinfo=BERLIN),
    )
    item.save(send_meeting_invitations="SendToNone")
    got = alice.calendar.get(id=item.id)
    assert type(got.body) is Body and got.body == "line 1\nline 2"
    assert got.uid and len(got.uid) > 20
    assert got.is_meeting is False and got.organizer.email_address == ALICE.email
    again = alice.calendar.get(id=item.id)
    assert again.uid == got.uid  # stable


def test_all_day_items_run_midnight_to_midnight_in_their_zone(alice):
    item = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="Offsite",
        is_all_day=True,
        start=EWSDate(2026, 3, 28),
        end=EWSDate(2026, 3, 29),  # across the London DST change (29 March)
    )
    item.save(send_meeting_invitations="SendToNone")
    got = alice.calendar.get(id=item.id)
    assert got.is_all_day is True
    assert (got.start, got.end) == (EWSDate(2026, 3, 28), EWSDate(2026, 3, 29))
    # A non-midnight all-day item is widened to whole days in its start time zone.
    odd = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="Odd",
        is_all_day=True,
        start=EWSDateTime(2026, 6, 10, 13, 15, tzinfo=BERLIN),
        end=EWSDateTime(2026, 6, 11, 9, 0, tzinfo=BERLIN),
    )
    odd.save(send_meeting_invitations="SendToNone")
    raw = alice.calendar.filter(subject="Odd").only("start", "end", "is_all_day", "_start_timezone", "_end_timezone")
    got = list(raw)[0]
    assert got.start == EWSDate(2026, 6, 10) and got.end == EWSDate(2026, 6, 11)


def test_update_set_append_delete_fields_and_change_keys(env, alice):
    item = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="Before",
        location="Room 1",
        categories=["A"],
        start=EWSDateTime(2026, 7, 1, 9, tzinfo=LONDON),
        end=EWSDateTime(2026, 7, 1, 10, tzinfo=LONDON),
        x_sync_key="k1",
    )
    item.save(send_meeting_invitations="SendToNone")
    first_key = item.changekey
    item.subject = "After"
    item.location = None  # DeleteItemField
    item.x_sync_key = "k2"  # SetItemField with ExtendedFieldURI
    item.x_counter = 7
    item.save(update_fields=["subject", "location", "x_sync_key", "x_counter"], send_meeting_invitations="SendToNone")
    assert item.changekey != first_key
    got = alice.calendar.get(id=item.id)
    assert (got.subject, got.location, got.x_sync_key, got.x_counter) == ("After", None, "k2", 7)
    assert got.changekey == item.changekey
    # Deleting an extended property.
    item.x_counter = None
    item.save(update_fields=["x_counter"], send_meeting_invitations="SendToNone")
    assert alice.calendar.get(id=item.id).x_counter is None
    # AppendToItemField (exchangelib's item.body append path is not public; send it directly).
    from exchangelib.services import UpdateItem

    got = alice.calendar.get(id=item.id)
    got.body = Body("first")
    got.save(update_fields=["body"], send_meeting_invitations="SendToNone")
    svc = UpdateItem(account=alice)
    payload = svc.get_payload(
        items=[(got, ["body"])],
        conflict_resolution="AlwaysOverwrite",
        message_disposition="SaveOnly",
        send_meeting_invitations_or_cancellations="SendToNone",
        suppress_read_receipts=True,
    )
    for change in payload.iter("{http://schemas.microsoft.com/exchange/services/2006/types}SetItemField"):
        change.tag = "{http://schemas.microsoft.com/exchange/services/2006/types}AppendToItemField"
    list(svc._get_elements(payload=payload))
    assert alice.calendar.get(id=item.id).body == "firstfirst"
    assert env.log()["invitations"] == []


def test_stale_change_key_conflicts(alice):
    item = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="v1",
        location="L1",
        start=EWSDateTime(2026, 7, 2, 9, tzinfo=LONDON),
        end=EWSDateTime(2026, 7, 2, 10, tzinfo=LONDON),
    )
    item.save(send_meeting_invitations="SendToNone")
    stale = alice.calendar.get(id=item.id)
    item.subject = "v2"
    item.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    # AutoResolve (exchangelib's default): a stale key writing a field changed since -> conflict ...
    stale.subject = "v2 from elsewhere"
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    # ... but a stale key writing only untouched fields merges.
    stale.location = "L2"
    stale.save(update_fields=["location"], send_meeting_invitations="SendToNone")
    got = alice.calendar.get(id=item.id)
    assert (got.subject, got.location) == ("v2", "L2")
    # NeverOverwrite refuses any stale key; AlwaysOverwrite ignores it (via bulk_update's conflict_resolution).
    stale = alice.calendar.get(id=item.id)
    item.refresh()
    item.subject = "v3"
    item.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    stale.location = "L3"
    # A conflict aborts the whole bulk_update (exchangelib raises it rather than returning it inline).
    with pytest.raises(ErrorIrresolvableConflict):
        alice.bulk_update(
            [(stale, ["location"])],
            conflict_resolution="NeverOverwrite",
            send_meeting_invitations_or_cancellations="SendToNone",
        )
    result = alice.bulk_update(
        [(stale, ["location"])],
        conflict_resolution="AlwaysOverwrite",
        send_meeting_invitations_or_cancellations="SendToNone",
    )
    assert result[0][0] == item.id
    assert alice.calendar.get(id=item.id).location == "L3"


def _item(account, subject, **kw):
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime(2026, 8, 3, 9, tzinfo=LONDON),
        end=EWSDateTime(2026, 8, 3, 10, tzinfo=LONDON),
        **kw,
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


def test_delete_types_and_missing_items(env, alice):
    hard, soft, moved = _item(alice, "hard"), _item(alice, "soft"), _item(alice, "moved")
    hard_id, moved_id = hard.id, moved.id  # exchangelib forgets the id of a deleted item
    hard.delete(send_meeting_cancellations="SendToNone")  # HardDelete
    soft.soft_delete(send_meeting_cancellations="SendToNone")  # SoftDelete
    moved.move_to_trash(send_meeting_cancellations="SendToNone")  # MoveToDeletedItems
    assert alice.calendar.all().count() == 0
    assert [i.subject for i in alice.trash.all()] == ["moved"]
    # Missing items come back inline (not raised) in bulk results, and raise on a single delete.
    results = list(alice.fetch(ids=[(hard_id, None), (moved_id, None)]))
    assert isinstance(results[0], ErrorItemNotFound) and results[1].subject == "moved"
    results = alice.bulk_delete([(hard_id, None)], send_meeting_cancellations="SendToNone")
    assert isinstance(results[0], ErrorItemNotFound)
    deletes = [c for c in env.log()["calls"] if c["operation"] == "DeleteItem"]
    assert [c["setting"] for c in deletes] == ["SendToNone"] * 3
    assert env.log()["requests"]["DeleteItem"] == 4


def test_invitations_and_cancellations_are_logged_when_sent(env, alice):
    attendees = [Attendee(mailbox=Mailbox(email_address=BOB.email), response_type="Unknown")]
    meeting = _item(alice, "Sent meeting", required_attendees=attendees)
    quiet = _item(alice, "Quiet meeting", required_attendees=attendees)
    sent = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="Invite!",
        required_attendees=attendees,
        start=EWSDateTime(2026, 8, 4, 9, tzinfo=LONDON),
        end=EWSDateTime(2026, 8, 4, 10, tzinfo=LONDON),
    )
    sent.save(send_meeting_invitations="SendToAllAndSaveCopy")
    meeting.delete(send_meeting_cancellations="SendToAllAndSaveCopy")
    quiet.delete(send_meeting_cancellations="SendToNone")
    log = env.log()
    assert [(i["subject"], i["recipients"]) for i in log["invitations"]] == [("Invite!", [BOB.email])]
    assert [c["subject"] for c in log["cancellations"]] == ["Sent meeting"]


def test_bulk_create_and_fetch(alice):
    items = [
        CalendarItem(
            account=alice,
            folder=alice.calendar,
            subject=f"bulk {n}",
            start=EWSDateTime(2026, 9, 1, 9, tzinfo=LONDON) + dt.timedelta(days=n),
            end=EWSDateTime(2026, 9, 1, 10, tzinfo=LONDON) + dt.timedelta(days=n),
        )
        for n in range(30)
    ]
    created = alice.bulk_create(folder=alice.calendar, items=items, send_meeting_invitations="SendToNone")
    assert len({c.id for c in created}) == 30
    fetched = list(alice.fetch(ids=created))
    assert [f.subject for f in fetched] == [f"bulk {n}" for n in range(30)]


def test_attended_meeting_from_demo_seed(make_env):
    env = make_env(seed="demo")
    bob = env.account(BOB)
    attended = [i for i in bob.calendar.all() if i.organizer and i.organizer.email_address != BOB.email]
    assert attended, "the demo seed gives reps meetings organised by other reps"
    meeting = attended[0]
    assert meeting.my_response_type == "Accept" and meeting.is_meeting
    organizer = next(r for r in seed.REPS if r.email == meeting.organizer.email_address)
    theirs = [i for i in env.account(organizer).calendar.all() if i.uid == meeting.uid]
    assert len(theirs) == 1 and theirs[0].my_response_type == "Organizer"
