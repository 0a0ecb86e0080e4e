"""MoveItem and CopyItem:
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/moveitem-operation and
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/copyitem-operation

Within one mailbox (the target folder's; another mailbox is ErrorInvalidOperation here, where Exchange copies
across mailboxes). A moved item keeps its id in the sandbox (Exchange gives it a new one, which the response
carries either way); a copy is a new item with every field, extended property and recurrence exception of the
source, and a new UID (a copied meeting is a new meeting). Occurrences cannot be moved or copied
(ErrorCalendarCannotMoveOrCopyOccurrence). Moves and copies raise MovedEvent and CopiedEvent
(``notifications.py``).
"""

from __future__ import annotations

from .. import calendar
from ..errors import EwsError
from ..xml import Element, copy, el, m, t
from . import Context, error, response, success
from ._items import item_id_only


def _target(ctx: Context, req: Element):
    return ctx.folder(req.find(m("ToFolderId"))[0])


def move_item(ctx: Context, req: Element) -> Element:
    return _move_or_copy(ctx, req, "MoveItem")


def copy_item(ctx: Context, req: Element) -> Element:
    return _move_or_copy(ctx, req, "CopyItem")


def _move_or_copy(ctx: Context, req: Element, operation: str) -> Element:
    messages = []
    try:
        target_mb, target = _target(ctx, req)
    except EwsError as e:
        return response(operation, [error(operation, e, [el(m("Items"))]) for _ in req.find(m("ItemIds"))])
    for id_elem in req.find(m("ItemIds")):
        try:
            mb, item, occurrence = ctx.item(id_elem)
            if occurrence is not None:
                raise EwsError(
                    "ErrorCalendarCannotMoveOrCopyOccurrence", "You cannot move or copy an occurrence of a series."
                )
            if mb is not target_mb:
                raise EwsError("ErrorInvalidOperation", "The sandbox moves and copies within one mailbox only.")
            if operation == "MoveItem":
                ctx.store.move_item(mb, item, target)
                result = item
            else:
                result = _copy_item(ctx, mb, item, target)
            ctx.wrote = True
            messages.append(success(operation, [el(m("Items"), children=[item_id_only(result.id, result.changekey)])]))
        except EwsError as e:
            messages.append(error(operation, e, [el(m("Items"))]))
    return response(operation, messages)


def _copy_item(ctx: Context, mb, item, target):
    new = ctx.store.new_item(mb, target)
    new.fields = {k: copy(v) for k, v in item.fields.items() if k != "UID"}
    new.fields["UID"] = el(t("UID"), calendar._new_uid())
    new.extended = {k: copy(v) for k, v in item.extended.items()}
    new.exceptions = {k: {n: copy(v) for n, v in o.items()} for k, o in item.exceptions.items()}
    new.deleted_occurrences = set(item.deleted_occurrences)
    new.field_seqs = {k: new.changed_seq for k in item.field_seqs}
    ctx.sandbox.notifications.mark_copied(mb, new.id, item.id, item.folder_id)
    return new
