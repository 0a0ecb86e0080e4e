"""Calendar item semantics: field normalisation, the server-computed fields, all-day rules, recurring masters,
occurrences and exceptions, extended properties, and rendering an item for a requested shape.

Reference: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/calendaritem
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import re
import uuid
import zoneinfo
from collections.abc import Iterable
from urllib.parse import quote

from exchangelib.extended_properties import ExtendedProperty as _ClientExtendedProperty
from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from . import ids, properties
from .errors import EwsError
from .schema import calendar_field_order, calendar_field_types
from .store import Item, Mailbox
from .xml import (
    Element,
    child_text,
    copy,
    el,
    fmt_bool,
    fmt_datetime,
    local,
    parse_bool,
    parse_datetime,
    sub,
    t,
)

UTC = dt.UTC
# The GUIDs of the distinguished property sets (the MAPI table that exchangelib also ships).
_SET_IDS = dict(_ClientExtendedProperty.DISTINGUISHED_SET_NAME_TO_ID_MAP)
# Fields the server computes: a client may not set them, they are rendered from the item's state. The table
# of what is writable, appendable and deletable (with Exchange's response codes) is properties.py.
COMPUTED = properties.READ_ONLY
# Set by the server at creation but writable (Organizer is fixed to the mailbox owner for own items).
DEFAULT_SHAPE = (
    "ItemId",
    "ParentFolderId",
    "ItemClass",
    "Subject",
    "Sensitivity",
    "HasAttachments",
    "IsAssociated",
    "Start",
    "End",
    "LegacyFreeBusyStatus",
    "Location",
    "CalendarItemType",
    "Organizer",
)
# Fields an occurrence of a series does not carry (they belong to the master).
MASTER_ONLY = {"Recurrence", "FirstOccurrence", "LastOccurrence", "ModifiedOccurrences", "DeletedOccurrences"}


# -- time zones -----------------------------------------------------------------------------------------------
@functools.cache
def zone(ms_id: str | None) -> zoneinfo.ZoneInfo:
    """The IANA zone for an Exchange (Windows) time-zone id; unknown or missing ids mean UTC."""
    if not ms_id:
        return zoneinfo.ZoneInfo("UTC")
    iana = MS_TIMEZONE_TO_IANA_MAP.get(ms_id)
    try:
        return zoneinfo.ZoneInfo(iana or ms_id)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def item_zone(fields: dict[str, Element], name: str = "StartTimeZone", default: str | None = None):
    elem = fields.get(name)
    return zone(elem.get("Id") if elem is not None else default)


# -- extended properties ----------------------------------------------------------------------------------------
def extended_key(elem: Element) -> tuple:
    """Identity of an extended property from an ExtendedProperty or ExtendedFieldURI element: its property set
    (distinguished or GUID) plus name or numeric id, or its tag. The type is not part of the identity."""
    uri = elem if local(elem) == "ExtendedFieldURI" else elem.find(t("ExtendedFieldURI"))
    if uri is None:
        raise EwsError("ErrorInvalidExtendedProperty", "ExtendedProperty without ExtendedFieldURI")
    tag = uri.get("PropertyTag")
    if tag is not None:
        return ("tag", int(tag, 16) if tag.lower().startswith("0x") else int(tag))
    # A distinguished set is the same set as its GUID (PublicStrings == 00020329-...).
    dist = uri.get("DistinguishedPropertySetId")
    pset = _SET_IDS.get(dist, dist) if dist else (uri.get("PropertySetId") or "").lower()
    if uri.get("PropertyName") is not None:
        return ("name", pset, uri.get("PropertyName"))
    if uri.get("PropertyId") is not None:
        return ("id", pset, int(uri.get("PropertyId")))
    raise EwsError("ErrorInvalidExtendedProperty", "ExtendedFieldURI names no property")


def extended_values(elem: Element) -> tuple[str, list[str]]:
    """(PropertyType, values) of a stored ExtendedProperty."""
    ptype = elem.find(t("ExtendedFieldURI")).get("PropertyType")
    single = elem.find(t("Value"))
    if single is not None:
        return ptype, [single.text or ""]
    return ptype, [v.text or "" for v in elem.iterfind(f"{t('Values')}/{t('Value')}")]


def _normalise_ext_value(ptype: str, text: str) -> str:
    base = ptype.removesuffix("Array")
    try:
        if base == "Boolean":
            return fmt_bool(parse_bool(text))
        if base == "SystemTime":
            return fmt_datetime(parse_datetime(text))
        if base in ("Integer", "Short", "Long"):
            return str(int(text))
        if base == "Binary":
            base64.b64decode(text, validate=True)
    except ValueError as e:
        raise EwsError("ErrorInvalidValueForProperty", f"{ptype}: {e}") from None
    return text


def normalise_extended(elem: Element) -> Element:
    elem = copy(elem)
    ptype = elem.find(t("ExtendedFieldURI")).get("PropertyType")
    for v in elem.iter(t("Value")):
        v.text = _normalise_ext_value(ptype, v.text or "")
    return elem


# -- field normalisation --------------------------------------------------------------------------------------
class Directory:
    """Display names for addresses: mailboxes of the store and the seeded external people."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = {k.lower(): v for k, v in names.items()}

    def name(self, email: str) -> str | None:
        return self.names.get((email or "").lower())


