"""Recurring series with exceptions (issue 23, point 4): changed and deleted occurrences, both sides.

How each side holds a series:

- **Exchange** (EWS): one recurring master with its pattern; ``DeletedOccurrences`` (original starts) and
  ``ModifiedOccurrences`` (item id, start, end, original start of each occurrence that differs; its subject,
  location, ... are read with a GetItem on those ids).
- **Salesforce** (``Recurrence2PatternText``): a series record holding the RRULE, and one Event per occurrence
  under it (``RecurrenceActivityId`` = the series); an occurrence edited on its own is an exception
  (``IsRecurrence2Exception``); an occurrence can be deleted on its own. There is no EXDATE in the pattern.

The neutral form (`sync.entry.Recurrence`): the RRULE, ``exdates`` (local dates of deleted occurrences) and
``overrides`` (`OccurrenceOverride`, keyed by the occurrence's local date in the pattern). Outlook → Salesforce:
the series record is written as before (pattern and series fields, by the planner); then
`sync_salesforce_occurrences` deletes the Events of deleted occurrences and updates the Events of changed ones
(time, subject, location). It marks each occurrence Event it changed with ``CalSync_Key__c =
"<sync key>@<original date>"``, so a moved occurrence is found again by its original date.

Occurrence Events in the Salesforce feed are never items of their own (they belong to their series); the
series' exceptions on the Salesforce side are taken as last synced (like invitees that are not read).

What Salesforce cannot express, and what the health entry says then:

====================================  =====================================  ====================================
pattern                               code                                   message (abridged)
====================================  =====================================  ====================================
HOURLY/MINUTELY, BYHOUR, BYWEEKNO,    ``recurrence_unsupported``             "The recurrence … cannot be synced:
several BYSETPOS, yearly intervals,                                          <part> is not supported" (whole
task regeneration                                                            series not synced, never half)
a changed or deleted occurrence that  ``recurrence_occurrence_missing``      "The occurrence of <date> has no
has no Event in Salesforce (beyond    (warning)                              Salesforce Event (…); its change is
the occurrences the org generated,                                           not synced."
or deleted there already)
====================================  =====================================  ====================================

Salesforce → Outlook: an occurrence Event deleted in Salesforce becomes an exdate of its series (the feed
folds deleted occurrence Events into their series); the Exchange write then deletes that occurrence alone
(DeleteItem on an ``OccurrenceItemId``: master + instance index), never rewriting the master's pattern, which
would drop the series' other exceptions. Not done yet (left for a follow-up): occurrences *edited* in
Salesforce reaching Outlook (UpdateItem on an OccurrenceItemId), and Graph ``instances``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.connectors.base import ExchangeCalendar, ExchangeItem
from sync.entry import OccurrenceOverride, Recurrence, Side, normalize_location, normalize_subject, to_utc
from sync.mapping.issues import MappingIssue
from sync.mapping.timezones import zone

OCCURRENCE_MISSING = "recurrence_occurrence_missing"
OCCURRENCE_FIELDS = ("subject", "location", "start", "end")


def occurrence_overrides(modified: Iterable[Any], time_zone: str) -> tuple[OccurrenceOverride, ...]:
    """Overrides from EWS modified occurrences: dicts (read by `read_modified_occurrences`) or exchangelib
    ``Occurrence`` objects (times only)."""
    out: list[OccurrenceOverride] = []
    for occ in modified:
        get = occ.get if isinstance(occ, Mapping) else (lambda name, o=occ: getattr(o, name, None))
        original = get("original_start")
        if original is None:
            continue
        start, end = get("start"), get("end")
        out.append(
            OccurrenceOverride(
                original=to_utc(original).astimezone(zone(time_zone)).date(),
                start=to_utc(start) if start is not None else None,
                end=to_utc(end) if end is not None else None,
                subject=get("subject"),
                location=get("location"),
            )
        )
    return tuple(out)


def read_modified_occurrences(
    connector: ExchangeCalendar, items: Sequence[ExchangeItem | None]
) -> dict[str, list[dict[str, Any]]]:
    """Master item id → its modified occurrences with content (one fetch for all of them; none when no fetched
    series has a modified occurrence)."""
    wanted: list[tuple[str, Mapping[str, Any]]] = []
    for item in items:
        for occ in (item.fields.get("modified_occurrences") or ()) if item is not None else ():
            if isinstance(occ, Mapping) and occ.get("id"):
                wanted.append((item.item_id, occ))
    if not wanted:
        return {}
    fetched = connector.fetch([occ["id"] for _, occ in wanted], fields=("subject", "location", "start", "end"))
    out: dict[str, list[dict[str, Any]]] = {}
    for (master, occ), full in zip(wanted, fetched, strict=True):
        content = full.fields if full is not None else {}
        out.setdefault(master, []).append(
            {
                "original_start": occ.get("original_start"),
                "start": content.get("start") or occ.get("start"),
                "end": content.get("end") or occ.get("end"),
                "subject": content.get("subject"),
                "location": content.get("location"),
            }
        )
    return out


def deleted_occurrence_dates(rows: Iterable[Mapping[str, Any]], sync_key: str, time_zone: str) -> set[dt.date]:
    """Local dates (in the pattern) of deleted Salesforce occurrence Events: from our tag when sync changed
    the occurrence (it may have moved), else from its start in the series' zone."""
    out: set[dt.date] = set()
    for row in rows:
        key = row.get("CalSync_Key__c") or ""
        if key.startswith(f"{sync_key}@"):
            out.add(dt.date.fromisoformat(key.split("@", 1)[1]))
        elif row.get("StartDateTime"):
            out.add(_parse(row["StartDateTime"]).astimezone(zone(time_zone)).date())
    return out


