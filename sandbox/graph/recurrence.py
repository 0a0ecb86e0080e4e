"""Graph ``patternedRecurrence`` <-> the EWS ``t:Recurrence`` element the store keeps (one store, two protocols).

Reference: https://learn.microsoft.com/en-us/graph/api/resources/patternedrecurrence (pattern types ``daily``,
``weekly``, ``absoluteMonthly``, ``relativeMonthly``, ``absoluteYearly``, ``relativeYearly``; range types
``endDate``, ``noEnd``, ``numbered``). Child order follows the EWS schema, so EWS clients read back what Graph
wrote.
"""

from __future__ import annotations

import datetime as dt

from sandbox.exchange.recurrence import MONTH_NAMES
from sandbox.exchange.xml import Element, el, t

from .errors import GraphError, body_read

_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_INDEXES = ("first", "second", "third", "fourth", "last")
_PATTERNS = {
    "daily": "DailyRecurrence",
    "weekly": "WeeklyRecurrence",
    "absoluteMonthly": "AbsoluteMonthlyRecurrence",
    "relativeMonthly": "RelativeMonthlyRecurrence",
    "absoluteYearly": "AbsoluteYearlyRecurrence",
    "relativeYearly": "RelativeYearlyRecurrence",
}
_RANGES = {"endDate": "EndDateRecurrence", "noEnd": "NoEndRecurrence", "numbered": "NumberedRecurrence"}


def _invalid(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRecurrence", message)


def _int(pattern: dict, name: str, low: int, high: int, default: int | None = None) -> int:
    value = pattern.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _invalid(f"The {name} value {value!r} of the recurrence pattern is not valid.")
    return value


def _days(pattern: dict) -> str:
    days = pattern.get("daysOfWeek")
    if not isinstance(days, list) or not days:
        raise _invalid("The recurrence pattern needs daysOfWeek.")
    for d in days:
        if not isinstance(d, str) or d.lower() not in _DAYS:
            raise body_read(f"Requested value '{d}' was not found.")
    return " ".join(d.capitalize() for d in days)


def _date(value, name: str) -> str:
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise body_read(f"Cannot convert the literal '{value}' to the expected type 'Edm.Date' ({name}).") from None


def to_ews(recurrence: dict, start_local: dt.datetime) -> Element:
    """The EWS Recurrence element for a Graph patternedRecurrence (``start_local``: the event's local start)."""
    if not isinstance(recurrence, dict):
        raise body_read("recurrence must be an object.")
    pattern, rng = recurrence.get("pattern"), recurrence.get("range")
    if not isinstance(pattern, dict) or not isinstance(rng, dict):
        raise _invalid("A recurrence needs a pattern and a range.")
    ptype = pattern.get("type")
    if ptype not in _PATTERNS:
        raise body_read(f"Requested value '{ptype}' was not found.")
    children: list[Element] = []
    if ptype in ("daily", "weekly", "absoluteMonthly", "relativeMonthly"):
        children.append(el(t("Interval"), str(_int(pattern, "interval", 1, 999, 1))))
    if ptype in ("weekly", "relativeMonthly", "relativeYearly"):
        children.append(el(t("DaysOfWeek"), _days(pattern)))
    if ptype in ("relativeMonthly", "relativeYearly"):
        index = str(pattern.get("index", "first"))
        if index.lower() not in _INDEXES:
            raise body_read(f"Requested value '{index}' was not found.")
        children.append(el(t("DayOfWeekIndex"), index.capitalize()))
    if ptype == "weekly" and pattern.get("firstDayOfWeek"):
        first = str(pattern["firstDayOfWeek"])
        if first.lower() not in _DAYS:
            raise body_read(f"Requested value '{first}' was not found.")
        children.append(el(t("FirstDayOfWeek"), first.capitalize()))
    if ptype in ("absoluteMonthly", "absoluteYearly"):
        children.append(el(t("DayOfMonth"), str(_int(pattern, "dayOfMonth", 1, 31))))
    if ptype in ("absoluteYearly", "relativeYearly"):
        children.append(el(t("Month"), MONTH_NAMES[_int(pattern, "month", 1, 12) - 1]))
    rtype = rng.get("type")
    if rtype not in _RANGES:
        raise body_read(f"Requested value '{rtype}' was not found.")
    start_date = _date(rng.get("startDate") or start_local.date().isoformat(), "startDate")
    range_children = [el(t("StartDate"), start_date)]
    if rtype == "endDate":
        end_date = _date(rng.get("endDate"), "endDate")
        if end_date < start_date:
            raise _invalid("The end date of the recurrence range is before its start date.")
        range_children.append(el(t("EndDate"), end_date))
    elif rtype == "numbered":
        range_children.append(el(t("NumberOfOccurrences"), str(_int(rng, "numberOfOccurrences", 1, 999))))
    return el(
        t("Recurrence"),
        children=[el(t(_PATTERNS[ptype]), children=children), el(t(_RANGES[rtype]), children=range_children)],
    )


def from_ews(recurrence: Element, timezone_name: str) -> dict:
    """The Graph patternedRecurrence of a stored EWS Recurrence element."""
    pattern_el, range_el = recurrence[0], recurrence[1]
    names = {v: k for k, v in _PATTERNS.items()}
    ptype = names.get(pattern_el.tag.split("}")[-1], "daily")

    def text(parent: Element, name: str) -> str | None:
        return parent.findtext(t(name))

    days = (text(pattern_el, "DaysOfWeek") or "").split()
    month = text(pattern_el, "Month")
    index = text(pattern_el, "DayOfWeekIndex")
    pattern = {
        "type": ptype,
        "interval": int(text(pattern_el, "Interval") or 1),
        "month": MONTH_NAMES.index(month) + 1 if month in MONTH_NAMES else 0,
        "dayOfMonth": int(text(pattern_el, "DayOfMonth") or 0),
        "firstDayOfWeek": (text(pattern_el, "FirstDayOfWeek") or "Sunday").lower(),
        "index": (index or "First").lower(),
    }
    if days:
        pattern["daysOfWeek"] = [d.lower() for d in days]
    rnames = {v: k for k, v in _RANGES.items()}
    rtype = rnames.get(range_el.tag.split("}")[-1], "noEnd")
    start = (text(range_el, "StartDate") or "")[:10]
    end = (text(range_el, "EndDate") or "")[:10]
    return {
        "pattern": pattern,
        "range": {
            "type": rtype,
            "startDate": start,
            "endDate": end if rtype == "endDate" else "0001-01-01",
            "recurrenceTimeZone": timezone_name,
            "numberOfOccurrences": int(text(range_el, "NumberOfOccurrences") or 0),
        },
    }
