"""Graph ``event`` JSON <-> the EWS sandbox's calendar items (the fields the store keeps as EWS elements).

Reading renders an item (or one occurrence of a series) from ``sandbox.exchange.calendar.full_fields``, so Graph
shows exactly what EWS shows. Writing turns a POST/PATCH body into the same elements EWS CreateItem/UpdateItem
store, then runs the same server rules (``calendar.apply_rules``: defaults, all-day normalisation, recurrence
checks). Reference: https://learn.microsoft.com/en-us/graph/api/resources/event
"""

from __future__ import annotations

import datetime as dt
import html
import re
import zoneinfo
from dataclasses import dataclass, field

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

from sandbox.exchange import calendar
from sandbox.exchange import ids as ews_ids
from sandbox.exchange.store import Item, Mailbox
from sandbox.exchange.xml import Element, child_text, el, fmt_bool, local, parse_bool, parse_datetime, t

from . import ids, recurrence
from .errors import GraphError, body_read

UTC = dt.UTC
# transactionId lives in a sandbox-private named property (Exchange keeps it in a MAPI property too).
TRANSACTION_SET = "6f3c1a2e-9a7b-4e0c-8f1d-2b5a1ca15c02"
TRANSACTION_KEY = ("name", TRANSACTION_SET, "GraphTransactionId")

_SHOW_AS = {
    "Free": "free",
    "Tentative": "tentative",
    "Busy": "busy",
    "OOF": "oof",
    "WorkingElsewhere": "workingElsewhere",
    "NoData": "unknown",
}
_RESPONSE = {
    "Unknown": "none",
    "Organizer": "organizer",
    "Tentative": "tentativelyAccepted",
    "Accept": "accepted",
    "Decline": "declined",
    "NoResponseReceived": "notResponded",
}
_TYPES = {"Single": "singleInstance", "RecurringMaster": "seriesMaster", "Occurrence": "occurrence"}
_ATTENDEE_LISTS = (("RequiredAttendees", "required"), ("OptionalAttendees", "optional"), ("Resources", "resource"))
_SENSITIVITY = ("normal", "personal", "private", "confidential")
_IMPORTANCE = ("low", "normal", "high")
# Properties Graph computes: sent back in a body (a GET result PATCHed as a whole), they are ignored.
READ_ONLY = {
    "@odata.etag",
    "@odata.context",
    "@odata.type",
    "id",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "iCalUId",
    "uid",
    "type",
    "seriesMasterId",
    "isOrganizer",
    "webLink",
    "bodyPreview",
    "responseStatus",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "originalStart",
    "hasAttachments",
    "onlineMeetingUrl",
    "onlineMeeting",
    "isDraft",
    "occurrenceId",
    "isCancelled",
    "organizer",
}
# Accepted and ignored (no EWS twin in the store).
IGNORED = {
    "responseRequested",
    "allowNewTimeProposals",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "hideAttendees",
    "locations",
}
WRITABLE = {
    "subject",
    "body",
    "start",
    "end",
    "isAllDay",
    "sensitivity",
    "showAs",
    "importance",
    "categories",
    "location",
    "attendees",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "recurrence",
    "transactionId",
    "singleValueExtendedProperties",
}
_OCCURRENCE_WRITABLE = WRITABLE - {"recurrence", "transactionId"}
_EXT_TYPES = ("String", "Integer", "Boolean", "SystemTime", "Binary", "Long", "Short", "Double", "Float", "CLSID")
_EXT_ID = re.compile(
    r"^(?P<type>\w+)\s+(?:\{(?P<guid>[0-9a-fA-F-]{36})\}\s+(?:Name\s+(?P<name>\S.*)|Id\s+(?P<id>0x[0-9a-fA-F]+|\d+))"
    r"|(?P<tag>0x[0-9a-fA-F]{4}))$"
)


