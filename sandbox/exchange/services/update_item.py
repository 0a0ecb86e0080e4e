"""UpdateItem: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/updateitem-operation

Change keys: ``AlwaysOverwrite`` ignores them; ``NeverOverwrite`` refuses any stale key; ``AutoResolve`` refuses
a stale key only when a field it sets was written after that key (otherwise the changes merge). A refusal is
``ErrorIrresolvableConflict``. Changes addressed to an occurrence (OccurrenceItemId, or an occurrence's ItemId)
make it a modified occurrence of its master.
"""

from __future__ import annotations

import copy as _copy

from .. import calendar, meetings, properties
from ..errors import EwsError
from ..store import change_key_seq
from ..xml import Element, el, local, m, t
from . import Context, error, response, success
from ._items import append_field, item_id_only, record_send, set_field

_SERIES_FIELDS = {"Start", "End", "Recurrence", "StartTimeZone", "EndTimeZone", "IsAllDayEvent"}
_ONE_PROPERTY = "An object within a change description must contain one and only one property to modify."


def _key_of(change: Element) -> str:
    uri = change.find(t("FieldURI"))
    if uri is not None:
        return calendar.field_name(uri.get("FieldURI"))
    ext = change.find(t("ExtendedFieldURI"))
    if ext is not None:
        return repr(calendar.extended_key(ext))
    idx = change.find(t("IndexedFieldURI"))
    if idx is not None:
        return calendar.field_name(idx.get("FieldURI"))
    raise EwsError("ErrorInvalidRequest", "An update names no field.")


def _check_change_key(item, id_elem: Element, mode: str, keys: list[str]) -> None:
    given = id_elem.get("ChangeKey")
    if mode == "AlwaysOverwrite" or not given or given == item.changekey:
        return
    seq = change_key_seq(given)
    if seq is None:
        raise EwsError("ErrorInvalidChangeKey", "The change key is invalid.")
    if mode == "NeverOverwrite" or any(item.field_seqs.get(k, 0) > seq for k in keys):
        raise EwsError("ErrorIrresolvableConflict")


def update_item(ctx: Context, req: Element) -> Element:
    mode = req.get("ConflictResolution", "AutoResolve")
    setting = req.get("SendMeetingInvitationsOrCancellations")
    messages = []
    for change in req.find(m("ItemChanges")):
        id_elem = change[0]
        try:
            mb, item, occurrence = ctx.item(id_elem)
            updates = change.find(t("Updates"))
            updates = list(updates) if updates is not None else []
            keys = [_key_of(u) for u in updates]
            _check_change_key(item, id_elem, mode, keys)
            # Work on copies, so that a failing change leaves the item untouched.
            saved = (
                dict(item.fields),
                dict(item.extended),
                _copy.deepcopy(item.exceptions),
                set(item.deleted_occurrences),
            )
            overlay = dict(item.exceptions.get(occurrence, {})) if occurrence is not None else None
            try:
                for u, key in zip(updates, keys, strict=True):
                    kind = local(u)
                    if kind == "DeleteItemField":
                        if not key.startswith("("):
                            properties.check_delete(key)
                        target = overlay if overlay is not None else item.fields
                        if key.startswith("("):
                            (overlay if overlay is not None else item.extended).pop(
                                key if overlay is not None else eval_key(key), None
                            )
                        else:
                            target.pop(key, None)
                        continue
                    payload = [c for c in u if local(c) not in ("FieldURI", "ExtendedFieldURI", "IndexedFieldURI")]
                    if len(payload) != 1 or not len(payload[0]):
                        raise EwsError("ErrorIncorrectUpdatePropertyCount", _ONE_PROPERTY)
                    if local(payload[0]) not in (item.element, "Item") and not (
                        item.element != "CalendarItem" and local(payload[0]) == "Message"
                    ):
                        raise EwsError("ErrorObjectTypeChanged", f"The item is a {item.element}.")
                    fields = list(payload[0])
                    if len(fields) != 1:
                        raise EwsError("ErrorIncorrectUpdatePropertyCount", _ONE_PROPERTY)
                    if kind == "SetItemField":
                        set_field(ctx, item, fields[0], overlay)
                    else:
                        append_field(ctx, item, fields[0], overlay)
                if overlay is not None:
                    item.exceptions[occurrence] = overlay
                    start, end = calendar._occurrence_times(item, occurrence, overlay)
                    if end < start:
                        raise EwsError("ErrorCalendarEndDateIsEarlierThanStartDate")
                else:
                    if "Recurrence" in saved[0] and _SERIES_FIELDS & set(keys):
                        # Like Exchange: a change of the series' time pattern drops its exceptions.
                        item.exceptions.clear()
                        item.deleted_occurrences.clear()
                    if "Recurrence" not in item.fields:
                        item.exceptions.clear()
                        item.deleted_occurrences.clear()
                    if item.element == "CalendarItem":
                        calendar.apply_rules(mb, item, ctx.timezone, creating=False)
            except Exception:
                item.fields, item.extended, item.exceptions, item.deleted_occurrences = saved
                raise
            ctx.store.touch(item)
            for k in keys:
                item.field_seqs[k] = item.changed_seq
            ctx.wrote = True
            record_send(
                ctx,
                "UpdateItem",
                mb,
                item,
                setting,
                "update",
                occurrence,
                previous=meetings.attendee_emails(saved[0]),
                time_changed=bool(_SERIES_FIELDS & set(keys)),
            )
            item_id = id_elem.get("Id") if occurrence is not None and local(id_elem) == "ItemId" else None
            if occurrence is not None:
                from .. import ids

                item_id = ids.encode(mb.guid, ids.OCCURRENCE, item.key, occurrence)
            rendered = item_id_only(item_id or item.id, item.changekey, item.element)
            messages.append(
                success(
                    "UpdateItem",
                    [el(m("Items"), children=[rendered]), el(m("ConflictResults"), children=[el(t("Count"), "0")])],
                )
            )
        except EwsError as e:
            messages.append(error("UpdateItem", e, [el(m("Items"))]))
    return response("UpdateItem", messages)


def eval_key(text: str) -> tuple:
    """Back from repr(extended key) to the key (keys hold only str and int)."""
    import ast

    return ast.literal_eval(text)
