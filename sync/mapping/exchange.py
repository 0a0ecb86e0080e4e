"""Exchange calendar items (as plain fields) ⇄ neutral `Entry`; Exchange's limits and round trip.

Protocol-independent: the EWS connector (`sync.connectors.ews.mapping`) turns exchangelib's items into these
fields and back, a Microsoft Graph connector would do the same with its JSON events. The fields, keyed by
Exchange's (exchangelib's) field names:

- ``subject``, ``location``: str; ``body``: str, with ``body_type`` ``"HTML"`` when it is HTML (converted to
  text);
- ``is_all_day``: bool; ``start``/``end``: aware datetimes for timed items; for all-day items dates with an
  **inclusive** end (exchangelib subtracts a day from EWS's exclusive midnight on read and adds it back on
  write) -- aware datetimes at local midnights (end exclusive) are accepted too;
- ``start_timezone``: IANA or Windows name (the item's zone; all-day items run midnight to midnight in it);
- ``legacy_free_busy_status``: Free/Tentative/Busy/OOF/WorkingElsewhere/NoData;
  ``sensitivity``: Normal/Personal/Private/Confidential;
- ``required_attendees``/``optional_attendees``: e-mail strings or dicts with ``email``/``name``/``response``
  (objects with ``mailbox.email_address`` and ``response_type`` are read too);
- ``categories``: list of str; ``recurrence``: `ExchangePattern` (or a neutral `Recurrence`, which passes
  through); ``deleted_occurrences`` (their starts); ``modified_occurrences``: dicts with the occurrence's
  ``id``, ``original_start``, ``start`` and ``end`` (and ``subject``/``location`` once the feed has read them,
  `sync.series`);
- ``calsync_key``: the sync key (an extended property on the EWS item).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from sync.entry import (
    EVENT,
    Attendee,
    Entry,
    Response,
    ShowAs,
    Side,
    html_to_text,
    normalize_body,
    normalize_email,
    normalize_location,
    normalize_subject,
    project,
    to_utc,
)
from sync.mapping import recurrence as rec_map
from sync.mapping.issues import (
    INVALID_VALUE,
    LOCATION_TOO_LONG,
    MISSING_TIME,
    SUBJECT_TOO_LONG,
    UNSUPPORTED_TIME_ZONE,
    MappingIssue,
    MappingResult,
    never_raises,
)
from sync.mapping.recurrence import ExchangePattern
from sync.mapping.salesforce import timing_issues
from sync.mapping.timezones import canonical_time_zone, exchange_supports, local_day, zone
from sync.series import occurrence_overrides

SYNC_KEY_ATTR = "calsync_key"
EXCHANGE_TEXT_MAX = 255  # Subject and Location

# Fields we read and write (exchangelib names). ``start_timezone`` maps to ``_start_timezone``/``_end_timezone``.
ITEM_FIELDS = (
    "subject", "start", "end", "is_all_day", "location", "body", "legacy_free_busy_status", "sensitivity",
    "required_attendees", "optional_attendees", "categories", "recurrence", "start_timezone",
)  # fmt: skip
# Which item fields carry each projection field (for "update only the changed fields").
PROJECTION_TO_ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    "subject": ("subject",),
    "when": ("start", "end", "is_all_day", "start_timezone"),
    "location": ("location",),
    "body": ("body",),
    "show_as": ("legacy_free_busy_status",),
    "is_private": ("sensitivity",),
    "attendees": ("required_attendees", "optional_attendees"),
    "recurrence": ("recurrence", "start_timezone"),
}


_FREE_BUSY_IN = {
    "free": ShowAs.FREE,
    "tentative": ShowAs.TENTATIVE,
    "busy": ShowAs.BUSY,
    "oof": ShowAs.OUT_OF_OFFICE,
    "workingelsewhere": ShowAs.BUSY,
    "nodata": ShowAs.BUSY,
}
_FREE_BUSY_OUT = {
    ShowAs.FREE: "Free",
    ShowAs.TENTATIVE: "Tentative",
    ShowAs.BUSY: "Busy",
    ShowAs.OUT_OF_OFFICE: "OOF",
}
_RESPONSE_IN = {
    "unknown": Response.UNKNOWN,
    "organizer": Response.ORGANIZER,
    "tentative": Response.TENTATIVE,
    "accept": Response.ACCEPTED,
    "decline": Response.DECLINED,
    "noresponsereceived": Response.NO_RESPONSE,
}


def _zone_name(value: Any) -> str | None:
    if value is None:
        return None
    key = getattr(value, "key", None) or getattr(value, "ms_id", None) or str(value)
    return canonical_time_zone(key)


def _attendees(values: Iterable[Any] | None, optional: bool) -> list[Attendee]:
    out = []
    for value in values or ():
        if isinstance(value, str):
            email, response, name = value, "unknown", ""
        elif isinstance(value, Mapping):
            email, response, name = (
                value.get("email", ""),
                value.get("response", "unknown"),
                value.get("name", ""),
            )
        else:
            mailbox = getattr(value, "mailbox", None)
            email = getattr(mailbox, "email_address", "") or ""
            name = getattr(mailbox, "name", "") or ""
            response = getattr(value, "response_type", "Unknown") or "Unknown"
        response_enum = _RESPONSE_IN.get(str(response).lower().replace("_", ""), None)
        if response_enum is None:
            response_enum = Response(response) if response in Response._value2member_map_ else Response.UNKNOWN
        if normalize_email(email):
            out.append(Attendee(email=email, response=response_enum, optional=optional, name=name or ""))
    return out


def _local_date(value: Any, tz: str, *, is_end: bool) -> date:
    """An all-day bound as a local date: dates are exchangelib's (end inclusive), datetimes EWS's raw
    midnights (end exclusive), read as days of the item's own zone from its local midnights (see
    `timezones.local_day`), which keeps the day right across DST, also where a zone skips midnight."""
    if isinstance(value, datetime):
        return local_day(to_utc(value) if value.tzinfo else value, tz, is_end=is_end)
    if isinstance(value, date):
        return value + timedelta(days=1) if is_end else value
    raise ValueError(f"not a date: {value!r}")


@never_raises(Side.EXCHANGE)
def entry_from_exchange(item: Mapping[str, Any], *, kind: str = EVENT, default_time_zone: str = "UTC") -> MappingResult:
    """Map a calendar item dict (see the module docstring) to an `Entry`."""
    issues: list[MappingIssue] = []
    raw_tz = item.get("start_timezone")
    tz = _zone_name(raw_tz) if raw_tz is not None else (canonical_time_zone(default_time_zone) or "UTC")
    if tz is None:
        issues.append(
            MappingIssue(
                UNSUPPORTED_TIME_ZONE,
                f"The item's time zone {str(raw_tz)!r} is unknown.",
                Side.EXCHANGE,
                "start_timezone",
            )
        )
        tz = "UTC"

    raw_body = item.get("body")
    is_html = str(item.get("body_type", "")).upper() == "HTML"
    body = html_to_text(str(raw_body)) if is_html else normalize_body(str(raw_body or ""))

    recurrence = None
    if item.get("recurrence") is not None:
        rec = item["recurrence"]
        exdates = []
        for occ in item.get("deleted_occurrences") or ():
            start = getattr(occ, "start", occ)
            exdates.append(to_utc(start).astimezone(zone(tz)).date() if isinstance(start, datetime) else start)
        if isinstance(rec, ExchangePattern):
            recurrence, rec_issues = rec_map.from_exchange_pattern(rec, tuple(exdates))
            issues += rec_issues
            if recurrence is not None:
                overrides = occurrence_overrides(item.get("modified_occurrences") or (), tz)
                recurrence = dataclasses.replace(recurrence, overrides=overrides)
        else:
            recurrence = rec  # already neutral (round trips, in-memory calendars)

    attendees = _attendees(item.get("required_attendees"), False) + _attendees(item.get("optional_attendees"), True)
    sensitivity = str(item.get("sensitivity") or "Normal").lower()
    common: dict[str, Any] = {
        "kind": kind,
        "subject": normalize_subject(item.get("subject") or ""),
        "location": normalize_location(item.get("location") or ""),
        "body": body,
        "show_as": _FREE_BUSY_IN.get(str(item.get("legacy_free_busy_status") or "Busy").lower(), ShowAs.BUSY),
        "is_private": sensitivity in ("private", "confidential"),
        "attendees": tuple(sorted(attendees)),
        "categories": tuple(item.get("categories") or ()),
        "recurrence": recurrence,
        "time_zone": tz,
    }
    start, end = item.get("start"), item.get("end")
    if start is None or end is None:
        issues.append(MappingIssue(MISSING_TIME, "The item has no start or no end.", Side.EXCHANGE, "start"))
    if issues:
        return MappingResult(issues=tuple(issues))
    try:
        if item.get("is_all_day"):
            entry = Entry(
                is_all_day=True,
                start_date=_local_date(start, tz, is_end=False),
                end_date=_local_date(end, tz, is_end=True),
                **common,
            )
        else:
            if not isinstance(start, datetime) or not isinstance(end, datetime):
                # A date without is_all_day: treat as local midnights (what EWS would do).
                start = datetime.combine(start, time(0), tzinfo=zone(tz)) if not isinstance(start, datetime) else start
                end = datetime.combine(end, time(0), tzinfo=zone(tz)) if not isinstance(end, datetime) else end
            entry = Entry(start=start, end=end, **common)
    except ValueError as exc:
        return MappingResult(
            issues=(
                MappingIssue(INVALID_VALUE, f"The item's start or end is not usable: {exc}.", Side.EXCHANGE, "start"),
            )
        )
    return MappingResult(entry=entry)


def exchange_issues(entry: Entry) -> list[MappingIssue]:
    """Why ``entry`` cannot be written to Exchange (empty if it can)."""
    issues = timing_issues(entry, Side.EXCHANGE)
    # Exchange (and exchangelib, which raises before sending) holds at most 255 characters in these fields.
    for name, label, code, value in (
        ("subject", "subject", SUBJECT_TOO_LONG, normalize_subject(entry.subject)),
        ("location", "location", LOCATION_TOO_LONG, normalize_location(entry.location)),
    ):
        if len(value) > EXCHANGE_TEXT_MAX:
            message = f"The {label} has {len(value)} characters; Exchange allows {EXCHANGE_TEXT_MAX}."
            issues.append(MappingIssue(code, message, Side.EXCHANGE, name))
    if not exchange_supports(entry.time_zone):
        issues.append(
            MappingIssue(
                UNSUPPORTED_TIME_ZONE,
                f"Exchange has no time zone for {entry.time_zone!r}.",
                Side.EXCHANGE,
                "start_timezone",
            )
        )
    elif entry.recurrence is not None:
        _, rec_issues = rec_map.to_exchange_pattern(entry.recurrence, _series_start(entry))
        issues += rec_issues
    return issues


def _series_start(entry: Entry) -> date:
    if entry.is_all_day and entry.start_date:
        return entry.start_date
    if entry.start is not None:
        return entry.start.astimezone(zone(entry.time_zone)).date()
    return date(1970, 1, 1)


def entry_to_exchange(entry: Entry, *, sync_key: str | None = None) -> tuple[dict[str, Any], list[MappingIssue]]:
    """The complete calendar item dict for ``entry``; a caller must not write it when there are issues."""
    issues = exchange_issues(entry)
    tz = canonical_time_zone(entry.time_zone) or "UTC"
    item: dict[str, Any] = {
        "subject": normalize_subject(entry.subject),
        "location": normalize_location(entry.location) or None,
        "body": normalize_body(entry.body) if entry.body else None,
        "is_all_day": bool(entry.is_all_day),
        "legacy_free_busy_status": _FREE_BUSY_OUT[entry.show_as],
        "sensitivity": "Private" if entry.is_private else "Normal",
        "required_attendees": [_attendee_dict(a) for a in entry.attendees if not a.optional] or None,
        "optional_attendees": [_attendee_dict(a) for a in entry.attendees if a.optional] or None,
        "categories": list(entry.categories) or None,
        "start_timezone": tz,
        "recurrence": None,
    }
    if entry.is_all_day and entry.start_date and entry.end_date:
        item["start"] = entry.start_date
        item["end"] = entry.end_date - timedelta(days=1)  # exchangelib's inclusive all-day end
    else:
        item["start"], item["end"] = entry.start, entry.end
    if entry.recurrence is not None and not issues:
        item["recurrence"], _ = rec_map.to_exchange_pattern(entry.recurrence, _series_start(entry))
    if sync_key:
        item[SYNC_KEY_ATTR] = sync_key
    return item, issues


def _attendee_dict(attendee: Attendee) -> dict[str, str]:
    return {"email": attendee.email, "name": attendee.name}


def exchange_update(
    old: Entry | None, new: Entry, fields: Iterable[str] | None = None
) -> tuple[dict[str, Any], list[MappingIssue]]:
    """The item fields to update: those behind the given projection ``fields``, or, without ``fields``,
    those whose projection differs between ``old`` and ``new``: an `ItemChange`'s fields."""
    after, issues = entry_to_exchange(new)
    if fields is None:
        if old is None:
            return after, issues
        before, now = project(old), project(new)
        fields = [f for f in now if before.get(f) != now.get(f)]
    names: list[str] = []
    for f in fields:
        names += [n for n in PROJECTION_TO_ITEM_FIELDS[f] if n not in names]
    return {n: after[n] for n in names}, issues


def exchange_roundtrip(entry: Entry) -> Entry:
    """The entry as Exchange will hold it once written (time zone canonicalised, body as plain text)."""
    item, issues = entry_to_exchange(entry)
    if issues:
        return entry
    if item["recurrence"] is not None:
        item["recurrence"] = entry.recurrence  # neutral passes through entry_from_exchange unchanged
    result = entry_from_exchange(item, kind=entry.kind, default_time_zone=entry.time_zone)
    if result.entry is None:
        return entry
    return result.entry.replace(who_ids=entry.who_ids, what_id=entry.what_id)
