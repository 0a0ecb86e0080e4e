"""Mapping results and issues.

Mappings never raise on bad data and never cut data silently: whatever a side cannot take becomes a
`MappingIssue` with a stable ``code`` (used for health entries and tests) and a message for people.
"""

from __future__ import annotations

from dataclasses import dataclass

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
