"""DeleteItem: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/deleteitem-operation

Deleting an occurrence adds it to its master's DeletedOccurrences. HardDelete and SoftDelete remove the item
from its folder (SoftDelete would land in Recoverable Items, which clients cannot list here); MoveToDeletedItems
moves it to Deleted Items (and removes it when it is there already).
"""

from __future__ import annotations

from ..errors import EwsError
from ..xml import Element, m
from . import Context, error, response, success
from ._items import record_send


def delete_item(ctx: Context, req: Element) -> Element:
    delete_type = req.get("DeleteType", "HardDelete")
    setting = req.get("SendMeetingCancellations")
    messages = []
    for id_elem in req.find(m("ItemIds")):
        try:
            mb, item, occurrence = ctx.item(id_elem)
            if occurrence is not None:
                item.exceptions.pop(occurrence, None)
                item.deleted_occurrences.add(occurrence)
                ctx.store.touch(item)
            elif delete_type == "MoveToDeletedItems" and item.folder_id != mb.distinguished["deleteditems"]:
                ctx.store.move_item(mb, item, mb.folder("deleteditems"))
            else:
                ctx.store.remove_item(mb, item)
            ctx.wrote = True
            record_send(ctx, "DeleteItem", mb, item, setting, "cancellation", occurrence)
            messages.append(success("DeleteItem"))
        except EwsError as e:
            messages.append(error("DeleteItem", e))
    return response("DeleteItem", messages)
