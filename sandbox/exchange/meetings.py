"""Meeting messages between sandbox mailboxes: requests, responses and cancellations, the way Exchange's
calendar attendant handles them.

When an organiser's write sends (CreateItem ``SendToAllAndSaveCopy``/``SendOnlyToAll``, UpdateItem
``SendTo*``/``SendOnlyTo*``, DeleteItem or CancelCalendarItem with cancellations), every attendee who is a
sandbox mailbox (required, optional or resource; not the organiser) gets:

- for a new meeting or an update: a ``MeetingRequest`` in their Inbox (``IPM.Schedule.Meeting.Request``,
  ``MeetingRequestType`` NewMeetingRequest, FullUpdate when the time or pattern changed, InformationalUpdate
  otherwise; older requests for the same meeting become ``IsOutOfDate``) and the associated calendar item in
  their Calendar (``AssociatedCalendarItemId``): created tentative (``MyResponseType`` NoResponseReceived,
  ``LegacyFreeBusyStatus`` Tentative) or updated; a full update asks again (the answer goes back to
  NoResponseReceived, and the organiser's attendee entries back to Unknown);
- for a cancellation: a ``MeetingCancellation`` (``IPM.Schedule.Meeting.Canceled``, "Canceled: " subject,
  High importance), their calendar item marked ``IsCancelled`` with the "Canceled: " subject (a cancelled
  occurrence is removed from their series).

``SendToAllAndSaveCopy`` also leaves a copy of the message in the organiser's Sent Items. ``SendToNone`` (what
sync uses, always) sends and delivers nothing. Attendees outside the sandbox get nothing, but the log counts
them as recipients.

Responses (CreateItem with ``AcceptItem``, ``TentativelyAcceptItem``, ``DeclineItem`` referencing the meeting
request or the calendar item; ``MessageDisposition`` required): the attendee's calendar item gets the answer
(``MyResponseType``, ``AppointmentReplyTime``; accept takes the organiser's IntendedFreeBusyStatus, tentative
is Tentative) and a decline moves it to Deleted Items (an answer to one occurrence of a series makes that
occurrence an exception with its own answer, on both sides; declining it deletes it from the attendee's
series); the meeting requests for it move to Deleted Items. Sent
(``SendAndSaveCopy``/``SendOnly``): the organiser's copy shows the answer on the attendee's entry
(``ResponseType``, ``LastResponseTime``) and the organiser's Inbox gets a ``MeetingResponse`` ("Accepted: ",
"Tentative: ", "Declined: "; ``IPM.Schedule.Meeting.Resp.Pos|Tent|Neg``); ``SendAndSaveCopy`` keeps a copy in
Sent Items (or ``SavedItemFolderId``). ``SaveOnly`` saves the response in Drafts and tells the organiser
nothing. Refusals: the organiser answering (``ErrorCalendarIsOrganizerForAccept|Decline|Tentative``), answering
a cancelled meeting (``ErrorCalendarIsCancelledForAccept|...``), a non-organiser cancelling
(``ErrorCalendarIsNotOrganizer``). CancelCalendarItem sends the cancellations and moves the organiser's item to
Deleted Items (an occurrence is deleted from its series).

Sources: "Responding to meeting invitations by using the EWS Managed API" and "Deleting appointments and
canceling meetings" (learn.microsoft.com, Exchange 2010/2013), the AcceptItem/CancelCalendarItem/MeetingRequest
element pages of the EWS reference, the ResponseCode list in messages.xsd, Graph's event-cancel page (moves the
event to Deleted Items), exchangelib issues #755 (CancelCalendarItem answers a CalendarItem id) and #886.

Undocumented, chosen as Exchange 2016/2019 behave as far as we know: the response answers one CalendarItem id
(Exchange answers one or two ids, #886); the attendee's calendar item keeps its id across responses (the EWS
Managed API page says Exchange 2010 re-created it with a new id); extended properties are not copied to the
attendees' items; SendToChanged* sends to the attendees added
by the update when there are any, else to all.
"""

from __future__ import annotations

import copy as _copy
import uuid

from . import calendar, properties
from .errors import EwsError
from .store import Item, Mailbox, Store
from .xml import Element, child_text, copy, el, fmt_bool, fmt_datetime, t, utcnow

