"""CreateItem (calendar items):
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createitem-operation-calendar-item
"""

from __future__ import annotations

from .. import calendar
from ..errors import EwsError
from ..xml import Element, copy, el, local, m, t
from . import Context, error, respond, response, success
from ._items import item_id_only, record_send, set_field


def create_item(ctx: Context, req: Element) -> Element:
    setting = req.get("SendMeetingInvitations")
    target = req.find(m("SavedItemFolderId"))
    messages = []
    for child in req.find(m("Items")):
        if local(child) in respond.RESPONSE_ELEMENTS:
            messages.append(respond.respond(ctx, req, child, target))
            continue
        try:
            if target is not None:
                mb, folder = ctx.folder(target[0])
            else:
                mb = ctx.mailbox()
                folder = mb.folder("calendar")
            if local(child) != "CalendarItem":
                raise EwsError(
                    # (ErrorInvalidItemForOperation is no ResponseCode of the schema: this one is.)
                    "ErrorInvalidItemForOperationCreateItem",
                    f"The sandbox stores calendar items only, not {local(child)}.",
                )
            if setting is None:
                raise EwsError(
                    "ErrorSendMeetingInvitationsRequired", "SendMeetingInvitations is required for calendar items."
                )
            item = ctx.store.new_item(mb, folder)
            try:
                for c in child:
                    key = set_field(ctx, item, c, creating=True)
                    item.field_seqs[key] = item.changed_seq
                calendar.apply_rules(mb, item, ctx.timezone, creating=True)
            except Exception:
                del mb.items[item.id]
                raise
            ctx.wrote = True
            record_send(ctx, "CreateItem", mb, item, setting, "invitation")
            created = item_id_only(item.id, item.changekey)
            stored = item.fields.get("Attachments")
            if stored is not None:  # the new attachments' ids, which exchangelib copies onto its objects
                ids_only = [el(a.tag, children=[copy(a.find(t("AttachmentId")))]) for a in stored]
                created.append(el(t("Attachments"), children=ids_only))
            messages.append(success("CreateItem", [el(m("Items"), children=[created])]))
        except EwsError as e:
            messages.append(error("CreateItem", e, [el(m("Items"))]))
    return response("CreateItem", messages)
