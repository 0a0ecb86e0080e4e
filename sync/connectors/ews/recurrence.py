"""exchangelib's ``Recurrence`` (EWS patterns and ranges) ⇄ `ExchangePattern` ⇄ neutral `Recurrence`.

The rules (which series Exchange can hold, RRULE ⇄ pattern) are in `sync.mapping.recurrence`; this module only
builds and reads exchangelib's classes. exchangelib holds enum fields as 1-based ints when we build them and may
hold names when it parsed them from XML.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from exchangelib.fields import MONTHS, WEEK_NUMBERS, WEEKDAY_NAMES, WEEKDAYS
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from exchangelib.recurrence import Recurrence as EwsRecurrence

from sync.entry import Recurrence
from sync.mapping.issues import MappingIssue
from sync.mapping.recurrence import ExchangePattern, from_exchange_pattern, to_exchange_pattern

_PATTERN_TYPES: dict[type, str] = {
    DailyPattern: "daily",
    WeeklyPattern: "weekly",
    AbsoluteMonthlyPattern: "absolute_monthly",
    RelativeMonthlyPattern: "relative_monthly",
    AbsoluteYearlyPattern: "absolute_yearly",
    RelativeYearlyPattern: "relative_yearly",
}


def _as_int(value: Any, names: tuple[str, ...]) -> int | None:
    if value is None:
        return None
    return names.index(value) + 1 if isinstance(value, str) else int(value)


def pattern_from_ews(ews: EwsRecurrence) -> ExchangePattern:
    """The plain-data form of an exchangelib Recurrence."""
    pattern, boundary = ews.pattern, ews.boundary
    kind = _PATTERN_TYPES.get(type(pattern), type(pattern).__name__)
    values: dict[str, Any] = {"type": kind, "start": getattr(boundary, "start", None)}
    if kind != "absolute_yearly" and kind != "relative_yearly":
        values["interval"] = getattr(pattern, "interval", 1) or 1
    if kind == "weekly":
        values["weekdays"] = tuple(_as_int(d, WEEKDAY_NAMES) for d in (pattern.weekdays or []))
        values["first_day_of_week"] = _as_int(pattern.first_day_of_week, WEEKDAY_NAMES)
    if kind in ("relative_monthly", "relative_yearly"):
        values["weekday"] = _as_int(pattern.weekday, WEEKDAYS)
        values["week_number"] = _as_int(pattern.week_number, WEEK_NUMBERS)
    if kind in ("absolute_monthly", "absolute_yearly"):
        values["day_of_month"] = pattern.day_of_month
    if kind in ("absolute_yearly", "relative_yearly"):
        values["month"] = _as_int(pattern.month, MONTHS)
    if isinstance(boundary, NumberedPattern):
        values.update(range="numbered", number=boundary.number)
    elif isinstance(boundary, EndDatePattern):
        values.update(range="end_date", end=boundary.end)
    return ExchangePattern(**values)


def pattern_to_ews(p: ExchangePattern) -> EwsRecurrence:
    """The exchangelib Recurrence for a pattern `sync.mapping.recurrence.to_exchange_pattern` made."""
    pattern: Any
    if p.type == "daily":
        pattern = DailyPattern(interval=p.interval)
    elif p.type == "weekly":
        pattern = WeeklyPattern(interval=p.interval, weekdays=list(p.weekdays))
        if p.first_day_of_week is not None:
            pattern.first_day_of_week = p.first_day_of_week
    elif p.type == "absolute_monthly":
        pattern = AbsoluteMonthlyPattern(interval=p.interval, day_of_month=p.day_of_month)
    elif p.type == "relative_monthly":
        pattern = RelativeMonthlyPattern(interval=p.interval, weekday=p.weekday, week_number=p.week_number)
    elif p.type == "absolute_yearly":
        pattern = AbsoluteYearlyPattern(day_of_month=p.day_of_month, month=p.month)
    elif p.type == "relative_yearly":
        pattern = RelativeYearlyPattern(weekday=p.weekday, week_number=p.week_number, month=p.month)
    else:
        raise ValueError(f"no EWS pattern for {p.type!r}")
    boundary: Any
    if p.range == "numbered":
        boundary = NumberedPattern(start=p.start, number=p.number)
    elif p.range == "end_date":
        boundary = EndDatePattern(start=p.start, end=p.end)
    else:
        boundary = NoEndPattern(start=p.start)
    return EwsRecurrence(pattern=pattern, boundary=boundary)


def to_exchange(rec: Recurrence, start: dt.date) -> tuple[EwsRecurrence | None, list[MappingIssue]]:
    """The exchangelib Recurrence for a neutral one anchored on local date ``start``."""
    pattern, issues = to_exchange_pattern(rec, start)
    return (pattern_to_ews(pattern) if pattern is not None else None), issues


def from_exchange(
    ews: EwsRecurrence, exdates: tuple[dt.date, ...] = ()
) -> tuple[Recurrence | None, list[MappingIssue]]:
    """The neutral Recurrence for an exchangelib Recurrence (plus deleted occurrences as local dates)."""
    return from_exchange_pattern(pattern_from_ews(ews), exdates)