# Response element -> (schema type, the answer it gives).
SCHEMA_TYPE = {
    "MeetingRequest": "MeetingRequestMessageType",
    "MeetingResponse": "MeetingResponseMessageType",
    "MeetingCancellation": "MeetingCancellationMessageType",
    "MeetingMessage": "MeetingMessageType",
}
RESPONSES = {"AcceptItem": "Accept", "TentativelyAcceptItem": "Tentative", "DeclineItem": "Decline"}
RESPONSE_CLASS = {
    "Accept": ("Accepted: ", "IPM.Schedule.Meeting.Resp.Pos"),
    "Tentative": ("Tentative: ", "IPM.Schedule.Meeting.Resp.Tent"),
    "Decline": ("Declined: ", "IPM.Schedule.Meeting.Resp.Neg"),
}
CANCELED = "Canceled: "
# Fields of the organiser's meeting that travel with a request into the attendee's calendar item: the message's
# content, every calendar field a client may write but the organiser's own free/busy (the attendee's copy shows
# its own), and the organiser.
MEETING_FIELDS = (
    ("Subject", "Sensitivity", "Body", "Importance")
    + tuple(sorted(properties.CALENDAR_WRITABLE - {"LegacyFreeBusyStatus"}))
    + ("Organizer",)
)
_TIME_FIELDS = ("Start", "End", "Recurrence", "IsAllDayEvent")
_ATTENDEE_LISTS = ("RequiredAttendees", "OptionalAttendees", "Resources")


# -- small helpers ------------------------------------------------------------------------------------------------
def organizer_of(item: Item, default: str) -> str:
    return (child_text(item.fields.get("Organizer"), f"{t('Mailbox')}/{t('EmailAddress')}", default) or "").lower()


def attendee_emails(fields: dict[str, Element], lists=_ATTENDEE_LISTS) -> list[str]:
    out = []
    for name in lists:
        e = fields.get(name)
        if e is not None:
            out += [a.findtext(f"{t('Mailbox')}/{t('EmailAddress')}") or "" for a in e.iter(t("Attendee"))]
    return [a for a in out if a]


def _mailbox(name: str | None, email: str, mailbox_type: str = "Mailbox") -> Element:
    return el(
        t("Mailbox"),
        children=[
            el(t("Name"), name) if name else None,
            el(t("EmailAddress"), email),
            el(t("RoutingType"), "SMTP"),
            el(t("MailboxType"), mailbox_type),
        ],
    )


def _single(tag: str, name: str | None, email: str) -> Element:
    return el(t(tag), children=[_mailbox(name, email)])


def _recipients(tag: str, fields: dict[str, Element], lists: tuple[str, ...]) -> Element | None:
    boxes = []
    for name in lists:
        e = fields.get(name)
        if e is None:
            continue
        for a in e.iter(t("Attendee")):
            mb = a.find(t("Mailbox"))
            if mb is not None:
                boxes.append(copy(mb))
    return el(t(tag), children=boxes) if boxes else None


def calendar_item_by_uid(mb: Mailbox, uid: str) -> Item | None:
    cal = mb.distinguished["calendar"]
    for i in mb.items.values():
        if i.element == "CalendarItem" and i.folder_id == cal and uid and _uid(i) == uid:
            return i
    return None


def _uid(item: Item) -> str:
    e = item.fields.get("UID")
    return e.text if e is not None and e.text else ""


def _set(fields: dict[str, Element], name: str, text: str) -> None:
    fields[name] = el(t(name), text)


def _write(store: Store, item: Item, names) -> None:
    store.touch(item)
    for n in names:
        item.field_seqs[n] = item.changed_seq


# -- messages -----------------------------------------------------------------------------------------------------
def new_message(store: Store, mb: Mailbox, folder_name: str, element: str, fields: dict[str, Element]) -> Item:
    """Store a meeting message (its fields are a snapshot taken when it was sent)."""
    folder = store.distinguished_folder(mb, folder_name)
    msg = store.new_item(mb, folder)
    msg.element = element
    now = utcnow()
    fields.setdefault("DateTimeSent", el(t("DateTimeSent"), fmt_datetime(now)))
    fields.setdefault("InternetMessageId", el(t("InternetMessageId"), f"<{uuid.uuid4().hex}@calsync-sandbox>"))
    fields.setdefault("IsRead", el(t("IsRead"), fmt_bool(folder_name != "inbox")))
    msg.fields = fields
    for k in fields:
        msg.field_seqs[k] = msg.changed_seq
    return msg


