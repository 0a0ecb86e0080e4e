"""FindItem: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/finditem-operation

IndexedPageItemView pages over the folder's items (recurring masters unexpanded); CalendarView expands series
into their occurrences within the window (sandbox/exchange/recurrence.py). CalendarView bounds as the
CalendarView page states them: an item (or occurrence) is out when it ends before StartDate or starts on or
after EndDate, so one ending exactly at StartDate is in; EndDate may equal StartDate. MaxEntriesReturned keeps
the earliest entries (TotalItemsInView counts them all, IncludesLastItemInRange false), as Microsoft's example
answers. A window longer than two years is ErrorCalendarViewRangeTooBig; a view holding more than the find
count limit (1,000, the EWSFindCountLimit default) without a MaxEntriesReturned of at most that is
ErrorExceededFindCountLimit with the PolicyLimit in MessageXml (what Exchange answers a CalendarView, which
cannot page; IndexedPageItemView pages instead).
"""

from __future__ import annotations

import functools

from .. import calendar, restrictions
from ..errors import EwsError
from ..xml import Element, el, fmt_bool, local, m, parse_datetime, t
from . import Context, error, response, success


def _entries(ctx: Context, mb, folder, view: Element | None):
    """(item, occurrence ts or None) of the folder in the view's scope, in default order."""
    items = mb.items_in(folder.id)
    if view is None or local(view) != "CalendarView":
        return [(i, None, i.fields) for i in sorted(items, key=lambda i: (i.created, i.id))]
    start = parse_datetime(view.get("StartDate"))
    end = parse_datetime(view.get("EndDate"))
    if end < start:
        raise EwsError("ErrorInvalidRequest", "CalendarView EndDate is earlier than StartDate.")
    if end > _plus_two_years(start):
        raise EwsError(
            "ErrorCalendarViewRangeTooBig", "The time window specified is larger than the maximum allowed (2 years)."
        )
    out = []
    for item in items:
        if "Recurrence" in item.fields:
            for occ in calendar.expand(item, start, end, ews_bounds=True):
                ts = int(occ.original_start.timestamp())
                out.append((occ.start, item, ts))
        else:
            s = calendar._dt(item.fields, "Start")
            e = calendar._dt(item.fields, "End")
            if s < end and e >= start:
                out.append((s, item, None))
    out.sort(key=lambda x: (x[0], x[1].id))
    return [(i, ts, None) for _, i, ts in out]


FIND_COUNT_LIMIT = 1000


def _plus_two_years(value):
    try:
        return value.replace(year=value.year + 2)
    except ValueError:  # 29 February
        return value.replace(year=value.year + 2, day=28)


def find_item(ctx: Context, req: Element) -> Element:
    shape = calendar.Shape.parse(req.find(m("ItemShape")))
    if req.get("Traversal") not in (None, "Shallow"):
        raise EwsError("ErrorInvalidRequest", "Only Shallow traversal is supported for calendar items.")
    view = None
    for name in ("IndexedPageItemView", "CalendarView", "FractionalPageItemView"):
        view = view if view is not None else req.find(m(name))
    restriction = req.find(m("Restriction"))
    sort = req.find(m("SortOrder"))
    if view is not None and local(view) == "CalendarView" and (restriction is not None or sort is not None):
        # Exchange expands a CalendarView without filtering or sorting it (clients filter the occurrences).
        raise EwsError("ErrorInvalidOperation", "Restrictions and sort order may not be specified for a CalendarView.")
    messages = []
    for fid in req.find(m("ParentFolderIds")):
        try:
            mb, folder = ctx.folder(fid)
            entries = _entries(ctx, mb, folder, view)

            def getter(entry, mb=mb):
                item, ts, _ = entry
                fields = calendar.full_fields(mb, item, ts)[2]
                return restrictions.make_getter(fields, item.extended)

            if restriction is not None:
                entries = [e for e in entries if restrictions.evaluate(restriction[0], getter(e))]
            if sort is not None and len(sort):
                for order in reversed(list(sort)):
                    entries.sort(key=functools.partial(_key, order, getter), reverse=order.get("Order") == "Descending")
            total = len(entries)
            offset = 0
            limit = int(view.get("MaxEntriesReturned")) if view is not None and view.get("MaxEntriesReturned") else 0
            if view is not None and local(view) == "IndexedPageItemView":
                offset = int(view.get("Offset", "0"))
                if view.get("BasePoint") == "End":
                    offset = max(total - offset - (limit or total), 0)
            calendar_view = view is not None and local(view) == "CalendarView"
            if calendar_view and total > FIND_COUNT_LIMIT and not 0 < limit <= FIND_COUNT_LIMIT:
                raise _find_count_limit()
            page = entries[offset : offset + limit] if limit else entries[offset:]
            last = offset + len(page) >= total
            attrs = {"TotalItemsInView": str(total), "IncludesLastItemInRange": fmt_bool(last)}
            if view is None or local(view) != "CalendarView":
                attrs["IndexedPagingOffset"] = str(offset + len(page))
            rendered = [calendar.render(mb, item, shape, ts) for item, ts, _ in page]
            root = el(m("RootFolder"), attrs=attrs, children=[el(t("Items"), children=rendered)])
            messages.append(success("FindItem", [root]))
        except EwsError as e:
            messages.append(error("FindItem", e, [getattr(e, "message_xml", None)]))
    return response("FindItem", messages)


def _find_count_limit() -> EwsError:
    err = EwsError(
        "ErrorExceededFindCountLimit",
        "You have exceeded the maximum number of objects that can be returned for the find operation. "
        "Use paging to reduce the result size and try your request again.",
    )
    err.message_xml = el(m("MessageXml"), children=[el(t("Value"), str(FIND_COUNT_LIMIT), {"Name": "PolicyLimit"})])
    return err


def _key(order, getter, entry):
    return restrictions.sort_key(order, getter(entry))