def _enrich_mailbox(mailbox: Element, directory: Directory, mailbox_emails: set[str]) -> None:
    email = child_text(mailbox, t("EmailAddress"))
    if email is None:
        return
    known = {local(c): c for c in mailbox}
    rebuilt = []
    name = known.get("Name")
    if name is None and directory.name(email):
        name = el(t("Name"), directory.name(email))
    rebuilt.append(name)
    rebuilt.append(known["EmailAddress"])
    rebuilt.append(known["RoutingType"] if "RoutingType" in known else el(t("RoutingType"), "SMTP"))
    rebuilt.append(
        known["MailboxType"]
        if "MailboxType" in known
        else el(t("MailboxType"), "Mailbox" if email.lower() in mailbox_emails else "OneOff")
    )
    rebuilt += [known.get("ItemId"), known.get("OriginalDisplayName")]
    for c in list(mailbox):
        mailbox.remove(c)
    for c in rebuilt:
        if c is not None:
            mailbox.append(c)


_MAX_LENGTH = {"Subject": 255, "Categories": 255}


@functools.cache
def _message_field_types() -> dict[str, str]:
    from .schema import item_type_fields

    return dict(item_type_fields("MeetingRequestMessageType"))


def normalise_field(elem: Element, directory: Directory, mailbox_emails: set[str]) -> Element:
    """Copy a client-sent field element, normalising values the way Exchange stores and returns them."""
    name = local(elem)
    elem = copy(elem)
    xtype = calendar_field_types().get(name) or _message_field_types().get(name)
    try:
        if xtype == "xs:boolean":
            elem.text = fmt_bool(parse_bool(elem.text))
        elif xtype == "xs:dateTime":
            elem.text = fmt_datetime(parse_datetime(elem.text or ""))
        elif xtype == "xs:int" or name == "ReminderMinutesBeforeStart":
            elem.text = str(int(elem.text or "0"))
    except ValueError:
        raise EwsError("ErrorInvalidValueForProperty", f"Bad value for {name}: {elem.text!r}") from None
    if name in ("RequiredAttendees", "OptionalAttendees", "Resources"):
        for att in elem.iter(t("Attendee")):
            mb = att.find(t("Mailbox"))
            if mb is not None:
                _enrich_mailbox(mb, directory, mailbox_emails)
            if att.find(t("ResponseType")) is None:
                rt = el(t("ResponseType"), "Unknown")
                mb.addnext(rt)
    elif name == "Organizer":
        mb = elem.find(t("Mailbox"))
        if mb is not None:
            _enrich_mailbox(mb, directory, mailbox_emails)
    elif name in _MAX_LENGTH:
        # Exchange keeps the first 255 characters of a subject (and of each category name).
        for e in [elem] if name == "Subject" else list(elem):
            if e.text and len(e.text) > _MAX_LENGTH[name]:
                e.text = e.text[: _MAX_LENGTH[name]]
    elif name == "Body" and elem.get("BodyType") is None:
        elem.set("BodyType", "Text")
    return elem


def _flag(fields: dict[str, Element], name: str) -> bool:
    e = fields.get(name)
    return e is not None and parse_bool(e.text)


def _dt(fields: dict[str, Element], name: str) -> dt.datetime | None:
    e = fields.get(name)
    return parse_datetime(e.text) if e is not None and e.text else None


def _set_dt(fields: dict[str, Element], name: str, value: dt.datetime) -> None:
    fields[name] = el(t(name), fmt_datetime(value))