def _meeting_snapshot(org_mb: Mailbox, org_item: Item, occurrence: int | None) -> dict[str, Element]:
    """The meeting as a request or cancellation carries it (the occurrence's values for one occurrence)."""
    _, _, full = calendar.full_fields(org_mb, org_item, occurrence)
    keep = (
        "Subject",
        "Sensitivity",
        "Body",
        "Importance",
        "Start",
        "End",
        "OriginalStart",
        "IsAllDayEvent",
        "Location",
        "When",
        "CalendarItemType",
        "Organizer",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "Duration",
        "AppointmentSequenceNumber",
        "Recurrence",
        "StartTimeZone",
        "EndTimeZone",
        "ConferenceType",
        "AllowNewTimeProposal",
        "MeetingWorkspaceUrl",
        "NetShowUrl",
        "UID",
        "RecurrenceId",
        "IsResponseRequested",
    )
    out = {k: copy(full[k]) for k in keep if k in full}
    status = full.get("LegacyFreeBusyStatus")
    out["IntendedFreeBusyStatus"] = el(t("IntendedFreeBusyStatus"), status.text if status is not None else "Busy")
    return out


def _envelope(sender_name: str, sender: str, to: Element | None, cc: Element | None, receiver: Mailbox | None):
    out = {
        "Sender": _single("Sender", sender_name, sender),
        "From": _single("From", sender_name, sender),
        "IsReadReceiptRequested": el(t("IsReadReceiptRequested"), "false"),
        "IsDeliveryReceiptRequested": el(t("IsDeliveryReceiptRequested"), "false"),
    }
    if to is not None:
        out["ToRecipients"] = to
    if cc is not None:
        out["CcRecipients"] = cc
    if receiver is not None:
        out["ReceivedBy"] = _single("ReceivedBy", receiver.name, receiver.email)
        out["ReceivedRepresenting"] = _single("ReceivedRepresenting", receiver.name, receiver.email)
    return out


# -- organiser sends ----------------------------------------------------------------------------------------------
def send_meeting(
    store: Store,
    org_mb: Mailbox,
    org_item: Item,
    kind: str,
    occurrence: int | None,
    recipients: list[str],
    save_copy: bool,
    time_changed: bool = False,
) -> list[str]:
    """Deliver an organiser's request ("invitation"/"update") or "cancellation" to the sandbox mailboxes among
    ``recipients``; return the addresses it was delivered to."""
    delivered = []
    if kind in ("invitation", "update"):
        sequence = int(child_text(org_item.fields.get("AppointmentSequenceNumber"), ".", "0") or 0)
        if kind == "update":
            sequence += 1
            _set(org_item.fields, "AppointmentSequenceNumber", str(sequence))
            if time_changed:
                _reset_responses(org_item)
        _set(org_item.fields, "MeetingRequestWasSent", "true")
    snapshot = _meeting_snapshot(org_mb, org_item, occurrence)
    for email in dict.fromkeys(r.lower() for r in recipients):
        att_mb = store.mailbox(email)
        if att_mb is None or att_mb.email.lower() == org_mb.email.lower():
            continue
        if kind == "cancellation":
            _deliver_cancellation(store, att_mb, org_item, occurrence, snapshot)
        else:
            _deliver_request(store, att_mb, org_item, occurrence, snapshot, kind, time_changed)
        delivered.append(att_mb.email)
    if save_copy:
        element = "MeetingCancellation" if kind == "cancellation" else "MeetingRequest"
        fields = _message_fields(org_mb, None, snapshot, element, kind, time_changed)
        fields.pop("AssociatedCalendarItemId", None)
        fields["AssociatedCalendarItemId"] = el(t("AssociatedCalendarItemId"), attrs={"Id": org_item.id})
        new_message(store, org_mb, "sentitems", element, fields)
    return delivered


def _reset_responses(org_item: Item) -> None:
    for name in _ATTENDEE_LISTS:
        e = org_item.fields.get(name)
        if e is None:
            continue
        e = copy(e)
        for a in e.iter(t("Attendee")):
            rt = a.find(t("ResponseType"))
            if rt is not None:
                rt.text = "Unknown"
            last = a.find(t("LastResponseTime"))
            if last is not None:
                a.remove(last)
        org_item.fields[name] = e