@dataclass
class View:
    """How a request wants events rendered: time zone (Prefer: outlook.timezone), id format, expansions."""

    timezone: str = "UTC"
    immutable: bool = False
    expand_ext: list[tuple[tuple, str]] = field(default_factory=list)  # (key, id as requested)
    select: set[str] | None = None
    base_url: str = ""
    user: str = ""

    def id_of(self, p: ews_ids.ParsedId) -> str:
        return ids.immutable_id(p) if self.immutable else ids.rest_id(p)


# -- time zones -----------------------------------------------------------------------------------------------
def windows_zone(name: str) -> str:
    """The Windows zone id for a Graph ``timeZone`` (Windows or IANA name); 400 when unknown."""
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "TimeZoneNotSupportedException", "A valid TimeZone value must be specified.")
    name = name.strip()
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return "UTC"
    if name in MS_TIMEZONE_TO_IANA_MAP:
        return name
    if name in IANA_TO_MS_TIMEZONE_MAP:
        return IANA_TO_MS_TIMEZONE_MAP[name][0]
    raise GraphError(
        400,
        "TimeZoneNotSupportedException",
        f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name}'.",
    )


def zone_info(name: str) -> zoneinfo.ZoneInfo:
    return calendar.zone(windows_zone(name))


def fmt_local(value: dt.datetime, tz_name: str) -> dict:
    local_value = value.astimezone(zone_info(tz_name))
    return {"dateTime": local_value.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz_name}


def fmt_utc(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def parse_graph_datetime(value, zone_name: str | None = None) -> dt.datetime:
    """An ISO 8601 date-time; without an offset it is local time in ``zone_name`` (UTC when None)."""
    if not isinstance(value, str):
        raise body_read("Cannot convert the literal to the expected type 'Edm.String'.")
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip())
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise GraphError(
            400, "ErrorInvalidRequest", f"Cannot convert the literal '{value}' to the expected type 'Edm.DateTime'."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone_info(zone_name) if zone_name else UTC)
    return parsed.astimezone(UTC)


# -- extended properties --------------------------------------------------------------------------------------
def parse_ext_id(text: str) -> tuple[tuple, str, Element]:
    """(store key, PropertyType, ExtendedFieldURI element) of a Graph extended-property id."""
    m = _EXT_ID.match((text or "").strip())
    if m is None or m.group("type") not in _EXT_TYPES:
        raise GraphError(400, "ErrorInvalidProperty", f"The extended property id '{text}' is not valid.")
    ptype = m.group("type")
    if m.group("tag"):
        tag = int(m.group("tag"), 16)
        return (
            ("tag", tag),
            ptype,
            el(t("ExtendedFieldURI"), attrs={"PropertyTag": f"0x{tag:04x}", "PropertyType": ptype}),
        )
    guid = m.group("guid").lower()
    if m.group("name") is not None:
        name = m.group("name")
        uri = el(t("ExtendedFieldURI"), attrs={"PropertySetId": guid, "PropertyName": name, "PropertyType": ptype})
        return ("name", guid, name), ptype, uri
    number = int(m.group("id"), 0)
    uri = el(t("ExtendedFieldURI"), attrs={"PropertySetId": guid, "PropertyId": str(number), "PropertyType": ptype})
    return ("id", guid, number), ptype, uri


def ext_value(item: Item, key: tuple, occurrence: int | None) -> str | None:
    stored = item.extended.get(key)
    if occurrence is not None:
        stored = item.exceptions.get(occurrence, {}).get(repr(key), stored)
    if stored is None:
        return None
    _, values = calendar.extended_values(stored)
    return values[0] if values else ""


# -- reading ----------------------------------------------------------------------------------------------------
def _mailbox_json(mailbox: Element | None) -> dict:
    return {
        "emailAddress": {
            "name": child_text(mailbox, t("Name"), "") or child_text(mailbox, t("EmailAddress"), ""),
            "address": child_text(mailbox, t("EmailAddress"), ""),
        }
    }


