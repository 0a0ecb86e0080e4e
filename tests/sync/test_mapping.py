"""Mappings: Salesforce records and Exchange item dicts ⇄ Entry, all-day across zones and DST, limits as
MappingIssue codes, RRULE round trips."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from exchangelib import HTMLBody
from exchangelib.items import CalendarItem
from exchangelib.properties import Attendee as EwsAttendee
from exchangelib.properties import Mailbox
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.connectors.ews import recurrence as ews_recurrence
from sync.connectors.ews.mapping import calendar_item_to_dict, dict_to_calendar_item, plain_fields
from sync.entry import TASK, Entry, Recurrence, ShowAs, Side, project
from sync.mapping import issues as codes
from sync.mapping import recurrence as rec_map
from sync.mapping.exchange import (
    entry_from_exchange,
    entry_to_exchange,
    exchange_issues,
    exchange_update,
)
from sync.mapping.salesforce import (
    custom_from_salesforce,
    event_from_salesforce,
    event_to_salesforce,
    from_salesforce,
    record_meta,
    salesforce_issues,
    salesforce_roundtrip,
    salesforce_update,
    task_from_salesforce,
)
from sync.mapping.timezones import canonical_time_zone, exchange_supports, salesforce_supports
from sync.policies import CompletedTasks, CustomObjectMapping, Policy, TaskOptions

AKL = ZoneInfo("Pacific/Auckland")
LAX = ZoneInfo("America/Los_Angeles")


def sf_event(**fields) -> dict:
    record = {
        "attributes": {"type": "Event"},
        "Id": "00U1",
        "Subject": "Review",
        "StartDateTime": "2024-03-21T09:00:00.000+0000",
        "EndDateTime": "2024-03-21T10:00:00.000+0000",
        "IsAllDayEvent": False,
        "DurationInMinutes": 60,
        "ShowAs": "Busy",
        "IsPrivate": False,
        "CalSync_Key__c": "key-1",
        "SystemModstamp": "2024-03-20T08:00:00.000+0000",
        "IsDeleted": False,
    }
    record.update(fields)
    return record


def codes_of(result_or_issues) -> list[str]:
    issues = getattr(result_or_issues, "issues", result_or_issues)
    return sorted(i.code for i in issues)


# --- Salesforce ---------------------------------------------------------------------------------------


def test_salesforce_timed_event():
    result = event_from_salesforce(
        sf_event(WhoId="003A", WhatId="006B", Description="a\r\nb"), invitee_emails=["X@y.z"]
    )
    e = result.entry
    assert result.ok
    assert (e.start, e.end) == (datetime(2024, 3, 21, 9, tzinfo=UTC), datetime(2024, 3, 21, 10, tzinfo=UTC))
    assert (e.who_ids, e.what_id, e.body, e.attendees[0].email) == (("003A",), "006B", "a\nb", "x@y.z")
    meta = record_meta(sf_event())
    assert (meta.id, meta.sync_key, meta.is_deleted) == ("00U1", "key-1", False)
    assert meta.system_modstamp == datetime(2024, 3, 20, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    "fields,first,days",
    [
        (
            {"ActivityDate": "2024-04-07", "StartDateTime": "2024-04-07T00:00:00.000+0000", "DurationInMinutes": 1440},
            date(2024, 4, 7),
            1,
        ),
        ({"ActivityDate": "2024-03-10", "DurationInMinutes": 4320, "EndDateTime": None}, date(2024, 3, 10), 3),
        # Without a duration, EndDateTime is 00:00Z of the last day (inclusive).
        (
            {"ActivityDate": "2024-03-10", "DurationInMinutes": None, "EndDateTime": "2024-03-11T00:00:00.000+0000"},
            date(2024, 3, 10),
            2,
        ),
        (
            {
                "ActivityDate": None,
                "StartDateTime": "2024-03-10T00:00:00.000+0000",
                "DurationInMinutes": None,
                "EndDateTime": None,
            },
            date(2024, 3, 10),
            1,
        ),
    ],
)
def test_salesforce_all_day_events(fields, first, days):
    e = event_from_salesforce(sf_event(IsAllDayEvent=True, **fields), time_zone="Pacific/Auckland").entry
    assert (e.is_all_day, e.start_date, e.end_date, e.time_zone) == (
        True,
        first,
        first + timedelta(days=days),
        "Pacific/Auckland",
    )


def test_entry_to_salesforce_all_day_uses_activity_date_and_whole_days():
    entry = Entry(
        subject="Offsite",
        is_all_day=True,
        start_date=date(2024, 4, 6),
        end_date=date(2024, 4, 8),
        time_zone="Pacific/Auckland",
    )
    fields, issues = event_to_salesforce(entry, sync_key="k")
    assert issues == []
    assert fields["IsAllDayEvent"] is True
    assert (fields["ActivityDate"], fields["StartDateTime"], fields["DurationInMinutes"]) == (
        "2024-04-06",
        "2024-04-06T00:00:00Z",
        2880,
    )
    assert "EndDateTime" not in fields and fields["CalSync_Key__c"] == "k"
    assert event_from_salesforce(fields, time_zone="Pacific/Auckland").entry == entry


def test_salesforce_update_sends_only_changed_fields_and_time_as_a_group():
    old = event_from_salesforce(sf_event()).entry
    assert salesforce_update(old, old)[0] == {}
    assert salesforce_update(old, old.replace(subject="New"))[0] == {"Subject": "New"}
    moved = old.replace(end=old.end + timedelta(minutes=30))
    assert salesforce_update(old, moved)[0] == {
        "IsAllDayEvent": False,
        "StartDateTime": "2024-03-21T09:00:00Z",
        "EndDateTime": "2024-03-21T10:30:00Z",
    }
    assert salesforce_update(old, old.replace(what_id="006X"))[0] == {"WhatId": "006X"}


@pytest.mark.parametrize(
    "entry,code",
    [
        (
            Entry(subject="x" * 256, start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 1, 1, tzinfo=UTC)),
            codes.SUBJECT_TOO_LONG,
        ),
        (
            Entry(location="x" * 256, start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 1, 1, tzinfo=UTC)),
            codes.LOCATION_TOO_LONG,
        ),
        (
            Entry(body="x" * 32_001, start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 1, 1, tzinfo=UTC)),
            codes.DESCRIPTION_TOO_LONG,
        ),
        (
            Entry(start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 15, 0, 1, tzinfo=UTC)),
            codes.DURATION_OVER_14_DAYS,
        ),
        (Entry(is_all_day=True, start_date=date(2024, 1, 1), end_date=date(2024, 1, 16)), codes.DURATION_OVER_14_DAYS),
        (Entry(start=datetime(2024, 1, 2, tzinfo=UTC), end=datetime(2024, 1, 1, tzinfo=UTC)), codes.END_BEFORE_START),
        (Entry(is_all_day=True, start_date=date(2024, 1, 2), end_date=date(2024, 1, 2)), codes.END_BEFORE_START),
        (Entry(start=datetime(2024, 1, 1, tzinfo=UTC)), codes.MISSING_TIME),
        (
            Entry(
                start=datetime(2024, 1, 1, tzinfo=UTC),
                end=datetime(2024, 1, 1, 1, tzinfo=UTC),
                time_zone="US/Pacific",
                recurrence=Recurrence("FREQ=DAILY"),
            ),
            codes.UNSUPPORTED_TIME_ZONE,
        ),
        (
            Entry(
                start=datetime(2024, 1, 1, tzinfo=UTC),
                end=datetime(2024, 1, 1, 1, tzinfo=UTC),
                recurrence=Recurrence("FREQ=HOURLY"),
            ),
            codes.RECURRENCE_UNSUPPORTED,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_values_salesforce_rejects_become_issues(entry, code):
    assert code in codes_of(salesforce_issues(entry))
    fields, issues = event_to_salesforce(entry)
    assert code in codes_of(issues)


def test_fourteen_days_exactly_is_fine():
    entry = Entry(is_all_day=True, start_date=date(2024, 1, 1), end_date=date(2024, 1, 15))
    assert salesforce_issues(entry) == []


@pytest.mark.parametrize(
    "fields,code",
    [
        ({"StartDateTime": "not a date"}, codes.INVALID_VALUE),
        ({"EndDateTime": None, "DurationInMinutes": None}, codes.MISSING_TIME),
        ({"DurationInMinutes": "sixty", "EndDateTime": None}, codes.INVALID_VALUE),
        ({"Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYWEEKNO=20"}, codes.RECURRENCE_UNSUPPORTED),
        (
            {"Recurrence2PatternText": "RRULE:FREQ=DAILY", "Recurrence2PatternTimeZone": "Mars/Olympus"},
            codes.UNSUPPORTED_TIME_ZONE,
        ),
        ({"IsRecurrence2Exception": True}, codes.RECURRENCE_EXCEPTIONS_UNSUPPORTED),
        ({"ActivityDate": "2024-13-45", "IsAllDayEvent": True}, codes.INVALID_VALUE),
    ],
)
def test_bad_salesforce_values_become_issues(fields, code):
    result = event_from_salesforce(sf_event(**fields))
    assert result.entry is None and code in codes_of(result)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "Subject",
                "StartDateTime",
                "EndDateTime",
                "IsAllDayEvent",
                "ActivityDate",
                "DurationInMinutes",
                "ShowAs",
                "Recurrence2PatternText",
                "Recurrence2PatternTimeZone",
                "Description",
            ]
        ),
        st.one_of(
            st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.text(max_size=40), st.floats(allow_nan=True)
        ),
    )
)
def test_salesforce_mapping_never_raises(fields):
    result = event_from_salesforce(sf_event(**fields))
    assert (result.entry is None) == bool(result.issues)
    if result.entry is not None:
        salesforce_issues(result.entry)
        exchange_issues(result.entry)


# --- Tasks and custom objects -------------------------------------------------------------------------


def test_task_is_all_day_on_its_due_date():
    e = task_from_salesforce(
        {"Subject": "Send quote", "ActivityDate": "2024-03-22", "Status": "Not Started", "IsClosed": False},
        TaskOptions(),
        time_zone="Europe/Berlin",
    ).entry
    assert (e.kind, e.is_all_day, e.start_date, e.end_date, e.show_as) == (
        TASK,
        True,
        date(2024, 3, 22),
        date(2024, 3, 23),
        ShowAs.FREE,
    )
    assert e.categories == ("SF Task",)


def test_completed_task_is_marked_or_removed():
    record = {"Subject": "Send quote", "ActivityDate": "2024-03-22", "Status": "Completed", "IsClosed": True}
    marked = task_from_salesforce(record, TaskOptions()).entry
    assert marked.subject == "✓ Send quote" and marked.show_as is ShowAs.FREE
    removed = task_from_salesforce(record, TaskOptions(completed=CompletedTasks.REMOVE))
    assert removed.entry is None and removed.withdrawn and not removed.issues


def test_task_without_due_date_is_withdrawn_and_timed_tasks_keep_local_time_across_dst():
    assert task_from_salesforce({"Subject": "x", "ActivityDate": None}, TaskOptions()).withdrawn
    # 2024-03-10 is the US DST change day: 09:00 local is 16:00Z (PDT), not 17:00Z.
    e = task_from_salesforce(
        {"Subject": "x", "ActivityDate": "2024-03-10"}, TaskOptions(all_day=False), time_zone="America/Los_Angeles"
    ).entry
    assert e.start == datetime(2024, 3, 10, 16, tzinfo=UTC) and e.end - e.start == timedelta(minutes=30)


def test_custom_object_mappings():
    by_date = CustomObjectMapping(
        "Site_Visit__c", "Name", "SF Site Visit", date_field="Visit_Date__c", description_field="Notes__c"
    )
    e = custom_from_salesforce(
        {"Name": "Plant tour", "Visit_Date__c": "2024-03-22", "Notes__c": "Bring boots"}, by_date
    ).entry
    assert (e.kind, e.subject, e.start_date, e.body, e.categories) == (
        "custom:Site_Visit__c",
        "Plant tour",
        date(2024, 3, 22),
        "Bring boots",
        ("SF Site Visit",),
    )
    by_range = CustomObjectMapping("Install__c", "Name", "SF Install", start_field="Start__c", end_field="End__c")
    e = custom_from_salesforce(
        {"Name": "Install", "Start__c": "2024-03-22T08:00:00.000+0000", "End__c": "2024-03-22T12:00:00.000+0000"},
        by_range,
    ).entry
    assert (e.start, e.end) == (datetime(2024, 3, 22, 8, tzinfo=UTC), datetime(2024, 3, 22, 12, tzinfo=UTC))
    assert codes_of(custom_from_salesforce({"Name": "x"}, by_date)) == [codes.MISSING_FIELD, codes.MISSING_FIELD]
    assert custom_from_salesforce({"Name": "x", "Visit_Date__c": None, "Notes__c": None}, by_date).withdrawn
    policy = Policy(kind=by_date.kind, custom=by_date)
    assert from_salesforce({"Name": "x", "Visit_Date__c": "2024-03-22", "Notes__c": None}, policy).ok


# --- Exchange -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone,local_day",
    [
        ("Pacific/Auckland", date(2024, 4, 7)),  # NZ leaves DST that day: a 25-hour day
        ("Pacific/Auckland", date(2024, 9, 29)),  # NZ enters DST: 23 hours
        ("America/Los_Angeles", date(2024, 3, 10)),  # US enters DST: 23 hours
        ("America/Los_Angeles", date(2024, 11, 3)),  # US leaves DST: 25 hours
    ],
)
def test_all_day_items_keep_their_day_across_zones_and_dst(zone, local_day):
    tz = ZoneInfo(zone)
    # What EWS returns: midnight to next midnight in the item's zone, as instants.
    raw = {
        "subject": "Offsite",
        "is_all_day": True,
        "start": datetime.combine(local_day, datetime.min.time(), tzinfo=tz).astimezone(UTC),
        "end": datetime.combine(local_day + timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(UTC),
        "start_timezone": zone,
    }
    # What exchangelib returns after from_xml: dates, end inclusive.
    parsed = {**raw, "start": local_day, "end": local_day}
    for item in (raw, parsed):
        e = entry_from_exchange(item).entry
        assert (e.start_date, e.end_date, e.time_zone) == (local_day, local_day + timedelta(days=1), zone)
        # Salesforce gets the same calendar day, not the UTC day of the instant.
        fields, issues = event_to_salesforce(e)
        assert not issues and fields["ActivityDate"] == local_day.isoformat() and fields["DurationInMinutes"] == 1440
        back = event_from_salesforce(fields, time_zone=zone).entry
        out, issues = entry_to_exchange(back)
        assert not issues and (out["start"], out["end"], out["start_timezone"]) == (local_day, local_day, zone)
        assert project(back) == project(e)


def test_exchange_item_fields():
    item = {
        "subject": " Review ",
        "start": datetime(2024, 3, 21, 10, tzinfo=ZoneInfo("Europe/Berlin")),
        "end": datetime(2024, 3, 21, 11, tzinfo=ZoneInfo("Europe/Berlin")),
        "is_all_day": False,
        "body": HTMLBody("<html><body><p>Agenda</p><p>Budget</p></body></html>"),
        "legacy_free_busy_status": "OOF",
        "sensitivity": "Private",
        "required_attendees": [EwsAttendee(mailbox=Mailbox(email_address="Ann@Example.com"), response_type="Accept")],
        "optional_attendees": ["bob@example.com"],
        "categories": ["Salesforce"],
        "start_timezone": "W. Europe Standard Time",
    }
    e = entry_from_exchange(plain_fields(item)).entry  # exchangelib's values, as the EWS connector reads them
    assert (e.subject, e.body, e.show_as, e.is_private, e.time_zone) == (
        "Review",
        "Agenda\nBudget",
        ShowAs.OUT_OF_OFFICE,
        True,
        "Europe/Berlin",
    )
    assert [(a.email, a.response.value, a.optional) for a in e.attendees] == [
        ("ann@example.com", "accepted", False),
        ("bob@example.com", "unknown", True),
    ]
    assert e.start == datetime(2024, 3, 21, 9, tzinfo=UTC)
    # The HTML body Exchange returns and the text Salesforce holds are the same projection: no echo.
    sf = event_from_salesforce(event_to_salesforce(e)[0], invitee_emails=["ann@example.com", "bob@example.com"]).entry
    assert project(sf) == project(e)


def test_exchange_issues_and_updates():
    bad_zone = entry_from_exchange(
        {
            "subject": "x",
            "start": datetime(2024, 1, 1, tzinfo=UTC),
            "end": datetime(2024, 1, 1, 1, tzinfo=UTC),
            "start_timezone": "Mars/Olympus",
        }
    )
    assert codes_of(bad_zone) == [codes.UNSUPPORTED_TIME_ZONE]
    no_start = entry_from_exchange({"subject": "x", "start": None, "end": None})
    assert codes_of(no_start) == [codes.MISSING_TIME]
    naive = entry_from_exchange({"subject": "x", "start": datetime(2024, 1, 1), "end": datetime(2024, 1, 1, 1)})
    assert codes_of(naive) == [codes.INVALID_VALUE]
    old = entry_from_exchange(
        {"subject": "x", "start": datetime(2024, 1, 1, tzinfo=UTC), "end": datetime(2024, 1, 1, 1, tzinfo=UTC)}
    ).entry
    fields, _ = exchange_update(old, old.replace(subject="y", location="HQ"))
    assert set(fields) == {"subject", "location"}
    fields, _ = exchange_update(old, old.replace(end=old.end + timedelta(hours=1)), ["when"])
    assert set(fields) == {"start", "end", "is_all_day", "start_timezone"}


def test_calendar_item_adapters():
    e = entry_from_exchange(
        {
            "subject": "x",
            "start": datetime(2024, 1, 1, tzinfo=UTC),
            "end": datetime(2024, 1, 1, 1, tzinfo=UTC),
            "start_timezone": "Europe/Berlin",
        }
    ).entry
    data, issues = entry_to_exchange(e, sync_key="key-9")
    data.pop("calsync_key")  # registered by the connector; the adapter does not need it here
    item, update_fields = dict_to_calendar_item(data)
    assert isinstance(item, CalendarItem) and "subject" in update_fields and "_start_timezone" in update_fields
    assert item._start_timezone.key == "Europe/Berlin" and item.start == e.start
    assert project(entry_from_exchange(calendar_item_to_dict(item)).entry) == project(e)


# --- time zones and recurrence ------------------------------------------------------------------------


def test_time_zone_names():
    assert canonical_time_zone("Pacific Standard Time") == "America/Los_Angeles"
    assert canonical_time_zone("Etc/UTC") == "UTC"
    assert canonical_time_zone("Mars/Olympus") is None
    assert exchange_supports("Pacific/Auckland") and salesforce_supports("Pacific/Auckland")
    assert not salesforce_supports("US/Pacific") and not salesforce_supports("Nowhere")


ROUND_TRIP_RULES = [
    "FREQ=DAILY;INTERVAL=2;COUNT=10",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;UNTIL=20240630",
    "FREQ=WEEKLY;BYDAY=SU,TU;WKST=SU",
    "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=12",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;INTERVAL=3;BYDAY=2TU",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=10",
    "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
]


@pytest.mark.parametrize("rule", ROUND_TRIP_RULES)
def test_rrule_round_trips_through_exchange_and_salesforce(rule):
    rec = Recurrence(rule)
    start = date(2024, 3, 15)
    ews, issues = ews_recurrence.to_exchange(rec, start)
    assert issues == [] and ews is not None
    back, issues = ews_recurrence.from_exchange(ews)
    assert issues == [] and back == rec
    for zone in ("America/Los_Angeles", "Pacific/Auckland", "UTC"):
        text = rec_map.to_salesforce_text(rec, zone)
        assert text.startswith("RRULE:")
        again, issues = rec_map.from_salesforce_text(text, zone)
        assert issues == [] and again == rec


def test_every_weekday_maps_to_a_weekly_pattern_with_the_same_occurrences():
    rec = Recurrence("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=20")
    ews, _ = ews_recurrence.to_exchange(rec, date(2024, 3, 15))
    back, _ = ews_recurrence.from_exchange(ews)
    start = datetime(2024, 3, 15, 9)
    assert list(rrulestr(back.rrule, dtstart=start)) == list(rrulestr(rec.rrule, dtstart=start))


def test_salesforce_until_is_the_end_of_the_local_day():
    rec = Recurrence("FREQ=DAILY;UNTIL=20240331")
    assert rec_map.to_salesforce_text(rec, "America/Los_Angeles") == "RRULE:FREQ=DAILY;UNTIL=20240401T065959Z"
    assert rec_map.to_salesforce_text(rec, "Pacific/Auckland") == "RRULE:FREQ=DAILY;UNTIL=20240331T105959Z"
    parsed, _ = rec_map.from_salesforce_text("RRULE:FREQ=DAILY;UNTIL=20240331T105959Z", "Pacific/Auckland")
    assert parsed == rec


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY",
        "FREQ=WEEKLY;BYHOUR=9",
        "FREQ=YEARLY;INTERVAL=2",
        "FREQ=MONTHLY;BYDAY=MO,FR",
        "FREQ=MONTHLY;BYMONTHDAY=1,15",
        "FREQ=DAILY;COUNT=5000",
        "FREQ=DAILY;BYDAY=MO",
    ],
)
def test_unrepresentable_rules_are_issues(rule):
    assert codes_of(rec_map.recurrence_issues(Recurrence(rule), Side.EXCHANGE)) == [codes.RECURRENCE_UNSUPPORTED]
    entry = Entry(
        start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 1, 1, tzinfo=UTC), recurrence=Recurrence(rule)
    )
    assert codes.RECURRENCE_UNSUPPORTED in codes_of(exchange_issues(entry))
    assert codes.RECURRENCE_UNSUPPORTED in codes_of(salesforce_issues(entry))


def test_recurring_event_round_trip_between_sides():
    record = sf_event(
        Recurrence2PatternText="RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=TH", Recurrence2PatternTimeZone="Europe/Berlin"
    )
    e = event_from_salesforce(record).entry
    assert e.recurrence == Recurrence("FREQ=WEEKLY;BYDAY=TH") and e.time_zone == "Europe/Berlin"
    item, issues = entry_to_exchange(e)
    assert not issues and item["recurrence"] is not None
    assert project(entry_from_exchange(item).entry) == project(e)


def test_exchange_series_keeps_its_changed_and_deleted_occurrences():
    """Issue 23: a changed occurrence is an override keyed by its local date in the pattern; a deleted one an
    exdate; a Salesforce series holds both as occurrence Events (no issue)."""
    from exchangelib.recurrence import DeletedOccurrence

    from sync.entry import OccurrenceOverride

    tz = "America/New_York"
    first = datetime(2024, 1, 1, 14, tzinfo=UTC)  # 09:00 in New York
    e = Entry(start=first, end=first + timedelta(hours=1), time_zone=tz, recurrence=Recurrence("FREQ=DAILY;COUNT=5"))
    item, _ = entry_to_exchange(e)
    item["modified_occurrences"] = [
        {"original_start": first + timedelta(days=1), "start": first + timedelta(days=1, hours=2),
         "end": first + timedelta(days=1, hours=3), "subject": "Moved", "location": "Room 2"},
    ]  # fmt: skip
    item["deleted_occurrences"] = [DeletedOccurrence(start=first + timedelta(days=3))]
    got = entry_from_exchange(item).entry
    assert got.recurrence.exdates == (date(2024, 1, 4),)
    assert got.recurrence.overrides == (
        OccurrenceOverride(date(2024, 1, 2), first + timedelta(days=1, hours=2), first + timedelta(days=1, hours=3),
                           "Moved", "Room 2"),
    )  # fmt: skip
    assert salesforce_issues(got) == []
    assert project(salesforce_roundtrip(got))["recurrence"] == project(got)["recurrence"]


# -- all-day days from local midnights (issue 23) ---------------------------------------------------------
@pytest.mark.parametrize(
    "tz, day",
    [("America/New_York", date(2027, 3, 14)), ("America/New_York", date(2027, 11, 7)),
     ("America/Santiago", date(2027, 9, 5)), ("America/Santiago", date(2027, 9, 4)),
     ("Asia/Beirut", date(2027, 3, 28)), ("Asia/Beirut", date(2027, 10, 30))],
)  # fmt: skip
def test_all_day_bounds_from_ews_instants_give_the_local_day(tz, day):
    from sync.mapping.timezones import day_start

    item = {"subject": "Day", "is_all_day": True, "start_timezone": tz,
            "start": day_start(day, tz), "end": day_start(day + timedelta(days=1), tz)}  # fmt: skip
    entry = entry_from_exchange(item).entry
    assert (entry.start_date, entry.end_date) == (day, day + timedelta(days=1))