def only_exceptions_changed(before: Recurrence | None, after: Recurrence | None) -> bool:
    """The same pattern, other deleted occurrences only (what EWS can do occurrence by occurrence; rewriting
    a master's pattern would drop every exception the series has)."""
    return (
        before is not None
        and after is not None
        and before.rrule == after.rrule
        and before.overrides == after.overrides
        and set(before.exdates) <= set(after.exdates)
        and before.exdates != after.exdates
    )


def pattern_occurrences(
    recurrence: Recurrence, first_start: dt.datetime, time_zone: str, *, limit: int = 1000
) -> Iterator[tuple[int, dt.date, dt.datetime]]:
    """(1-based instance index, local date, original start in UTC) of each occurrence the pattern makes,
    deleted ones included, as Exchange counts them: the series' local time of day on each date (a time in
    the spring-forward gap moves on by the gap, an ambiguous one takes its first instant)."""
    from dateutil.rrule import rrulestr

    tz = zone(time_zone)
    local = first_start.astimezone(tz).replace(tzinfo=None)
    for index, occurrence in enumerate(rrulestr(recurrence.rrule, dtstart=local), start=1):
        if index > limit:
            return
        moment = dt.datetime.combine(occurrence.date(), local.time()).replace(tzinfo=tz, fold=0)
        yield index, occurrence.date(), moment.astimezone(dt.UTC)


def instance_indexes(
    recurrence: Recurrence, first_start: dt.datetime, time_zone: str, days: Iterable[dt.date]
) -> list[int]:
    """EWS ``InstanceIndex`` (1-based position in the pattern) of the occurrences on these local dates."""
    wanted = set(days)
    found: list[int] = []
    if not wanted:
        return found
    for index, day, _ in pattern_occurrences(recurrence, first_start, time_zone):
        if day in wanted:
            found.append(index)
            wanted.discard(day)
        if not wanted:
            break
    return found


def occurrence_key(sync_key: str, original: dt.date) -> str:
    """``CalSync_Key__c`` of a Salesforce occurrence Event sync changed (≤ 64 characters)."""
    return f"{sync_key}@{original.isoformat()}"


def has_exceptions(recurrence: Recurrence | None) -> bool:
    return recurrence is not None and bool(recurrence.exdates or recurrence.overrides)


