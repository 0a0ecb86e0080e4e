"""sync.series on plain data: Salesforce occurrence Events matched to pattern dates, exceptions kept by a
pattern change, and the occurrence writes an Exchange master needs (issue 23, point 4)."""

from __future__ import annotations

import datetime as dt

from sync.entry import OccurrenceOverride, Recurrence
from sync.series import exchange_occurrence_writes, follow_pattern, in_pattern, salesforce_exceptions

UTC = dt.UTC
TZ = "Europe/Berlin"
FIRST = dt.datetime(2026, 12, 7, 9, tzinfo=UTC)  # 10:00 in Berlin, a Monday
DAY, HOUR, LENGTH = dt.timedelta(days=1), dt.timedelta(hours=1), dt.timedelta(minutes=30)
DAILY = Recurrence("FREQ=DAILY;INTERVAL=1;COUNT=4")
KEY = "3f0c9a9e-6f7e-4a39-8a51-7a1f0d6b2c11"


def _row(n: int, start: dt.datetime, *, subject: str = "Stand-up", exception: bool = False, tag: str = "") -> dict:
    wire = "%Y-%m-%dT%H:%M:%S.000+0000"
    return {"Id": f"00U{n:015d}", "StartDateTime": start.strftime(wire),
            "EndDateTime": (start + LENGTH).strftime(wire), "Subject": subject, "Location": None,
            "IsRecurrence2Exception": exception, "CalSync_Key__c": tag}  # fmt: skip


def _read(rows, recurrence=DAILY, gaps=()):
    return salesforce_exceptions(rows, recurrence, FIRST, LENGTH, TZ, KEY, gaps=gaps, subject="Stand-up", location="")


def test_plain_occurrences_are_no_exceptions():
    assert _read([_row(n, FIRST + n * DAY) for n in range(4)]) == DAILY


def test_an_occurrence_moved_within_its_day_or_retitled_keeps_its_date():
    rows = [_row(0, FIRST), _row(1, FIRST + DAY + 3 * HOUR, exception=True),
            _row(2, FIRST + 2 * DAY, subject="Stand-up (demo)", exception=True), _row(3, FIRST + 3 * DAY)]  # fmt: skip
    got = _read(rows)
    assert [(o.original, o.start, o.subject) for o in got.overrides] == [
        (dt.date(2026, 12, 8), FIRST + DAY + 3 * HOUR, "Stand-up"),
        (dt.date(2026, 12, 9), FIRST + 2 * DAY, "Stand-up (demo)"),
    ]


def test_an_occurrence_moved_onto_a_day_another_holds_takes_the_free_date():
    rows = [_row(0, FIRST), _row(1, FIRST + 2 * DAY + 4 * HOUR, exception=True), _row(2, FIRST + 2 * DAY),
            _row(3, FIRST + 3 * DAY)]  # fmt: skip
    [override] = _read(rows).overrides
    assert (override.original, override.start) == (dt.date(2026, 12, 8), FIRST + 2 * DAY + 4 * HOUR)


def test_our_tag_names_the_original_date_wherever_the_occurrence_sits():
    rows = [_row(0, FIRST, tag=f"{KEY}@2026-12-09"), _row(1, FIRST + DAY), _row(3, FIRST + 3 * DAY)]
    got = _read(rows, gaps={dt.date(2026, 12, 7)})
    assert [(o.original, o.start) for o in got.overrides] == [(dt.date(2026, 12, 9), FIRST)]
    assert got.exdates == (dt.date(2026, 12, 7),)


def test_deleted_dates_a_live_occurrence_holds_are_not_deleted_occurrences():
    """A re-created series deletes every old occurrence Event and makes new ones on the same dates."""
    rows = [_row(10 + n, FIRST + n * DAY) for n in range(4)]
    gaps = {dt.date(2026, 12, 7) + n * DAY for n in range(4)}
    assert _read(rows, gaps=gaps) == DAILY
    assert _read(rows[:3], gaps=gaps).exdates == (dt.date(2026, 12, 10),)


