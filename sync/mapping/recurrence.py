"""Recurrence: RFC 5545 RRULE text (Salesforce ``Recurrence2PatternText``) ⇄ neutral `Recurrence` ⇄
`ExchangePattern` (Exchange's pattern and range model, as plain data).

Exchange keeps a series as a pattern (daily, weekly, absolute/relative monthly, absolute/relative yearly) and a
range (no end, numbered, end date), in EWS's ``Recurrence`` element and Microsoft Graph's ``patternedRecurrence``
alike; each connector turns `ExchangePattern` into its own wire form (`sync.connectors.ews.recurrence`).

The subset both sides hold: DAILY (interval), WEEKLY (interval, days, week start), MONTHLY on a day of the
month or on the n-th/last weekday (interval), YEARLY on a date or on the n-th weekday of a month (no
interval), ending never, after COUNT occurrences (≤ 999) or on a date. Anything else (BYHOUR, BYWEEKNO,
HOURLY, several BYSETPOS, yearly intervals, task regeneration patterns, ...) is a `MappingIssue`
``recurrence_unsupported``, so that no half-synced series is ever written.

In the neutral form ``UNTIL`` is the last local date of the series (``UNTIL=20240331``); the Salesforce text
carries the end of that day in the series' time zone in UTC (``UNTIL=20240331T065959Z`` for Los Angeles).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dateutil.rrule import rrulestr

from sync.entry import Recurrence, Side, normalize_rrule
from sync.mapping.issues import INVALID_VALUE, RECURRENCE_UNSUPPORTED, MappingIssue
from sync.mapping.timezones import zone

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_ALLOWED_KEYS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST"}
_WEEKDAY_SET = ("MO", "TU", "WE", "TH", "FR")
_WEEKEND_SET = ("SA", "SU")
MAX_COUNT = 999

# Exchange's numbering (EWS and Graph): weekdays 1..7 = Monday..Sunday, 8 = Day, 9 = Weekday, 10 = WeekendDay;
# week numbers 1..4 = First..Fourth, 5 = Last; months 1..12.
DAY, WEEKDAY, WEEKEND_DAY = 8, 9, 10
LAST_WEEK = 5


@dataclass(frozen=True)
class ExchangePattern:
    """A series the way Exchange holds it: a pattern and a range, anchored on the local date ``start``.

    ``type``: ``daily`` (``interval``), ``weekly`` (``interval``, ``weekdays``, ``first_day_of_week``),
    ``absolute_monthly`` (``interval``, ``day_of_month``), ``relative_monthly`` (``interval``, ``weekday``,
    ``week_number``), ``absolute_yearly`` (``day_of_month``, ``month``), ``relative_yearly`` (``weekday``,
    ``week_number``, ``month``); any other name is a pattern we cannot sync. ``range``: ``no_end``,
    ``numbered`` (``number``) or ``end_date`` (``end``).
    """

    type: str
    start: dt.date | None = None
    interval: int = 1
    weekdays: tuple[int, ...] = ()
    first_day_of_week: int | None = None
    weekday: int | None = None
    week_number: int | None = None
    day_of_month: int | None = None
    month: int | None = None
    range: str = "no_end"
    number: int | None = None
    end: dt.date | None = None


def parse_parts(rrule: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in normalize_rrule(rrule).split(";"):
        if "=" in part:
            key, value = part.split("=", 1)
            parts[key] = value
    return parts


def format_parts(parts: dict[str, Any]) -> str:
    return normalize_rrule(";".join(f"{k}={v}" for k, v in parts.items() if v is not None and v != ""))


def _issue(side: Side, message: str, code: str = RECURRENCE_UNSUPPORTED) -> MappingIssue:
    return MappingIssue(code=code, message=message, side=side, field="recurrence")


def recurrence_issues(rec: Recurrence, side: Side) -> list[MappingIssue]:
    """Why ``rec`` cannot be synced to ``side`` (empty if it can): RFC syntax and the common subset."""
    parts = parse_parts(rec.rrule)
    if "FREQ" not in parts:
        return [_issue(side, f"The recurrence rule {rec.rrule!r} has no FREQ.", INVALID_VALUE)]
    try:
        rrulestr(rec.rrule, dtstart=dt.datetime(2024, 1, 1))
    except (ValueError, TypeError) as exc:
        return [_issue(side, f"The recurrence rule {rec.rrule!r} is not valid RFC 5545: {exc}.", INVALID_VALUE)]
    unsupported = sorted(set(parts) - _ALLOWED_KEYS)
    if unsupported:
        return [_issue(side, f"Recurrence rules using {', '.join(unsupported)} cannot be synced.")]
    freq = parts["FREQ"]
    if freq not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        return [_issue(side, f"A {freq.lower()} recurrence cannot be synced (daily or longer only).")]
    if "COUNT" in parts and "UNTIL" in parts:
        return [_issue(side, "A recurrence rule cannot have both COUNT and UNTIL.", INVALID_VALUE)]
    if "COUNT" in parts and not 1 <= int(parts["COUNT"]) <= MAX_COUNT:
        return [_issue(side, f"A series of {parts['COUNT']} occurrences is longer than {MAX_COUNT}.")]
    interval = int(parts.get("INTERVAL", "1"))
    if freq == "YEARLY" and interval != 1:
        return [_issue(side, "A yearly series that skips years cannot be synced.")]
    if interval > (999 if freq == "DAILY" else 99):
        return [_issue(side, f"An interval of {interval} is too long to sync.")]
    byday = [d for d in parts.get("BYDAY", "").split(",") if d]
    numbered = [d for d in byday if d[:-2]]
    if freq in ("DAILY", "WEEKLY") and (numbered or "BYMONTHDAY" in parts or "BYSETPOS" in parts):
        return [_issue(side, f"This {freq.lower()} recurrence rule cannot be synced.")]
    if freq == "DAILY" and byday and not (interval == 1 and set(byday) == set(_WEEKDAY_SET)):
        return [_issue(side, "A daily series limited to some days can only be synced as 'every weekday'.")]
    if freq in ("MONTHLY", "YEARLY"):
        if "BYMONTHDAY" in parts and byday:
            return [_issue(side, "A series on both a day of the month and a weekday cannot be synced.")]
        if "," in parts.get("BYMONTHDAY", "") or "," in parts.get("BYMONTH", ""):
            return [_issue(side, "A series on several days or months of the year cannot be synced.")]
        if numbered and (len(byday) != 1 or "BYSETPOS" in parts):
            return [_issue(side, "A series on several weekdays of the month cannot be synced.")]
        if byday and not numbered and not _relative_set(byday, parts.get("BYSETPOS")):
            return [_issue(side, "This monthly/yearly weekday rule cannot be synced.")]
        if freq == "MONTHLY" and "BYMONTH" in parts:
            return [_issue(side, "A monthly series limited to some months cannot be synced.")]
    return []


def _relative_set(byday: list[str], setpos: str | None) -> bool:
    # "BYDAY=MO,TU,WE,TH,FR;BYSETPOS=2" (second weekday) and similar: EWS 'Weekday'/'WeekendDay'/'Day'.
    if setpos is None or "," in setpos or int(setpos) not in (1, 2, 3, 4, -1):
        return False
    return set(byday) in (set(_WEEKDAY_SET), set(_WEEKEND_SET), set(_DAYS)) or len(byday) == 1


def _week_number(n: int) -> int:
    return LAST_WEEK if n == -1 else n


def _exchange_weekday(byday: list[str]) -> int:
    days = set(byday)
    if days == set(_DAYS):
        return DAY
    if days == set(_WEEKDAY_SET):
        return WEEKDAY
    if days == set(_WEEKEND_SET):
        return WEEKEND_DAY
    return _DAYS.index(byday[0]) + 1


def to_exchange_pattern(rec: Recurrence, start: dt.date) -> tuple[ExchangePattern | None, list[MappingIssue]]:
    """Exchange's pattern and range for a neutral Recurrence anchored on local date ``start`` (or the issues
    that keep it from Exchange)."""
    issues = recurrence_issues(rec, Side.EXCHANGE)
    if issues:
        return None, issues
    parts = parse_parts(rec.rrule)
    freq = parts["FREQ"]
    interval = int(parts.get("INTERVAL", "1"))
    byday = [d for d in parts.get("BYDAY", "").split(",") if d]
    pattern: dict[str, Any]
    if freq == "DAILY" and byday:
        pattern = {"type": "weekly", "interval": 1, "weekdays": tuple(_DAYS.index(d) + 1 for d in _WEEKDAY_SET)}
    elif freq == "DAILY":
        pattern = {"type": "daily", "interval": interval}
    elif freq == "WEEKLY":
        days = byday or [_DAYS[start.weekday()]]
        pattern = {
            "type": "weekly",
            "interval": interval,
            "weekdays": tuple(sorted(_DAYS.index(d) + 1 for d in days)),
            "first_day_of_week": _DAYS.index(parts.get("WKST", "MO")) + 1,
        }
    else:
        month = int(parts.get("BYMONTH", start.month))
        if byday:
            if byday[0][:-2]:
                n, weekday = int(byday[0][:-2]), _DAYS.index(byday[0][-2:]) + 1
            else:
                n, weekday = int(parts["BYSETPOS"]), _exchange_weekday(byday)
            if n not in (1, 2, 3, 4, -1):
                return None, [_issue(Side.EXCHANGE, f"The {n}th weekday of a month cannot be synced.")]
            if freq == "MONTHLY":
                pattern = {
                    "type": "relative_monthly",
                    "interval": interval,
                    "weekday": weekday,
                    "week_number": _week_number(n),
                }
            else:
                pattern = {
                    "type": "relative_yearly",
                    "weekday": weekday,
                    "week_number": _week_number(n),
                    "month": month,
                }
        else:
            day = int(parts.get("BYMONTHDAY", start.day))
            if not 1 <= day <= 31:
                return None, [_issue(Side.EXCHANGE, "Counting days from the end of the month cannot be synced.")]
            if freq == "MONTHLY":
                pattern = {"type": "absolute_monthly", "interval": interval, "day_of_month": day}
            else:
                pattern = {"type": "absolute_yearly", "day_of_month": day, "month": month}
    if "COUNT" in parts:
        boundary: dict[str, Any] = {"range": "numbered", "number": int(parts["COUNT"])}
    elif "UNTIL" in parts:
        boundary = {"range": "end_date", "end": _until_date(parts["UNTIL"], "UTC")}
    else:
        boundary = {"range": "no_end"}
    return ExchangePattern(start=start, **pattern, **boundary), []


def _byday(weekday: int, week_number: int) -> dict[str, str]:
    pos = -1 if week_number == LAST_WEEK else week_number
    if weekday <= 7:
        return {"BYDAY": f"{pos}{_DAYS[weekday - 1]}"}
    days = {DAY: _DAYS, WEEKDAY: _WEEKDAY_SET, WEEKEND_DAY: _WEEKEND_SET}[weekday]
    return {"BYDAY": ",".join(days), "BYSETPOS": str(pos)}


def from_exchange_pattern(
    pattern: ExchangePattern, exdates: tuple[dt.date, ...] = ()
) -> tuple[Recurrence | None, list[MappingIssue]]:
    """The neutral Recurrence for Exchange's pattern and range (plus deleted occurrences as local dates)."""
    parts: dict[str, Any] = {}
    if pattern.type == "daily":
        parts = {"FREQ": "DAILY", "INTERVAL": pattern.interval}
    elif pattern.type == "weekly":
        days = sorted(pattern.weekdays)
        parts = {
            "FREQ": "WEEKLY",
            "INTERVAL": pattern.interval,
            "BYDAY": ",".join(_DAYS[d - 1] for d in days),
            "WKST": _DAYS[(pattern.first_day_of_week or 1) - 1],
        }
    elif pattern.type == "absolute_monthly":
        parts = {"FREQ": "MONTHLY", "INTERVAL": pattern.interval, "BYMONTHDAY": pattern.day_of_month}
    elif pattern.type == "relative_monthly" and pattern.weekday and pattern.week_number:
        parts = {"FREQ": "MONTHLY", "INTERVAL": pattern.interval}
        parts.update(_byday(pattern.weekday, pattern.week_number))
    elif pattern.type == "absolute_yearly":
        parts = {"FREQ": "YEARLY", "BYMONTH": pattern.month, "BYMONTHDAY": pattern.day_of_month}
    elif pattern.type == "relative_yearly" and pattern.weekday and pattern.week_number:
        parts = {"FREQ": "YEARLY", "BYMONTH": pattern.month}
        parts.update(_byday(pattern.weekday, pattern.week_number))
    else:
        return None, [_issue(Side.EXCHANGE, f"The Exchange recurrence pattern {pattern.type} cannot be synced.")]
    if pattern.range == "numbered":
        parts["COUNT"] = pattern.number
    elif pattern.range == "end_date" and pattern.end is not None:
        parts["UNTIL"] = pattern.end.strftime("%Y%m%d")
    rec = Recurrence(rrule=format_parts(parts), exdates=tuple(exdates))
    return rec, recurrence_issues(rec, Side.EXCHANGE)


