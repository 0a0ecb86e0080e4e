"""Mapping results and issues.

Mappings never raise on bad data and never cut data silently: whatever a side cannot take becomes a
`MappingIssue` with a stable ``code`` (used for health entries and tests) and a message for people.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec

from sync.entry import Entry, Side

# Stable issue codes.
SUBJECT_TOO_LONG = "subject_too_long"
LOCATION_TOO_LONG = "location_too_long"
DESCRIPTION_TOO_LONG = "description_too_long"
DURATION_OVER_14_DAYS = "duration_over_14_days"
END_BEFORE_START = "end_before_start"
MISSING_TIME = "missing_time"
UNSUPPORTED_TIME_ZONE = "unsupported_time_zone"
RECURRENCE_UNSUPPORTED = "recurrence_unsupported"
RECURRENCE_EXCEPTIONS_UNSUPPORTED = "recurrence_exceptions_unsupported"
RECURRENCE_NOT_ALLOWED = "recurrence_not_allowed"
INVALID_VALUE = "invalid_value"
MISSING_FIELD = "missing_field"

ALL_CODES = frozenset(
    {
        SUBJECT_TOO_LONG,
        LOCATION_TOO_LONG,
        DESCRIPTION_TOO_LONG,
        DURATION_OVER_14_DAYS,
        END_BEFORE_START,
        MISSING_TIME,
        UNSUPPORTED_TIME_ZONE,
        RECURRENCE_UNSUPPORTED,
        RECURRENCE_EXCEPTIONS_UNSUPPORTED,
        RECURRENCE_NOT_ALLOWED,
        INVALID_VALUE,
        MISSING_FIELD,
    }
)


@dataclass(frozen=True, order=True)
class MappingIssue:
    """Why an item cannot be written to (or read from) ``side``. ``field`` is the side's field name."""

    code: str
    message: str
    side: Side
    field: str | None = None


@dataclass(frozen=True)
class MappingResult:
    """The entry a record maps to, or why not.

    ``entry`` is ``None`` when there are issues, or when the record is validly *withdrawn* from the calendar
    (a Task without due date, a closed Task under ``completed="remove"``, a custom record with an empty date):
    then ``withdrawn`` is true and ``reason`` says why.
    """

    entry: Entry | None = None
    issues: tuple[MappingIssue, ...] = ()
    withdrawn: bool = False
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.entry is not None and not self.issues


P = ParamSpec("P")


def never_raises(side: Side) -> Callable[[Callable[P, MappingResult]], Callable[P, MappingResult]]:
    """Last line of defence for record → entry mappings: a value no check foresaw becomes an issue for that
    item (docs/invariants.md #11: one bad item never stops the others), not an exception in the session."""

    def decorate(func: Callable[P, MappingResult]) -> Callable[P, MappingResult]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> MappingResult:
            try:
                return func(*args, **kwargs)
            except (ValueError, TypeError, OverflowError, KeyError, AttributeError, ArithmeticError) as exc:
                message = f"The item has a value that cannot be read ({type(exc).__name__}: {exc})."
                return MappingResult(issues=(MappingIssue(INVALID_VALUE, message, side),))

        return wrapper

    return decorate
