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

Salesforce → Outlook: the feed reads a series' live occurrence Events when some changed
(`read_salesforce_occurrences`) and matches each to a date of the pattern (`salesforce_exceptions`: Salesforce
keeps no original date on an occurrence); `write_exchange_occurrences` then deletes and updates single
occurrences (DeleteItem / UpdateItem on an ``OccurrenceItemId``: master + instance index), never rewriting the
master's pattern, which would drop the series' other exceptions. A pattern change keeps the exceptions the new
pattern still has (`in_pattern`) and puts them back on both sides after the rewrite; the others become a health
entry ``recurrence_exceptions_dropped``.

Occurrence Events in the Salesforce feed are never items of their own (they belong to their series). What
Salesforce cannot express, every health entry, the costs and the tested zones: docs/recurrence.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.connectors.base import ExchangeCalendar, ExchangeItem, OccurrenceChange
from sync.connectors.errors import ConnectorError
from sync.entry import (
    Entry,
    OccurrenceOverride,
    Recurrence,
    Side,
    normalize_location,
    normalize_subject,
    project_when,
    to_utc,
)
from sync.mapping.issues import MappingIssue
from sync.mapping.timezones import zone

OCCURRENCE_MISSING = "recurrence_occurrence_missing"
EXCEPTIONS_DROPPED = "recurrence_exceptions_dropped"
CROSSING_BOUNDARY = "ErrorOccurrenceCrossingBoundary"  # EWS and Graph: an occurrence moved past a neighbour
OCCURRENCE_COLUMNS = (
    "Id, RecurrenceActivityId, StartDateTime, EndDateTime, Subject, Location, IsRecurrence2Exception, CalSync_Key__c, "
    "IsAllDayEvent, ActivityDate, DurationInMinutes"
)
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
        if sync_key and key.startswith(f"{sync_key}@"):
            out.add(dt.date.fromisoformat(key.split("@", 1)[1]))
        elif row.get("StartDateTime"):
            out.add(_row_day(row, time_zone))
    return out


def only_exceptions_changed(before: Recurrence | None, after: Recurrence | None) -> bool:
    """The same pattern, other changed occurrences and more deleted ones only (what EWS can do occurrence by
    occurrence; rewriting a master's pattern would drop every exception the series has)."""
    return (
        before is not None
        and after is not None
        and before.rrule == after.rrule
        and set(before.exdates) <= set(after.exdates)
        and (before.exdates != after.exdates or before.overrides != after.overrides)
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
        f"SELECT {OCCURRENCE_COLUMNS} FROM Event WHERE RecurrenceActivityId = '{_soql_id(series_id)}' "
        "ORDER BY StartDateTime"
    )
    tagged: dict[str, dict[str, Any]] = {}
    by_day: dict[dt.date, dict[str, Any]] = {}
    for row in rows:
        key = row.get("CalSync_Key__c") or ""
        if key.startswith(f"{sync_key}@"):
            tagged[key] = row
        elif not row.get("IsRecurrence2Exception") and row.get("StartDateTime"):
            by_day.setdefault(_row_day(row, time_zone), row)

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
        fields = _occurrence_fields(override, row, subject, time_zone)
        fields["CalSync_Key__c"] = occurrence_key(sync_key, override.original)
        if any(row.get(k) != v for k, v in fields.items()):
            updates.append({"Id": row["Id"], **fields})
    writes, failed = 0, []
    if deletes:
        failed += [r for r in salesforce.delete(deletes) if not r.success]
        writes += 1
    if updates:
        failed += [r for r in salesforce.update("Event", updates) if not r.success]
        writes += 1
    return OccurrenceWrites(writes, issues, failed)


def series_bounds(entry: Entry) -> tuple[dt.datetime, dt.timedelta] | None:
    """(first occurrence's start, length) of a series entry; all-day series run from local midnights."""
    if entry.start is not None and entry.end is not None:
        return entry.start, entry.end - entry.start
    if entry.start_date is not None and entry.end_date is not None:
        tz = zone(entry.time_zone)
        first = dt.datetime.combine(entry.start_date, dt.time(0), tz)
        last = dt.datetime.combine(entry.end_date, dt.time(0), tz)
        return first.astimezone(dt.UTC), last - first
    return None


def reshaped(before: Entry, after: Entry) -> bool:
    """Whether a Salesforce series changed its pattern, first start or length: the org then re-creates its
    occurrence Events (the exceptions there are gone) and Exchange drops a rewritten master's exceptions."""
    if before.recurrence is None or after.recurrence is None:
        return False
    return before.recurrence.rrule != after.recurrence.rrule or project_when(before) != project_when(after)


