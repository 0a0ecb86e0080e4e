"""Expanding an EWS ``t:Recurrence`` (one pattern, one range) into occurrences.

A pure module: no I/O, no server state. The sandbox server stores a recurring master's Recurrence element,
its first occurrence start/end and its start time zone, and asks this module for the occurrences that a
CalendarView window sees, with deleted and modified occurrences applied.

Semantics follow Exchange:

- Patterns are evaluated on local wall-clock dates in the item's start time zone. Every occurrence keeps the
  master's local time of day across DST changes (a 09:00 London meeting stays 09:00 local; UTC shifts). A
  local time that does not exist on a given day (the spring-forward gap) is moved forward by the gap, as
  Exchange does; an ambiguous one (the autumn fall-back) takes the first, daylight-time, instant.
- An occurrence lasts as long as the master, measured in local wall-clock time (an all-day item stays
  midnight to midnight, also across a DST change).
- The first occurrence is the first date matching the pattern on or after the range's StartDate; the master's
  own start need not match the pattern.
- ``DayOfMonth`` larger than a month's length means the month's last day (31 -> Apr 30; Feb 29 yearly ->
  Feb 28 in common years).
- ``DayOfWeekIndex`` First..Fourth counts matching days from the start of the month, Last is the last one.
  ``DaysOfWeek`` ``Day`` matches every day, ``Weekday`` Monday to Friday, ``WeekendDay`` Saturday and Sunday:
  "Second WeekendDay of March" is the second Saturday-or-Sunday of March.
- ``WeeklyRecurrence`` with Interval > 1 counts weeks as starting on ``FirstDayOfWeek`` (Sunday when the
  element is absent, the Exchange/MAPI default); the week holding StartDate is the first week of the series.
- Monthly patterns with Interval > 1 count months from the month holding StartDate.
- ``EndDate`` is inclusive and is a local date; an offset on it (``2026-12-01Z``, ``2026-12-01+01:00``) is
  accepted and ignored. ``NumberOfOccurrences`` counts every occurrence of the series, deleted ones included.
- The regenerating patterns (``DailyRegeneration``, ``WeeklyRegeneration``, ``MonthlyRegeneration``,
  ``YearlyRegeneration``) exist for tasks only (the next occurrence depends on when the task is completed);
  they cannot be expanded into a calendar and raise :class:`RecurrenceError`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule as du
from lxml import etree

NS = "http://schemas.microsoft.com/exchange/services/2006/types"

__all__ = [
    "NS",
    "Occurrence",
    "RecurrenceError",
    "RecurrenceRule",
    "expand",
    "occurrence_starts",
    "parse",
    "to_rrule",
    "windows_to_zoneinfo",
]

UTC = dt.UTC

# Pattern element names.
RELATIVE_YEARLY = "RelativeYearlyRecurrence"
ABSOLUTE_YEARLY = "AbsoluteYearlyRecurrence"
RELATIVE_MONTHLY = "RelativeMonthlyRecurrence"
ABSOLUTE_MONTHLY = "AbsoluteMonthlyRecurrence"
WEEKLY = "WeeklyRecurrence"
DAILY = "DailyRecurrence"
PATTERNS = (RELATIVE_YEARLY, ABSOLUTE_YEARLY, RELATIVE_MONTHLY, ABSOLUTE_MONTHLY, WEEKLY, DAILY)
REGENERATIONS = ("DailyRegeneration", "WeeklyRegeneration", "MonthlyRegeneration", "YearlyRegeneration")

# Range element names.
NO_END = "NoEndRecurrence"
END_DATE = "EndDateRecurrence"
NUMBERED = "NumberedRecurrence"
RANGES = (NO_END, END_DATE, NUMBERED)

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY, WEEKDAY, WEEKEND_DAY = "Day", "Weekday", "WeekendDay"
DAY_OF_WEEK_VALUES = WEEKDAY_NAMES + (DAY, WEEKDAY, WEEKEND_DAY)
DAY_OF_WEEK_INDEXES = ("First", "Second", "Third", "Fourth", "Last")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Python weekday numbers (Monday = 0) that each DayOfWeekType value stands for.
_DAY_SETS: dict[str, tuple[int, ...]] = {name: (i,) for i, name in enumerate(WEEKDAY_NAMES)}
_DAY_SETS[DAY] = (0, 1, 2, 3, 4, 5, 6)
_DAY_SETS[WEEKDAY] = (0, 1, 2, 3, 4)
_DAY_SETS[WEEKEND_DAY] = (5, 6)
_RRULE_DAYS = (du.MO, du.TU, du.WE, du.TH, du.FR, du.SA, du.SU)

# Interval limits as documented for EWS (DailyRecurrence 1-999, weekly and monthly 1-99).
_MAX_INTERVAL = {DAILY: 999, WEEKLY: 99, RELATIVE_MONTHLY: 99, ABSOLUTE_MONTHLY: 99}

_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?$")
_INT_RE = re.compile(r"^[+-]?\d+$")


class RecurrenceError(ValueError):
    """An invalid or unsupported recurrence pattern or range (or invalid arguments to expand it)."""


@dataclass(frozen=True)
class Occurrence:
    original_start: dt.datetime  # aware, UTC: where the pattern puts it
    start: dt.datetime  # aware, UTC (after modification)
    end: dt.datetime  # aware, UTC
    modified: bool


@dataclass(frozen=True)
class RecurrenceRule:
    """A parsed pattern and range. ``pattern`` and ``range`` are the EWS element names."""

    pattern: str
    range: str
    start_date: dt.date
    interval: int = 1
    days_of_week: tuple[str, ...] = ()  # DayOfWeekType values, as in the XML
    day_of_week_index: str | None = None  # First .. Last
    day_of_month: int | None = None  # 1 .. 31
    month: int | None = None  # 1 .. 12
    first_day_of_week: str = "Sunday"
    end_date: dt.date | None = None  # EndDateRecurrence, inclusive
    number_of_occurrences: int | None = None  # NumberedRecurrence

    @property
    def weekdays(self) -> tuple[int, ...]:
        """The Python weekday numbers (Monday = 0) that ``days_of_week`` stands for, sorted."""
        return tuple(sorted({d for name in self.days_of_week for d in _DAY_SETS[name]}))


# --------------------------------------------------------------------------------------------------- parsing


def _local(elem: etree._Element) -> str:
    return etree.QName(elem).localname


def _children(elem: etree._Element) -> list[etree._Element]:
    """Element children (comments and processing instructions skipped), all required in the types namespace."""
    out = []
    for child in elem:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        if qname.namespace != NS:
            raise RecurrenceError(
                f"{_local(elem)}: unexpected element {child.tag!r}; expected elements in the namespace {NS}"
            )
        out.append(child)
    return out


def _fields(elem: etree._Element, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, str]:
    """Text of each child of ``elem``, checking that exactly the allowed children are present, once each."""
    name = _local(elem)
    values: dict[str, str] = {}
    for child in _children(elem):
        key = _local(child)
        if key not in required and key not in optional:
            raise RecurrenceError(f"{name}: unexpected element {key}")
        if key in values:
            raise RecurrenceError(f"{name}: {key} given more than once")
        if len(child):
            raise RecurrenceError(f"{name}: {key} must hold text, not elements")
        values[key] = (child.text or "").strip()
    missing = [key for key in required if key not in values]
    if missing:
        raise RecurrenceError(f"{name}: missing {', '.join(missing)}")
    return values


def _int(owner: str, field: str, text: str, low: int, high: int | None) -> int:
    if not _INT_RE.match(text):
        raise RecurrenceError(f"{owner}: {field} must be an integer, got {text!r}")
    value = int(text)
    if value < low or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f"at least {low}"
        raise RecurrenceError(f"{owner}: {field} must be {bound}, got {value}")
    return value


def _enum(owner: str, field: str, text: str, allowed: tuple[str, ...]) -> str:
    if text not in allowed:
        raise RecurrenceError(f"{owner}: {field} must be one of {', '.join(allowed)}; got {text!r}")
    return text


def _date(owner: str, field: str, text: str) -> dt.date:
    """An xs:date; a time-zone suffix (``Z``, ``+01:00``) is accepted and ignored: the date is a local date."""
    match = _DATE_RE.match(text)
    if not match:
        raise RecurrenceError(f"{owner}: {field} must be an xs:date such as 2026-03-01, got {text!r}")
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise RecurrenceError(f"{owner}: {field} is not a valid date: {text!r} ({exc})") from None


def _parse_pattern(elem: etree._Element) -> dict:
    name = _local(elem)
    if name == RELATIVE_YEARLY:
        f = _fields(elem, ("DaysOfWeek", "DayOfWeekIndex", "Month"))
        return {
            "days_of_week": (_enum(name, "DaysOfWeek", f["DaysOfWeek"], DAY_OF_WEEK_VALUES),),
            "day_of_week_index": _enum(name, "DayOfWeekIndex", f["DayOfWeekIndex"], DAY_OF_WEEK_INDEXES),
            "month": MONTH_NAMES.index(_enum(name, "Month", f["Month"], MONTH_NAMES)) + 1,
        }
    if name == ABSOLUTE_YEARLY:
        f = _fields(elem, ("DayOfMonth", "Month"))
        return {
            "day_of_month": _int(name, "DayOfMonth", f["DayOfMonth"], 1, 31),
            "month": MONTH_NAMES.index(_enum(name, "Month", f["Month"], MONTH_NAMES)) + 1,
        }
    if name == RELATIVE_MONTHLY:
        f = _fields(elem, ("Interval", "DaysOfWeek", "DayOfWeekIndex"))
        return {
            "interval": _int(name, "Interval", f["Interval"], 1, _MAX_INTERVAL[name]),
            "days_of_week": (_enum(name, "DaysOfWeek", f["DaysOfWeek"], DAY_OF_WEEK_VALUES),),
            "day_of_week_index": _enum(name, "DayOfWeekIndex", f["DayOfWeekIndex"], DAY_OF_WEEK_INDEXES),
        }
    if name == ABSOLUTE_MONTHLY:
        f = _fields(elem, ("Interval", "DayOfMonth"))
        return {
            "interval": _int(name, "Interval", f["Interval"], 1, _MAX_INTERVAL[name]),
            "day_of_month": _int(name, "DayOfMonth", f["DayOfMonth"], 1, 31),
        }
    if name == WEEKLY:
        f = _fields(elem, ("Interval", "DaysOfWeek"), ("FirstDayOfWeek",))
        days = tuple(f["DaysOfWeek"].split())
        if not days:
            raise RecurrenceError(f"{name}: DaysOfWeek must name at least one day")
        for day in days:
            _enum(name, "DaysOfWeek", day, DAY_OF_WEEK_VALUES)
        first = f.get("FirstDayOfWeek", "Sunday")
        return {
            "interval": _int(name, "Interval", f["Interval"], 1, _MAX_INTERVAL[name]),
            "days_of_week": days,
            "first_day_of_week": _enum(name, "FirstDayOfWeek", first, WEEKDAY_NAMES),
        }
    if name == DAILY:
        f = _fields(elem, ("Interval",))
        return {"interval": _int(name, "Interval", f["Interval"], 1, _MAX_INTERVAL[name])}
    if name in REGENERATIONS:
        raise RecurrenceError(
            f"{name} is a task regeneration pattern (the next occurrence depends on when the task is "
            "completed); it cannot be expanded into calendar occurrences and is not supported here"
        )
    raise RecurrenceError(f"unknown recurrence pattern {name}; expected one of {', '.join(PATTERNS)}")


def _parse_range(elem: etree._Element) -> dict:
    name = _local(elem)
    if name == NO_END:
        f = _fields(elem, ("StartDate",))
        return {"start_date": _date(name, "StartDate", f["StartDate"])}
    if name == END_DATE:
        f = _fields(elem, ("StartDate", "EndDate"))
        start, end = _date(name, "StartDate", f["StartDate"]), _date(name, "EndDate", f["EndDate"])
        if end < start:
            raise RecurrenceError(f"{name}: EndDate {end} is before StartDate {start}")
        return {"start_date": start, "end_date": end}
    if name == NUMBERED:
        f = _fields(elem, ("StartDate", "NumberOfOccurrences"))
        return {
            "start_date": _date(name, "StartDate", f["StartDate"]),
            "number_of_occurrences": _int(name, "NumberOfOccurrences", f["NumberOfOccurrences"], 1, None),
        }
    raise RecurrenceError(f"unknown recurrence range {name}; expected one of {', '.join(RANGES)}")


def parse(recurrence: etree._Element) -> RecurrenceRule:
    """Parse a ``t:Recurrence`` element holding one pattern and one range; RecurrenceError if invalid."""
    if not isinstance(recurrence, etree._Element) or not isinstance(recurrence.tag, str):
        raise RecurrenceError(f"expected a t:Recurrence element, got {type(recurrence).__name__}")
    if recurrence.tag != f"{{{NS}}}Recurrence":
        raise RecurrenceError(f"expected a t:Recurrence element ({{{NS}}}Recurrence), got {recurrence.tag!r}")
    patterns, ranges = [], []
    for child in _children(recurrence):
        name = _local(child)
        if name in RANGES:
            ranges.append(child)
        elif name in PATTERNS or name in REGENERATIONS:
            patterns.append(child)
        else:
            raise RecurrenceError(
                f"Recurrence: unexpected element {name}; expected one pattern ({', '.join(PATTERNS)}) "
                f"and one range ({', '.join(RANGES)})"
            )
    if len(patterns) != 1:
        raise RecurrenceError(f"Recurrence must hold exactly one pattern element, found {len(patterns)}")
    if len(ranges) != 1:
        raise RecurrenceError(f"Recurrence must hold exactly one range element, found {len(ranges)}")
    return RecurrenceRule(
        pattern=_local(patterns[0]), range=_local(ranges[0]), **_parse_pattern(patterns[0]), **_parse_range(ranges[0])
    )


# --------------------------------------------------------------------------------------------------- rrule


def _month_days(day_of_month: int) -> dict:
    """rrule arguments for "day N of the month, or its last day when the month is shorter"."""
    if day_of_month <= 28:
        return {"bymonthday": day_of_month}
    # Every month has day 28; of the days 28..N that a month has, the last is min(N, length of month).
    return {"bymonthday": tuple(range(28, day_of_month + 1)), "bysetpos": -1}


def _relative_days(rule: RecurrenceRule) -> dict:
    """rrule arguments for "the First..Fourth/Last <DaysOfWeek> of the month"."""
    days = tuple(_RRULE_DAYS[d] for d in rule.weekdays)
    index = DAY_OF_WEEK_INDEXES.index(rule.day_of_week_index or "")
    return {"byweekday": days, "bysetpos": -1 if index == 4 else index + 1}


def to_rrule(rule: RecurrenceRule, dtstart_local: dt.datetime) -> du.rrule:
    """A dateutil rrule yielding the occurrence starts of ``rule`` in local wall-clock time.

    ``dtstart_local`` is normally naive local time: the range's StartDate at the master's local time of day.
    Only its date matters for which days match (its time is carried into the results; dateutil drops
    microseconds). The first result is the first matching date on or after it.
    """
    kwargs: dict = {"dtstart": dtstart_local, "cache": False}
    if rule.end_date is not None:
        kwargs["until"] = dt.datetime.combine(rule.end_date, dt.time.max, tzinfo=dtstart_local.tzinfo)
    if rule.number_of_occurrences is not None:
        kwargs["count"] = rule.number_of_occurrences
    if rule.pattern == DAILY:
        return du.rrule(du.DAILY, interval=rule.interval, **kwargs)
    if rule.pattern == WEEKLY:
        return du.rrule(
            du.WEEKLY,
            interval=rule.interval,
            byweekday=tuple(_RRULE_DAYS[d] for d in rule.weekdays),
            wkst=WEEKDAY_NAMES.index(rule.first_day_of_week),
            **kwargs,
        )
    if rule.pattern == ABSOLUTE_MONTHLY:
        return du.rrule(du.MONTHLY, interval=rule.interval, **_month_days(rule.day_of_month or 1), **kwargs)
    if rule.pattern == RELATIVE_MONTHLY:
        return du.rrule(du.MONTHLY, interval=rule.interval, **_relative_days(rule), **kwargs)
    if rule.pattern == ABSOLUTE_YEARLY:
        return du.rrule(du.YEARLY, bymonth=rule.month, **_month_days(rule.day_of_month or 1), **kwargs)
    if rule.pattern == RELATIVE_YEARLY:
        return du.rrule(du.YEARLY, bymonth=rule.month, **_relative_days(rule), **kwargs)
    raise RecurrenceError(f"unsupported recurrence pattern {rule.pattern}")


# --------------------------------------------------------------------------------------------------- expansion


def _require_aware(name: str, value: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise RecurrenceError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise RecurrenceError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _to_utc(local: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """Naive local wall time -> aware UTC. Times in a DST gap move forward by the gap; ambiguous times take the
    first (daylight) instant: ``fold=0`` resolves both that way with zoneinfo."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