def _until_date(value: str, time_zone: str) -> dt.date:
    """The last local date of a series from an RRULE UNTIL (a date, or a UTC date-time)."""
    value = value.strip().upper()
    if "T" not in value:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    moment = dt.datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
    return moment.astimezone(zone(time_zone)).date()


def from_salesforce_text(text: str, time_zone: str) -> tuple[Recurrence | None, list[MappingIssue]]:
    """Parse ``Recurrence2PatternText`` (``RRULE:...`` lines, optional ``EXDATE`` lines)."""
    rrule: str | None = None
    exdates: list[dt.date] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        name, _, value = line.partition(":")
        name = name.split(";")[0].upper()
        if name == "RRULE" and rrule is None:
            rrule = value
        elif name == "EXDATE":
            try:
                exdates += [_until_date(v, time_zone) for v in value.split(",") if v.strip()]
            except ValueError:
                return None, [_issue(Side.SALESFORCE, f"Cannot read the excluded dates {value!r}.", INVALID_VALUE)]
        elif "=" in line and rrule is None and ":" not in line:
            rrule = line  # a bare rule without the RRULE: prefix
        else:
            return None, [_issue(Side.SALESFORCE, f"The recurrence line {line!r} cannot be synced.")]
    if rrule is None:
        return None, [_issue(Side.SALESFORCE, "The recurrence pattern has no RRULE.", INVALID_VALUE)]
    parts = parse_parts(rrule)
    if "UNTIL" in parts:
        try:
            parts["UNTIL"] = _until_date(parts["UNTIL"], time_zone).strftime("%Y%m%d")
        except ValueError:
            return None, [_issue(Side.SALESFORCE, f"Cannot read UNTIL={parts['UNTIL']!r}.", INVALID_VALUE)]
    rec = Recurrence(rrule=format_parts(parts), exdates=tuple(exdates))
    return rec, recurrence_issues(rec, Side.SALESFORCE)


def to_salesforce_text(rec: Recurrence, time_zone: str) -> str:
    """``Recurrence2PatternText`` for a neutral Recurrence (exdates are not part of it; see salesforce.py)."""
    parts = parse_parts(rec.rrule)
    if "UNTIL" in parts and "T" not in parts["UNTIL"]:
        last = dt.datetime.strptime(parts["UNTIL"], "%Y%m%d")
        end_of_day = dt.datetime.combine(last.date(), dt.time(23, 59, 59), tzinfo=zone(time_zone))
        parts["UNTIL"] = end_of_day.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return "RRULE:" + format_parts(parts)