def _midnight(value: dt.datetime, tz, round_up: bool) -> dt.datetime:
    """The start of the local day ``value`` falls in (``round_up``: of the next day, unless ``value`` is a
    day's start). A day starts at local midnight, or where a zone skips midnight (DST at 00:00, e.g.
    America/Santiago) at the first instant after the gap, which is what 00:00 with fold 0 resolves to."""
    day = value.astimezone(tz).date()
    start = dt.datetime.combine(day, dt.time(0, 0), tzinfo=tz).astimezone(UTC)
    if round_up and value.astimezone(UTC) > start:
        start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), tzinfo=tz).astimezone(UTC)
    return start


def apply_rules(mb: Mailbox, item: Item, context_tz: str | None, creating: bool) -> None:
    """Server-side rules after a create or update: required defaults, all-day normalisation, validation."""
    f = item.fields
    if creating:
        f.setdefault("UID", el(t("UID"), _new_uid()))
        f.setdefault("IsAllDayEvent", el(t("IsAllDayEvent"), "false"))
        f.setdefault("LegacyFreeBusyStatus", el(t("LegacyFreeBusyStatus"), "Busy"))
        f.setdefault("Sensitivity", el(t("Sensitivity"), "Normal"))
        f.setdefault("Importance", el(t("Importance"), "Normal"))
        f.setdefault("ReminderIsSet", el(t("ReminderIsSet"), "true"))
        f.setdefault("ReminderMinutesBeforeStart", el(t("ReminderMinutesBeforeStart"), "15"))
        f.setdefault("IsCancelled", el(t("IsCancelled"), "false"))
        if "Organizer" not in f:
            f["Organizer"] = organizer_element(mb)
    start, end = _dt(f, "Start"), _dt(f, "End")
    if start is None or end is None:
        raise EwsError("ErrorInvalidRequest", "A calendar item needs Start and End")
    if context_tz and "StartTimeZone" not in f:
        f["StartTimeZone"] = el(t("StartTimeZone"), attrs={"Id": context_tz})
    if context_tz and "EndTimeZone" not in f:
        f["EndTimeZone"] = el(t("EndTimeZone"), attrs={"Id": context_tz})
    if _flag(f, "IsAllDayEvent"):
        start = _midnight(start, item_zone(f), round_up=False)
        end_tz = item_zone(f, "EndTimeZone") if "EndTimeZone" in f else item_zone(f)
        end = _midnight(end, end_tz, round_up=True)
        if end <= start:
            end = start + dt.timedelta(days=1)
        _set_dt(f, "Start", start)
        _set_dt(f, "End", end)
    if end < start:
        raise EwsError("ErrorCalendarEndDateIsEarlierThanStartDate")
    if "Recurrence" in f:
        f["Recurrence"] = _zoned_range_dates(f["Recurrence"], item_zone(f))
        # Raises ErrorCalendarInvalidRecurrence for patterns that have no occurrence or are malformed.
        starts = occurrence_starts(item, limit=1)
        if not starts:
            raise EwsError("ErrorRecurrenceHasNoOccurrence", "The recurrence pattern has no occurrences.")
        if starts[0] != start:
            # Exchange moves a master whose start does not match its pattern onto the first occurrence.
            _set_dt(f, "Start", starts[0])
            _set_dt(f, "End", starts[0] + (end - start))


def _zoned_range_dates(recurrence: Element, tz) -> Element:
    """Exchange returns a range's StartDate/EndDate as a date with the item zone's offset ("2026-03-02Z",
    "2026-07-01+01:00"); clients send plain dates."""
    recurrence = copy(recurrence)
    for name in ("StartDate", "EndDate"):
        for e in recurrence.iter(t(name)):
            try:
                day = dt.date.fromisoformat((e.text or "").strip()[:10])
            except ValueError:
                raise EwsError("ErrorCalendarInvalidRecurrence", f"Bad {name} {e.text!r}") from None
            offset = dt.datetime.combine(day, dt.time(0, 0), tzinfo=tz).utcoffset() or dt.timedelta(0)
            if not offset:
                suffix = "Z"
            else:
                sign = "-" if offset < dt.timedelta(0) else "+"
                minutes = abs(int(offset.total_seconds())) // 60
                suffix = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
            e.text = day.isoformat() + suffix
    return recurrence


def _new_uid() -> str:
    # Outlook's UIDs are hex encodings of a Global Object Id; any unique, stable string is valid iCalendar.
    return ("040000008200E00074C5B7101A82E008" + "0" * 16 + uuid.uuid4().hex + uuid.uuid4().hex[:8]).upper()


