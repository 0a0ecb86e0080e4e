"""Which events a calendar view sees: the items of a mailbox's Calendar folder, series expanded into their
occurrences and exceptions, that overlap a window (a zero-length event counts when its instant is inside)."""

from __future__ import annotations

import datetime as dt

from sandbox.exchange import calendar
from sandbox.exchange import ids as ews_ids
from sandbox.exchange.store import Item, Mailbox
from sandbox.exchange.xml import parse_datetime


def overlaps(start: dt.datetime, end: dt.datetime, window_start: dt.datetime, window_end: dt.datetime) -> bool:
    if start == end:
        return window_start <= start < window_end
    return start < window_end and end > window_start


def calendar_items(mb: Mailbox) -> list[Item]:
    return mb.items_in(mb.distinguished["calendar"])


def item_instances(
    item: Item, window_start: dt.datetime, window_end: dt.datetime
) -> list[tuple[dt.datetime, int | None]]:
    """(start, occurrence original start or None) of one item's instances in the window."""
    if "Recurrence" in item.fields:
        return [(o.start, int(o.original_start.timestamp())) for o in calendar.expand(item, window_start, window_end)]
    start, end = parse_datetime(item.fields["Start"].text), parse_datetime(item.fields["End"].text)
    return [(start, None)] if overlaps(start, end, window_start, window_end) else []


def instances(
    mb: Mailbox, window_start: dt.datetime, window_end: dt.datetime
) -> list[tuple[dt.datetime, Item, int | None]]:
    out = []
    for item in calendar_items(mb):
        for start, occurrence in item_instances(item, window_start, window_end):
            out.append((start, item, occurrence))
    out.sort(key=lambda x: (x[0], x[1].id, x[2] or 0))
    return out


def canonical_id(mb: Mailbox, item: Item, occurrence: int | None) -> str:
    """The EWS id of an instance: the key delta state and @removed entries use."""
    if occurrence is None:
        return item.id
    return ews_ids.encode(mb.guid, ews_ids.OCCURRENCE, item.key, occurrence)
