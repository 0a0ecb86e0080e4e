"""Salesforce records (REST JSON dicts) ⇄ neutral `Entry`.

Event fields used: Subject, StartDateTime, EndDateTime, IsAllDayEvent, ActivityDate, ActivityDateTime,
DurationInMinutes, Location, Description, ShowAs, IsPrivate, WhoId, WhatId, OwnerId,
Recurrence2PatternText, Recurrence2PatternTimeZone, CalSync_Key__c, SystemModstamp, LastModifiedDate,
IsDeleted. Reference: Salesforce Object Reference, "Event"
(https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_event.htm).

All-day events: ``ActivityDate`` holds the date ("a date field with a timestamp that is always set to midnight
in UTC ... don't alter it to account for time zone differences"), ``StartDateTime`` is 00:00Z of that date and
the length is whole days, ``DurationInMinutes = 1440 × days``. Reading prefers ``DurationInMinutes``; without it
``EndDateTime`` is taken as 00:00Z of the *last* day (inclusive), which is how Salesforce returns all-day ends.

Limits that become `MappingIssue`s instead of cut data: Subject ≤ 255, Location ≤ 255, Description ≤ 32,000
characters (plain text), an event lasts at most 14 days, a zone must be a Salesforce ``TimeZoneSidKey``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil.parser import isoparse

from sync.entry import (
    EVENT,
    TASK,
    Attendee,
    Entry,
    ShowAs,
    Side,
    normalize_body,
    normalize_location,
    normalize_subject,
)
from sync.mapping import recurrence as rec_map
from sync.mapping.issues import (
    DESCRIPTION_TOO_LONG,
    DURATION_OVER_14_DAYS,
    END_BEFORE_START,
    INVALID_VALUE,
    LOCATION_TOO_LONG,
    MISSING_FIELD,
    MISSING_TIME,
    RECURRENCE_EXCEPTIONS_UNSUPPORTED,
    RECURRENCE_UNSUPPORTED,
    SUBJECT_TOO_LONG,
    UNSUPPORTED_TIME_ZONE,
    MappingIssue,
    MappingResult,
    never_raises,
)
from sync.mapping.timezones import canonical_time_zone, salesforce_supports, zone
from sync.policies import COMPLETED_PREFIX, CompletedTasks, CustomObjectMapping, Policy, TaskOptions

SUBJECT_MAX = 255
LOCATION_MAX = 255
DESCRIPTION_MAX = 32_000
MAX_DURATION = timedelta(days=14)
SYNC_KEY_FIELD = "CalSync_Key__c"
MAX_MINUTES = 10 * 366 * 1440  # anything longer is not a calendar entry

EVENT_FIELDS = (
    "Id", "Subject", "StartDateTime", "EndDateTime", "IsAllDayEvent", "ActivityDate", "ActivityDateTime",
    "DurationInMinutes", "Location", "Description", "ShowAs", "IsPrivate", "WhoId", "WhatId", "OwnerId",
    "Recurrence2PatternText", "Recurrence2PatternTimeZone", "IsRecurrence2Exception", "RecurrenceActivityId",
    SYNC_KEY_FIELD,
    "SystemModstamp", "LastModifiedDate", "IsDeleted",
)  # fmt: skip
TASK_FIELDS = (
    "Id", "Subject", "ActivityDate", "Description", "Status", "IsClosed", "WhoId", "WhatId", "OwnerId",
    "SystemModstamp", "LastModifiedDate", "IsDeleted",
)  # fmt: skip

# Groups of Salesforce fields that are always sent together when one of them changes.
_TIME_FIELDS = ("IsAllDayEvent", "StartDateTime", "EndDateTime", "ActivityDate", "DurationInMinutes")
_RECURRENCE_FIELDS = ("Recurrence2PatternText", "Recurrence2PatternTimeZone")

_SHOW_AS_IN = {"busy": ShowAs.BUSY, "free": ShowAs.FREE, "outofoffice": ShowAs.OUT_OF_OFFICE}
# Salesforce's ShowAs picklist has no "Tentative": it is sent as Busy (lossy, and the planner knows it
# through salesforce_roundtrip, so this never ping-pongs).
_SHOW_AS_OUT = {
    ShowAs.BUSY: "Busy",
    ShowAs.FREE: "Free",
    ShowAs.OUT_OF_OFFICE: "OutOfOffice",
    ShowAs.TENTATIVE: "Busy",
}


def parse_datetime(value: Any) -> datetime | None:
    """A Salesforce dateTime (``2024-03-10T09:00:00.000+0000``) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = isoparse(str(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # the API always transfers UTC
    return parsed.astimezone(UTC)


def parse_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SalesforceMeta:
    """The bookkeeping fields of a record (not part of the entry)."""

    id: str | None
    sync_key: str | None
    system_modstamp: datetime | None
    last_modified: datetime | None
    is_deleted: bool
    owner_id: str | None


def record_meta(record: Mapping[str, Any]) -> SalesforceMeta:
    def stamp(name: str) -> datetime | None:
        try:
            return parse_datetime(record.get(name))
        except (ValueError, OverflowError):
            return None

    return SalesforceMeta(
        id=record.get("Id"),
        sync_key=record.get(SYNC_KEY_FIELD) or None,
        system_modstamp=stamp("SystemModstamp"),
        last_modified=stamp("LastModifiedDate") or stamp("SystemModstamp"),
        is_deleted=bool(record.get("IsDeleted")),
        owner_id=record.get("OwnerId"),
    )


def _bad(field: str, value: Any, what: str) -> MappingIssue:
    return MappingIssue(INVALID_VALUE, f"{field} {value!r} is not a valid {what}.", Side.SALESFORCE, field)


# --- Event -------------------------------------------------------------------------------------------


@never_raises(Side.SALESFORCE)
def event_from_salesforce(
    record: Mapping[str, Any], *, time_zone: str = "UTC", invitee_emails: Iterable[str] = ()
) -> MappingResult:
    """Map an Event record. ``time_zone`` (the mailbox's zone) places all-day and non-recurring items;
    ``invitee_emails`` are the EventRelation invitees the connector resolved (the record does not hold them)."""
    issues: list[MappingIssue] = []
    try:
        start = parse_datetime(record.get("StartDateTime") or record.get("ActivityDateTime"))
    except (ValueError, OverflowError):
        start = None
        issues.append(_bad("StartDateTime", record.get("StartDateTime"), "date/time"))
    try:
        end = parse_datetime(record.get("EndDateTime"))
    except (ValueError, OverflowError):
        end = None
        issues.append(_bad("EndDateTime", record.get("EndDateTime"), "date/time"))
    try:
        activity_date = parse_date(record.get("ActivityDate"))
    except ValueError:
        activity_date = None
        issues.append(_bad("ActivityDate", record.get("ActivityDate"), "date"))
    duration = record.get("DurationInMinutes")
    if duration is not None and (
        not isinstance(duration, int | float) or isinstance(duration, bool) or not 0 <= duration <= MAX_MINUTES
    ):
        issues.append(_bad("DurationInMinutes", duration, "number of minutes"))
        duration = None

    tz = canonical_time_zone(time_zone) or "UTC"
    recurrence = None
    pattern = record.get("Recurrence2PatternText")
    if pattern:
        sf_tz = record.get("Recurrence2PatternTimeZone")
        if sf_tz and canonical_time_zone(sf_tz) is None:
            issues.append(
                MappingIssue(
                    UNSUPPORTED_TIME_ZONE,
                    f"The series time zone {sf_tz!r} is unknown.",
                    Side.SALESFORCE,
                    "Recurrence2PatternTimeZone",
                )
            )
        else:
            tz = canonical_time_zone(sf_tz) or tz
            recurrence, rec_issues = rec_map.from_salesforce_text(str(pattern), tz)
            issues += rec_issues
    if record.get("IsRecurrence2Exception"):
        issues.append(
            MappingIssue(
                RECURRENCE_EXCEPTIONS_UNSUPPORTED,
                "This event is a changed occurrence of a Salesforce series that names no series "
                "(RecurrenceActivityId); occurrences sync only as part of their series.",
                Side.SALESFORCE,
                "IsRecurrence2Exception",
            )
        )
    if record.get("IsRecurrence") and not pattern:
        issues.append(
            MappingIssue(
                RECURRENCE_UNSUPPORTED,
                "Legacy Salesforce recurring events (IsRecurrence) are not synced; use the new recurrence.",
                Side.SALESFORCE,
                "IsRecurrence",
            )
        )

    common: dict[str, Any] = {
        "kind": EVENT,
        "subject": _text(record.get("Subject")),
        "location": _text(record.get("Location")),
        "body": normalize_body(_text(record.get("Description"))),
        "show_as": _SHOW_AS_IN.get(str(record.get("ShowAs") or "busy").lower(), ShowAs.BUSY),
        "is_private": bool(record.get("IsPrivate")),
        "attendees": tuple(Attendee(email=e) for e in sorted(set(invitee_emails)) if e),
        "who_ids": (record["WhoId"],) if record.get("WhoId") else (),
        "what_id": record.get("WhatId") or None,
        "recurrence": recurrence,
        "time_zone": tz,
    }
    if issues:
        return MappingResult(issues=tuple(issues))
    if record.get("IsAllDayEvent"):
        first = activity_date or (start.date() if start else None)
        if first is None:
            return MappingResult(issues=(_missing_time("ActivityDate"),))
        if duration:
            days = max(1, math.ceil(duration / 1440))
        elif end is not None:
            days = max(1, (end.date() - first).days + 1)
        else:
            days = 1  # "If both fields are null, the duration defaults to one day."
        entry = Entry(is_all_day=True, start_date=first, end_date=first + timedelta(days=days), **common)
        return MappingResult(entry=entry)
    if start is None:
        return MappingResult(issues=(_missing_time("StartDateTime"),))
    if end is None:
        if duration is None:
            return MappingResult(issues=(_missing_time("EndDateTime"),))
        end = start + timedelta(minutes=duration)
    return MappingResult(entry=Entry(start=start, end=end, **common))


def _text(value: Any) -> str:
    # REST JSON text fields are strings or null; anything else is shown as text rather than crash a session.
    return "" if value is None else value if isinstance(value, str) else str(value)


def _missing_time(field: str) -> MappingIssue:
    return MappingIssue(MISSING_TIME, f"The record has no {field}.", Side.SALESFORCE, field)


def salesforce_issues(entry: Entry) -> list[MappingIssue]:
    """Why ``entry`` cannot be written to Salesforce as it is (empty if it can)."""
    issues: list[MappingIssue] = []
    side = Side.SALESFORCE
    subject = normalize_subject(entry.subject)
    if len(subject) > SUBJECT_MAX:
        issues.append(
            MappingIssue(
                SUBJECT_TOO_LONG,
                f"The subject has {len(subject)} characters; Salesforce allows {SUBJECT_MAX}.",
                side,
                "Subject",
            )
        )
    location = normalize_location(entry.location)
    if len(location) > LOCATION_MAX:
        issues.append(
            MappingIssue(
                LOCATION_TOO_LONG,
                f"The location has {len(location)} characters; Salesforce allows {LOCATION_MAX}.",
                side,
                "Location",
            )
        )
    body = normalize_body(entry.body)
    if len(body) > DESCRIPTION_MAX:
        issues.append(
            MappingIssue(
                DESCRIPTION_TOO_LONG,
                f"The description has {len(body):,} characters; Salesforce allows {DESCRIPTION_MAX:,}.",
                side,
                "Description",
            )
        )
    issues += timing_issues(entry, side)
    if entry.recurrence is not None:
        if not salesforce_supports(entry.time_zone):
            issues.append(
                MappingIssue(
                    UNSUPPORTED_TIME_ZONE,
                    f"Salesforce has no time zone {entry.time_zone!r} for this series.",
                    side,
                    "Recurrence2PatternTimeZone",
                )
            )
        # Deleted and changed occurrences are Salesforce occurrence Events of their own (sync.series).
        issues += rec_map.recurrence_issues(entry.recurrence, side)
    return issues


def timing_issues(entry: Entry, side: Side) -> list[MappingIssue]:
    """Start/end checks shared by both sides; the 14-day limit is Salesforce's."""
    if entry.is_all_day:
        if entry.start_date is None or entry.end_date is None:
            return [MappingIssue(MISSING_TIME, "The all-day item has no dates.", side, "ActivityDate")]
        if entry.end_date <= entry.start_date:
            return [
                MappingIssue(
                    END_BEFORE_START,
                    f"The item ends ({entry.end_date}) before it starts ({entry.start_date}).",
                    side,
                    "EndDateTime",
                )
            ]
        length = entry.end_date - entry.start_date
    else:
        if entry.start is None or entry.end is None:
            return [MappingIssue(MISSING_TIME, "The item has no start or no end.", side, "StartDateTime")]
        if entry.end < entry.start:
            return [
                MappingIssue(
                    END_BEFORE_START,
                    f"The item ends ({entry.end:%Y-%m-%d %H:%M}Z) before it starts ({entry.start:%Y-%m-%d %H:%M}Z).",
                    side,
                    "EndDateTime",
                )
            ]
        length = entry.end - entry.start
    if side is Side.SALESFORCE and length > MAX_DURATION:
        days = length.total_seconds() / 86400
        return [
            MappingIssue(
                DURATION_OVER_14_DAYS,
                f"The item lasts {days:.4g} days; Salesforce events last at most 14 days.",
                side,
                "DurationInMinutes",
            )
        ]
    return []


def event_to_salesforce(entry: Entry, *, sync_key: str | None = None) -> tuple[dict[str, Any], list[MappingIssue]]:
    """The complete Event field dict for a create (upsert by ``CalSync_Key__c`` when ``sync_key`` is given).

    Returns the issues too; a caller must not send the dict when there are any.
    """
    issues = salesforce_issues(entry)
    fields: dict[str, Any] = {
        "Subject": normalize_subject(entry.subject) or None,
        "Location": normalize_location(entry.location) or None,
        "Description": normalize_body(entry.body) or None,
        "ShowAs": _SHOW_AS_OUT[entry.show_as],
        "IsPrivate": bool(entry.is_private),
        "WhoId": entry.who_ids[0] if entry.who_ids else None,
        "WhatId": entry.what_id,
    }
    if entry.is_all_day and entry.start_date and entry.end_date:
        days = (entry.end_date - entry.start_date).days
        fields.update(
            IsAllDayEvent=True,
            ActivityDate=entry.start_date.isoformat(),
            StartDateTime=f"{entry.start_date.isoformat()}T00:00:00Z",
            DurationInMinutes=1440 * days,
        )
    elif entry.start and entry.end:
        fields.update(
            IsAllDayEvent=False,
            StartDateTime=format_datetime(entry.start),
            EndDateTime=format_datetime(entry.end),
        )
    if entry.recurrence is not None and not issues:
        fields["Recurrence2PatternText"] = rec_map.to_salesforce_text(entry.recurrence, entry.time_zone)
        fields["Recurrence2PatternTimeZone"] = canonical_time_zone(entry.time_zone)
    else:
        fields["Recurrence2PatternText"] = None
        fields["Recurrence2PatternTimeZone"] = None
    if sync_key:
        fields[SYNC_KEY_FIELD] = sync_key
    return fields, issues


def salesforce_update(old: Entry | None, new: Entry) -> tuple[dict[str, Any], list[MappingIssue]]:
    """Only the Event fields that differ between ``old`` (what Salesforce holds) and ``new``.

    Time fields and recurrence fields go as groups (Salesforce checks StartDateTime, DurationInMinutes and
    EndDateTime against each other). ``old=None`` gives every field.
    """
    after, issues = event_to_salesforce(new)
    if old is None:
        return after, issues
    before, _ = event_to_salesforce(old)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    for group in (_TIME_FIELDS, _RECURRENCE_FIELDS):
        if any(k in changed for k in group) or (set(group) & set(before)) != (set(group) & set(after)):
            changed.update({k: after[k] for k in group if k in after})
    return changed, issues


def salesforce_roundtrip(entry: Entry) -> Entry:
    """The entry as Salesforce will hold it once ``entry`` is written (ShowAs tentative → busy, ...)."""
    fields, issues = event_to_salesforce(entry)
    if issues or entry.kind != EVENT:
        return entry
    fields.setdefault("EndDateTime", None)
    result = event_from_salesforce(fields, time_zone=entry.time_zone, invitee_emails=[a.email for a in entry.attendees])
    if result.entry is None:
        return entry
    recurrence = result.entry.recurrence
    if recurrence is not None and entry.recurrence is not None:
        recurrence = recurrence.with_exceptions(entry.recurrence)  # held as occurrence Events (sync.series)
    return result.entry.replace(
        kind=entry.kind,
        attendees=entry.attendees,
        categories=entry.categories,
        time_zone=entry.time_zone if entry.recurrence is None else result.entry.time_zone,
        recurrence=recurrence,
    )


# --- Task and custom objects -------------------------------------------------------------------------


@never_raises(Side.SALESFORCE)
def task_from_salesforce(record: Mapping[str, Any], options: TaskOptions, *, time_zone: str = "UTC") -> MappingResult:
    """A Task as a calendar entry (see the policies module for how completed tasks look)."""
    try:
        due = parse_date(record.get("ActivityDate"))
    except ValueError:
        return MappingResult(issues=(_bad("ActivityDate", record.get("ActivityDate"), "date"),))
    if due is None:
        return MappingResult(withdrawn=True, reason="The task has no due date.")
    closed = bool(record.get("IsClosed")) or str(record.get("Status") or "").lower() == "completed"
    if closed and options.completed is CompletedTasks.REMOVE:
        return MappingResult(withdrawn=True, reason="The task is closed.")
    subject = normalize_subject(record.get("Subject") or "")
    if closed:
        subject = COMPLETED_PREFIX + subject
    tz = canonical_time_zone(time_zone) or "UTC"
    common: dict[str, Any] = {
        "kind": TASK,
        "subject": subject,
        "body": normalize_body(record.get("Description") or ""),
        "show_as": ShowAs.FREE if (options.all_day or closed) else ShowAs.BUSY,
        "who_ids": (record["WhoId"],) if record.get("WhoId") else (),
        "what_id": record.get("WhatId") or None,
        "categories": (options.category,),
        "time_zone": tz,
    }
    if options.all_day:
        return MappingResult(entry=Entry(is_all_day=True, start_date=due, end_date=due + timedelta(days=1), **common))
    start = datetime.combine(due, options.time_of_day, tzinfo=zone(tz))
    return MappingResult(entry=Entry(start=start, end=start + timedelta(minutes=options.duration_minutes), **common))


@never_raises(Side.SALESFORCE)
def custom_from_salesforce(
    record: Mapping[str, Any], mapping: CustomObjectMapping, *, time_zone: str = "UTC"
) -> MappingResult:
    """A custom-object record as a calendar entry, following ``mapping``."""
    issues: list[MappingIssue] = []
    wanted = [mapping.subject_field, mapping.date_field, mapping.start_field, mapping.end_field]
    wanted += [mapping.description_field, mapping.location_field]
    for name in wanted:
        if name and name not in record:
            issues.append(
                MappingIssue(
                    MISSING_FIELD,
                    f"The {mapping.object_name} record has no field {name}; check the mapping.",
                    Side.SALESFORCE,
                    name,
                )
            )
    if issues:
        return MappingResult(issues=tuple(issues))
    tz = canonical_time_zone(time_zone) or "UTC"
    common: dict[str, Any] = {
        "kind": mapping.kind,
        "subject": normalize_subject(str(record.get(mapping.subject_field) or "")),
        "body": normalize_body(str(record.get(mapping.description_field) or "")) if mapping.description_field else "",
        "location": normalize_location(str(record.get(mapping.location_field) or "")) if mapping.location_field else "",
        "categories": (mapping.category,),
        "time_zone": tz,
        "show_as": ShowAs.BUSY,
    }
    if mapping.date_field:
        try:
            day = parse_date(record.get(mapping.date_field))
        except ValueError:
            return MappingResult(issues=(_bad(mapping.date_field, record.get(mapping.date_field), "date"),))
        if day is None:
            return MappingResult(withdrawn=True, reason=f"{mapping.date_field} is empty.")
        common["show_as"] = ShowAs.FREE
        return MappingResult(entry=Entry(is_all_day=True, start_date=day, end_date=day + timedelta(days=1), **common))
    assert mapping.start_field and mapping.end_field  # guaranteed by CustomObjectMapping.problems()
    try:
        start = parse_datetime(record.get(mapping.start_field))
        end = parse_datetime(record.get(mapping.end_field))
    except (ValueError, OverflowError):
        return MappingResult(issues=(_bad(mapping.start_field, record.get(mapping.start_field), "date/time"),))
    if start is None:
        return MappingResult(withdrawn=True, reason=f"{mapping.start_field} is empty.")
    if end is None:
        return MappingResult(issues=(_missing_time(mapping.end_field),))
    return MappingResult(entry=Entry(start=start, end=end, **common))


def from_salesforce(
    record: Mapping[str, Any], policy: Policy, *, time_zone: str = "UTC", invitee_emails: Iterable[str] = ()
) -> MappingResult:
    """Dispatch on the policy's kind: Event, Task or custom object."""
    if policy.kind == EVENT:
        return event_from_salesforce(record, time_zone=time_zone, invitee_emails=invitee_emails)
    if policy.kind == TASK:
        return task_from_salesforce(record, policy.task or TaskOptions(), time_zone=time_zone)
    if policy.custom is None:
        issue = MappingIssue(MISSING_FIELD, f"No mapping is set up for {policy.kind}.", Side.SALESFORCE)
        return MappingResult(issues=(issue,))
    return custom_from_salesforce(record, policy.custom, time_zone=time_zone)