def organizer_element(mb: Mailbox) -> Element:
    return el(
        t("Organizer"),
        children=[
            el(
                t("Mailbox"),
                children=[
                    el(t("Name"), mb.name),
                    el(t("EmailAddress"), mb.email),
                    el(t("RoutingType"), "SMTP"),
                    el(t("MailboxType"), "Mailbox"),
                ],
            )
        ],
    )


# -- recurrence --------------------------------------------------------------------------------------------------
def _attachments():
    from .services import attachments  # the services package imports this module

    return attachments


def _meetings():
    from . import meetings  # imports this module

    return meetings


def _rec():
    from . import recurrence  # written in parallel; imported late so the rest works without it

    return recurrence


def occurrence_starts(item: Item, limit: int = 1000) -> list[dt.datetime]:
    rec = _rec()
    try:
        return rec.occurrence_starts(
            item.fields["Recurrence"], _dt(item.fields, "Start"), item_zone(item.fields), limit=limit
        )
    except rec.RecurrenceError as e:
        raise EwsError("ErrorCalendarInvalidRecurrence", str(e) or None) from None


def expand(item: Item, window_start: dt.datetime, window_end: dt.datetime, *, ews_bounds: bool = False):
    rec = _rec()
    modified = {}
    for ts, overlay in item.exceptions.items():
        o = _occurrence_times(item, ts, overlay)
        modified[_ts_dt(ts)] = (o[0], o[1])
    try:
        return rec.expand(
            item.fields["Recurrence"],
            _dt(item.fields, "Start"),
            _dt(item.fields, "End"),
            item_zone(item.fields),
            window_start,
            window_end,
            deleted=[_ts_dt(ts) for ts in item.deleted_occurrences],
            modified=modified,
            ews_bounds=ews_bounds,
        )
    except rec.RecurrenceError as e:
        raise EwsError("ErrorCalendarInvalidRecurrence", str(e) or None) from None


def _ts(value: dt.datetime) -> int:
    return int(value.timestamp())


def _ts_dt(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, UTC)


def _occurrence_times(master: Item, ts: int, overlay: dict[str, Element]) -> tuple[dt.datetime, dt.datetime]:
    original = _ts_dt(ts)
    duration = _dt(master.fields, "End") - _dt(master.fields, "Start")
    start = _dt(overlay, "Start") or original
    end = _dt(overlay, "End") or start + duration
    return start, end


def occurrence_by_index(item: Item, index: int) -> int:
    """Original start (Unix seconds) of the 1-based InstanceIndex of a master's series."""
    if "Recurrence" not in item.fields:
        raise EwsError("ErrorCalendarCannotUseIdForOccurrenceId", "The item is not a recurring master.")
    starts = occurrence_starts(item, limit=max(index, 1))
    if index < 1 or index > len(starts):
        raise EwsError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "Occurrence index is out of range.")
    ts = _ts(starts[index - 1])
    if ts in item.deleted_occurrences:
        raise EwsError("ErrorCalendarOccurrenceIsDeletedFromRecurrence", "Occurrence was deleted.")
    return ts


def check_occurrence(item: Item, ts: int) -> None:
    if "Recurrence" not in item.fields:
        raise EwsError("ErrorItemNotFound")
    if ts in item.deleted_occurrences:
        raise EwsError("ErrorCalendarOccurrenceIsDeletedFromRecurrence", "Occurrence was deleted.")
    if ts in item.exceptions:
        return
    starts = {_ts(s) for s in occurrence_starts(item)}
    if ts not in starts:
        raise EwsError("ErrorItemNotFound")


# -- rendering ---------------------------------------------------------------------------------------------------
def _text_of_body(body: Element) -> str:
    text = body.text or ""
    if body.get("BodyType") == "HTML":
        text = re.sub(r"<(br|/p|/div)[^>]*>", "\n", text, flags=re.I)
        text = re.sub(r"<[^>]+>", "", text)
        import html

        text = html.unescape(text).strip()
    return text


def _occ_info(tag: str, item_id: str, changekey: str, start, end, original) -> Element:
    return el(
        t(tag),
        children=[
            el(t("ItemId"), attrs={"Id": item_id, "ChangeKey": changekey}),
            el(t("Start"), fmt_datetime(start)),
            el(t("End"), fmt_datetime(end)),
            el(t("OriginalStart"), fmt_datetime(original)),
        ],
    )


