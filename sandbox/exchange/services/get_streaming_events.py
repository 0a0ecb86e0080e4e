"""GetStreamingEvents (streaming notifications):
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getstreamingevents-operation

The answer is a stream of SOAP envelopes on one chunked HTTP response (see ``notifications.py``). Exchange puts
each ``Notification`` of ``m:Notifications`` in the messages namespace (Microsoft's example, and exchangelib
reads only that), where messages.xsd's ``NonEmptyArrayOfNotificationsType`` declares a types-namespace child:
the sandbox answers like Exchange and validates each envelope with that one element renamed to the XSD's.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import EwsError, SoapFault
from ..notifications import HEARTBEAT_MINUTES, STREAMING_IDLE_MINUTES, Subscription
from ..xml import Element, el, m, t
from . import Context, error, response


@dataclass
class Streamed:
    """A response the WSGI layer writes as a stream of envelopes (each item of ``bodies`` is one body payload).
    The WSGI layer sets ``client_gone``: the stream ends, without taking more events, once the client hung up."""

    bodies: Iterator[Element]
    client_gone: Callable[[], bool] = field(default=lambda: False)


def _message(children: list[Element], status: str | None) -> Element:
    msg = el(m("GetStreamingEventsResponseMessage"), attrs={"ResponseClass": "Success"})
    msg.append(el(m("ResponseCode"), "NoError"))
    for c in children:
        msg.append(c)
    if status:
        msg.append(el(m("ConnectionStatus"), status))
    return response("GetStreamingEvents", [msg])


def xsd_view(payload: Element) -> Element:
    """A copy of ``payload`` with m:Notifications/m:Notification renamed to the XSD's t:Notification."""
    from copy import deepcopy

    view = deepcopy(payload)
    for notes in view.iter(m("Notifications")):
        for n in notes:
            if n.tag == m("Notification"):
                n.tag = t("Notification")
    return view


def get_streaming_events(ctx: Context, req: Element):
    sandbox = ctx.sandbox
    notifications = sandbox.notifications
    from ..notifications import request_int

    holder = req.find(m("SubscriptionIds"))
    ids = [(e.text or "").strip() for e in (holder if holder is not None else ())]
    minutes = request_int(req.findtext(m("ConnectionTimeout")), "ConnectionTimeout", 1, 30)
    if not ids:
        raise SoapFault("ErrorSchemaValidation", "The request failed schema validation: no SubscriptionId.",
                        fault_code="a:ErrorSchemaValidation")  # fmt: skip
    subs: list[Subscription] = []
    bad: list[tuple[str, EwsError]] = []
    for sub_id in ids:
        try:
            if not _well_formed(sub_id):
                # What Exchange answers GetStreamingEvents for an id that is no subscription id at all (exchangelib's
                # real-server tests send "AAA-"); a well-formed unknown one stays ErrorSubscriptionNotFound.
                raise EwsError("ErrorInvalidSubscription", "Subscription is invalid.")
            subs.append(notifications.lookup(sub_id, ctx.principal, ("streaming",)))
        except EwsError as e:
            bad.append((sub_id, e))
    if bad:
        msg = error(
            "GetStreamingEvents",
            bad[0][1],
            [
                el(m("ErrorSubscriptionIds"), children=[el(t("SubscriptionId"), i) for i, _ in bad]),
                el(m("ConnectionStatus"), "Closed"),
            ],
        )
        return response("GetStreamingEvents", [msg])
    token = object()
    with notifications.cond:
        for sub in subs:
            sub.connections += 1
            # As in Exchange, a new connection for a subscription ends the one it had (which then answers
            # ErrorNewEventStreamConnectionOpened): events go to the newest connection only.
            sub.extra["stream"] = token
    streamed = Streamed(iter(()))
    streamed.bodies = _stream(sandbox, subs, minutes, streamed, token)
    return streamed


def _well_formed(sub_id: str) -> bool:
    try:
        base64.b64decode(sub_id, validate=True)
    except (binascii.Error, ValueError):
        return False
    return bool(sub_id)


def _superseded(subs: list[Subscription], token: object) -> Element:
    msg = error(
        "GetStreamingEvents",
        EwsError("ErrorNewEventStreamConnectionOpened", "A new connection was opened for the subscription."),
        [
            el(m("ErrorSubscriptionIds"), children=[el(t("SubscriptionId"), s.id) for s in subs]),
            el(m("ConnectionStatus"), "Closed"),
        ],
    )
    return response("GetStreamingEvents", [msg])


def _stream(sandbox, subs: list[Subscription], minutes: int, streamed: Streamed, token: object) -> Iterator[Element]:
    notifications = sandbox.notifications
    store = sandbox.store
    start = time.monotonic()
    last_write = start
    try:
        while True:
            deadline = start + notifications.minutes(minutes)
            heartbeat = notifications.minutes(HEARTBEAT_MINUTES)
            notes, more = [], False
            if streamed.client_gone():
                return  # events stay pending for the client's next connection
            with store.lock:
                with notifications.cond:
                    live = [s for s in subs if notifications.subscriptions.get(s.id) is s]
                    taken = [s for s in live if s.extra.get("stream") is not token]
                if taken:
                    yield _superseded(taken, token)
                    return
                if not live:
                    break
                for sub in live:
                    mb = store.mailbox(sub.mailbox)
                    if mb is None:
                        continue
                    batches, sub_more, last = notifications.pending(sub, sub.position)
                    sub.position = batches[-1][0] if sub_more else last
                    more = more or sub_more
                    if batches:
                        notes.append(notifications.notification(mb, sub, batches, None, None, last, watermarks=False))
            now = time.monotonic()
            if notes:
                yield _message([el(m("Notifications"), children=notes)], None)
                last_write = now
                if more:
                    continue
            if now >= deadline:
                break
            if now - last_write >= heartbeat:
                yield _message([], "OK")
                last_write = now
            wait = min(deadline - now, heartbeat - (now - last_write), 0.5)
            with notifications.cond:
                notifications.cond.wait(timeout=max(wait, 0.01))
        yield _message([], "Closed")
    finally:
        with notifications.cond:
            for sub in subs:
                sub.connections -= 1
                sub.expires = time.monotonic() + notifications.minutes(STREAMING_IDLE_MINUTES)


__all__ = ["Streamed", "get_streaming_events", "xsd_view"]