def test_a_pattern_change_keeps_the_exceptions_still_in_the_pattern():
    moved = OccurrenceOverride(dt.date(2026, 12, 8), FIRST + DAY + HOUR, FIRST + DAY + HOUR + LENGTH)
    weekly = Recurrence("FREQ=WEEKLY;BYDAY=MO,TU;COUNT=4", exdates=(dt.date(2026, 12, 9),), overrides=(moved,))
    kept, dropped = in_pattern(weekly, FIRST, TZ)
    assert kept.overrides == (moved,) and kept.exdates == () and dropped == [dt.date(2026, 12, 9)]


def test_exchange_writes_go_occurrence_by_occurrence_and_a_gone_override_returns_to_the_pattern():
    moved = OccurrenceOverride(dt.date(2026, 12, 8), FIRST + DAY + HOUR, FIRST + DAY + HOUR + LENGTH, "Stand-up")
    retitled = OccurrenceOverride(dt.date(2026, 12, 10), FIRST + 3 * DAY, FIRST + 3 * DAY + LENGTH, "Retro")
    before = Recurrence(DAILY.rrule, overrides=(moved,))
    after = Recurrence(DAILY.rrule, exdates=(dt.date(2026, 12, 9),), overrides=(retitled,))
    plan = exchange_occurrence_writes(before, after, FIRST, LENGTH, TZ, subject="Stand-up", location="Room 1")
    assert plan.deletes == [3] and plan.missing == []
    assert [(c.index, c.original_start) for c in plan.changes] == [(4, FIRST + 3 * DAY), (2, FIRST + DAY)]
    assert plan.changes[0].fields["subject"] == "Retro"
    back = plan.changes[1].fields
    assert (back["start"], back["end"], back["location"]) == (FIRST + DAY, FIRST + DAY + LENGTH, "Room 1")
    assert str(back["start"].tzinfo) == TZ  # written in the series' zone
    fresh = exchange_occurrence_writes(None, after, FIRST, LENGTH, TZ, subject="Stand-up", location="")
    assert fresh.deletes == [3] and [c.index for c in fresh.changes] == [4]
    assert exchange_occurrence_writes(after, after, FIRST, LENGTH, TZ, subject="Stand-up", location="").changes == []


def test_the_spring_forward_gap_moves_an_occurrence_on_by_the_gap():
    """Pattern dates in the zone: 02:30 does not exist on 2027-03-28 in Berlin; Exchange puts it at 03:30."""
    first = dt.datetime(2027, 3, 27, 1, 30, tzinfo=UTC)  # 02:30 CET
    plan = exchange_occurrence_writes(
        None, Recurrence("FREQ=DAILY;COUNT=3", exdates=(dt.date(2027, 3, 28),)), first, LENGTH, TZ,
        subject="Night run", location="",
    )  # fmt: skip
    assert plan.deletes == [2]
    rows = [_row(0, first), _row(1, dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)), _row(2, first + 2 * DAY - HOUR)]
    got = salesforce_exceptions(rows, Recurrence("FREQ=DAILY;COUNT=3"), first, LENGTH, TZ, KEY,
                                subject="Stand-up", location="")  # fmt: skip
    assert got.overrides == ()


def test_a_retitled_occurrence_follows_the_series_to_its_new_time_and_a_moved_one_stays():
    retitled = OccurrenceOverride(dt.date(2026, 12, 8), FIRST + DAY, FIRST + DAY + LENGTH, "Demo")
    moved = OccurrenceOverride(dt.date(2026, 12, 9), FIRST + 2 * DAY + HOUR, FIRST + 2 * DAY + HOUR + LENGTH)
    got = follow_pattern(Recurrence(DAILY.rrule, overrides=(retitled, moved)), (FIRST, LENGTH),
                         (FIRST + 2 * HOUR, 2 * LENGTH), TZ)  # fmt: skip
    assert [(o.start, o.end) for o in got.overrides] == [
        (FIRST + DAY + 2 * HOUR, FIRST + DAY + 2 * HOUR + 2 * LENGTH), (moved.start, moved.end)]  # fmt: skip
