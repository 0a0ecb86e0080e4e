"""Recurring series through exchangelib: every pattern and range round trips, masters carry First/Last/Modified/
Deleted occurrences, CalendarView expands series, and occurrences can be modified and deleted."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorCalendarOccurrenceIsDeletedFromRecurrence, ErrorRecurrenceHasNoOccurrence
from exchangelib.properties import OccurrenceItemId
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

LONDON = EWSTimeZone("Europe/London")
START = EWSDateTime(2026, 3, 2, 9, 0, tzinfo=LONDON)  # a Monday, the 2nd


def _series(account, recurrence, subject="series", start=START, minutes=60):
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=start,
        end=start + dt.timedelta(minutes=minutes),
        recurrence=recurrence,
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


PATTERNS = [
    DailyPattern(interval=2),
    WeeklyPattern(interval=1, weekdays=["Monday", "Wednesday"], first_day_of_week="Monday"),
    AbsoluteMonthlyPattern(interval=1, day_of_month=2),
    RelativeMonthlyPattern(interval=1, weekday="Monday", week_number="First"),
    AbsoluteYearlyPattern(day_of_month=2, month="March"),
    RelativeYearlyPattern(weekday="Monday", week_number="First", month="March"),
]
BOUNDARIES = [
    NoEndPattern(start=EWSDate(2026, 3, 2)),
    EndDatePattern(start=EWSDate(2026, 3, 2), end=EWSDate(2027, 12, 31)),
    NumberedPattern(start=EWSDate(2026, 3, 2), number=5),
]


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: type(p).__name__)
def test_every_pattern_and_range_round_trips(alice, pattern):
    for boundary in BOUNDARIES:
        recurrence = Recurrence(pattern=pattern, boundary=boundary)
        item = _series(alice, recurrence)
        got = alice.calendar.get(id=item.id)
        assert got.recurrence == recurrence
        assert got.type == "RecurringMaster" and got.is_recurring is False
        assert got.first_occurrence.start == START
        if isinstance(boundary, NoEndPattern):
            assert got.last_occurrence is None
        else:
            assert got.last_occurrence.start > got.first_occurrence.start


def test_master_moves_to_its_first_occurrence(alice):
    # The master says Monday 2 March but the pattern is Wednesdays: Exchange moves it to Wednesday 4 March.
    item = _series(
        alice,
        Recurrence(pattern=WeeklyPattern(interval=1, weekdays=["Wednesday"]), start=EWSDate(2026, 3, 2), number=3),
    )
    got = alice.calendar.get(id=item.id)
    assert got.start == EWSDateTime(2026, 3, 4, 9, tzinfo=LONDON)


def test_pattern_without_occurrences_is_refused(alice):
    recurrence = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=["Monday"]), start=EWSDate(2026, 3, 3), end=EWSDate(2026, 3, 8)
    )
    with pytest.raises(ErrorRecurrenceHasNoOccurrence):
        _series(alice, recurrence)


def test_modified_and_deleted_occurrences(alice):
    weekly = Recurrence(pattern=WeeklyPattern(interval=1, weekdays=["Monday"]), start=EWSDate(2026, 3, 2), number=6)
    master = _series(alice, weekly, subject="Weekly")
    # Modify the third occurrence (OccurrenceItemId with InstanceIndex).
    third = master.occurrence(index=3)
    third.refresh()
    assert third.type == "Occurrence" and third.start == EWSDateTime(2026, 3, 16, 9, tzinfo=LONDON)
    third.subject = "Weekly (moved)"
    third.start = EWSDateTime(2026, 3, 17, 11, tzinfo=LONDON)
    third.end = EWSDateTime(2026, 3, 17, 12, tzinfo=LONDON)
    third.save(update_fields=["subject", "start", "end"], send_meeting_invitations="SendToNone")
    # Delete the fifth.
    fifth = master.occurrence(index=5)
    fifth.refresh()
    fifth.delete(send_meeting_cancellations="SendToNone")
    with pytest.raises(ErrorCalendarOccurrenceIsDeletedFromRecurrence):
        master.occurrence(index=5).refresh()

    got = alice.calendar.get(id=master.id)
    assert got.subject == "Weekly"
    assert [(o.original_start, o.start) for o in got.modified_occurrences] == [
        (EWSDateTime(2026, 3, 16, 9, tzinfo=LONDON), EWSDateTime(2026, 3, 17, 11, tzinfo=LONDON))
    ]
    assert [d.start for d in got.deleted_occurrences] == [EWSDateTime(2026, 3, 30, 9, tzinfo=LONDON)]
    assert got.last_occurrence.start == EWSDateTime(2026, 4, 6, 9, tzinfo=LONDON)

    view = list(
        alice.calendar.view(start=EWSDateTime(2026, 3, 1, tzinfo=LONDON), end=EWSDateTime(2026, 4, 30, tzinfo=LONDON))
    )
    assert [(i.type, i.subject, i.start.astimezone(LONDON).date()) for i in view] == [
        ("Occurrence", "Weekly", dt.date(2026, 3, 2)),
        ("Occurrence", "Weekly", dt.date(2026, 3, 9)),
        ("Exception", "Weekly (moved)", dt.date(2026, 3, 17)),
        ("Occurrence", "Weekly", dt.date(2026, 3, 23)),
        ("Occurrence", "Weekly", dt.date(2026, 4, 6)),
    ]
    # An occurrence id from the view reaches that occurrence.
    exception = alice.calendar.get(id=view[2].id)
    assert exception.subject == "Weekly (moved)" and exception.original_start == EWSDateTime(
        2026, 3, 16, 9, tzinfo=LONDON
    )


def test_calendar_view_keeps_local_time_across_dst_and_mixes_singles(alice):
    _series(
        alice,
        Recurrence(pattern=DailyPattern(interval=7), start=EWSDate(2026, 3, 23), number=3),
        start=EWSDateTime(2026, 3, 23, 9, tzinfo=LONDON),
    )
    single = CalendarItem(
        account=alice,
        folder=alice.calendar,
        subject="single",
        start=EWSDateTime(2026, 3, 31, 15, tzinfo=LONDON),
        end=EWSDateTime(2026, 3, 31, 16, tzinfo=LONDON),
    )
    single.save(send_meeting_invitations="SendToNone")
    view = list(
        alice.calendar.view(start=EWSDateTime(2026, 3, 20, tzinfo=LONDON), end=EWSDateTime(2026, 4, 10, tzinfo=LONDON))
    )
    local_times = [(i.subject, i.start.astimezone(LONDON).strftime("%m-%d %H:%M")) for i in view]
    assert local_times == [
        ("series", "03-23 09:00"),
        ("series", "03-30 09:00"),
        ("single", "03-31 15:00"),
        ("series", "04-06 09:00"),
    ]
    # 09:00 London is 09:00Z before the DST change and 08:00Z after.
    assert [i.start.astimezone(EWSTimeZone("UTC")).hour for i in view if i.subject == "series"] == [9, 8, 8]


def test_a_field_deleted_on_an_occurrence_is_empty_there_and_stays_on_the_master(alice):
    """UpdateItem with DeleteItemField on an OccurrenceItemId (no change key, as calsync sends it): that
    occurrence has no location; the master and the other occurrences keep theirs."""
    daily = Recurrence(pattern=DailyPattern(interval=1), start=EWSDate(2026, 3, 2), number=3)
    master = CalendarItem(account=alice, folder=alice.calendar, subject="Daily", location="Room 4",
                          start=START, end=START + dt.timedelta(minutes=30), recurrence=daily)  # fmt: skip
    master.save(send_meeting_invitations="SendToNone")
    second = CalendarItem(account=alice, folder=alice.calendar, _id=OccurrenceItemId(id=master.id, instance_index=2))
    second.location = None
    alice.bulk_update(items=[(second, ["location"])], send_meeting_invitations_or_cancellations="SendToNone")
    occurrences = [master.occurrence(index=i) for i in (1, 2, 3)]
    for occurrence in occurrences:
        occurrence.refresh()
    assert [o.location for o in occurrences] == ["Room 4", None, "Room 4"]
    assert alice.calendar.get(id=master.id).location == "Room 4"