# -- Salesforce occurrence Events → the series' changed occurrences ------------------------------------------
def read_salesforce_occurrences(salesforce: Any, series_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Series id → its live occurrence Events (one query per 200 series; none without series)."""
    ids = sorted(set(series_ids))
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for at in range(0, len(ids), 200):
        listed = ", ".join(f"'{_soql_id(i)}'" for i in ids[at : at + 200])
        for row in salesforce.query(
            f"SELECT {OCCURRENCE_COLUMNS} FROM Event WHERE RecurrenceActivityId IN ({listed}) ORDER BY StartDateTime"
        ):
            out.setdefault(row["RecurrenceActivityId"], []).append(row)
    return out


def salesforce_exceptions(
    rows: Sequence[Mapping[str, Any]],
    recurrence: Recurrence,
    first_start: dt.datetime,
    length: dt.timedelta,
    time_zone: str,
    sync_key: str | None,
    *,
    gaps: Iterable[dt.date] = (),
    subject: str,
    location: str,
) -> Recurrence:
    """``recurrence`` with the changed and deleted occurrences its live occurrence Events (``rows``) say.

    Salesforce keeps no original date on an occurrence, so each Event is matched to a date of the pattern:
    by our tag (``<sync key>@<date>``, on occurrences sync wrote), then an unchanged occurrence by its own
    date, then an exception by its own date when no other Event holds it and it is not known deleted (an
    occurrence moved within its day, or only retitled), and the remaining exceptions to the remaining
    dates in order (an occurrence moved onto another day). An Event that differs from the pattern (time,
    subject, location), is an exception, or carries our tag becomes an override, as Exchange lists it.
    Deleted occurrences: those as last synced plus ``gaps`` (dates of occurrence Events deleted since),
    except dates a live Event holds (the org re-created a series' occurrence Events, or one came back from
    the recycle bin)."""
    skipped = set(recurrence.exdates) | set(gaps)
    pattern: dict[dt.date, dt.datetime] = {}
    for _, day, start in pattern_occurrences(recurrence, first_start, time_zone, limit=len(rows) + len(skipped) + 100):
        pattern[day] = start
    claimed: dict[dt.date, Mapping[str, Any]] = {}
    later: list[Mapping[str, Any]] = []
    for row in sorted(rows, key=lambda r: r.get("StartDateTime") or ""):
        key = row.get("CalSync_Key__c") or ""
        if sync_key and key.startswith(f"{sync_key}@"):
            day = dt.date.fromisoformat(key.split("@", 1)[1])
            if day in pattern and day not in claimed:
                claimed[day] = row
                continue
        if row.get("StartDateTime"):
            later.append(row)
    for exceptions in (False, True):
        rest = []
        for row in later:
            day = _row_day(row, time_zone)
            ok = day in pattern and day not in claimed and not (exceptions and day in skipped)
            if bool(row.get("IsRecurrence2Exception")) == exceptions and ok:
                claimed[day] = row
            else:
                rest.append(row)
        later = rest
    free = [d for d in sorted(pattern) if d not in claimed and d not in skipped]
    for row, day in zip(later, free, strict=False):
        claimed[day] = row
    overrides: list[OccurrenceOverride] = []
    for day in sorted(claimed):
        row = claimed[day]
        start, end = _row_span(row, time_zone)
        row_subject, row_location = row.get("Subject") or "", row.get("Location") or ""
        tagged = bool(sync_key) and (row.get("CalSync_Key__c") or "").startswith(f"{sync_key}@")
        differs = (
            start != pattern[day]
            or end != pattern[day] + length
            or normalize_subject(row_subject) != normalize_subject(subject)
            or normalize_location(row_location) != normalize_location(location)
        )
        if tagged or differs or row.get("IsRecurrence2Exception"):
            overrides.append(OccurrenceOverride(day, start, end, row_subject, row_location or None))
    exdates = tuple(d for d in skipped if d not in claimed)
    return dataclasses.replace(recurrence, exdates=exdates, overrides=tuple(overrides))


def in_pattern(recurrence: Recurrence, first_start: dt.datetime, time_zone: str) -> tuple[Recurrence, list[dt.date]]:
    """``recurrence`` with only the exceptions whose original date the pattern still has (a pattern change
    in Salesforce keeps the others nowhere), and the dates dropped."""
    wanted = set(recurrence.exdates) | {o.original for o in recurrence.overrides}
    if not wanted:
        return recurrence, []
    days = {day for _, day, _ in pattern_occurrences(recurrence, first_start, time_zone)}
    dropped = sorted(wanted - days)
    kept = dataclasses.replace(
        recurrence,
        exdates=tuple(d for d in recurrence.exdates if d in days),
        overrides=tuple(o for o in recurrence.overrides if o.original in days),
    )
    return kept, dropped


def follow_pattern(
    recurrence: Recurrence,
    before: tuple[dt.datetime, dt.timedelta],
    after: tuple[dt.datetime, dt.timedelta],
    time_zone: str,
) -> Recurrence:
    """Overrides that only retitled or relocated an occurrence (it sat where the old pattern put it) follow
    the series to its new time of day or length; moved ones keep where they were moved to."""
    if not recurrence.overrides or before == after:
        return recurrence
    wanted = {o.original for o in recurrence.overrides}
    old = {d: s for _, d, s in _dates(recurrence, before[0], time_zone, wanted)}
    new = {d: s for _, d, s in _dates(recurrence, after[0], time_zone, wanted)}
    out = []
    for o in recurrence.overrides:
        if o.original in old and o.original in new and o.start == old[o.original] and o.end == o.start + before[1]:
            o = dataclasses.replace(o, start=new[o.original], end=new[o.original] + after[1])
        out.append(o)
    return dataclasses.replace(recurrence, overrides=tuple(out))


def _dates(
    recurrence: Recurrence, first: dt.datetime, time_zone: str, wanted: set[dt.date]
) -> Iterator[tuple[int, dt.date, dt.datetime]]:
    left = set(wanted)
    for occurrence in pattern_occurrences(recurrence, first, time_zone):
        if occurrence[1] in left:
            left.discard(occurrence[1])
            yield occurrence
            if not left:
                return


def dropped_message(subject: str, dropped: Sequence[dt.date]) -> str:
    listed = ", ".join(d.isoformat() for d in dropped)
    return (
        f"The pattern of {subject!r} changed in Salesforce; the changed or deleted occurrences of {listed} are "
        "not in the new pattern and were not kept (the others were re-applied on both sides)."
    )


# -- the series' changed occurrences → Exchange, occurrence by occurrence ----------------------------------
@dataclass
class ExchangeOccurrenceWrites:
    """What an Exchange master needs so that its occurrences match a Recurrence's exceptions."""

    deletes: list[int] = field(default_factory=list)  # instance indexes
    changes: list[OccurrenceChange] = field(default_factory=list)
    missing: list[dt.date] = field(default_factory=list)  # exception dates the pattern does not have


def exchange_occurrence_writes(
    before: Recurrence | None,
    after: Recurrence,
    first_start: dt.datetime,
    length: dt.timedelta,
    time_zone: str,
    *,
    subject: str,
    location: str,
) -> ExchangeOccurrenceWrites:
    """Occurrence deletes and changes taking a master from ``before``'s exceptions (``None``: a master just
    written, which holds none) to ``after``'s. An override that is gone goes back to the pattern."""
    old_ex = set(before.exdates) if before is not None else set()
    old = {o.original: o for o in before.overrides} if before is not None else {}
    new = {o.original: o for o in after.overrides}
    deleted = sorted(set(after.exdates) - old_ex)
    changed = [o for day, o in new.items() if day not in old or old[day].to_json() != o.to_json()]
    reverted = sorted(day for day in old if day not in new and day not in after.exdates)
    wanted = set(deleted) | {o.original for o in changed} | set(reverted)
    out = ExchangeOccurrenceWrites()
    if not wanted:
        return out
    found: dict[dt.date, tuple[int, dt.datetime]] = {}
    for index, day, start in pattern_occurrences(after, first_start, time_zone):
        if day in wanted:
            found[day] = (index, start)
            if len(found) == len(wanted):
                break
    tz = zone(time_zone)
    out.missing = sorted(wanted - set(found))
    out.deletes = [found[d][0] for d in deleted if d in found]
    for o in changed:
        if o.original not in found:
            continue
        fields: dict[str, Any] = {}
        if o.start is not None and o.end is not None:
            fields.update(start=o.start.astimezone(tz), end=o.end.astimezone(tz))
        if o.subject is not None:
            fields["subject"] = normalize_subject(o.subject) or subject
        if o.location is not None:
            fields["location"] = normalize_location(o.location) or None
        index, original = found[o.original]
        out.changes.append(OccurrenceChange(index, original, fields))
    for day in reverted:
        if day in found:
            index, original = found[day]
            fields = {"start": original.astimezone(tz), "end": (original + length).astimezone(tz),
                      "subject": subject, "location": normalize_location(location) or None}  # fmt: skip
            out.changes.append(OccurrenceChange(index, original, fields))
    return out


@dataclass
class ExchangeOccurrenceOutcome:
    """What `write_exchange_occurrences` did: requests made, notes, and the first refused occurrence."""

    writes: int = 0
    issues: list[MappingIssue] = field(default_factory=list)
    error: Any = None  # a ConnectorError: the caller fails the pair, the next session tries again


def write_exchange_occurrences(
    exchange: ExchangeCalendar, master_id: str, before: Recurrence | None, entry: Entry
) -> ExchangeOccurrenceOutcome:
    """Make an Exchange master's occurrences match ``entry``'s exceptions, occurrence by occurrence
    (DeleteItem / UpdateItem on OccurrenceItemIds, never a rewrite of the master). ``before``: the exceptions
    the master holds (``None`` right after the master was written, which drops them all). Raises the
    connector's error when the calendar cannot be reached."""
    out = ExchangeOccurrenceOutcome()
    bounds = series_bounds(entry)
    if entry.recurrence is None or bounds is None:
        return out
    plan = exchange_occurrence_writes(
        before, entry.recurrence, bounds[0], bounds[1], entry.time_zone, subject=entry.subject,
        location=entry.location,
    )  # fmt: skip
    for day in plan.missing:
        out.issues.append(
            MappingIssue(
                OCCURRENCE_MISSING,
                f"The occurrence of {day} of {entry.subject!r} is not in the Outlook series' pattern; its change "
                "is not synced.",
                Side.EXCHANGE,
                "recurrence",
            )
        )
    if plan.deletes:
        out.writes += exchange.delete_occurrences(master_id, plan.deletes)
    if plan.changes:
        results = exchange.update_occurrences(master_id, plan.changes)
        out.writes += 1
        refused = [(change, r.error) for change, r in zip(plan.changes, results, strict=False) if r.error is not None]
        if refused:
            change, error = refused[0]
            if error.code == CROSSING_BOUNDARY:
                # Exchange cannot hold it (Salesforce can): the pair fails and says why; nothing is reverted.
                day = change.original_start.astimezone(zone(entry.time_zone)).date()
                error = ConnectorError(
                    f"The occurrence of {day} of {entry.subject!r} was moved to or past the day of a neighbouring "
                    "occurrence; Outlook cannot hold a series' occurrences out of order.",
                    code=error.code,
                    service=error.service,
                )
            out.error = error
    return out


def _occurrence_fields(
    override: OccurrenceOverride, row: Mapping[str, Any], subject: str, time_zone: str
) -> dict[str, Any]:
    """The occurrence Event's fields the override wants, only those that differ (times as one group; an all-day
    occurrence moves by its date)."""
    fields: dict[str, Any] = {}
    if override.start is not None and override.end is not None:
        if row.get("IsAllDayEvent"):
            day = override.start.astimezone(zone(time_zone)).date()
            if day != _row_day(row, time_zone):
                fields["ActivityDate"] = day.isoformat()
        elif _row_span(row, time_zone) != (override.start, override.end):
            fields["StartDateTime"] = _wire(override.start)
            fields["EndDateTime"] = _wire(override.end)
    if override.subject is not None:
        fields["Subject"] = normalize_subject(override.subject) or subject
    if override.location is not None:
        fields["Location"] = normalize_location(override.location) or None
    return fields


def _row_day(row: Mapping[str, Any], time_zone: str) -> dt.date:
    """An occurrence Event's local date: its ActivityDate if all-day (Salesforce holds all-day Events at
    midnight UTC), else its start's date in the series' zone."""
    if row.get("IsAllDayEvent"):
        value = row.get("ActivityDate")
        if value:
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
        return _parse(row["StartDateTime"]).date()
    return _parse(row["StartDateTime"]).astimezone(zone(time_zone)).date()


def _row_span(row: Mapping[str, Any], time_zone: str) -> tuple[dt.datetime, dt.datetime]:
    """Start and end (UTC) of an occurrence Event as Exchange would hold it: an all-day one runs from local
    midnight to local midnight in the series' zone."""
    if row.get("IsAllDayEvent"):
        day = _row_day(row, time_zone)
        days = max(1, int(row.get("DurationInMinutes") or 1440) // 1440)
        tz = zone(time_zone)
        start = dt.datetime.combine(day, dt.time(0), tz).astimezone(dt.UTC)
        return start, dt.datetime.combine(day + dt.timedelta(days=days), dt.time(0), tz).astimezone(dt.UTC)
    start = _parse(row["StartDateTime"])
    return start, _parse(row.get("EndDateTime") or row["StartDateTime"])


def _wire(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _parse(text: str) -> dt.datetime:
    from dateutil.parser import isoparse

    return isoparse(text).astimezone(dt.UTC)


def _soql_id(value: str) -> str:
    if not value.isalnum():
        raise ValueError(f"not a Salesforce id: {value!r}")
    return value
