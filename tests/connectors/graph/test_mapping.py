"""Graph JSON ⇄ plain item fields, without a server: every pattern type both ways, all-day bounds on DST days,
attendees, the cursor. (The connector against the Graph sandbox: tests/e2e/test_graph_connector*.py.)"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from sync.connectors.graph.feed import Cursor
from sync.connectors.graph.mapping import (
    SYNC_KEY_PROPERTY_ID,
    event_fields,
    graph_body,
    pattern_from_graph,
    pattern_to_graph,
    transaction_id,
)
from sync.entry import Recurrence
from sync.mapping.exchange import entry_from_exchange
from sync.mapping.recurrence import from_exchange_pattern, to_exchange_pattern

UTC = dt.UTC


@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=DAILY;INTERVAL=2;COUNT=10",
        "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,WE,FR;WKST=MO;UNTIL=20270331",
        "FREQ=WEEKLY;INTERVAL=3;BYDAY=TU;WKST=SU",
        "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=15",
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR",
        "FREQ=MONTHLY;INTERVAL=1;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1",
        "FREQ=MONTHLY;INTERVAL=1;BYDAY=SA,SU;BYSETPOS=-1",
        "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=14",
        "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
    ],
)
def test_every_pattern_goes_to_graph_and_back(rrule):
    pattern, issues = to_exchange_pattern(Recurrence(rrule), dt.date(2027, 1, 4))
    assert issues == [] and pattern is not None
    wire = pattern_to_graph(pattern, "Europe/Berlin")
    assert wire["range"]["recurrenceTimeZone"] == "W. Europe Standard Time"
    back = pattern_from_graph(wire)
    assert back == pattern
    assert from_exchange_pattern(back)[0] == from_exchange_pattern(pattern)[0]


def test_a_graph_event_reads_as_the_plain_fields_ews_gives():
    event = {
        "id": "AAk=", "changeKey": "ck1", "subject": "Review", "isAllDay": False,
        "body": {"contentType": "html", "content": "<p>Agenda</p>"},
        "start": {"dateTime": "2027-03-14T13:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2027-03-14T14:30:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "Eastern Standard Time", "showAs": "oof", "sensitivity": "private",
        "location": {"displayName": "Room 4"}, "categories": ["Salesforce"],
        "attendees": [
            {"type": "required", "status": {"response": "accepted"}, "emailAddress": {"address": "a@x.example",
                                                                                     "name": "A"}},
            {"type": "optional", "status": {"response": "none"}, "emailAddress": {"address": "b@x.example"}},
        ],
        "singleValueExtendedProperties": [{"id": SYNC_KEY_PROPERTY_ID, "value": "key-1"}],
    }  # fmt: skip
    fields = event_fields(event)
    assert fields["start"] == dt.datetime(2027, 3, 14, 13, tzinfo=UTC)
    assert fields["start_timezone"] == "America/New_York" and fields["body_type"] == "HTML"
    assert fields["legacy_free_busy_status"] == "OOF" and fields["sensitivity"] == "Private"
    assert fields["required_attendees"] == [{"email": "a@x.example", "name": "A", "response": "Accept"}]
    assert fields["optional_attendees"] == [{"email": "b@x.example", "name": "", "response": "Unknown"}]
    assert fields["calsync_key"] == "key-1"
    entry = entry_from_exchange(fields).entry
    assert entry.time_zone == "America/New_York" and entry.is_private and entry.body == "Agenda"
    assert [a.optional for a in entry.attendees] == [False, True]


@pytest.mark.parametrize(
    ("tz", "day", "start_utc", "end_utc"),
    [
        ("America/New_York", dt.date(2027, 3, 14), "2027-03-14T05:00:00", "2027-03-15T04:00:00"),  # 23 h
        ("Europe/Berlin", dt.date(2027, 10, 31), "2027-10-30T22:00:00", "2027-10-31T23:00:00"),  # 25 h
        ("America/Santiago", dt.date(2027, 9, 5), "2027-09-05T04:00:00", "2027-09-06T03:00:00"),  # no midnight
    ],
)
def test_all_day_bounds_are_the_days_first_instants_in_the_items_zone(tz, day, start_utc, end_utc):
    body = graph_body({"is_all_day": True, "start": day, "end": day, "start_timezone": tz})  # end inclusive
    start = dt.datetime.fromisoformat(body["start"]["dateTime"]).replace(tzinfo=ZoneInfo(tz))
    end = dt.datetime.fromisoformat(body["end"]["dateTime"]).replace(tzinfo=ZoneInfo(tz))
    assert start.astimezone(UTC).isoformat()[:19] == start_utc and end.astimezone(UTC).isoformat()[:19] == end_utc
    read = event_fields({"isAllDay": True, "originalStartTimeZone": tz,
                         "start": {"dateTime": start_utc, "timeZone": "UTC"},
                         "end": {"dateTime": end_utc, "timeZone": "UTC"}})  # fmt: skip
    entry = entry_from_exchange(read).entry
    assert (entry.start_date, entry.end_date) == (day, day + dt.timedelta(days=1))


def test_an_update_body_carries_only_the_given_fields():
    assert graph_body({"categories": None}) == {"categories": []}
    assert graph_body({"location": None, "subject": "S"}) == {"location": {"displayName": ""}, "subject": "S"}
    both = graph_body({"required_attendees": [{"email": "a@x.example", "name": ""}], "optional_attendees": None})
    assert both == {"attendees": [{"type": "required", "emailAddress": {"address": "a@x.example"}}]}
    start = dt.datetime(2027, 1, 4, 9, tzinfo=UTC)
    timed = graph_body({"start": start}, fallback_zone="Europe/Berlin")
    assert timed == {"start": {"dateTime": "2027-01-04T10:00:00", "timeZone": "W. Europe Standard Time"}}
    assert transaction_id("key-1") == transaction_id("key-1") != transaction_id("key-2")


def test_the_cursor_keeps_link_and_window_and_refuses_what_is_not_ours():
    lo, hi = dt.datetime(2027, 1, 1, tzinfo=UTC), dt.datetime(2027, 3, 1, tzinfo=UTC)
    cursor = Cursor("https://graph.example/v1.0/users/x/calendarView/delta?$deltatoken=abc", lo, hi)
    back = Cursor.decode(cursor.encode())
    assert back == cursor and back.covers(lo + dt.timedelta(days=1), hi) and not back.covers(lo, hi + dt.timedelta(1))
    for text in (None, "", "H4sIAAAAAAAEAO29B2AcSZYlJi9tynt", "graph1.!!!", "graph1.e30"):
        assert Cursor.decode(text) is None
