"""GetEvents (pull notifications):
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getevents-operation

The subscription is a queue, as on Exchange (the GetStreamingEvents page: events returned are removed from the
subscription's queue): an answer holds the events after the later of the given watermark and the last one
returned, at most 50 (whole changes) with MoreEvents. exchangelib relies on this: its ``get_events`` repeats
the first watermark while MoreEvents is true. To replay from an older watermark, subscribe with it. With
nothing new, one StatusEvent with the current watermark. Every call resets the subscription's Timeout.
"""

from __future__ import annotations

from ..errors import EwsError
from ..xml import Element, m
from . import Context, error, response, success


def get_events(ctx: Context, req: Element) -> Element:
    notifications = ctx.sandbox.notifications
    try:
        sub = notifications.lookup(req.findtext(m("SubscriptionId")), ctx.principal, ("pull",))
        mb = ctx.store.mailbox(sub.mailbox)
        if mb is None:
            raise EwsError("ErrorSubscriptionNotFound", "The subscribed mailbox no longer exists.")
        given = notifications.parse_watermark(mb, req.findtext(m("Watermark")))
        after = max(given, sub.position)
        notifications.touch_pull(sub)
        batches, more, last = notifications.pending(sub, after)
        if not more:
            last = max(last, notifications.position)
        sub.position = batches[-1][0] if more else last
        note = notifications.notification(mb, sub, batches, after, more, last)
        return response("GetEvents", [success("GetEvents", [note])])
    except EwsError as e:
        return response("GetEvents", [error("GetEvents", e)])