def _message_fields(
    org_mb: Mailbox,
    receiver: Mailbox | None,
    snapshot: dict[str, Element],
    element: str,
    kind: str,
    time_changed: bool,
) -> dict[str, Element]:
    f = {k: copy(v) for k, v in snapshot.items()}
    organizer_name = child_text(f.get("Organizer"), f"{t('Mailbox')}/{t('Name')}", org_mb.name)
    to = _recipients("ToRecipients", snapshot, ("RequiredAttendees", "Resources"))
    cc = _recipients("CcRecipients", snapshot, ("OptionalAttendees",))
    f.update(_envelope(organizer_name, org_mb.email, to, cc, receiver))
    subject = child_text(snapshot.get("Subject"), ".", "") or ""
    f["ConversationTopic"] = el(t("ConversationTopic"), subject)
    f["IsDelegated"] = el(t("IsDelegated"), "false")
    f["IsOutOfDate"] = el(t("IsOutOfDate"), "false")
    f["HasBeenProcessed"] = el(t("HasBeenProcessed"), "true")
    f["DateTimeStamp"] = el(t("DateTimeStamp"), fmt_datetime(utcnow()))
    f["IsOrganizer"] = el(t("IsOrganizer"), "false")
    if element == "MeetingCancellation":
        f["ItemClass"] = el(t("ItemClass"), "IPM.Schedule.Meeting.Canceled")
        f["Subject"] = el(t("Subject"), CANCELED + subject)
        f["Importance"] = el(t("Importance"), "High")
        f["ResponseType"] = el(t("ResponseType"), "Unknown")
        for name in list(f):
            if name not in _order(element):
                f.pop(name)
        return f
    f["ItemClass"] = el(t("ItemClass"), "IPM.Schedule.Meeting.Request")
    request_type = (
        "NewMeetingRequest" if kind == "invitation" else ("FullUpdate" if time_changed else "InformationalUpdate")
    )
    f["MeetingRequestType"] = el(t("MeetingRequestType"), request_type)
    f["LegacyFreeBusyStatus"] = el(t("LegacyFreeBusyStatus"), "Tentative")
    f["IsMeeting"] = el(t("IsMeeting"), "true")
    f["IsCancelled"] = el(t("IsCancelled"), "false")
    # The reference's IsRecurring table: True on requests for a series or one of its occurrences.
    f["IsRecurring"] = el(t("IsRecurring"), fmt_bool("Recurrence" in f or "RecurrenceId" in f))
    f["MeetingRequestWasSent"] = el(t("MeetingRequestWasSent"), "false")
    f["MyResponseType"] = el(t("MyResponseType"), "NoResponseReceived")
    f["ResponseType"] = el(t("ResponseType"), "NoResponseReceived")
    f["AppointmentState"] = el(t("AppointmentState"), "3")
    f["IsOnlineMeeting"] = el(t("IsOnlineMeeting"), "false")
    return {k: v for k, v in f.items() if k in _order(element)}


def _order(element: str) -> dict[str, int]:
    from .schema import item_type_order

    return item_type_order(SCHEMA_TYPE[element])


