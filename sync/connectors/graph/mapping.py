"""Graph ``event`` JSON ⇄ the plain item fields of `sync.mapping.exchange` and `ExchangeItem`.

The same fields the EWS connector produces (`sync.connectors.ews.mapping`), so the engine cannot tell the
protocols apart: instants as aware UTC datetimes (every request asks for ``outlook.timezone="UTC"``), all-day
bounds as the exact instants of the item's local midnights (the mapping derives the days from those, never
from 24-hour steps: docs/recurrence.md), the item's zone from ``originalStartTimeZone`` (a Windows id) as an
IANA name, ``recurrence`` as an `ExchangePattern`, deleted and modified occurrences as EWS lists them (the
connector computes those from ``/instances``). Event reference: https://learn.microsoft.com/graph/api/resources/event
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP

from sync.connectors.base import ExchangeItem
from sync.entry import Attendee, to_utc
from sync.mapping.exchange import SYNC_KEY_ATTR
from sync.mapping.recurrence import DAY, LAST_WEEK, WEEKDAY, WEEKEND_DAY, ExchangePattern
from sync.mapping.timezones import canonical_time_zone, day_start, zone

# The sync key's MAPI named property: the one the EWS connector writes (`sync.connectors.ews.mapping.
# SyncKeyProperty`: property set 3f0d1c4e-..., name CalSyncKey), so links survive a move from EWS to Graph.
SYNC_KEY_PROPERTY_SET = "3f0d1c4e-6a5b-4c1e-9d7a-0c5a1ca15c01"
SYNC_KEY_PROPERTY_NAME = "CalSyncKey"
SYNC_KEY_PROPERTY_ID = f"String {{{SYNC_KEY_PROPERTY_SET}}} Name {SYNC_KEY_PROPERTY_NAME}"
EXPAND_SYNC_KEY = f"singleValueExtendedProperties($filter=id eq '{SYNC_KEY_PROPERTY_ID}')"
# transactionId of a create: derived from the sync key, so a retried POST cannot make a second event.
_TRANSACTION_NAMESPACE = uuid.UUID("8a6b3c0e-2f4d-4e1a-9c5b-0c5a1ca15c16")

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")  # Exchange's 1..7
_INDEXES = ("first", "second", "third", "fourth", "last")  # Exchange's week numbers 1..5
_PATTERN_TYPES = {
    "daily": "daily",
    "weekly": "weekly",
    "absoluteMonthly": "absolute_monthly",
    "relativeMonthly": "relative_monthly",
    "absoluteYearly": "absolute_yearly",
    "relativeYearly": "relative_yearly",
}
_RANGE_TYPES = {"noEnd": "no_end", "numbered": "numbered", "endDate": "end_date"}
_SHOW_AS_IN = {"free": "Free", "tentative": "Tentative", "busy": "Busy", "oof": "OOF",
               "workingElsewhere": "WorkingElsewhere", "unknown": "NoData"}  # fmt: skip
_SHOW_AS_OUT = {v: k for k, v in _SHOW_AS_IN.items()}
_RESPONSE_IN = {"none": "Unknown", "organizer": "Organizer", "tentativelyAccepted": "Tentative",
                "accepted": "Accept", "declined": "Decline", "notResponded": "NoResponseReceived"}  # fmt: skip
_SETS = {DAY: set(_DAYS), WEEKDAY: set(_DAYS[:5]), WEEKEND_DAY: set(_DAYS[5:])}


def transaction_id(sync_key: str) -> str:
    return str(uuid.uuid5(_TRANSACTION_NAMESPACE, sync_key))


# -- time ----------------------------------------------------------------------------------------------------
def parse_datetime(value: Mapping[str, Any] | str | None) -> dt.datetime | None:
    """A Graph ``dateTimeTimeZone`` (or an ISO string) as an aware UTC datetime."""
    if value is None:
        return None
    text = value.get("dateTime") if isinstance(value, Mapping) else value
    tz_name = value.get("timeZone") if isinstance(value, Mapping) else None
    if not text:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(text).strip())
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        iana = canonical_time_zone(tz_name) if tz_name else "UTC"
        parsed = parsed.replace(tzinfo=zone(iana or "UTC"))
    return parsed.astimezone(dt.UTC)


def windows_zone(name: str | None) -> str:
    """The Windows zone id Graph stores for an IANA or Windows name (UTC when unknown)."""
    iana = canonical_time_zone(name) or "UTC"
    if iana == "UTC":
        return "UTC"
    ids = IANA_TO_MS_TIMEZONE_MAP.get(iana)
    return ids[0] if ids else iana


def _local(value: dt.datetime, tz: str) -> dict[str, str]:
    local = value.astimezone(zone(tz))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": windows_zone(tz)}


def _all_day_bound(value: Any, tz: str, *, is_end: bool) -> dict[str, str]:
    """An all-day bound as Graph wants it: the local midnight of a day in the item's zone. Plain fields hold
    dates (end inclusive, as exchangelib) or the instants of local midnights (end exclusive)."""
    if isinstance(value, dt.datetime):
        day = value.astimezone(zone(tz)).date() if value.tzinfo else value.date()
    else:
        day = value + dt.timedelta(days=1) if is_end else value
    # The day's first instant (where a zone skips midnight, as Santiago does, the instant the day begins).
    start = day_start(day, tz).astimezone(zone(tz))
    return {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": windows_zone(tz)}


# -- recurrence ----------------------------------------------------------------------------------------------
def pattern_from_graph(rec: Mapping[str, Any]) -> ExchangePattern:
    """The `ExchangePattern` of a Graph ``patternedRecurrence``."""
    pattern, rng = rec.get("pattern") or {}, rec.get("range") or {}
    kind = _PATTERN_TYPES.get(str(pattern.get("type")), str(pattern.get("type")))
    days = [str(d).lower() for d in pattern.get("daysOfWeek") or []]
    values: dict[str, Any] = {"type": kind, "start": _date(rng.get("startDate"))}
    if kind not in ("absolute_yearly", "relative_yearly"):
        values["interval"] = int(pattern.get("interval") or 1)
    if kind == "weekly":
        values["weekdays"] = tuple(sorted(_DAYS.index(d) + 1 for d in days if d in _DAYS))
        first = str(pattern.get("firstDayOfWeek") or "sunday").lower()
        values["first_day_of_week"] = _DAYS.index(first) + 1 if first in _DAYS else None
    if kind in ("relative_monthly", "relative_yearly"):
        values["weekday"] = _weekday_code(days)
        index = str(pattern.get("index") or "first").lower()
        values["week_number"] = _INDEXES.index(index) + 1 if index in _INDEXES else None
    if kind in ("absolute_monthly", "absolute_yearly"):
        values["day_of_month"] = int(pattern.get("dayOfMonth") or 0) or None
    if kind in ("absolute_yearly", "relative_yearly"):
        values["month"] = int(pattern.get("month") or 0) or None
    rtype = _RANGE_TYPES.get(str(rng.get("type")), "no_end")
    values["range"] = rtype
    if rtype == "numbered":
        values["number"] = int(rng.get("numberOfOccurrences") or 0)
    elif rtype == "end_date":
        values["end"] = _date(rng.get("endDate"))
    return ExchangePattern(**values)


def _weekday_code(days: list[str]) -> int | None:
    wanted = {d for d in days if d in _DAYS}
    if len(wanted) == 1:
        return _DAYS.index(next(iter(wanted))) + 1
    for code, names in _SETS.items():
        if wanted == names:
            return code
    return None


def _date(value: Any) -> dt.date | None:
    if not value or str(value).startswith("0001-"):
        return None
    return dt.date.fromisoformat(str(value)[:10])


def pattern_to_graph(p: ExchangePattern, tz: str) -> dict[str, Any]:
    """The Graph ``patternedRecurrence`` of an `ExchangePattern` (``tz``: the series' zone)."""
    pattern: dict[str, Any] = {"type": next(k for k, v in _PATTERN_TYPES.items() if v == p.type)}
    if p.type in ("daily", "weekly", "absolute_monthly", "relative_monthly"):
        pattern["interval"] = p.interval
    else:
        pattern["interval"] = 1
    if p.type == "weekly":
        pattern["daysOfWeek"] = [_DAYS[d - 1] for d in p.weekdays]
        if p.first_day_of_week:
            pattern["firstDayOfWeek"] = _DAYS[p.first_day_of_week - 1]
    if p.type in ("relative_monthly", "relative_yearly"):
        weekday = p.weekday or 1
        pattern["daysOfWeek"] = [_DAYS[weekday - 1]] if weekday <= 7 else [d for d in _DAYS if d in _SETS[weekday]]
        pattern["index"] = _INDEXES[(p.week_number or 1) - 1] if (p.week_number or 1) <= LAST_WEEK else "last"
    if p.type in ("absolute_monthly", "absolute_yearly"):
        pattern["dayOfMonth"] = p.day_of_month
    if p.type in ("absolute_yearly", "relative_yearly"):
        pattern["month"] = p.month
    rng: dict[str, Any] = {"type": next(k for k, v in _RANGE_TYPES.items() if v == p.range),
                           "startDate": p.start.isoformat() if p.start else None,
                           "recurrenceTimeZone": windows_zone(tz)}  # fmt: skip
    if p.range == "numbered":
        rng["numberOfOccurrences"] = p.number
    elif p.range == "end_date" and p.end is not None:
        rng["endDate"] = p.end.isoformat()
    return {"pattern": pattern, "range": rng}


# -- reading -------------------------------------------------------------------------------------------------
def sync_key_of(event: Mapping[str, Any]) -> str | None:
    for prop in event.get("singleValueExtendedProperties") or ():
        if str(prop.get("id", "")).lower() == SYNC_KEY_PROPERTY_ID.lower():
            return prop.get("value")
    return None


def item_zone(event: Mapping[str, Any]) -> str | None:
    """The event's own zone as an IANA name (the raw value when it is unknown, so the mapping reports it)."""
    raw = event.get("originalStartTimeZone") or ((event.get("recurrence") or {}).get("range") or {}).get(
        "recurrenceTimeZone"
    )
    if not raw:
        return None
    return canonical_time_zone(raw) or raw


def _attendees(event: Mapping[str, Any], kind: str) -> list[dict[str, str]] | None:
    out = []
    for att in event.get("attendees") or ():
        if (att.get("type") or "required") != kind:
            continue
        email = att.get("emailAddress") or {}
        status = (att.get("status") or {}).get("response") or "none"
        out.append({"email": email.get("address") or "", "name": email.get("name") or "",
                    "response": _RESPONSE_IN.get(status, "Unknown")})  # fmt: skip
    return out or None


def event_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """The plain item fields of a Graph event (those present in it: a ``$select`` read gives fewer)."""
    out: dict[str, Any] = {}
    if "subject" in event:
        out["subject"] = event.get("subject")
    if "body" in event:
        body = event.get("body") or {}
        out["body"] = body.get("content") or None
        if str(body.get("contentType", "")).lower() == "html":
            out["body_type"] = "HTML"
    if "location" in event:
        out["location"] = (event.get("location") or {}).get("displayName") or None
    if "isAllDay" in event:
        out["is_all_day"] = bool(event.get("isAllDay"))
    if "start" in event:
        out["start"] = parse_datetime(event.get("start"))
    if "end" in event:
        out["end"] = parse_datetime(event.get("end"))
    if "originalStartTimeZone" in event or "recurrence" in event:
        out["start_timezone"] = item_zone(event)
    if "showAs" in event:
        out["legacy_free_busy_status"] = _SHOW_AS_IN.get(str(event.get("showAs")), "Busy")
    if "sensitivity" in event:
        out["sensitivity"] = str(event.get("sensitivity") or "normal").capitalize()
    if "attendees" in event:
        out["required_attendees"] = _attendees(event, "required")
        out["optional_attendees"] = _attendees(event, "optional")
    if "categories" in event:
        out["categories"] = list(event.get("categories") or [])
    if "recurrence" in event:
        rec = event.get("recurrence")
        out["recurrence"] = pattern_from_graph(rec) if rec else None
    out[SYNC_KEY_ATTR] = sync_key_of(event)
    return out


def exchange_item(
    event: Mapping[str, Any],
    mailbox_email: str,
    *,
    deleted_occurrences: list[dt.datetime] | None = None,
    modified_occurrences: list[dict[str, Any]] | None = None,
) -> ExchangeItem:
    """A Graph event as the engine's `ExchangeItem` (a series master with its exceptions, as EWS reads it)."""
    fields = event_fields(event)
    if fields.get("recurrence") is not None:
        fields["deleted_occurrences"] = deleted_occurrences or None
        fields["modified_occurrences"] = modified_occurrences or None
    attendees = event.get("attendees") or ()
    organizer = ((event.get("organizer") or {}).get("emailAddress") or {}).get("address") or ""
    is_organizer = event.get("isOrganizer")
    if is_organizer is None:
        is_organizer = not organizer or organizer.lower() == mailbox_email.lower()
    modified = event.get("lastModifiedDateTime")
    return ExchangeItem(
        item_id=str(event["id"]),
        change_key=event.get("changeKey") or _etag_key(event.get("@odata.etag")),
        fields=fields,
        sync_key=fields.get(SYNC_KEY_ATTR),
        modified_at=parse_datetime(modified) if modified else None,
        is_meeting=bool(attendees),
        is_organizer=bool(is_organizer),
        is_cancelled=bool(event.get("isCancelled")),
        uid=event.get("iCalUId") or None,
    )


def _etag_key(etag: str | None) -> str | None:
    if not etag:
        return None
    value = etag[2:] if etag.startswith("W/") else etag
    return value.strip('"') or None


def etag(change_key: str) -> str:
    return f'W/"{change_key}"'


# -- writing -------------------------------------------------------------------------------------------------
def _attendee_json(value: Any, kind: str) -> dict[str, Any]:
    if isinstance(value, Attendee):
        email, name = value.email, value.name
    elif isinstance(value, Mapping):
        email, name = value.get("email", ""), value.get("name", "")
    else:
        email, name = str(value), ""
    address = {"address": email}
    if name:
        address["name"] = name
    return {"type": kind, "emailAddress": address}


def graph_body(data: Mapping[str, Any], *, fallback_zone: str | None = None) -> dict[str, Any]:
    """The Graph JSON setting these plain fields (and only these). ``fallback_zone``: the zone when
    ``start_timezone`` is not among them (an update of the times keeps the item's zone)."""
    tz = canonical_time_zone(str(data.get("start_timezone") or fallback_zone or "UTC")) or "UTC"
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name == "subject":
            out["subject"] = value or ""
        elif name == "body":
            html = str(data.get("body_type", "")).upper() == "HTML"
            out["body"] = {"contentType": "html" if html else "text", "content": value or ""}
        elif name == "location":
            out["location"] = {"displayName": value or ""}
        elif name == "is_all_day":
            out["isAllDay"] = bool(value)
        elif name == "legacy_free_busy_status":
            out["showAs"] = _SHOW_AS_OUT.get(str(value), "busy")
        elif name == "sensitivity":
            out["sensitivity"] = str(value or "Normal").lower()
        elif name == "categories":
            out["categories"] = list(value or [])
        elif name == SYNC_KEY_ATTR:
            out["singleValueExtendedProperties"] = [{"id": SYNC_KEY_PROPERTY_ID, "value": value}]
        elif name == "recurrence":
            if value is None:
                out["recurrence"] = None
            elif isinstance(value, ExchangePattern):
                out["recurrence"] = pattern_to_graph(value, tz)
            else:
                raise ValueError(f"recurrence must be an ExchangePattern, not {type(value).__name__}")
    if "required_attendees" in data or "optional_attendees" in data:
        # Graph replaces the whole list: both kinds go together (the projection changes them together).
        out["attendees"] = [_attendee_json(a, "required") for a in data.get("required_attendees") or ()] + [
            _attendee_json(a, "optional") for a in data.get("optional_attendees") or ()
        ]
    all_day = bool(data.get("is_all_day"))
    for name in ("start", "end"):
        if name in data and data[name] is not None:
            value = data[name]
            if all_day or not isinstance(value, dt.datetime):
                out[name] = _all_day_bound(value, tz, is_end=name == "end")
            else:
                out[name] = _local(to_utc(value), tz)
    return out