def _duration(start: dt.datetime, end: dt.datetime) -> str:
    secs = int((end - start).total_seconds())
    days, rest = divmod(secs, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    timepart = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{seconds}S" if seconds else "")
    return out + ("T" + timepart if timepart else ("" if days else "T0S"))


def full_fields(mb: Mailbox, item: Item, occurrence: int | None = None) -> tuple[str, str, dict[str, Element]]:
    """(item id, change key, every field of the item or occurrence, computed ones included)."""
    if item.element != "CalendarItem":
        return _meetings().full_fields(mb, item)
    f = dict(item.fields)
    item_id = item.id
    recurring = "Recurrence" in item.fields
    if occurrence is not None:
        overlay = item.exceptions.get(occurrence, {})
        start, end = _occurrence_times(item, occurrence, overlay)
        for k in MASTER_ONLY:
            f.pop(k, None)
        if "ReminderDueBy" not in overlay:
            f.pop("ReminderDueBy", None)  # the master's is not this occurrence's
        f.update(overlay)
        _set_dt(f, "Start", start)
        _set_dt(f, "End", end)
        _set_dt(f, "OriginalStart", _ts_dt(occurrence))
        _set_dt(f, "RecurrenceId", _ts_dt(occurrence))
        f["CalendarItemType"] = el(
            t("CalendarItemType"), "Exception" if occurrence in item.exceptions else "Occurrence"
        )
        item_id = ids.encode(mb.guid, ids.OCCURRENCE, item.key, occurrence)
    else:
        f["CalendarItemType"] = el(t("CalendarItemType"), "RecurringMaster" if recurring else "Single")
        if recurring:
            f.update(_master_fields(mb, item))
    f["ItemId"] = el(t("ItemId"), attrs={"Id": item_id, "ChangeKey": item.changekey})
    f["ParentFolderId"] = el(
        t("ParentFolderId"), attrs={"Id": item.folder_id, "ChangeKey": mb.folders[item.folder_id].changekey}
    )
    f.setdefault("ItemClass", el(t("ItemClass"), "IPM.Appointment"))
    f["DateTimeCreated"] = el(t("DateTimeCreated"), fmt_datetime(item.created))
    f["DateTimeReceived"] = el(t("DateTimeReceived"), fmt_datetime(item.created))
    f["LastModifiedTime"] = el(t("LastModifiedTime"), fmt_datetime(item.modified))
    f["LastModifiedName"] = el(t("LastModifiedName"), mb.name)
    stored_attachments = item.fields.get("Attachments")
    f["HasAttachments"] = el(t("HasAttachments"), fmt_bool(_attachments().has_attachments(stored_attachments)))
    if stored_attachments is not None:
        f["Attachments"] = _attachments().metadata(stored_attachments)
    f["IsAssociated"] = el(t("IsAssociated"), "false")
    # Flags of the underlying message: a calendar item is never a draft, submitted, resent or "from me".
    for flag in ("IsSubmitted", "IsDraft", "IsFromMe", "IsResend", "IsUnmodified"):
        f[flag] = el(t(flag), "false")
    f.setdefault("Culture", el(t("Culture"), "en-US"))
    f["EffectiveRights"] = _effective_rights(mb, item)
    f["ConversationId"] = el(t("ConversationId"), attrs={"Id": _conversation_id(item)})
    f["WebClientReadFormQueryString"] = el(
        t("WebClientReadFormQueryString"),
        "https://localhost/owa/?ItemID=" + quote(item_id, safe="") + "&exvsurl=1&viewmodel=CalendarItemDetails",
    )
    if "Body" in f:
        f["TextBody"] = el(t("TextBody"), _text_of_body(f["Body"]), {"BodyType": "Text"})
    attendees = any(f.get(n) is not None and len(f[n]) for n in ("RequiredAttendees", "OptionalAttendees", "Resources"))
    f["IsMeeting"] = el(t("IsMeeting"), fmt_bool(attendees))
    for name, list_name in (("DisplayTo", "RequiredAttendees"), ("DisplayCc", "OptionalAttendees")):
        names = _display_names(f.get(list_name))
        if names:
            f[name] = el(t(name), names)
        else:
            f.pop(name, None)
    organizer = child_text(f.get("Organizer"), f"{t('Mailbox')}/{t('EmailAddress')}", mb.email)
    is_organizer = organizer.lower() == mb.email.lower()
    f["IsOrganizer"] = el(t("IsOrganizer"), fmt_bool(is_organizer))
    # The EWS reference's IsRecurring table: False on a single item and on the organiser's master (documented as
    # a server bug), True on an attendee's master and on occurrences and exceptions.
    is_recurring = occurrence is not None or (recurring and not is_organizer)
    f["IsRecurring"] = el(t("IsRecurring"), fmt_bool(is_recurring))
    if "MyResponseType" not in f:
        f["MyResponseType"] = el(t("MyResponseType"), "Organizer" if is_organizer or not attendees else "Unknown")
    # Stored by the meeting-message code when a request actually went out (never on SendToNone).
    f.setdefault("MeetingRequestWasSent", el(t("MeetingRequestWasSent"), "false"))
    f.setdefault("AppointmentSequenceNumber", el(t("AppointmentSequenceNumber"), "0"))
    f.setdefault("IsResponseRequested", el(t("IsResponseRequested"), "true"))
    f.setdefault("AllowNewTimeProposal", el(t("AllowNewTimeProposal"), "true"))
    f.setdefault("ConferenceType", el(t("ConferenceType"), "0"))
    f["IsOnlineMeeting"] = el(t("IsOnlineMeeting"), "false")
    f["ResponseObjects"] = response_objects(attendees, is_organizer, _flag(f, "IsCancelled"))
    state = (1 if attendees else 0) | (0 if is_organizer else 2) | (4 if _flag(f, "IsCancelled") else 0)
    f["AppointmentState"] = el(t("AppointmentState"), str(state))
    start, end = _dt(f, "Start"), _dt(f, "End")
    if start and end:
        f["Duration"] = el(t("Duration"), _duration(start, end))
    if start and "ReminderDueBy" not in f:
        # ReminderDueBy is when the event occurs; the reminder shows ReminderMinutesBeforeStart before it.
        _set_dt(f, "ReminderDueBy", start)
    f["DateTimeStamp"] = el(t("DateTimeStamp"), fmt_datetime(item.created))
    size = sum(len(e.text or "") for e in f.values()) + 512
    if stored_attachments is not None:
        size += sum(int(a.findtext(t("Size")) or 0) for a in stored_attachments)
    f["Size"] = el(t("Size"), str(size))
    return item_id, item.changekey, f


def response_objects(meeting: bool, organizer: bool, cancelled: bool) -> Element:
    """ResponseObjects: what a client can answer with (CreateItem response objects) for this item."""
    if not meeting:
        names = ["ForwardItem"]
    elif organizer:
        names = ["ReplyToItem", "ReplyAllToItem", "ForwardItem", "CancelCalendarItem"]
    elif cancelled:
        names = ["ReplyToItem", "ReplyAllToItem", "ForwardItem", "RemoveItem"]
    else:
        names = ["AcceptItem", "TentativelyAcceptItem", "DeclineItem", "ReplyToItem", "ReplyAllToItem", "ForwardItem"]
    return el(t("ResponseObjects"), children=[el(t(n)) for n in names])


def _effective_rights(mb: Mailbox, item: Item) -> Element:
    # The mailbox owner (or a full-access delegate, the only other caller here) may do everything with an item.
    names = ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read", "ViewPrivateItems")
    values = ("false", "false", "false", "true", "true", "true", "true")
    return el(t("EffectiveRights"), children=[el(t(n), v) for n, v in zip(names, values, strict=True)])


def _conversation_id(item: Item) -> str:
    # Opaque like Exchange's (a conversation index hash); stable per item, shared by nothing else here.
    return base64.b64encode(b"\x01\x00conv" + item.key.bytes).decode("ascii")


def _display_names(attendees: Element | None) -> str | None:
    """DisplayTo/DisplayCc: the attendees' display names (their address when they have none), "; "-joined."""
    if attendees is None:
        return None
    out = []
    for a in attendees.iter(t("Attendee")):
        mailbox = a.find(t("Mailbox"))
        out.append(child_text(mailbox, t("Name")) or child_text(mailbox, t("EmailAddress")) or "")
    return "; ".join(n for n in out if n) or None


def _master_fields(mb: Mailbox, item: Item) -> dict[str, Element]:
    out = {}
    starts = occurrence_starts(item)
    duration = _dt(item.fields, "End") - _dt(item.fields, "Start")
    live = [s for s in starts if _ts(s) not in item.deleted_occurrences]

    def info(tag: str, s: dt.datetime) -> Element:
        ts = _ts(s)
        start, end = _occurrence_times(item, ts, item.exceptions.get(ts, {}))
        if ts not in item.exceptions:
            end = start + duration
        return _occ_info(tag, ids.encode(mb.guid, ids.OCCURRENCE, item.key, ts), item.changekey, start, end, s)

    if live:
        out["FirstOccurrence"] = info("FirstOccurrence", live[0])
        rng = item.fields["Recurrence"]
        if rng.find(t("NoEndRecurrence")) is None and len(starts) < 1000:
            out["LastOccurrence"] = info("LastOccurrence", live[-1])
    if item.exceptions:
        out["ModifiedOccurrences"] = el(
            t("ModifiedOccurrences"), children=[info("Occurrence", _ts_dt(ts)) for ts in sorted(item.exceptions)]
        )
    if item.deleted_occurrences:
        out["DeletedOccurrences"] = el(
            t("DeletedOccurrences"),
            children=[
                el(t("DeletedOccurrence"), children=[el(t("Start"), fmt_datetime(_ts_dt(ts)))])
                for ts in sorted(item.deleted_occurrences)
            ],
        )
    return out


class Shape:
    """An ItemShape: BaseShape plus AdditionalProperties (FieldURI local names and ExtendedFieldURI elements)."""

    def __init__(
        self,
        base: str = "IdOnly",
        fields: Iterable[str] = (),
        extended: Iterable[Element] = (),
        body_type: str | None = None,
    ) -> None:
        self.base = base
        self.fields = list(fields)
        self.extended = list(extended)
        self.body_type = body_type

    @classmethod
    def parse(cls, elem: Element | None) -> Shape:
        if elem is None:
            return cls("AllProperties")
        base = child_text(elem, t("BaseShape"), "IdOnly")
        fields, extended = [], []
        add = elem.find(t("AdditionalProperties"))
        if add is not None:
            for p in add:
                name = local(p)
                if name == "FieldURI":
                    fields.append(field_name(p.get("FieldURI")))
                elif name == "ExtendedFieldURI":
                    extended.append(p)
                elif name == "IndexedFieldURI":
                    fields.append(field_name(p.get("FieldURI")))
        if (child_text(elem, t("IncludeMimeContent")) or "").lower() in ("true", "1"):
            fields.append("MimeContent")
        return cls(base, fields, extended, child_text(elem, t("BodyType")))


def field_name(uri: str) -> str:
    """Element name for a FieldURI (``calendar:Start`` -> ``Start``)."""
    return (uri or "").split(":", 1)[-1]


# Per calendar folder: the single items' spans sorted by start, the recurring masters and the longest single item;
# rebuilt when the mailbox changed (GetItem computes conflicts for each item it returns).
_SPANS: dict[tuple[str, str], tuple[tuple, list, list, dt.timedelta]] = {}


def _blocking(fields: dict[str, Element]) -> bool:
    status = fields.get("LegacyFreeBusyStatus")
    return not ((status is not None and status.text == "Free") or _flag(fields, "IsCancelled"))


def _folder_spans(mb: Mailbox, folder_id: str):
    signature = (len(mb.items), max((i.changed_seq for i in mb.items.values()), default=0))
    cached = _SPANS.get((mb.email, folder_id))
    if cached is not None and cached[0] == signature:
        return cached[1:]
    singles, masters, longest = [], [], dt.timedelta(0)
    for other in mb.items_in(folder_id):
        if other.element != "CalendarItem":
            continue
        if "Recurrence" in other.fields:
            masters.append(other)
            continue
        s, e = _dt(other.fields, "Start"), _dt(other.fields, "End")
        if s is None or e is None:
            continue
        singles.append((s, e, other.id, _blocking(other.fields)))
        longest = max(longest, e - s)
    singles.sort()
    if len(_SPANS) > 64:
        _SPANS.clear()
    _SPANS[(mb.email, folder_id)] = (signature, singles, masters, longest)
    return singles, masters, longest


def conflict_counts(mb: Mailbox, item: Item, occurrence: int | None, f: dict[str, Element]) -> tuple[int, int]:
    """(ConflictingMeetingCount, AdjacentMeetingCount): other busy items of the same calendar that overlap the
    item's time, or end where it starts or start where it ends. Exchange computes them in GetItem only."""
    import bisect

    start, end = _dt(f, "Start"), _dt(f, "End")
    if start is None or end is None or item.element not in ("CalendarItem", "MeetingRequest"):
        return 0, 0
    folder_id, own = item.folder_id, item.id
    if item.element == "MeetingRequest":
        # A request's conflicts are with the attendee's calendar, its own tentative item aside.
        folder_id = mb.distinguished["calendar"]
        assoc = item.fields.get("AssociatedCalendarItemId")
        own = assoc.get("Id") if assoc is not None else ""
    singles, masters, longest = _folder_spans(mb, folder_id)
    conflicting = adjacent = 0
    lo = bisect.bisect_left(singles, (start - longest,))
    hi = bisect.bisect_right(singles, (end, dt.datetime.max.replace(tzinfo=UTC)))
    for s, e, other_id, blocking in singles[lo:hi]:
        if other_id == own or not blocking:
            continue
        if s < end and start < e:
            conflicting += 1
        elif e == start or s == end:
            adjacent += 1
    window = (start - dt.timedelta(days=1), end + dt.timedelta(days=1))
    for other in masters:
        for o in expand(other, *window):
            ts = _ts(o.original_start)
            if other.id == own and occurrence in (None, ts):
                continue
            if not _blocking({**other.fields, **other.exceptions.get(ts, {})}):
                continue
            if o.start < end and start < o.end:
                conflicting += 1
            elif o.end == start or o.start == end:
                adjacent += 1
    return conflicting, adjacent


def render(
    mb: Mailbox,
    item: Item,
    shape: Shape,
    occurrence: int | None = None,
    tag: str = "CalendarItem",
    conflicts: bool = False,
) -> Element:
    if item.element != "CalendarItem":
        tag = item.element  # a meeting message (sandbox/exchange/meetings.py)
    if shape.base == "IdOnly" and not shape.fields and not shape.extended:
        # The common paging shape: no need to compute every field.
        item_id = item.id if occurrence is None else ids.encode(mb.guid, ids.OCCURRENCE, item.key, occurrence)
        return el(t(tag), children=[el(t("ItemId"), attrs={"Id": item_id, "ChangeKey": item.changekey})])
    item_id, changekey, f = full_fields(mb, item, occurrence)
    if shape.base == "IdOnly":
        wanted = {"ItemId"}
    elif shape.base == "Default":
        wanted = set(DEFAULT_SHAPE)
    else:
        wanted = set(f) - {"MimeContent"}
    wanted |= set(shape.fields)
    if conflicts and wanted & {"ConflictingMeetingCount", "AdjacentMeetingCount"}:
        counts = conflict_counts(mb, item, occurrence, f)
        f["ConflictingMeetingCount"] = el(t("ConflictingMeetingCount"), str(counts[0]))
        f["AdjacentMeetingCount"] = el(t("AdjacentMeetingCount"), str(counts[1]))
    if "MimeContent" in wanted and "MimeContent" not in f and item.element == "CalendarItem":
        from .mime import mime_of

        f["MimeContent"] = mime_of(f, mb.email)
    order = calendar_field_order() if item.element == "CalendarItem" else _meetings().order(item)
    out = el(t(tag))
    ext_pos = order["ExtendedProperty"]
    names = sorted((n for n in wanted if n in f and n in order), key=order.__getitem__)
    placed_ext = False
    for n in names:
        if order[n] > ext_pos and not placed_ext:
            _append_extended(out, item, shape, occurrence)
            placed_ext = True
        e = f[n]
        if n == "Body" and shape.body_type in ("Text", "HTML") and e.get("BodyType") != shape.body_type:
            e = _convert_body(e, shape.body_type)
        out.append(copy(e))
    if not placed_ext:
        _append_extended(out, item, shape, occurrence)
    return out


def _convert_body(body: Element, body_type: str) -> Element:
    if body_type == "Text":
        return el(t("Body"), _text_of_body(body), {"BodyType": "Text"})
    import html

    return el(
        t("Body"),
        "<html><body>" + html.escape(body.text or "").replace("\n", "<br>") + "</body></html>",
        {"BodyType": "HTML"},
    )


def _append_extended(out: Element, item: Item, shape: Shape, occurrence: int | None) -> None:
    for uri in shape.extended:
        key = extended_key(uri)
        stored = item.extended.get(key)
        if occurrence is not None:
            stored = item.exceptions.get(occurrence, {}).get(repr(key), stored)
        if stored is None:
            continue
        prop = el(t("ExtendedProperty"), children=[copy(uri)])
        for c in stored:
            if local(c) != "ExtendedFieldURI":
                prop.append(copy(c))
        out.append(prop)


def value_elem_name(_: str) -> str:
    return "Value"


__all__ = ["Directory", "Shape", "apply_rules", "extended_key", "field_name", "render", "sub"]