def _deliver_request(
    store: Store,
    att_mb: Mailbox,
    org_item: Item,
    occurrence: int | None,
    snapshot: dict[str, Element],
    kind: str,
    time_changed: bool,
) -> None:
    uid = _uid(org_item)
    mine = calendar_item_by_uid(att_mb, uid)
    written: list[str] = []
    if mine is None:
        mine = store.new_item(att_mb, att_mb.folder("calendar"))
        kind = "invitation" if occurrence is None else kind
        time_changed = True
    if occurrence is not None and "Recurrence" in mine.fields:
        overlay = org_item.exceptions.get(occurrence)
        if overlay is not None:
            mine.exceptions[occurrence] = _copy.deepcopy(overlay)
        written.append(repr(("exception", occurrence)))
    else:
        for name in MEETING_FIELDS:
            if name in org_item.fields:
                mine.fields[name] = copy(org_item.fields[name])
            else:
                mine.fields.pop(name, None)
            written.append(name)
        mine.exceptions = _copy.deepcopy(org_item.exceptions)
        mine.deleted_occurrences = set(org_item.deleted_occurrences)
    for name, value in (
        ("IsCancelled", "false"),
        ("AppointmentSequenceNumber", child_text(org_item.fields.get("AppointmentSequenceNumber"), ".", "0")),
    ):
        _set(mine.fields, name, value or "0")
    mine.fields.setdefault("ReminderIsSet", el(t("ReminderIsSet"), "true"))
    mine.fields.setdefault("ReminderMinutesBeforeStart", el(t("ReminderMinutesBeforeStart"), "15"))
    if time_changed or "MyResponseType" not in mine.fields:
        _set(mine.fields, "MyResponseType", "NoResponseReceived")
        _set(mine.fields, "LegacyFreeBusyStatus", "Tentative")
        mine.fields.pop("AppointmentReplyTime", None)
    _write(store, mine, written + ["MyResponseType", "LegacyFreeBusyStatus", "IsCancelled"])
    # Older requests for this meeting (for this occurrence, when one occurrence changed) are out of date now.
    recurrence_id = fmt_datetime(calendar._ts_dt(occurrence)) if occurrence is not None else None
    for old in _messages_for(att_mb, uid, "MeetingRequest"):
        if child_text(old.fields.get("RecurrenceId"), ".") != recurrence_id:
            continue
        _set(old.fields, "IsOutOfDate", "true")
        _write(store, old, ["IsOutOfDate"])
    fields = _message_fields(_organizer_mb(store, org_item), att_mb, snapshot, "MeetingRequest", kind, time_changed)
    fields["AssociatedCalendarItemId"] = el(t("AssociatedCalendarItemId"), attrs={"Id": mine.id})
    fields["ResponseType"] = copy(mine.fields["MyResponseType"])
    fields["ResponseType"].tag = t("ResponseType")
    new_message(store, att_mb, "inbox", "MeetingRequest", _ordered(fields, "MeetingRequest"))


def _ordered(fields: dict[str, Element], element: str) -> dict[str, Element]:
    order = _order(element)
    return {k: fields[k] for k in sorted(fields, key=lambda n: order.get(n, 10_000))}


def _organizer_mb(store: Store, org_item: Item) -> Mailbox:
    email = organizer_of(org_item, "")
    mb = store.mailbox(email)
    assert mb is not None  # only organisers in the store send
    return mb


def _messages_for(mb: Mailbox, uid: str, element: str) -> list[Item]:
    inbox = mb.distinguished["inbox"]
    return [i for i in mb.items.values() if i.element == element and i.folder_id == inbox and _uid(i) == uid]


def _deliver_cancellation(
    store: Store, att_mb: Mailbox, org_item: Item, occurrence: int | None, snapshot: dict[str, Element]
) -> None:
    uid = _uid(org_item)
    mine = calendar_item_by_uid(att_mb, uid)
    if mine is not None:
        if occurrence is not None and "Recurrence" in mine.fields:
            mine.exceptions.pop(occurrence, None)
            mine.deleted_occurrences.add(occurrence)
            _write(store, mine, [repr(("exception", occurrence))])
        else:
            _set(mine.fields, "IsCancelled", "true")
            subject = child_text(mine.fields.get("Subject"), ".", "") or ""
            if not subject.startswith(CANCELED):
                _set(mine.fields, "Subject", CANCELED + subject)
            _write(store, mine, ["IsCancelled", "Subject"])
    for old in _messages_for(att_mb, uid, "MeetingRequest"):
        if occurrence is None or child_text(old.fields.get("RecurrenceId"), ".") == fmt_datetime(
            calendar._ts_dt(occurrence)
        ):
            _set(old.fields, "IsOutOfDate", "true")
            _write(store, old, ["IsOutOfDate"])
    org_mb = _organizer_mb(store, org_item)
    fields = _message_fields(org_mb, att_mb, snapshot, "MeetingCancellation", "cancellation", False)
    if mine is not None:
        fields["AssociatedCalendarItemId"] = el(t("AssociatedCalendarItemId"), attrs={"Id": mine.id})
    new_message(store, att_mb, "inbox", "MeetingCancellation", _ordered(fields, "MeetingCancellation"))


def move_to_deleted_items(store: Store, mb: Mailbox, item: Item) -> Item:
    """Move an item to Deleted Items the way Exchange's calendar code does: under a new id (an Exchange id names
    the item's folder too), so the old id answers ErrorItemNotFound afterwards."""
    target = mb.folder("deleteditems")
    if item.folder_id == target.id:
        return item
    moved = store.new_item(mb, target)
    moved.created = item.created
    moved.element = item.element
    moved.fields = item.fields
    moved.extended = item.extended
    moved.exceptions = item.exceptions
    moved.deleted_occurrences = item.deleted_occurrences
    moved.field_seqs = {k: moved.changed_seq for k in item.field_seqs}
    store.remove_item(mb, item)
    return moved


