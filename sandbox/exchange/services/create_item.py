"""CreateItem (calendar items):
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createitem-operation-calendar-item
"""

from __future__ import annotations

from .. import calendar
from ..errors import EwsError
from ..xml import Element, el, local, m
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
                raise EwsError("ErrorInvalidItemForOperation", f"Calendar items only, not {local(child)}.")
            if setting is None:
                raise EwsError(
                    "ErrorSendMeetingInvitationsRequired", "SendMeetingInvitations is required for calendar items."
                )
            item = ctx.store.new_item(mb, folder)
            try:
                for c in child:
                    key = set_field(ctx, item, c)
                    item.field_seqs[key] = item.changed_seq
                calendar.apply_rules(mb, item, ctx.timezone, creating=True)
            except Exception:
                del mb.items[item.id]
                raise
            ctx.wrote = True
            record_send(ctx, "CreateItem", mb, item, setting, "invitation")
            messages.append(success("CreateItem", [el(m("Items"), children=[item_id_only(item.id, item.changekey)])]))
        except EwsError as e:
            messages.append(error("CreateItem", e, [el(m("Items"))]))
    return response("CreateItem", messages)