def _text_body(body: Element | None) -> str:
    if body is None:
        return ""
    text = body.text or ""
    if body.get("BodyType") == "HTML":
        text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(head|style)[^>]*>.*?</\1>", "", text, flags=re.S)))
    return re.sub(r"\s+", " ", text).strip()


def _ical_uid(uid: str, occurrence: int | None) -> str:
    # Outlook's UIDs are Global Object Ids: bytes 16-19 hold an occurrence's date (year, month, day).
    if occurrence is None or len(uid) < 40 or not uid.startswith("040000008200E00074C5B7101A82E008"):
        return uid
    day = dt.datetime.fromtimestamp(occurrence, UTC).date()
    return uid[:32] + f"{day.year:04X}{day.month:02X}{day.day:02X}" + uid[40:]


def render(mb: Mailbox, item: Item, view: View, occurrence: int | None = None, *, delta: bool = False) -> dict:
    """The Graph event for a stored item (or one of its occurrences)."""
    item_id, changekey, f = calendar.full_fields(mb, item, occurrence)
    parsed = ews_ids.decode(item_id)
    tz = view.timezone
    ews_type = f["CalendarItemType"].text
    gtype = "exception" if ews_type == "Exception" else _TYPES.get(ews_type, "singleInstance")
    start = parse_datetime(f["Start"].text)
    end = parse_datetime(f["End"].text)
    body = f.get("Body")
    start_zone = (f.get("StartTimeZone").get("Id") if f.get("StartTimeZone") is not None else None) or "UTC"
    end_zone = (f.get("EndTimeZone").get("Id") if f.get("EndTimeZone") is not None else None) or start_zone
    categories = [s.text or "" for s in f["Categories"]] if "Categories" in f else []
    location = f["Location"].text if "Location" in f else None
    attendees = []
    for list_name, kind in _ATTENDEE_LISTS:
        for att in f[list_name].iter(t("Attendee")) if list_name in f else ():
            response = child_text(att, t("ResponseType"), "Unknown")
            attendees.append(
                {
                    "type": kind,
                    "status": {
                        "response": _RESPONSE.get(response, "none"),
                        "time": "0001-01-01T00:00:00Z",
                    },
                    **_mailbox_json(att.find(t("Mailbox"))),
                }
            )
    master_id = view.id_of(ews_ids.ParsedId(mb.guid, ews_ids.ITEM, item.key)) if occurrence is not None else None
    transaction = ext_value(item, TRANSACTION_KEY, None) if occurrence is None else None
    event = {
        "@odata.etag": f'W/"{changekey}"',
        "id": view.id_of(parsed),
        "createdDateTime": fmt_utc(item.created),
        "lastModifiedDateTime": fmt_utc(item.modified),
        "changeKey": changekey,
        "categories": categories,
        "transactionId": transaction,
        "originalStartTimeZone": start_zone,
        "originalEndTimeZone": end_zone,
        "iCalUId": _ical_uid(f["UID"].text if "UID" in f else "", occurrence),
        "uid": f["UID"].text if "UID" in f else "",
        "reminderMinutesBeforeStart": int(f["ReminderMinutesBeforeStart"].text)
        if "ReminderMinutesBeforeStart" in f
        else 15,
        "isReminderOn": parse_bool(f["ReminderIsSet"].text) if "ReminderIsSet" in f else True,
        "hasAttachments": False,
        "subject": f["Subject"].text or "" if "Subject" in f else "",
        "bodyPreview": _text_body(body)[:255],
        "importance": (f["Importance"].text or "Normal").lower() if "Importance" in f else "normal",
        "sensitivity": (f["Sensitivity"].text or "Normal").lower() if "Sensitivity" in f else "normal",
        "isAllDay": parse_bool(f["IsAllDayEvent"].text) if "IsAllDayEvent" in f else False,
        "isCancelled": parse_bool(f["IsCancelled"].text) if "IsCancelled" in f else False,
        "isOrganizer": parse_bool(f["IsOrganizer"].text),
        "responseRequested": True,
        "seriesMasterId": master_id,
        "showAs": _SHOW_AS.get(f["LegacyFreeBusyStatus"].text if "LegacyFreeBusyStatus" in f else "Busy", "busy"),
        "type": gtype,
        "webLink": f"https://outlook.office365.com/owa/?itemid={ids.rest_id(parsed)}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {
            "response": _RESPONSE.get(f["MyResponseType"].text, "none"),
            "time": "0001-01-01T00:00:00Z",
        },
        "body": {
            "contentType": "html" if body is not None and body.get("BodyType") == "HTML" else "text",
            "content": body.text or "" if body is not None else "",
        },
        "start": fmt_local(start, tz),
        "end": fmt_local(end, tz),
        "location": {
            "displayName": location or "",
            "locationType": "default",
            "uniqueIdType": "private" if location else "unknown",
            **({"uniqueId": location} if location else {}),
            "address": {},
            "coordinates": {},
        },
        "locations": [{"displayName": location, "locationType": "default", "uniqueIdType": "private"}]
        if location
        else [],
        "recurrence": recurrence.from_ews(f["Recurrence"], start_zone)
        if "Recurrence" in f and occurrence is None
        else None,
        "attendees": attendees,
        "organizer": _mailbox_json(f["Organizer"].find(t("Mailbox")) if "Organizer" in f else None),
        "onlineMeeting": None,
    }
    if occurrence is not None:
        event["originalStart"] = fmt_utc(dt.datetime.fromtimestamp(occurrence, UTC))
    if not delta and view.expand_ext:
        props = []
        for key, requested in view.expand_ext:
            value = ext_value(item, key, occurrence)
            if value is not None:
                props.append({"id": requested, "value": value})
        if props:
            event["singleValueExtendedProperties"] = props
    if view.select is not None:
        keep = view.select | {"id", "@odata.etag"}
        event = {k: v for k, v in event.items() if k in keep or k == "singleValueExtendedProperties"}
    return event