# -- attendee answers ---------------------------------------------------------------------------------------------
def resolve_meeting(store: Store, mb: Mailbox, ref: Item, occurrence: int | None) -> Item:
    """The attendee's calendar item a response refers to (through a meeting request, or the item itself)."""
    if ref.element == "CalendarItem":
        return ref
    if ref.element != "MeetingRequest":
        raise EwsError("ErrorInvalidReferenceItem", "Only meeting requests and calendar items can be answered.")
    assoc = ref.fields.get("AssociatedCalendarItemId")
    item = mb.items.get(assoc.get("Id")) if assoc is not None else None
    if item is None:
        item = calendar_item_by_uid(mb, _uid(ref))
    if item is None:
        # Exchange re-creates the calendar item from the request (the attendee deleted it).
        item = store.new_item(mb, mb.folder("calendar"))
        for name in MEETING_FIELDS:
            if name in ref.fields:
                item.fields[name] = copy(ref.fields[name])
        _set(item.fields, "MyResponseType", "NoResponseReceived")
        _set(item.fields, "IsCancelled", "false")
        calendar.apply_rules(mb, item, None, creating=True)
        ref.fields["AssociatedCalendarItemId"] = el(t("AssociatedCalendarItemId"), attrs={"Id": item.id})
    return item


def check_can_answer(mb: Mailbox, item: Item, answer: str) -> None:
    suffix = {"Accept": "Accept", "Tentative": "Tentative", "Decline": "Decline"}[answer]
    if organizer_of(item, mb.email) == mb.email.lower():
        raise EwsError(f"ErrorCalendarIsOrganizerFor{suffix}", f"An organizer cannot {answer.lower()} a meeting.")
    if calendar._flag(item.fields, "IsCancelled"):
        raise EwsError(f"ErrorCalendarIsCancelledFor{suffix}", "The meeting was cancelled.")


