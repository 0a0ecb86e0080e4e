"""The span of time an item covers, as the scope sees it (pure; the planner's `in_scope` and the memory of
out-of-scope items in `sync.scope_entry` both judge by it)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sync.entry import Projection

OPEN_END = datetime.max.replace(tzinfo=UTC)


def projection_span(p: Projection) -> tuple[datetime, datetime] | None:
    """(first instant, last instant) of a projection, UTC; a series runs from its first start to its UNTIL
    (`OPEN_END` without one). ``None`` when the projection has no usable time."""
    when = p.get("when") or {}
    try:
        if when.get("all_day"):
            # A day is a day somewhere on Earth: allow ±1 day so zones never flip an item out of scope.
            start = datetime.combine(date.fromisoformat(when["start"]), time(0), tzinfo=UTC) - timedelta(days=1)
            end = datetime.combine(date.fromisoformat(when["end"]), time(0), tzinfo=UTC) + timedelta(days=1)
        else:
            start = datetime.strptime(when["start"], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
            end = datetime.strptime(when["end"], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    except (KeyError, TypeError, ValueError):
        return None
    rec = p.get("recurrence")
    if rec:
        end = OPEN_END
        for part in rec["rrule"].split(";"):
            if part.startswith("UNTIL="):
                until = part[len("UNTIL=") :][:8]
                end = datetime.strptime(until, "%Y%m%d").replace(tzinfo=UTC) + timedelta(days=2)
    return start, end


def overlaps(span: tuple[datetime, datetime] | None, window: tuple[datetime, datetime]) -> bool:
    if span is None:
        return False
    lo, hi = window
    return span[0] <= hi and span[1] >= lo
