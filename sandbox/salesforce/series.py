"""Event series (``Recurrence2PatternText``) as the org stores them: a series record and one Event per
occurrence under it.

What the sandbox follows (Salesforce Object Reference, Event; Change Data Capture guide, "Recurring
Activities": "the activity series record is tracked in a single change event; each occurrence in the series
is tracked by an individual change event"):

- the record created with ``Recurrence2PatternText`` is the series (``IsRecurrence2`` true, the pattern, its
  zone, ``Recurrence2PatternStartDate``); the org generates one Event per occurrence, owned by the series'
  owner, with the series' subject, location, description, show-as, privacy, Who/What and length, and
  ``RecurrenceActivityId`` pointing at the series;
- an occurrence can be edited on its own: it then differs from the pattern and is an exception
  (``IsRecurrence2Exception`` true); it can be deleted on its own (recycle bin, ``IsDeleted``);
- editing the series' non-time fields carries them to the occurrences that are not exceptions; changing its
  pattern, start or length regenerates the occurrences (exceptions and deletions are dropped, as the org
  re-creates the series' occurrences); deleting the series deletes its occurrences.

Approximation: the sandbox generates at most `MAX_OCCURRENCES` occurrences of an unending series.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

if TYPE_CHECKING:
    from sandbox.salesforce.store import Record, Store

MAX_OCCURRENCES = 100
# Copied from the series to each occurrence; edits of these on the series reach non-exception occurrences.
CARRIED = ("Subject", "Location", "Description", "ShowAs", "Type", "IsPrivate", "WhoId", "WhatId", "AccountId",
           "OwnerId", "IsAllDayEvent")  # fmt: skip
# Fields whose change on the series regenerates the occurrences.
SHAPE = ("Recurrence2PatternText", "Recurrence2PatternTimeZone", "StartDateTime", "DurationInMinutes",
         "IsAllDayEvent")  # fmt: skip
# Fields whose change on an occurrence makes it an exception.
EXCEPTION_FIELDS = ("Subject", "Location", "Description", "ShowAs", "IsPrivate", "StartDateTime",
                    "DurationInMinutes", "EndDateTime", "IsAllDayEvent")  # fmt: skip


def occurrence_starts(series: Record) -> list[dt.datetime]:
    """Occurrence starts (UTC) of a series record: the RRULE expanded in the pattern's zone, wall-clock."""
    tz = ZoneInfo(series.get("Recurrence2PatternTimeZone") or "UTC")
    if series.get("IsAllDayEvent"):
        tz = ZoneInfo("UTC")  # all-day Events sit at midnight UTC of their date: the pattern runs on dates
    first = series["StartDateTime"].astimezone(tz)
    rule = rrulestr(series["Recurrence2PatternText"], dtstart=first.replace(tzinfo=None))
    starts: list[dt.datetime] = []
    for local in rule:
        starts.append(local.replace(tzinfo=tz).astimezone(dt.UTC))
        if len(starts) >= MAX_OCCURRENCES:
            break
    return starts


def occurrences(store: Store, series_id: str, *, include_deleted: bool = False) -> list[Record]:
    return [
        r
        for r in store.tables["Event"].values()
        if r.get("RecurrenceActivityId") == series_id and (include_deleted or not r["IsDeleted"])
    ]


def after_create(store: Store, record: Record, user_id: str) -> None:
    if record.get("IsRecurrence2"):
        _generate(store, record, user_id)


def after_update(store: Store, old: Record, record: Record, user_id: str) -> None:
    if record.get("RecurrenceActivityId"):
        if any(old.get(f) != record.get(f) for f in EXCEPTION_FIELDS):
            record["IsRecurrence2Exception"] = True
        return
    if not (old.get("IsRecurrence2") or record.get("IsRecurrence2")):
        return
    if any(old.get(f) != record.get(f) for f in SHAPE):
        for occurrence in occurrences(store, record["Id"]):
            store.remove_occurrence(occurrence, user_id)
        if record.get("IsRecurrence2"):
            _generate(store, record, user_id)
        return
    changed = {f: record.get(f) for f in CARRIED if old.get(f) != record.get(f)}
    if changed:
        for occurrence in occurrences(store, record["Id"]):
            if not occurrence["IsRecurrence2Exception"]:
                store.change_occurrence(occurrence, changed, user_id)


def after_delete(store: Store, record: Record, user_id: str) -> None:
    if record.get("IsRecurrence2"):
        for occurrence in occurrences(store, record["Id"]):
            store.remove_occurrence(occurrence, user_id)


def _generate(store: Store, series: Record, user_id: str) -> None:
    length = dt.timedelta(minutes=series["DurationInMinutes"] or 0)
    tz = ZoneInfo(series.get("Recurrence2PatternTimeZone") or "UTC")
    for start in occurrence_starts(series):
        values: dict[str, Any] = {f: series.get(f) for f in CARRIED}
        if series.get("IsAllDayEvent"):
            day = start.date()  # midnight UTC of the occurrence's date (occurrence_starts)
            midnight = dt.datetime.combine(day, dt.time(0), dt.UTC)
            values.update(ActivityDate=day, StartDateTime=midnight, ActivityDateTime=midnight,
                          EndDateTime=midnight + length - dt.timedelta(days=1), EndDate=day + length
                          - dt.timedelta(days=1))  # fmt: skip
        else:
            values.update(
                StartDateTime=start,
                ActivityDateTime=start,
                EndDateTime=start + length,
                ActivityDate=start.astimezone(tz).date(),
                EndDate=(start + length).astimezone(tz).date(),
            )
        values.update(DurationInMinutes=series["DurationInMinutes"], RecurrenceActivityId=series["Id"],
                      IsRecurrence2=False, IsRecurrence2Exception=False)  # fmt: skip
        store.add_occurrence(values, user_id)