def answer(
    store: Store,
    mb: Mailbox,
    item: Item,
    answer_type: str,
    disposition: str,
    body: Element | None,
    copy_folder: str | None,
    occurrence: int | None = None,
) -> tuple[list[str], list[str], str, Item]:
    """Apply an attendee's answer (to the meeting, or to one occurrence of a series: that occurrence becomes an
    exception with its own answer); return (recipients, delivered-to, subject) of the response message and the
    attendee's calendar item (a new id after a decline moved it to Deleted Items)."""
    now = fmt_datetime(utcnow())
    uid = _uid(item)
    one = occurrence if occurrence is not None and "Recurrence" in item.fields else None
    recurrence_id = fmt_datetime(calendar._ts_dt(one)) if one is not None else None
    requests = [
        r
        for r in _messages_for(mb, uid, "MeetingRequest")
        if one is None or child_text(r.fields.get("RecurrenceId"), ".") == recurrence_id
    ]
    intended = "Busy"
    if requests:
        latest = max(requests, key=lambda r: r.created)
        intended = child_text(latest.fields.get("IntendedFreeBusyStatus"), ".", "Busy") or "Busy"
    target = dict(item.exceptions.get(one, {})) if one is not None else item.fields
    _set(target, "MyResponseType", answer_type)
    _set(target, "AppointmentReplyTime", now)
    if answer_type == "Accept":
        _set(target, "LegacyFreeBusyStatus", intended)
    elif answer_type == "Tentative":
        _set(target, "LegacyFreeBusyStatus", "Tentative")
    if one is not None:
        if answer_type == "Decline":
            item.exceptions.pop(one, None)
            item.deleted_occurrences.add(one)
        else:
            item.exceptions[one] = target
    _write(store, item, ["MyResponseType", "AppointmentReplyTime", "LegacyFreeBusyStatus"])
    for request in requests:
        move_to_deleted_items(store, mb, request)
    if answer_type == "Decline" and one is None:
        item = move_to_deleted_items(store, mb, item)
    organizer = organizer_of(item, "")
    prefix, item_class = RESPONSE_CLASS[answer_type]
    subject = prefix + (child_text(item.fields.get("Subject"), ".", "") or "")
    org_mb = store.mailbox(organizer)
    org_item = calendar_item_by_uid(org_mb, uid) if org_mb is not None else None
    fields: dict[str, Element] = {
        "ItemClass": el(t("ItemClass"), item_class),
        "Subject": el(t("Subject"), subject),
        "Sensitivity": el(t("Sensitivity"), "Normal"),
    }
    if body is not None:
        fields["Body"] = copy(body)
    organizer_name = child_text(item.fields.get("Organizer"), f"{t('Mailbox')}/{t('Name')}", None)
    to = el(t("ToRecipients"), children=[_mailbox(organizer_name, organizer)]) if organizer else None
    fields.update(_envelope(mb.name, mb.email, to, None, org_mb))
    fields["ConversationTopic"] = el(t("ConversationTopic"), child_text(item.fields.get("Subject"), ".", ""))
    for name, value in (("IsDelegated", "false"), ("IsOutOfDate", "false"), ("HasBeenProcessed", "false")):
        fields[name] = el(t(name), value)
    fields["ResponseType"] = el(t("ResponseType"), answer_type)
    fields["UID"] = el(t("UID"), uid)
    fields["DateTimeStamp"] = el(t("DateTimeStamp"), now)
    fields["IsOrganizer"] = el(t("IsOrganizer"), "false")
    if one is not None:
        fields["RecurrenceId"] = el(t("RecurrenceId"), recurrence_id)
        start, end = calendar._occurrence_times(item, one, item.exceptions.get(one, {}))
        fields["Start"] = el(t("Start"), fmt_datetime(start))
        fields["End"] = el(t("End"), fmt_datetime(end))
        if "Location" in item.fields:
            fields["Location"] = copy(item.fields["Location"])
        fields["CalendarItemType"] = el(t("CalendarItemType"), "Exception")
    else:
        for name in ("Start", "End", "Location", "Recurrence"):
            if name in item.fields:
                fields[name] = copy(item.fields[name])
        fields["CalendarItemType"] = el(
            t("CalendarItemType"), "RecurringMaster" if "Recurrence" in item.fields else "Single"
        )
    if disposition == "SaveOnly":
        draft = dict(fields)
        draft.pop("ReceivedBy", None)
        draft.pop("ReceivedRepresenting", None)
        new_message(store, mb, copy_folder or "drafts", "MeetingResponse", _ordered(draft, "MeetingResponse"))
        return [], [], subject, item
    delivered = []
    if org_item is not None:
        _record_answer(store, org_item, mb.email, answer_type, now, one)
        inbound = dict(fields)
        inbound["AssociatedCalendarItemId"] = el(t("AssociatedCalendarItemId"), attrs={"Id": org_item.id})
        new_message(store, org_mb, "inbox", "MeetingResponse", _ordered(inbound, "MeetingResponse"))
        delivered.append(org_mb.email)
    if disposition == "SendAndSaveCopy":
        sent = dict(fields)
        sent.pop("ReceivedBy", None)
        sent.pop("ReceivedRepresenting", None)
        sent["AssociatedCalendarItemId"] = el(t("AssociatedCalendarItemId"), attrs={"Id": item.id})
        new_message(store, mb, copy_folder or "sentitems", "MeetingResponse", _ordered(sent, "MeetingResponse"))
    return ([organizer] if organizer else []), delivered, subject, item


def _record_answer(
    store: Store, org_item: Item, email: str, answer_type: str, when: str, occurrence: int | None = None
) -> None:
    """Put the answer on the attendee's entry of the organiser's meeting (of one occurrence: its exception)."""
    changed = []
    one = occurrence if occurrence is not None and "Recurrence" in org_item.fields else None
    target = dict(org_item.exceptions.get(one, {})) if one is not None else org_item.fields
    for name in _ATTENDEE_LISTS:
        e = target.get(name, org_item.fields.get(name))
        if e is None:
            continue
        e = copy(e)
        hit = False
        for a in e.iter(t("Attendee")):
            if (a.findtext(f"{t('Mailbox')}/{t('EmailAddress')}") or "").lower() != email.lower():
                continue
            hit = True
            rt = a.find(t("ResponseType"))
            if rt is None:
                rt = el(t("ResponseType"))
                a.find(t("Mailbox")).addnext(rt)
            rt.text = answer_type
            last = a.find(t("LastResponseTime"))
            if last is None:
                last = el(t("LastResponseTime"))
                rt.addnext(last)
            last.text = when
        if hit:
            target[name] = e
            changed.append(name)
    if one is not None and changed:
        org_item.exceptions[one] = target
    if changed:
        _write(store, org_item, changed)


