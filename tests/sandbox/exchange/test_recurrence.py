"""Expansion of EWS recurrences (sandbox/exchange/recurrence.py).

Recurrence elements are built with exchangelib's own serialisation, exactly as the sandbox receives them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as du
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    DailyRegeneration,
    EndDatePattern,
    MonthlyRegeneration,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    TaskRecurrence,
    WeeklyPattern,
    WeeklyRegeneration,
    YearlyRegeneration,
)
from exchangelib.version import EXCHANGE_2013_SP1, Version
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from sandbox.exchange.recurrence import (
    NS,
    Occurrence,
    RecurrenceError,
    RecurrenceRule,
    expand,
    occurrence_starts,
    parse,
    to_rrule,
    windows_to_zoneinfo,
)

VERSION = Version(EXCHANGE_2013_SP1)
UTC = dt.UTC
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")
HOUR = dt.timedelta(hours=1)

# exchangelib's numeric enums: weekdays 1..7 = Monday..Sunday, 8 = Day, 9 = Weekday, 10 = WeekendDay;
# week numbers 1..5 = First..Fourth, Last; months 1..12.
MON, TUE, WED, THU, FRI, SAT, SUN, DAY, WEEKDAY, WEEKEND_DAY = range(1, 11)
FIRST, SECOND, THIRD, FOURTH, LAST = range(1, 6)


def rec(pattern, boundary) -> etree._Element:
    return Recurrence(pattern=pattern, boundary=boundary).to_xml(version=VERSION)


def local(d: dt.date, hour: int = 9, minute: int = 0, tz: ZoneInfo = LONDON) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(hour, minute), tzinfo=tz)


def D(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def starts_local(recurrence, start: dt.datetime, tz: ZoneInfo, limit: int = 1000) -> list[dt.datetime]:
    return [s.astimezone(tz) for s in occurrence_starts(recurrence, start, tz, limit)]


def dates(values) -> list[str]:
    return [v.date().isoformat() for v in values]


# ------------------------------------------------------------------------------------------ every pattern

PATTERN_CASES = [
    # (id, pattern, boundary, expected local dates)
    (
        "daily",
        DailyPattern(interval=1),
        NumberedPattern(start=D("2026-01-05"), number=5),
        ["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09"],
    ),
    (
        "daily-interval-3-enddate-inclusive",
        DailyPattern(interval=3),
        EndDatePattern(start=D("2026-01-05"), end=D("2026-01-14")),
        ["2026-01-05", "2026-01-08", "2026-01-11", "2026-01-14"],
    ),
    (
        "weekly-mon-wed-fri",
        WeeklyPattern(interval=1, weekdays=[MON, WED, FRI]),
        NumberedPattern(start=D("2026-01-07"), number=6),
        ["2026-01-07", "2026-01-09", "2026-01-12", "2026-01-14", "2026-01-16", "2026-01-19"],
    ),
    (
        # 2026-01-07 is a Wednesday; weeks start on Sunday: Jan 4-10 (Sun 4 and Mon 5 are before the start),
        # skip Jan 11-17, then Jan 18-24, Feb 1-7.
        "weekly-interval-2-week-starts-sunday",
        WeeklyPattern(interval=2, weekdays=[MON, SUN], first_day_of_week=SUN),
        NumberedPattern(start=D("2026-01-07"), number=4),
        ["2026-01-18", "2026-01-19", "2026-02-01", "2026-02-02"],
    ),
    (
        # Same, weeks starting Monday: Jan 5-11 (Sun 11), skip Jan 12-18, Jan 19-25, Feb 2-8.
        "weekly-interval-2-week-starts-monday",
        WeeklyPattern(interval=2, weekdays=[MON, SUN], first_day_of_week=MON),
        NumberedPattern(start=D("2026-01-07"), number=4),
        ["2026-01-11", "2026-01-19", "2026-01-25", "2026-02-02"],
    ),
    (
        "weekly-start-not-matching-pattern",
        WeeklyPattern(interval=1, weekdays=[TUE, THU]),
        NumberedPattern(start=D("2026-01-07"), number=3),
        ["2026-01-08", "2026-01-13", "2026-01-15"],
    ),
    (
        "absolute-monthly-31st-uses-last-day",
        AbsoluteMonthlyPattern(interval=1, day_of_month=31),
        NumberedPattern(start=D("2026-01-01"), number=5),
        ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"],
    ),
    (
        "absolute-monthly-30th-leap-february",
        AbsoluteMonthlyPattern(interval=1, day_of_month=30),
        NumberedPattern(start=D("2024-01-30"), number=3),
        ["2024-01-30", "2024-02-29", "2024-03-30"],
    ),
    (
        # Day 10 of January is before the start: the first occurrence is two months on.
        "absolute-monthly-interval-2",
        AbsoluteMonthlyPattern(interval=2, day_of_month=10),
        NumberedPattern(start=D("2026-01-15"), number=3),
        ["2026-03-10", "2026-05-10", "2026-07-10"],
    ),
    (
        "relative-monthly-second-tuesday",
        RelativeMonthlyPattern(interval=1, weekday=TUE, week_number=SECOND),
        NumberedPattern(start=D("2026-01-01"), number=3),
        ["2026-01-13", "2026-02-10", "2026-03-10"],
    ),
    (
        "relative-monthly-last-friday-every-3-months",
        RelativeMonthlyPattern(interval=3, weekday=FRI, week_number=LAST),
        NumberedPattern(start=D("2026-01-01"), number=3),
        ["2026-01-30", "2026-04-24", "2026-07-31"],
    ),
    (
        "relative-monthly-first-weekday",
        RelativeMonthlyPattern(interval=1, weekday=WEEKDAY, week_number=FIRST),
        NumberedPattern(start=D("2026-01-01"), number=4),
        ["2026-01-01", "2026-02-02", "2026-03-02", "2026-04-01"],
    ),
    (
        "relative-monthly-last-weekend-day",
        RelativeMonthlyPattern(interval=1, weekday=WEEKEND_DAY, week_number=LAST),
        NumberedPattern(start=D("2026-01-01"), number=3),
        ["2026-01-31", "2026-02-28", "2026-03-29"],
    ),
    (
        # August 2026 starts on a Saturday, so its second weekend day is Sunday the 2nd.
        "relative-monthly-second-weekend-day",
        RelativeMonthlyPattern(interval=1, weekday=WEEKEND_DAY, week_number=SECOND),
        NumberedPattern(start=D("2026-08-01"), number=2),
        ["2026-08-02", "2026-09-06"],
    ),
    (
        "relative-monthly-fourth-day",
        RelativeMonthlyPattern(interval=1, weekday=DAY, week_number=FOURTH),
        NumberedPattern(start=D("2026-01-05"), number=2),
        ["2026-02-04", "2026-03-04"],
    ),
    (
        "relative-monthly-last-day",
        RelativeMonthlyPattern(interval=1, weekday=DAY, week_number=LAST),
        NumberedPattern(start=D("2028-02-01"), number=2),
        ["2028-02-29", "2028-03-31"],
    ),
    (
        "relative-yearly-fourth-thursday-november",
        RelativeYearlyPattern(weekday=THU, week_number=FOURTH, month=11),
        NumberedPattern(start=D("2026-01-01"), number=3),
        ["2026-11-26", "2027-11-25", "2028-11-23"],
    ),
    (
        "relative-yearly-last-sunday-march",
        RelativeYearlyPattern(weekday=SUN, week_number=LAST, month=3),
        NumberedPattern(start=D("2026-01-01"), number=3),
        ["2026-03-29", "2027-03-28", "2028-03-26"],
    ),
    (
        # 1 January 2028 is a Saturday.
        "relative-yearly-first-weekday-january",
        RelativeYearlyPattern(weekday=WEEKDAY, week_number=FIRST, month=1),
        NumberedPattern(start=D("2026-01-01"), number=3),
        ["2026-01-01", "2027-01-01", "2028-01-03"],
    ),
    (
        "relative-yearly-last-weekend-day-may-end-date",
        RelativeYearlyPattern(weekday=WEEKEND_DAY, week_number=LAST, month=5),
        EndDatePattern(start=D("2026-01-01"), end=D("2028-05-27")),
        ["2026-05-31", "2027-05-30"],
    ),
    (
        "absolute-yearly-feb-29",
        AbsoluteYearlyPattern(day_of_month=29, month=2),
        NumberedPattern(start=D("2024-02-29"), number=5),
        ["2024-02-29", "2025-02-28", "2026-02-28", "2027-02-28", "2028-02-29"],
    ),
    (
        "absolute-yearly-start-after-this-years-date",
        AbsoluteYearlyPattern(day_of_month=25, month=12),
        NumberedPattern(start=D("2026-12-26"), number=2),
        ["2027-12-25", "2028-12-25"],
    ),
    (
        "absolute-yearly-31-april-is-30th",
        AbsoluteYearlyPattern(day_of_month=31, month=4),
        EndDatePattern(start=D("2026-01-01"), end=D("2027-12-31")),
        ["2026-04-30", "2027-04-30"],
    ),
]


@pytest.mark.parametrize(
    ("pattern", "boundary", "expected"), [c[1:] for c in PATTERN_CASES], ids=[c[0] for c in PATTERN_CASES]
)
def test_every_pattern_and_range(pattern, boundary, expected):
    recurrence = rec(pattern, boundary)
    start = local(boundary.start, 9, 30)
    got = starts_local(recurrence, start, LONDON)
    assert dates(got) == expected
    assert {(s.hour, s.minute) for s in got} == {(9, 30)}
    # expand over a window covering everything yields the same originals, each an hour long.
    occurrences = expand(recurrence, start, start + HOUR, LONDON, local(D("2020-01-01")), local(D("2035-01-01")))
    assert [o.original_start for o in occurrences] == occurrence_starts(recurrence, start, LONDON)
    assert all(o.start == o.original_start and o.end - o.start == HOUR and not o.modified for o in occurrences)


def test_no_end_recurrence_is_capped_at_limit():
    recurrence = rec(DailyPattern(interval=1), NoEndPattern(start=D("2026-01-01")))
    start = local(D("2026-01-01"))
    assert len(occurrence_starts(recurrence, start, LONDON)) == 1000
    got = occurrence_starts(recurrence, start, LONDON, limit=3)
    assert got == [
        dt.datetime(2026, 1, 1, 9, tzinfo=UTC),
        dt.datetime(2026, 1, 2, 9, tzinfo=UTC),
        dt.datetime(2026, 1, 3, 9, tzinfo=UTC),
    ]
    assert occurrence_starts(recurrence, start, LONDON, limit=0) == []


def test_bounded_ranges_are_not_capped_by_limit():
    recurrence = rec(DailyPattern(interval=1), NumberedPattern(start=D("2026-01-01"), number=20))
    assert len(occurrence_starts(recurrence, local(D("2026-01-01")), LONDON, limit=5)) == 20


@pytest.mark.parametrize("number", [1, 2, 7, 52, 999])
def test_numbered_count_is_exact(number):
    for pattern in (
        DailyPattern(interval=2),
        WeeklyPattern(interval=3, weekdays=[TUE, SAT]),
        AbsoluteMonthlyPattern(interval=1, day_of_month=31),
        RelativeMonthlyPattern(interval=2, weekday=WEEKEND_DAY, week_number=LAST),
        RelativeYearlyPattern(weekday=MON, week_number=FIRST, month=9),
        AbsoluteYearlyPattern(day_of_month=29, month=2),
    ):
        recurrence = rec(pattern, NumberedPattern(start=D("2026-01-01"), number=number))
        got = occurrence_starts(recurrence, local(D("2026-01-01")), LONDON)
        assert len(got) == number, pattern
        assert got == sorted(set(got))


def test_numbered_count_includes_deleted_occurrences():
    recurrence = rec(DailyPattern(interval=1), NumberedPattern(start=D("2026-01-05"), number=5))
    start = local(D("2026-01-05"))
    third = local(D("2026-01-07"))
    got = expand(recurrence, start, start + HOUR, LONDON, start, local(D("2026-02-01")), deleted=[third])
    # Deleting an occurrence does not extend the series: four remain, the last still on the 9th.
    assert dates(o.start for o in got) == ["2026-01-05", "2026-01-06", "2026-01-08", "2026-01-09"]


@pytest.mark.parametrize("end_text", ["2026-01-14", "2026-01-14Z", "2026-01-14+01:00", "2026-01-14-05:00"])
def test_end_date_with_time_zone_suffix_is_the_local_date_inclusive(end_text):
    recurrence = rec(DailyPattern(interval=3), EndDatePattern(start=D("2026-01-05"), end=D("2026-01-14")))
    recurrence.find(f"{{{NS}}}EndDateRecurrence/{{{NS}}}EndDate").text = end_text
    recurrence.find(f"{{{NS}}}EndDateRecurrence/{{{NS}}}StartDate").text = "2026-01-05Z"
    rule = parse(recurrence)
    assert (rule.start_date, rule.end_date) == (D("2026-01-05"), D("2026-01-14"))
    got = starts_local(recurrence, local(D("2026-01-05"), 23, 30), LONDON)
    assert dates(got) == ["2026-01-05", "2026-01-08", "2026-01-11", "2026-01-14"]


def test_start_date_on_end_date_gives_one_occurrence_or_none():
    one = rec(DailyPattern(interval=1), EndDatePattern(start=D("2026-01-05"), end=D("2026-01-05")))
    assert dates(starts_local(one, local(D("2026-01-05")), LONDON)) == ["2026-01-05"]
    # No Saturday between Monday and Wednesday: an empty series, not an error.
    none = rec(WeeklyPattern(interval=1, weekdays=[SAT]), EndDatePattern(start=D("2026-01-05"), end=D("2026-01-07")))
    assert occurrence_starts(none, local(D("2026-01-05")), LONDON) == []
    assert expand(none, local(D("2026-01-05")), local(D("2026-01-05"), 10), LONDON, *WIDE) == []


# ------------------------------------------------------------------------------------------ parse / rrule


def test_parse_gives_a_rule_describing_pattern_and_range():
    rule = parse(
        rec(
            WeeklyPattern(interval=2, weekdays=[MON, FRI], first_day_of_week=SUN),
            EndDatePattern(start=D("2026-01-01"), end=D("2026-06-30")),
        )
    )
    assert rule == RecurrenceRule(
        pattern="WeeklyRecurrence",
        range="EndDateRecurrence",
        start_date=D("2026-01-01"),
        interval=2,
        days_of_week=("Monday", "Friday"),
        first_day_of_week="Sunday",
        end_date=D("2026-06-30"),
    )
    rule = parse(
        rec(
            RelativeYearlyPattern(weekday=WEEKEND_DAY, week_number=LAST, month=10),
            NumberedPattern(start=D("2026-01-01"), number=4),
        )
    )
    assert (rule.pattern, rule.days_of_week, rule.day_of_week_index, rule.month) == (
        "RelativeYearlyRecurrence",
        ("WeekendDay",),
        "Last",
        10,
    )
    assert (rule.range, rule.number_of_occurrences, rule.end_date) == ("NumberedRecurrence", 4, None)
    assert rule.weekdays == (5, 6)
    with pytest.raises(AttributeError):
        rule.interval = 3  # frozen


def test_weekly_first_day_of_week_defaults_to_sunday_when_absent():
    recurrence = rec(
        WeeklyPattern(interval=2, weekdays=[MON, SUN], first_day_of_week=MON),
        NumberedPattern(start=D("2026-01-07"), number=4),
    )
    pattern = recurrence.find(f"{{{NS}}}WeeklyRecurrence")
    pattern.remove(pattern.find(f"{{{NS}}}FirstDayOfWeek"))
    assert parse(recurrence).first_day_of_week == "Sunday"
    got = starts_local(recurrence, local(D("2026-01-07")), LONDON)
    assert dates(got) == ["2026-01-18", "2026-01-19", "2026-02-01", "2026-02-02"]


def test_to_rrule_yields_local_wall_times():
    rule = parse(
        rec(AbsoluteMonthlyPattern(interval=1, day_of_month=31), NumberedPattern(start=D("2026-01-01"), number=3))
    )
    r = to_rrule(rule, dt.datetime(2026, 1, 1, 9, 15))
    assert isinstance(r, du.rrule)
    assert list(r) == [
        dt.datetime(2026, 1, 31, 9, 15),
        dt.datetime(2026, 2, 28, 9, 15),
        dt.datetime(2026, 3, 31, 9, 15),
    ]


def test_weekday_sets_in_weekly_pattern():
    # exchangelib only sends named days in a WeeklyRecurrence; the schema's DaysOfWeekType also allows the sets.
    recurrence = rec(WeeklyPattern(interval=1, weekdays=[MON]), NumberedPattern(start=D("2026-01-05"), number=4))
    recurrence.find(f"{{{NS}}}WeeklyRecurrence/{{{NS}}}DaysOfWeek").text = "WeekendDay"
    assert dates(starts_local(recurrence, local(D("2026-01-05")), LONDON)) == [
        "2026-01-10",
        "2026-01-11",
        "2026-01-17",
        "2026-01-18",
    ]
    recurrence.find(f"{{{NS}}}WeeklyRecurrence/{{{NS}}}DaysOfWeek").text = "Weekday Sunday"
    assert parse(recurrence).weekdays == (0, 1, 2, 3, 4, 6)
    assert dates(starts_local(recurrence, local(D("2026-01-09")), LONDON)) == [
        "2026-01-05",
        "2026-01-06",
        "2026-01-07",
        "2026-01-08",
    ]


# ------------------------------------------------------------------------------------------ DST

DST_CASES = [
    # (id, tz, first local date, local hour, dates, expected UTC hours)
    ("london-spring", LONDON, "2026-03-27", 9, 4, [9, 9, 8, 8]),  # BST from Sun 29 March
    ("london-autumn", LONDON, "2026-10-23", 9, 4, [8, 8, 9, 9]),  # GMT from Sun 25 October
    ("new-york-spring", NEW_YORK, "2026-03-06", 9, 4, [14, 14, 13, 13]),  # EDT from Sun 8 March
    ("new-york-autumn", NEW_YORK, "2026-10-30", 9, 4, [13, 13, 14, 14]),  # EST from Sun 1 November
    ("sydney-autumn", SYDNEY, "2026-04-03", 9, 4, [22, 22, 23, 23]),  # AEST from Sun 5 April (UTC day before)
]


@pytest.mark.parametrize(
    ("tz", "first", "hour", "count", "utc_hours"), [c[1:] for c in DST_CASES], ids=[c[0] for c in DST_CASES]
)
def test_daily_occurrences_keep_local_time_across_dst(tz, first, hour, count, utc_hours):
    recurrence = rec(DailyPattern(interval=1), NumberedPattern(start=D(first), number=count))
    start = local(D(first), hour, tz=tz)
    got = occurrence_starts(recurrence, start, tz)
    assert [s.hour for s in got] == utc_hours
    assert all(s.tzinfo is UTC for s in got)
    assert {(s.astimezone(tz).hour, s.astimezone(tz).minute) for s in got} == {(hour, 0)}
    occurrences = expand(recurrence, start, start + 2 * HOUR, tz, *WIDE)
    assert all(o.end - o.start == 2 * HOUR for o in occurrences)


def test_weekly_london_meeting_stays_at_nine_across_both_changes():
    recurrence = rec(WeeklyPattern(interval=1, weekdays=[MON]), NoEndPattern(start=D("2026-03-16")))
    start = local(D("2026-03-16"))
    got = expand(recurrence, start, start + HOUR, LONDON, local(D("2026-03-01")), local(D("2026-11-10")))
    assert len(got) == 35
    assert {o.start.astimezone(LONDON).time() for o in got} == {dt.time(9)}
    utc = {o.start.date().isoformat(): o.start.hour for o in got}
    assert (utc["2026-03-23"], utc["2026-03-30"], utc["2026-10-19"], utc["2026-10-26"]) == (9, 8, 8, 9)


def test_master_given_in_utc_is_evaluated_in_its_time_zone():
    recurrence = rec(DailyPattern(interval=1), NumberedPattern(start=D("2026-03-28"), number=3))
    start = dt.datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # 23:30 GMT on the 28th, a Saturday
    got = occurrence_starts(recurrence, start, LONDON)
    assert [s.isoformat() for s in got] == [
        "2026-03-28T23:30:00+00:00",
        "2026-03-29T22:30:00+00:00",  # 23:30 BST
        "2026-03-30T22:30:00+00:00",
    ]
    # In New York the same instant is 19:30 on the 28th: the dates follow New York's wall clock.
    got = occurrence_starts(recurrence, start, NEW_YORK)
    assert [s.astimezone(NEW_YORK).isoformat() for s in got] == [
        "2026-03-28T19:30:00-04:00",
        "2026-03-29T19:30:00-04:00",
        "2026-03-30T19:30:00-04:00",
    ]


def test_nonexistent_local_time_moves_forward_and_ambiguous_time_takes_daylight_instant():
    spring = rec(DailyPattern(interval=1), NumberedPattern(start=D("2026-03-07"), number=3))
    got = occurrence_starts(spring, local(D("2026-03-07"), 2, 30, NEW_YORK), NEW_YORK)
    # 02:30 does not exist on 8 March 2026 in New York: it is 03:30 EDT that day.
    assert [s.astimezone(NEW_YORK).strftime("%d %H:%M %Z") for s in got] == [
        "07 02:30 EST",
        "08 03:30 EDT",
        "09 02:30 EDT",
    ]
    autumn = rec(DailyPattern(interval=1), NumberedPattern(start=D("2026-10-31"), number=3))
    got = occurrence_starts(autumn, local(D("2026-10-31"), 1, 30, NEW_YORK), NEW_YORK)
    assert [s.isoformat() for s in got] == [
        "2026-10-31T05:30:00+00:00",
        "2026-11-01T05:30:00+00:00",  # the first 01:30 (EDT)
        "2026-11-02T06:30:00+00:00",
    ]


def test_all_day_occurrences_stay_midnight_to_midnight_across_dst():
    recurrence = rec(DailyPattern(interval=1), NumberedPattern(start=D("2026-03-28"), number=3))
    start = local(D("2026-03-28"), 0)
    got = expand(recurrence, start, local(D("2026-03-29"), 0), LONDON, *WIDE)
    assert [(o.start.astimezone(LONDON).time(), o.end.astimezone(LONDON).time()) for o in got] == [
        (dt.time(0), dt.time(0))
    ] * 3
    assert [o.end - o.start for o in got] == [24 * HOUR, 23 * HOUR, 24 * HOUR]


# ------------------------------------------------------------------------------------------ window, deleted, modified

WIDE = (dt.datetime(2000, 1, 1, tzinfo=UTC), dt.datetime(2100, 1, 1, tzinfo=UTC))


def _daily_week():
    """Five daily 09:00-10:00 (UTC, London winter) occurrences, 5-9 January 2026."""
    recurrence = rec(DailyPattern(interval=1), NumberedPattern(start=D("2026-01-05"), number=5))
    start = local(D("2026-01-05"))
    return recurrence, start, start + HOUR


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (("2026-01-01T00:00", "2026-02-01T00:00"), ["05", "06", "07", "08", "09"]),
        (("2026-01-06T00:00", "2026-01-08T00:00"), ["06", "07"]),
        (("2026-01-06T09:30", "2026-01-07T09:00"), ["06"]),  # starts mid-meeting; ends as the 7th starts
        (("2026-01-06T10:00", "2026-01-07T09:01"), ["07"]),  # starts as the 6th ends
        (("2026-01-06T10:00", "2026-01-07T09:00"), []),
        (("2026-01-07T09:00", "2026-01-07T09:00"), []),  # empty window
        (("2026-01-08T00:00", "2026-01-06T00:00"), []),  # reversed window
        (("2026-01-10T00:00", "2027-01-01T00:00"), []),  # after the last occurrence
        (("2025-01-01T00:00", "2026-01-05T09:00"), []),
    ],
)
def test_window_clipping(window, expected):
    recurrence, start, end = _daily_week()
    got = expand(recurrence, start, end, LONDON, utc(window[0]), utc(window[1]))
    assert [o.start.strftime("%d") for o in got] == expected
    assert all(o.end - o.start == HOUR and o.original_start == o.start for o in got)


def test_window_far_in_the_future_of_an_endless_series_is_fast_and_exact():
    recurrence = rec(DailyPattern(interval=1), NoEndPattern(start=D("2001-01-01")))
    start = local(D("2001-01-01"))
    began = time.perf_counter()
    got = expand(recurrence, start, start + HOUR, LONDON, local(D("2040-07-01"), 0), local(D("2040-07-04"), 0))
    assert time.perf_counter() - began < 2
    assert [o.start.astimezone(LONDON).isoformat() for o in got] == [
        "2040-07-01T09:00:00+01:00",
        "2040-07-02T09:00:00+01:00",
        "2040-07-03T09:00:00+01:00",
    ]


def test_deleted_occurrences_are_skipped_whatever_the_key_time_zone():
    recurrence, start, end = _daily_week()
    deleted = [dt.datetime(2026, 1, 6, 9, tzinfo=UTC), local(D("2026-01-08"), 4, tz=NEW_YORK)]  # = 09:00 UTC
    got = expand(recurrence, start, end, LONDON, *WIDE, deleted=deleted)
    assert [o.start.strftime("%d") for o in got] == ["05", "07", "09"]
    # A key that is not an original start deletes nothing.
    got = expand(recurrence, start, end, LONDON, *WIDE, deleted=[utc("2026-01-06T09:01")])
    assert len(got) == 5


def test_modified_occurrence_takes_new_times_and_keeps_order_by_new_start():
    recurrence, start, end = _daily_week()
    # The 6th moves after the 7th; the 8th is made longer.
    modified = {
        utc("2026-01-06T09:00"): (utc("2026-01-07T15:00"), utc("2026-01-07T16:00")),
        utc("2026-01-08T09:00"): (utc("2026-01-08T09:00"), utc("2026-01-08T12:00")),
    }
    got = expand(recurrence, start, end, LONDON, *WIDE, modified=modified)
    assert got == [
        Occurrence(utc("2026-01-05T09:00"), utc("2026-01-05T09:00"), utc("2026-01-05T10:00"), False),
        Occurrence(utc("2026-01-07T09:00"), utc("2026-01-07T09:00"), utc("2026-01-07T10:00"), False),
        Occurrence(utc("2026-01-06T09:00"), utc("2026-01-07T15:00"), utc("2026-01-07T16:00"), True),
        Occurrence(utc("2026-01-08T09:00"), utc("2026-01-08T09:00"), utc("2026-01-08T12:00"), True),
        Occurrence(utc("2026-01-09T09:00"), utc("2026-01-09T09:00"), utc("2026-01-09T10:00"), False),
    ]


def test_modified_occurrence_is_in_the_window_by_its_new_times():
    recurrence, start, end = _daily_week()
    moved_in = {utc("2026-01-05T09:00"): (utc("2026-03-02T09:00"), utc("2026-03-02T10:00"))}
    window = (utc("2026-03-01T00:00"), utc("2026-03-03T00:00"))
    # Moved from January into the March window: included, although its original start is far outside.
    got = expand(recurrence, start, end, LONDON, *window, modified=moved_in)
    assert got == [Occurrence(utc("2026-01-05T09:00"), utc("2026-03-02T09:00"), utc("2026-03-02T10:00"), True)]
    # Moved out of a window holding its original time: excluded.
    moved_out = {utc("2026-01-07T09:00"): (utc("2026-02-07T09:00"), utc("2026-02-07T10:00"))}
    got = expand(recurrence, start, end, LONDON, utc("2026-01-07T00:00"), utc("2026-01-08T00:00"), modified=moved_out)
    assert got == []
    # Moved from later in the series back into an earlier window.
    moved_back = {utc("2026-01-09T09:00"): (utc("2026-01-05T12:00"), utc("2026-01-05T13:00"))}
    got = expand(recurrence, start, end, LONDON, utc("2026-01-05T00:00"), utc("2026-01-06T00:00"), modified=moved_back)
    assert [(o.original_start.day, o.start.hour, o.modified) for o in got] == [(5, 9, False), (9, 12, True)]


def test_modification_of_a_nonexistent_occurrence_is_ignored_and_deletion_wins():
    recurrence, start, end = _daily_week()
    got = expand(
        recurrence,
        start,
        end,
        LONDON,
        *WIDE,
        modified={utc("2026-01-12T09:00"): (utc("2026-01-05T11:00"), utc("2026-01-05T12:00"))},
    )
    assert [o.modified for o in got] == [False] * 5
    key = utc("2026-01-06T09:00")
    got = expand(
        recurrence,
        start,
        end,
        LONDON,
        *WIDE,
        deleted=[key],
        modified={key: (utc("2026-01-06T11:00"), utc("2026-01-06T12:00"))},
    )
    assert key not in [o.original_start for o in got] and len(got) == 4


def test_zero_length_occurrences_are_in_the_window_at_their_instant():
    recurrence, start, _ = _daily_week()
    got = expand(recurrence, start, start, LONDON, utc("2026-01-06T09:00"), utc("2026-01-07T09:00"))
    assert [(o.start, o.end) for o in got] == [(utc("2026-01-06T09:00"), utc("2026-01-06T09:00"))]


def test_master_start_not_on_pattern_is_not_an_occurrence():
    # Master on Wednesday 7 January, pattern on Tuesdays: the first occurrence is Tuesday the 13th.
    recurrence = rec(WeeklyPattern(interval=1, weekdays=[TUE]), NumberedPattern(start=D("2026-01-07"), number=2))
    start = local(D("2026-01-07"))
    got = expand(recurrence, start, start + HOUR, LONDON, *WIDE)
    assert dates(o.start for o in got) == ["2026-01-13", "2026-01-20"]


# ------------------------------------------------------------------------------------------ invalid input


def _xml(inner: str) -> etree._Element:
    return etree.fromstring(f'<t:Recurrence xmlns:t="{NS}">{inner}</t:Recurrence>')


DAILY = "<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence>"
NO_END = "<t:NoEndRecurrence><t:StartDate>2026-01-01</t:StartDate></t:NoEndRecurrence>"

INVALID_CASES = [
    ("no-pattern", NO_END, "exactly one pattern"),
    ("no-range", DAILY, "exactly one range"),
    ("two-patterns", DAILY + DAILY + NO_END, "exactly one pattern"),
    ("two-ranges", DAILY + NO_END + NO_END, "exactly one range"),
    ("unknown-element", DAILY + NO_END + "<t:Whatever/>", "unexpected element Whatever"),
    ("interval-zero", DAILY.replace(">1<", ">0<") + NO_END, "Interval must be in 1..999"),
    ("interval-not-int", DAILY.replace(">1<", ">one<") + NO_END, "Interval must be an integer"),
    (
        "weekly-interval-100",
        "<t:WeeklyRecurrence><t:Interval>100</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence>"
        + NO_END,
        "Interval must be in 1..99",
    ),
    (
        "weekly-no-days",
        "<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek> </t:DaysOfWeek></t:WeeklyRecurrence>" + NO_END,
        "at least one day",
    ),
    (
        "weekly-bad-day",
        "<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday Funday</t:DaysOfWeek>"
        "</t:WeeklyRecurrence>" + NO_END,
        "'Funday'",
    ),
    (
        "day-of-month-32",
        "<t:AbsoluteMonthlyRecurrence><t:Interval>1</t:Interval><t:DayOfMonth>32</t:DayOfMonth>"
        "</t:AbsoluteMonthlyRecurrence>" + NO_END,
        "DayOfMonth must be in 1..31",
    ),
    (
        "bad-month",
        "<t:AbsoluteYearlyRecurrence><t:DayOfMonth>1</t:DayOfMonth><t:Month>Smarch</t:Month>"
        "</t:AbsoluteYearlyRecurrence>" + NO_END,
        "Month must be one of",
    ),
    (
        "bad-index",
        "<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek>"
        "<t:DayOfWeekIndex>Fifth</t:DayOfWeekIndex></t:RelativeMonthlyRecurrence>" + NO_END,
        "DayOfWeekIndex must be one of",
    ),
    (
        "missing-field",
        "<t:RelativeYearlyRecurrence><t:DaysOfWeek>Monday</t:DaysOfWeek><t:Month>May</t:Month>"
        "</t:RelativeYearlyRecurrence>" + NO_END,
        "missing DayOfWeekIndex",
    ),
    ("bad-date", DAILY + "<t:NoEndRecurrence><t:StartDate>01/02/2026</t:StartDate></t:NoEndRecurrence>", "xs:date"),
    (
        "impossible-date",
        DAILY + "<t:NoEndRecurrence><t:StartDate>2026-02-30</t:StartDate></t:NoEndRecurrence>",
        "valid",
    ),
    (
        "end-before-start",
        DAILY + "<t:EndDateRecurrence><t:StartDate>2026-02-01</t:StartDate><t:EndDate>2026-01-31</t:EndDate>"
        "</t:EndDateRecurrence>",
        "EndDate 2026-01-31 is before StartDate 2026-02-01",
    ),
    (
        "zero-occurrences",
        DAILY + "<t:NumberedRecurrence><t:StartDate>2026-02-01</t:StartDate>"
        "<t:NumberOfOccurrences>0</t:NumberOfOccurrences></t:NumberedRecurrence>",
        "NumberOfOccurrences must be at least 1",
    ),
    ("unknown-pattern", "<t:HourlyRecurrence/>" + NO_END, "unexpected element HourlyRecurrence"),
    ("foreign-namespace", DAILY + NO_END + '<x:Extra xmlns:x="urn:x"/>', "unexpected element"),
]


@pytest.mark.parametrize(("inner", "message"), [c[1:] for c in INVALID_CASES], ids=[c[0] for c in INVALID_CASES])
def test_invalid_recurrence_is_rejected_with_a_clear_message(inner, message):
    recurrence = _xml(inner)
    with pytest.raises(RecurrenceError, match=None) as info:
        parse(recurrence)
    assert message in str(info.value)
    with pytest.raises(RecurrenceError):
        occurrence_starts(recurrence, local(D("2026-01-01")), LONDON)
    with pytest.raises(ValueError):  # RecurrenceError is a ValueError
        expand(recurrence, local(D("2026-01-01")), local(D("2026-01-01"), 10), LONDON, *WIDE)


@pytest.mark.parametrize(
    "pattern",
    [
        DailyRegeneration(interval=1),
        WeeklyRegeneration(interval=2),
        MonthlyRegeneration(interval=1),
        YearlyRegeneration(interval=1),
    ],
)
def test_regenerating_task_patterns_are_unsupported(pattern):
    recurrence = TaskRecurrence(pattern=pattern, boundary=NoEndPattern(start=D("2026-01-01"))).to_xml(version=VERSION)
    with pytest.raises(RecurrenceError, match="task regeneration pattern.*not supported"):
        parse(recurrence)


def test_wrong_root_element_is_rejected():
    with pytest.raises(RecurrenceError, match="expected a t:Recurrence element"):
        parse(etree.fromstring(f'<t:CalendarItem xmlns:t="{NS}"/>'))
    with pytest.raises(RecurrenceError, match="expected a t:Recurrence element"):
        parse(etree.fromstring("<Recurrence/>"))
    with pytest.raises(RecurrenceError, match="expected a t:Recurrence element"):
        parse("<t:Recurrence/>")


def test_naive_or_inverted_datetimes_are_rejected():
    recurrence, start, end = _daily_week()
    naive = dt.datetime(2026, 1, 5, 9)
    with pytest.raises(RecurrenceError, match="start must be timezone-aware"):
        expand(recurrence, naive, end, LONDON, *WIDE)
    with pytest.raises(RecurrenceError, match="window_start must be timezone-aware"):
        expand(recurrence, start, end, LONDON, naive, WIDE[1])
    with pytest.raises(RecurrenceError, match="deleted occurrence must be timezone-aware"):
        expand(recurrence, start, end, LONDON, *WIDE, deleted=[naive])
    with pytest.raises(RecurrenceError, match="is before start"):
        expand(recurrence, start, start - HOUR, LONDON, *WIDE)
    with pytest.raises(RecurrenceError, match="modified occurrence"):
        expand(recurrence, start, end, LONDON, *WIDE, modified={start: (end, start)})
    with pytest.raises(RecurrenceError, match="limit"):
        occurrence_starts(recurrence, start, LONDON, limit=-1)


# ------------------------------------------------------------------------------------------ time zones


@pytest.mark.parametrize(
    ("tz_id", "key"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("GMT Standard Time", "Europe/London"),
        ("Eastern Standard Time", "America/New_York"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
        ("UTC", "Etc/UTC"),
        ("Europe/Paris", "Europe/Paris"),
        ("  Asia/Tokyo ", "Asia/Tokyo"),
    ],
)
def test_windows_to_zoneinfo(tz_id, key):
    zone = windows_to_zoneinfo(tz_id)
    assert isinstance(zone, ZoneInfo) and zone.key == key


@pytest.mark.parametrize("tz_id", ["Mars Standard Time", "", "../etc/passwd", "Europe/Nowhere"])
def test_windows_to_zoneinfo_rejects_unknown_ids(tz_id):
    with pytest.raises(RecurrenceError, match="time zone"):
        windows_to_zoneinfo(tz_id)


# ------------------------------------------------------------------------------------------ properties
#
# An independent oracle: walk every calendar day from StartDate and keep those the pattern's EWS definition
# selects, then compare with the module's expansion.

_SETS = {**{i: {i - 1} for i in range(1, 8)}, DAY: set(range(7)), WEEKDAY: set(range(5)), WEEKEND_DAY: {5, 6}}


def _nth(year: int, month: int, weekday: int, week_number: int) -> dt.date:
    days = [
        dt.date(year, month, d)
        for d in range(1, calendar.monthrange(year, month)[1] + 1)
        if dt.date(year, month, d).weekday() in _SETS[weekday]
    ]
    return days[-1] if week_number == LAST else days[week_number - 1]


def _clamped(year: int, month: int, day: int) -> dt.date:
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _matches(kind: str, p: dict, d: dt.date, first: dt.date) -> bool:
    months = (d.year - first.year) * 12 + d.month - first.month
    if kind == "daily":
        return (d - first).days % p["interval"] == 0
    if kind == "weekly":
        wkst = p["first_day_of_week"] - 1

        def week(x: dt.date) -> dt.date:
            return x - dt.timedelta(days=(x.weekday() - wkst) % 7)

        return d.weekday() + 1 in p["weekdays"] and ((week(d) - week(first)).days // 7) % p["interval"] == 0
    if kind == "abs_monthly":
        return months % p["interval"] == 0 and d == _clamped(d.year, d.month, p["day_of_month"])
    if kind == "rel_monthly":
        return months % p["interval"] == 0 and d == _nth(d.year, d.month, p["weekday"], p["week_number"])
    if kind == "abs_yearly":
        return d.month == p["month"] and d == _clamped(d.year, d.month, p["day_of_month"])
    if kind == "rel_yearly":
        return d.month == p["month"] and d == _nth(d.year, d.month, p["weekday"], p["week_number"])
    raise AssertionError(kind)


_PATTERN_CLASSES = {
    "daily": DailyPattern,
    "weekly": WeeklyPattern,
    "abs_monthly": AbsoluteMonthlyPattern,
    "rel_monthly": RelativeMonthlyPattern,
    "abs_yearly": AbsoluteYearlyPattern,
    "rel_yearly": RelativeYearlyPattern,
}

_interval = st.integers(1, 12)
_weekday = st.integers(1, 10)
_week_number = st.integers(1, 5)
_month = st.integers(1, 12)
_dom = st.integers(1, 31)
patterns = st.one_of(
    st.fixed_dictionaries({"interval": st.integers(1, 40)}).map(lambda p: ("daily", p)),
    st.fixed_dictionaries(
        {
            "interval": st.integers(1, 5),
            "weekdays": st.lists(st.integers(1, 7), min_size=1, max_size=7, unique=True).map(sorted),
            "first_day_of_week": st.integers(1, 7),
        }
    ).map(lambda p: ("weekly", p)),
    st.fixed_dictionaries({"interval": _interval, "day_of_month": _dom}).map(lambda p: ("abs_monthly", p)),
    st.fixed_dictionaries({"interval": _interval, "weekday": _weekday, "week_number": _week_number}).map(
        lambda p: ("rel_monthly", p)
    ),
    st.fixed_dictionaries({"day_of_month": _dom, "month": _month}).map(lambda p: ("abs_yearly", p)),
    st.fixed_dictionaries({"weekday": _weekday, "week_number": _week_number, "month": _month}).map(
        lambda p: ("rel_yearly", p)
    ),
)
zones = st.sampled_from([LONDON, NEW_YORK, BERLIN, SYDNEY, ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")])
first_dates = st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31))
# Hours 4..22 are never in a DST gap or overlap in the zones above, so the local time must be kept exactly.
times = st.builds(dt.time, st.integers(4, 22), st.sampled_from([0, 15, 30, 45]))
ranges = st.one_of(
    st.integers(1, 12).map(lambda n: ("numbered", n)),
    st.integers(0, 5 * 366).map(lambda days: ("end_date", days)),
)


def _oracle(kind: str, p: dict, first: dt.date, rng: tuple) -> list[dt.date]:
    out: list[dt.date] = []
    d = first
    last = first + dt.timedelta(days=rng[1]) if rng[0] == "end_date" else dt.date(2200, 1, 1)
    while d <= last and not (rng[0] == "numbered" and len(out) == rng[1]):
        if _matches(kind, p, d, first):
            out.append(d)
        d += dt.timedelta(days=1)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=patterns, rng=ranges, first=first_dates, tod=times, tz=zones)
def test_property_expansion_matches_the_pattern_definition(pattern, rng, first, tod, tz):
    kind, p = pattern
    if rng[0] == "numbered":
        boundary = NumberedPattern(start=first, number=rng[1])
    else:
        boundary = EndDatePattern(start=first, end=first + dt.timedelta(days=rng[1]))
    recurrence = rec(_PATTERN_CLASSES[kind](**p), boundary)
    start = dt.datetime.combine(first, tod, tzinfo=tz)
    got = occurrence_starts(recurrence, start, tz)

    assert all(s.tzinfo is UTC for s in got)
    assert got == sorted(got) and len(set(got)) == len(got)
    assert {s.astimezone(tz).time() for s in got} <= {tod}  # local wall time constant
    local_dates = [s.astimezone(tz).date() for s in got]
    assert all(d >= first for d in local_dates)
    if rng[0] == "numbered":
        assert len(got) == rng[1]
    else:
        assert all(d <= first + dt.timedelta(days=rng[1]) for d in local_dates)
    assert all(_matches(kind, p, d, first) for d in local_dates)
    assert local_dates == _oracle(kind, p, first, rng)


@settings(max_examples=200, deadline=None)
@given(
    pattern=patterns,
    first=first_dates,
    tod=times,
    tz=zones,
    minutes=st.integers(0, 3 * 24 * 60),
    offset_days=st.integers(-30, 800),
    window_minutes=st.integers(1, 120 * 24 * 60),
    data=st.data(),
)
def test_property_expand_equals_filtered_originals(pattern, first, tod, tz, minutes, offset_days, window_minutes, data):
    kind, p = pattern
    recurrence = rec(_PATTERN_CLASSES[kind](**p), NoEndPattern(start=first))
    start = dt.datetime.combine(first, tod, tzinfo=tz)
    end = start + dt.timedelta(minutes=minutes)
    window_start = start + dt.timedelta(days=offset_days)
    window_end = window_start + dt.timedelta(minutes=window_minutes)
    horizon = window_end + dt.timedelta(days=4)
    originals = [s for s in occurrence_starts(recurrence, start, tz, limit=3000) if s < horizon]
    assert originals == sorted(originals)
    deleted = set(data.draw(st.lists(st.sampled_from(originals), max_size=3))) if originals else set()
    # Moves of up to three days either way, with a new length: they may enter or leave the window.
    moves = st.tuples(st.integers(-3 * 24 * 60, 3 * 24 * 60), st.integers(0, 600))
    modified = {
        s: (s + dt.timedelta(minutes=shift), s + dt.timedelta(minutes=shift + length))
        for s, (shift, length) in (
            data.draw(st.dictionaries(st.sampled_from(originals), moves, max_size=4)) if originals else {}
        ).items()
    }

    got = expand(recurrence, start, end, tz, window_start, window_end, deleted=deleted, modified=modified)

    def end_of(s: dt.datetime) -> dt.datetime:
        # The length is kept in local wall-clock time (the absolute length changes across a DST switch).
        wall_end = s.astimezone(tz).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
        return wall_end.replace(tzinfo=tz).astimezone(UTC)

    def overlaps(a: dt.datetime, b: dt.datetime) -> bool:
        return window_start <= a < window_end if a == b else a < window_end and b > window_start

    expected = sorted(
        (
            Occurrence(s, *modified[s], True) if s in modified else Occurrence(s, s, end_of(s), False)
            for s in originals
            if s not in deleted
        ),
        key=lambda o: (o.start, o.original_start),
    )
    assert got == [o for o in expected if overlaps(o.start, o.end)]