class _Series:
    """The original occurrences of one master, in local wall time and in UTC."""

    def __init__(self, recurrence: etree._Element, start: dt.datetime, tz: ZoneInfo, end: dt.datetime | None):
        if not isinstance(tz, dt.tzinfo):
            raise RecurrenceError(f"tz must be a ZoneInfo, got {type(tz).__name__}")
        self.rule = parse(recurrence)
        self.tz = tz
        local_start = _require_aware("start", start).astimezone(tz).replace(tzinfo=None)
        self.time_of_day = local_start.time()
        if end is None:
            self.duration = dt.timedelta(0)
        else:
            local_end = _require_aware("end", end).astimezone(tz).replace(tzinfo=None)
            if local_end < local_start:
                raise RecurrenceError(f"end {end.isoformat()} is before start {start.isoformat()}")
            self.duration = local_end - local_start
        dtstart = dt.datetime.combine(self.rule.start_date, self.time_of_day.replace(microsecond=0))
        self.rrule = to_rrule(self.rule, dtstart)

    def locals(self) -> Iterable[dt.datetime]:
        """Original starts, naive local wall time, in order."""
        for value in self.rrule:
            yield dt.datetime.combine(value.date(), self.time_of_day)

    def span(self, local: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        start = _to_utc(local, self.tz)
        return start, max(start, _to_utc(local + self.duration, self.tz))


def _overlaps(start: dt.datetime, end: dt.datetime, window_start: dt.datetime, window_end: dt.datetime) -> bool:
    if start == end:  # a zero-length item is in the window when its instant is
        return window_start <= start < window_end
    return start < window_end and end > window_start


def expand(
    recurrence: etree._Element,
    start: dt.datetime,
    end: dt.datetime,
    tz: ZoneInfo,
    window_start: dt.datetime,
    window_end: dt.datetime,
    deleted: Iterable[dt.datetime] = (),
    modified: Mapping[dt.datetime, tuple[dt.datetime, dt.datetime]] = MappingProxyType({}),
    *,
    ews_bounds: bool = False,
) -> list[Occurrence]:
    """The occurrences of a recurring master that overlap ``[window_start, window_end)``, sorted by start.

    With ``ews_bounds``, EWS CalendarView's rule instead: an occurrence is in unless it ends before the window
    starts or starts on or after the window ends (so one ending exactly at the start is in; the window may be
    empty).

    ``start``/``end`` are the master's (first occurrence's) start and end; ``tz`` its start time zone.
    Occurrences whose original start is in ``deleted`` are skipped. An occurrence whose original start is a
    key of ``modified`` takes the new (start, end) and is included when the new times overlap the window.
    Keys of ``deleted``/``modified`` that are not original starts of the series are ignored.
    """
    series = _Series(recurrence, start, tz, end)
    window_start = _require_aware("window_start", window_start)
    window_end = _require_aware("window_end", window_end)
    gone = {_require_aware("deleted occurrence", value) for value in deleted}
    moved: dict[dt.datetime, tuple[dt.datetime, dt.datetime]] = {}
    for key, (new_start, new_end) in modified.items():
        new_start = _require_aware("modified occurrence start", new_start)
        new_end = _require_aware("modified occurrence end", new_end)
        if new_end < new_start:
            raise RecurrenceError(f"modified occurrence {key}: end {new_end} is before start {new_start}")
        moved[_require_aware("modified occurrence key", key)] = (new_start, new_end)
    if window_end < window_start or (window_end == window_start and not ews_bounds):
        return []

    # Local wall-time bounds, with a margin for the occurrence length and for UTC offsets (any offset is < 1 day).
    margin = dt.timedelta(days=2)
    low = window_start.astimezone(tz).replace(tzinfo=None) - series.duration - margin
    high = window_end.astimezone(tz).replace(tzinfo=None) + margin
    stop = max([high] + [key.astimezone(tz).replace(tzinfo=None) + margin for key in moved])

    result = []
    for local in series.locals():
        if local > stop:
            break
        if local < low and not moved:
            continue
        original, original_end = series.span(local)
        if original in gone:
            continue
        if original in moved:
            occ = Occurrence(original, *moved[original], modified=True)
        elif local < low or local > high:
            continue
        else:
            occ = Occurrence(original, original, original_end, modified=False)
        if ews_bounds:
            if occ.start < window_end and occ.end >= window_start:
                result.append(occ)
        elif _overlaps(occ.start, occ.end, window_start, window_end):
            result.append(occ)
    result.sort(key=lambda o: (o.start, o.original_start))
    return result


def occurrence_starts(
    recurrence: etree._Element, start: dt.datetime, tz: ZoneInfo, limit: int = 1000
) -> list[dt.datetime]:
    """All original occurrence starts of the series, in order, aware UTC (deleted ones included).

    A NoEndRecurrence series is cut at ``limit`` occurrences; bounded ranges are returned whole.
    """
    if limit < 0:
        raise RecurrenceError(f"limit must be >= 0, got {limit}")
    series = _Series(recurrence, start, tz, None)
    locals_ = series.locals()
    if series.rule.range == NO_END:
        locals_ = islice(locals_, limit)
    return [_to_utc(local, tz) for local in locals_]


# --------------------------------------------------------------------------------------------------- time zones


def windows_to_zoneinfo(tz_id: str) -> ZoneInfo:
    """A Windows time-zone id ("W. Europe Standard Time") or an IANA id ("Europe/Berlin") as a ZoneInfo."""
    if not isinstance(tz_id, str) or not tz_id.strip():
        raise RecurrenceError(f"time zone id must be a non-empty string, got {tz_id!r}")
    tz_id = tz_id.strip()
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP  # static table; imported lazily (heavy package)

    iana = MS_TIMEZONE_TO_IANA_MAP.get(tz_id, tz_id)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RecurrenceError(f"unknown time zone {tz_id!r}: neither a Windows nor an IANA time-zone id") from None