# -- rendering ----------------------------------------------------------------------------------------------------
def full_fields(mb: Mailbox, item: Item) -> tuple[str, str, dict[str, Element]]:
    """Every field of a meeting message, the computed ones included."""
    f = dict(item.fields)
    f["ItemId"] = el(t("ItemId"), attrs={"Id": item.id, "ChangeKey": item.changekey})
    f["ParentFolderId"] = el(
        t("ParentFolderId"), attrs={"Id": item.folder_id, "ChangeKey": mb.folders[item.folder_id].changekey}
    )
    f["DateTimeCreated"] = el(t("DateTimeCreated"), fmt_datetime(item.created))
    f["DateTimeReceived"] = el(t("DateTimeReceived"), fmt_datetime(item.created))
    f["LastModifiedTime"] = el(t("LastModifiedTime"), fmt_datetime(item.modified))
    f["LastModifiedName"] = el(t("LastModifiedName"), mb.name)
    f["HasAttachments"] = el(t("HasAttachments"), "false")
    f["IsAssociated"] = el(t("IsAssociated"), "false")
    sender = (child_text(f.get("From"), f"{t('Mailbox')}/{t('EmailAddress')}", "") or "").lower()
    in_drafts = item.folder_id == mb.distinguished.get("drafts")
    f["IsDraft"] = el(t("IsDraft"), fmt_bool(in_drafts))
    f["IsSubmitted"] = el(t("IsSubmitted"), "false")
    f["IsFromMe"] = el(t("IsFromMe"), fmt_bool(sender == mb.email.lower()))
    f["IsResend"] = el(t("IsResend"), "false")
    f["IsUnmodified"] = el(t("IsUnmodified"), fmt_bool(not in_drafts))
    f.setdefault("Sensitivity", el(t("Sensitivity"), "Normal"))
    f.setdefault("Importance", el(t("Importance"), "Normal"))
    f.setdefault("Culture", el(t("Culture"), "en-US"))
    f.setdefault("ReminderIsSet", el(t("ReminderIsSet"), "false"))
    f["EffectiveRights"] = calendar._effective_rights(mb, item)
    f["ConversationId"] = el(t("ConversationId"), attrs={"Id": calendar._conversation_id(item)})
    for name, list_name in (("DisplayTo", "ToRecipients"), ("DisplayCc", "CcRecipients")):
        boxes = f.get(list_name)
        if boxes is not None and len(boxes):
            names = [child_text(b, t("Name")) or child_text(b, t("EmailAddress")) or "" for b in boxes]
            f[name] = el(t(name), "; ".join(names))
    if "Body" in f:
        f["TextBody"] = el(t("TextBody"), calendar._text_of_body(f["Body"]), {"BodyType": "Text"})
    objects = {
        "MeetingRequest": [
            "AcceptItem",
            "TentativelyAcceptItem",
            "DeclineItem",
            "ReplyToItem",
            "ReplyAllToItem",
            "ForwardItem",
        ],
        "MeetingCancellation": ["RemoveItem", "ReplyToItem", "ReplyAllToItem", "ForwardItem"],
    }.get(item.element, ["ReplyToItem", "ReplyAllToItem", "ForwardItem"])
    f["ResponseObjects"] = el(t("ResponseObjects"), children=[el(t(n)) for n in objects])
    assoc = f.get("AssociatedCalendarItemId")
    if assoc is not None:
        target = mb.items.get(assoc.get("Id", ""))
        if target is None:
            f.pop("AssociatedCalendarItemId")
        else:
            f["AssociatedCalendarItemId"] = el(
                t("AssociatedCalendarItemId"), attrs={"Id": target.id, "ChangeKey": target.changekey}
            )
    size = sum(len(e.text or "") for e in f.values()) + 1024
    f["Size"] = el(t("Size"), str(size))
    return item.id, item.changekey, f


def order(item: Item) -> dict[str, int]:
    """Schema order of a meeting message's children."""
    return _order(item.element)


__all__ = [
    "RESPONSES",
    "SCHEMA_TYPE",
    "answer",
    "check_can_answer",
    "full_fields",
    "resolve_meeting",
    "send_meeting",
]