# -- writing ----------------------------------------------------------------------------------------------------
def _enum(value, allowed: tuple[str, ...], name: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise body_read(f"Requested value '{value}' was not found. ({name})")
    return value


def _bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise body_read(f"Cannot convert a primitive value to the expected type 'Edm.Boolean' ({name}).")
    return value


def _time(value, name: str) -> tuple[dt.datetime, str, str]:
    """(UTC instant, Windows zone, zone as given) of a dateTimeTimeZone."""
    if not isinstance(value, dict) or "dateTime" not in value:
        raise body_read(f"{name} must be a dateTimeTimeZone object with dateTime and timeZone.")
    given = value.get("timeZone") or "UTC"
    zone = windows_zone(given)
    return parse_graph_datetime(value["dateTime"], zone), zone, given


def _attendee_elements(value, directory, emails) -> dict[str, Element]:
    if not isinstance(value, list):
        raise body_read("attendees must be a collection.")
    lists: dict[str, list[Element]] = {name: [] for name, _ in _ATTENDEE_LISTS}
    kinds = {kind: name for name, kind in _ATTENDEE_LISTS}
    for att in value:
        if not isinstance(att, dict) or not isinstance(att.get("emailAddress"), dict):
            raise body_read("An attendee needs an emailAddress.")
        address = att["emailAddress"].get("address")
        if not isinstance(address, str) or "@" not in address:
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        kind = att.get("type", "required")
        if kind not in kinds:
            raise body_read(f"Requested value '{kind}' was not found.")
        children = []
        if att["emailAddress"].get("name"):
            children.append(el(t("Name"), str(att["emailAddress"]["name"])))
        children.append(el(t("EmailAddress"), address))
        lists[kinds[kind]].append(el(t("Attendee"), children=[el(t("Mailbox"), children=children)]))
    out = {}
    for name, entries in lists.items():
        out[name] = calendar.normalise_field(el(t(name), children=entries), directory, emails) if entries else None
    return out


def apply(
    mb: Mailbox,
    item: Item,
    body: dict,
    *,
    creating: bool,
    occurrence: int | None,
    directory,
    emails: set[str],
) -> list[str]:
    """Write a POST/PATCH body into the item (or the occurrence overlay); return the keys written.

    The caller restores the item when this raises."""
    if not isinstance(body, dict):
        raise body_read("The request body must be a JSON object.")
    allowed = _OCCURRENCE_WRITABLE if occurrence is not None else WRITABLE
    for name in body:
        if name in READ_ONLY or name in IGNORED:
            continue
        if name not in WRITABLE or name.startswith("@"):
            raise body_read(
                f"The property '{name}' does not exist on type 'microsoft.graph.event'. Make sure to only use "
                f"property names that are defined by the type or mark the type as open type."
            )
        if name not in allowed:
            raise GraphError(400, "ErrorInvalidPropertySet", f"The property '{name}' cannot be set on an occurrence.")
    if not creating and "transactionId" in body and body["transactionId"] != transaction_of(item):
        raise GraphError(400, "ErrorInvalidPropertySet", "transactionId cannot be changed after the event is created.")
    target = item.exceptions.setdefault(occurrence, {}) if occurrence is not None else item.fields
    written: list[str] = []

    def put(name: str, elem: Element | None) -> None:
        if elem is None and occurrence is not None:
            # An occurrence's field cleared is empty there, not the master's again (as EWS DeleteItemField).
            target[name] = el(t(name), attrs={calendar.CLEARED: "true"})
        elif elem is None:
            target.pop(name, None)
        else:
            target[name] = elem
        written.append(name)

    if "subject" in body:
        put("Subject", el(t("Subject"), str(body["subject"] or "")))
    if "body" in body:
        b = body["body"] or {}
        if not isinstance(b, dict):
            raise body_read("body must be an itemBody object.")
        kind = _enum(str(b.get("contentType", "text")).lower(), ("text", "html"), "contentType")
        put("Body", el(t("Body"), str(b.get("content") or ""), {"BodyType": "HTML" if kind == "html" else "Text"}))
    if "sensitivity" in body:
        put("Sensitivity", el(t("Sensitivity"), _enum(body["sensitivity"], _SENSITIVITY, "sensitivity").capitalize()))
    if "importance" in body:
        put("Importance", el(t("Importance"), _enum(body["importance"], _IMPORTANCE, "importance").capitalize()))
    if "showAs" in body:
        back = {v: k for k, v in _SHOW_AS.items()}
        put("LegacyFreeBusyStatus", el(t("LegacyFreeBusyStatus"), back[_enum(body["showAs"], tuple(back), "showAs")]))
    if "categories" in body:
        cats = body["categories"] or []
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise body_read("categories must be a collection of strings.")
        put("Categories", el(t("Categories"), children=[el(t("String"), c) for c in cats]) if cats else None)
    if "location" in body:
        loc = body["location"] or {}
        if not isinstance(loc, dict):
            raise body_read("location must be a location object.")
        put("Location", el(t("Location"), str(loc["displayName"])) if loc.get("displayName") else None)
    if "isReminderOn" in body:
        put("ReminderIsSet", el(t("ReminderIsSet"), fmt_bool(_bool(body["isReminderOn"], "isReminderOn"))))
    if "reminderMinutesBeforeStart" in body:
        minutes = body["reminderMinutesBeforeStart"]
        if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0:
            raise body_read("reminderMinutesBeforeStart must be a non-negative Edm.Int32.")
        put("ReminderMinutesBeforeStart", el(t("ReminderMinutesBeforeStart"), str(minutes)))
    if "attendees" in body:
        for name, elem in _attendee_elements(body["attendees"], directory, emails).items():
            put(name, elem)
    all_day = None
    if "isAllDay" in body:
        all_day = _bool(body["isAllDay"], "isAllDay")
        put("IsAllDayEvent", el(t("IsAllDayEvent"), fmt_bool(all_day)))
    times = {}
    for name, elem_name in (("start", "Start"), ("end", "End")):
        if name in body:
            instant, zone, given = _time(body[name], name)
            times[name] = (instant, zone, given)
            put(elem_name, el(t(elem_name), instant.strftime("%Y-%m-%dT%H:%M:%SZ")))
            if occurrence is None:
                put(f"{elem_name}TimeZone", el(t(f"{elem_name}TimeZone"), attrs={"Id": zone}))
    if creating and ("start" not in times or "end" not in times):
        raise GraphError(400, "ErrorInvalidRequest", "An event needs start and end.")
    stored_all_day = "IsAllDayEvent" in item.fields and parse_bool(item.fields["IsAllDayEvent"].text)
    is_all_day = all_day if all_day is not None else stored_all_day
    if is_all_day and occurrence is None and (times or all_day):
        _check_all_day(item, times)
    if "recurrence" in body:
        rec = body["recurrence"]
        if rec is None:
            put("Recurrence", None)
        else:
            start_instant = times["start"][0] if "start" in times else parse_datetime(item.fields["Start"].text)
            zone = times["start"][1] if "start" in times else None
            if zone is None and "StartTimeZone" in item.fields:
                zone = item.fields["StartTimeZone"].get("Id")
            tz = calendar.zone(zone)
            put("Recurrence", recurrence.to_ews(rec, start_instant.astimezone(tz)))
    if "singleValueExtendedProperties" in body:
        props = body["singleValueExtendedProperties"]
        if not isinstance(props, list):
            raise body_read("singleValueExtendedProperties must be a collection.")
        for prop in props:
            if not isinstance(prop, dict) or "id" not in prop:
                raise body_read("An extended property needs an id and a value.")
            key, ptype, uri = parse_ext_id(prop["id"])
            value = prop.get("value")
            elem = calendar.normalise_extended(
                el(t("ExtendedProperty"), children=[uri, el(t("Value"), "" if value is None else str(value))])
            )
            if occurrence is not None:
                target[repr(key)] = elem
            else:
                item.extended[key] = elem
            written.append(repr(key))
    if creating and body.get("transactionId"):
        item.extended[TRANSACTION_KEY] = el(
            t("ExtendedProperty"),
            children=[
                el(
                    t("ExtendedFieldURI"),
                    attrs={
                        "PropertySetId": TRANSACTION_SET,
                        "PropertyName": "GraphTransactionId",
                        "PropertyType": "String",
                    },
                ),
                el(t("Value"), str(body["transactionId"])),
            ],
        )
    return written


def _check_all_day(item: Item, times: dict) -> None:
    """Graph's rule: an all-day event starts and ends at midnight, both in the same zone."""
    effective = {}
    for name, elem_name in (("start", "Start"), ("end", "End")):
        if name in times:
            effective[name] = times[name][:2]
        elif elem_name in item.fields:
            zone_elem = item.fields.get(f"{elem_name}TimeZone")
            if zone_elem is None:
                zone_elem = item.fields.get("StartTimeZone")
            zone = zone_elem.get("Id") if zone_elem is not None else "UTC"
            effective[name] = (parse_datetime(item.fields[elem_name].text), zone or "UTC")
    for instant, zone in effective.values():
        tz = calendar.zone(zone)
        # The day's start: local midnight, or where a zone skips midnight (Santiago, Beirut) the first instant
        # after the gap, which 00:00 given as local time resolves to (the EWS sandbox's rule too).
        day_start = dt.datetime.combine(instant.astimezone(tz).date(), dt.time(0, 0), tzinfo=tz).astimezone(UTC)
        if instant.astimezone(UTC) != day_start:
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                "Your request can't be completed. The start and end times of an all-day event need to be midnight "
                "in the event's time zone.",
            )
    if len({zone for _, zone in effective.values()}) > 1:
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. The start and end of an all-day event must be in the same time zone.",
        )


def transaction_of(item: Item) -> str | None:
    return ext_value(item, TRANSACTION_KEY, None)


def local_name(elem: Element) -> str:
    return local(elem)
