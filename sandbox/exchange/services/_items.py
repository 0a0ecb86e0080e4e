"""Writing item fields from request elements (shared by CreateItem and UpdateItem) and recording the meeting
messages that a request would have sent."""

from __future__ import annotations

from .. import calendar, meetings, mime, properties
from ..store import Item, Mailbox
from ..xml import Element, child_text, copy, el, local, t, utcnow
from . import Context, attachments

NO_SEND = {"SendToNone", "SaveOnly"}


def normalise(ctx: Context, elem: Element) -> Element:
    return calendar.normalise_field(elem, ctx.sandbox.directory(), ctx.sandbox.mailbox_email_set())


def set_field(ctx: Context, item: Item, child: Element, overlay: dict | None = None, creating: bool = False) -> str:
    """Store one child of a t:CalendarItem (a field or an ExtendedProperty); return the key it was stored under."""
    name = local(child)
    if name == "ExtendedProperty":
        key = calendar.extended_key(child)
        value = calendar.normalise_extended(child)
        if overlay is not None:
            overlay[repr(key)] = value
        else:
            item.extended[key] = value
        return repr(key)
    if item.element == "CalendarItem":
        properties.check_set(name, occurrence=overlay is not None, creating=creating)
    else:
        properties.check_message_set(name)
    if name == "Attachments":
        attachments.add(item, child)
        return name
    if name == "MimeContent" and item.element == "CalendarItem":
        # Exchange reads the item from its MIME (MimeContent comes first in a request, so the fields set
        # explicitly after it win) and answers MimeContent generated from the item (mime.py).
        target = overlay if overlay is not None else item.fields
        for key, value in mime.fields_from_mime(child).items():
            target[key] = normalise(ctx, value)
        return name
    value = normalise(ctx, child)
    if overlay is not None:
        overlay[name] = value
    else:
        item.fields[name] = value
    return name


def attendees(item: Item) -> list[str]:
    out = []
    for name in ("RequiredAttendees", "OptionalAttendees", "Resources"):
        e = item.fields.get(name)
        if e is not None:
            out += [a.findtext(f"{t('Mailbox')}/{t('EmailAddress')}") for a in e.iter(t("Attendee"))]
    return [a for a in out if a]


def record_send(
    ctx: Context,
    operation: str,
    mb: Mailbox,
    item: Item,
    setting: str | None,
    kind: str,
    occurrence: int | None = None,
    previous: list[str] | None = None,
    time_changed: bool = False,
) -> None:
    """Log the call's send setting; when the item is a meeting we organise and the setting sends, log the sent
    invitation/update/cancellation and deliver it to the attendees who are sandbox mailboxes (meetings.py)."""
    is_organizer = (
        item.element == "CalendarItem"
        and (child_text(item.fields.get("Organizer"), f"{t('Mailbox')}/{t('EmailAddress')}", mb.email) or "").lower()
        == mb.email.lower()
    )
    recipients = attendees(item) if is_organizer else []
    sends = bool(setting and setting not in NO_SEND)
    if sends and "Changed" in (setting or "") and previous is not None:
        added = [r for r in recipients if r.lower() not in {p.lower() for p in previous}]
        recipients = added or recipients
    sent = sends and bool(recipients)
    delivered: list[str] = []
    save_copy = bool(setting and setting.endswith("AndSaveCopy"))
    if sent:
        delivered = meetings.send_meeting(
            ctx.store, mb, item, kind, occurrence, recipients, save_copy, time_changed=time_changed
        )
    subject = item.fields.get("Subject")
    ctx.sandbox.record_call(
        {
            "operation": operation,
            "mailbox": mb.email,
            "item_id": item.id,
            "occurrence": occurrence,
            "setting": setting,
            "kind": kind,
            "sent": sent,
            "recipients": recipients if sent else [],
            "delivered": delivered,
            "subject": subject.text if subject is not None else None,
            "time": utcnow().isoformat(),
        }
    )
    if sends and is_organizer and previous and kind == "update":
        # Attendees the update removed get a cancellation, like on Exchange.
        current = {r.lower() for r in attendees(item)}
        removed = [p for p in previous if p.lower() not in current]
        if removed:
            gone = meetings.send_meeting(ctx.store, mb, item, "cancellation", occurrence, removed, save_copy)
            ctx.sandbox.record_call(
                {
                    "operation": operation,
                    "mailbox": mb.email,
                    "item_id": item.id,
                    "occurrence": occurrence,
                    "setting": setting,
                    "kind": "cancellation",
                    "sent": True,
                    "recipients": removed,
                    "delivered": gone,
                    "subject": subject.text if subject is not None else None,
                    "time": utcnow().isoformat(),
                }
            )


def item_id_only(item_id: str, changekey: str, tag: str = "CalendarItem") -> Element:
    return el(t(tag), children=[el(t("ItemId"), attrs={"Id": item_id, "ChangeKey": changekey})])


def append_field(ctx: Context, item: Item, child: Element, overlay: dict | None) -> str:
    name = local(child)
    if name != "ExtendedProperty":
        properties.check_append(name)
        if item.element == "CalendarItem":
            properties.check_set(name, occurrence=overlay is not None)
        else:
            properties.check_message_set(name)
    target = overlay if overlay is not None else item.fields
    if name == "ExtendedProperty" or name not in target:
        return set_field(ctx, item, child, overlay)
    current = copy(target[name])
    added = normalise(ctx, child)
    if len(added):
        for c in added:
            current.append(c)
    else:
        current.text = (current.text or "") + (added.text or "")
    target[name] = current
    return name
