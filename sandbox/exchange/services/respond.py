"""CreateItem with response objects: AcceptItem, TentativelyAcceptItem, DeclineItem (an attendee answers a
meeting request or its calendar item) and CancelCalendarItem (the organiser cancels a meeting).

https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createitem-operation-meeting-request
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/cancelcalendaritem

The meeting semantics (who gets which message, what changes in both calendars) live in ``meetings.py``. The
answer's ``m:Items`` holds the attendee's (or, for a cancellation, the organiser's) CalendarItem id, which is
what exchangelib's ``accept()``/``cancel()`` read back.
"""

from __future__ import annotations

from .. import meetings
from ..errors import EwsError
from ..xml import Element, el, local, m, t, utcnow
from . import Context, error, success
from ._items import item_id_only

RESPONSE_ELEMENTS = frozenset(meetings.RESPONSES) | {"CancelCalendarItem", "RemoveItem"}
_SENDS = {"SendOnly", "SendAndSaveCopy"}


def respond(ctx: Context, req: Element, child: Element, target: Element | None) -> Element:
    """One response object of a CreateItem request; its CreateItemResponseMessage."""
    try:
        disposition = req.get("MessageDisposition")
        if disposition is None:
            raise EwsError("ErrorMessageDispositionRequired", "MessageDisposition is required for response objects.")
        ref = child.find(t("ReferenceItemId"))
        if ref is None:
            raise EwsError("ErrorMissingInformationReferenceItemId", "The response object has no ReferenceItemId.")
        ref_id = el(t("ItemId"), attrs={"Id": ref.get("Id", ""), "ChangeKey": ref.get("ChangeKey")})
        mb, ref_item, occurrence = ctx.item(ref_id)
        copy_folder = None
        if target is not None and disposition != "SendOnly":
            _, folder = ctx.folder(target[0])
            copy_folder = folder.distinguished or _adhoc(ctx, mb, folder)
        if local(child) == "CancelCalendarItem":
            result = _cancel(ctx, mb, ref_item, occurrence, disposition, child, copy_folder)
        elif local(child) == "RemoveItem":
            result = _remove(ctx, mb, ref_item)
        else:
            result = _answer(
                ctx, mb, ref_item, occurrence, meetings.RESPONSES[local(child)], disposition, child, copy_folder
            )
        ctx.wrote = True
        return success("CreateItem", [el(m("Items"), children=[result])])
    except EwsError as e:
        return error("CreateItem", e, [el(m("Items"))])


def _adhoc(ctx: Context, mb, folder) -> str:
    # A non-distinguished target folder: register it under a private name so meetings.new_message finds it.
    name = f"folder:{folder.id}"
    mb.distinguished.setdefault(name, folder.id)
    return name


def _answer(ctx: Context, mb, ref_item, occurrence, answer: str, disposition: str, child: Element, copy_folder):
    item = meetings.resolve_meeting(ctx.store, mb, ref_item, occurrence)
    meetings.check_can_answer(mb, item, answer)
    body = child.find(t("Body"))
    recipients, delivered, subject, item = meetings.answer(
        ctx.store, mb, item, answer, disposition, body, copy_folder, occurrence
    )
    sent = disposition in _SENDS and bool(recipients)
    ctx.sandbox.record_call(
        {
            "operation": "CreateItem",
            "mailbox": mb.email,
            "item_id": item.id,
            "occurrence": occurrence,
            "setting": disposition,
            "kind": "response",
            "response": answer,
            "sent": sent,
            "recipients": recipients if sent else [],
            "delivered": delivered,
            "subject": subject,
            "time": utcnow().isoformat(),
        }
    )
    if occurrence is not None and occurrence not in item.deleted_occurrences:
        from .. import ids

        return item_id_only(ids.encode(mb.guid, ids.OCCURRENCE, item.key, occurrence), item.changekey)
    return item_id_only(item.id, item.changekey)


def _remove(ctx: Context, mb, ref_item):
    """RemoveItem: an attendee takes a cancelled meeting out of their calendar (through the cancellation or the
    cancelled calendar item); the cancellation and the item go to Deleted Items. Nothing is sent."""
    uid = meetings._uid(ref_item)
    item = ref_item if ref_item.element == "CalendarItem" else meetings.calendar_item_by_uid(mb, uid)
    if ref_item.element not in ("CalendarItem", "MeetingCancellation"):
        raise EwsError("ErrorInvalidReferenceItem", "RemoveItem takes a meeting cancellation or its calendar item.")
    if item is not None and meetings.organizer_of(item, mb.email) == mb.email.lower():
        raise EwsError("ErrorCalendarIsOrganizerForRemove", "An organizer cannot remove a meeting this way.")
    if item is not None and not meetings.calendar._flag(item.fields, "IsCancelled"):
        # Undocumented: Exchange's code for this case is not in the reference; the closest schema code.
        raise EwsError("ErrorInvalidReferenceItem", "Only a cancelled meeting can be removed.")
    for message in [ref_item] if ref_item.element == "MeetingCancellation" else []:
        meetings.move_to_deleted_items(ctx.store, mb, message)
    if item is None:
        return el(t("CalendarItem"))
    item = meetings.move_to_deleted_items(ctx.store, mb, item)
    return item_id_only(item.id, item.changekey)


def _cancel(ctx: Context, mb, item, occurrence, disposition: str, child: Element, copy_folder):
    if item.element != "CalendarItem":
        raise EwsError("ErrorInvalidReferenceItem", "Only calendar items can be cancelled.")
    if meetings.organizer_of(item, mb.email) != mb.email.lower():
        raise EwsError("ErrorCalendarIsNotOrganizer", "Only the organizer can cancel a meeting.")
    recipients = meetings.attendee_emails(item.fields)
    subject = item.fields.get("Subject")
    sent = disposition in _SENDS and bool(recipients)
    delivered: list[str] = []
    if disposition == "SaveOnly":
        pass  # a draft cancellation: nothing changes until it is sent (the sandbox keeps no draft of it)
    else:
        body = child.find(t("NewBodyContent"))
        if body is not None:
            body = el(t("Body"), body.text, {"BodyType": body.get("BodyType", "Text")})
        if sent:
            delivered = meetings.send_meeting(
                ctx.store, mb, item, "cancellation", occurrence, recipients, disposition == "SendAndSaveCopy"
            )
        if occurrence is not None:
            item.exceptions.pop(occurrence, None)
            item.deleted_occurrences.add(occurrence)
            ctx.store.touch(item)
        else:
            # Like Exchange (and Graph's event cancel): the organiser's meeting goes to Deleted Items, under a
            # new id (cancelling it again by the old one answers ErrorItemNotFound, as exchangelib's tests expect).
            item = meetings.move_to_deleted_items(ctx.store, mb, item)
    ctx.sandbox.record_call(
        {
            "operation": "CreateItem",
            "mailbox": mb.email,
            "item_id": item.id,
            "occurrence": occurrence,
            "setting": disposition,
            "kind": "cancellation",
            "sent": sent and disposition != "SaveOnly",
            "recipients": recipients if sent and disposition != "SaveOnly" else [],
            "delivered": delivered,
            "subject": subject.text if subject is not None else None,
            "time": utcnow().isoformat(),
        }
    )
    return item_id_only(item.id, item.changekey)