@dataclass
class OccurrenceWrites:
    """What `sync_salesforce_occurrences` did: write requests, occurrences without an Event (issues), and the
    results of records Salesforce refused (the caller fails the pair, so the next session tries again)."""

    writes: int = 0
    issues: list[MappingIssue] = field(default_factory=list)
    failed: list[Any] = field(default_factory=list)


def sync_salesforce_occurrences(
    salesforce: Any, series_id: str, sync_key: str, recurrence: Recurrence, time_zone: str, *, subject: str
) -> OccurrenceWrites:
    """Make the series' occurrence Events match ``recurrence``'s exceptions: delete those of deleted
    occurrences, update those of changed ones. Costs one query, then at most one delete and one update
    collection (occurrences already as wanted cost nothing: a retry after a partial failure redoes only
    the rest)."""
    if not has_exceptions(recurrence):
        return OccurrenceWrites()
    rows = salesforce.query(
        "SELECT Id, StartDateTime, EndDateTime, Subject, Location, IsRecurrence2Exception, CalSync_Key__c "
        f"FROM Event WHERE RecurrenceActivityId = '{_soql_id(series_id)}' ORDER BY StartDateTime"
    )
    tz = zone(time_zone)
    tagged: dict[str, dict[str, Any]] = {}
    by_day: dict[dt.date, dict[str, Any]] = {}
    for row in rows:
        key = row.get("CalSync_Key__c") or ""
        if key.startswith(f"{sync_key}@"):
            tagged[key] = row
        elif not row.get("IsRecurrence2Exception") and row.get("StartDateTime"):
            by_day.setdefault(_parse(row["StartDateTime"]).astimezone(tz).date(), row)

    def find(day: dt.date) -> dict[str, Any] | None:
        return tagged.get(occurrence_key(sync_key, day)) or by_day.get(day)

    issues: list[MappingIssue] = []
    deletes: list[str] = []
    for day in recurrence.exdates:
        row = find(day)
        if row is not None:
            deletes.append(row["Id"])
    updates: list[dict[str, Any]] = []
    for override in recurrence.overrides:
        row = find(override.original)
        if row is None:
            issues.append(
                MappingIssue(
                    OCCURRENCE_MISSING,
                    f"The occurrence of {override.original} of {subject!r} has no Salesforce Event (beyond the "
                    "occurrences the org holds, or deleted there); its change is not synced.",
                    Side.SALESFORCE,
                    "RecurrenceActivityId",
                )
            )
            continue
        fields = _occurrence_fields(override, row, subject)
        fields["CalSync_Key__c"] = occurrence_key(sync_key, override.original)
        if any(row.get(k) != v for k, v in fields.items() if k not in ("StartDateTime", "EndDateTime")) or (
            "StartDateTime" in fields
            and (_parse(row["StartDateTime"]) != override.start or _parse(row["EndDateTime"]) != override.end)
        ):
            updates.append({"Id": row["Id"], **fields})
    writes, failed = 0, []
    if deletes:
        failed += [r for r in salesforce.delete(deletes) if not r.success]
        writes += 1
    if updates:
        failed += [r for r in salesforce.update("Event", updates) if not r.success]
        writes += 1
    return OccurrenceWrites(writes, issues, failed)


def _occurrence_fields(override: OccurrenceOverride, row: Mapping[str, Any], subject: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if override.start is not None and override.end is not None:
        fields["StartDateTime"] = _wire(override.start)
        fields["EndDateTime"] = _wire(override.end)
    if override.subject is not None:
        fields["Subject"] = normalize_subject(override.subject) or subject
    if override.location is not None:
        fields["Location"] = normalize_location(override.location) or None
    return fields


def _wire(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _parse(text: str) -> dt.datetime:
    from dateutil.parser import isoparse

    return isoparse(text).astimezone(dt.UTC)


def _soql_id(value: str) -> str:
    if not value.isalnum():
        raise ValueError(f"not a Salesforce id: {value!r}")
    return value
