"""Subscribe and Unsubscribe:
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/subscribe-operation and
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/unsubscribe-operation

Pull, push and streaming subscriptions on some folders of one mailbox or on all its folders; the behaviour of
the subscriptions themselves is in ``notifications.py``.
"""

from __future__ import annotations

from copy import deepcopy

from ..errors import EwsError, SoapFault
from ..xml import Element, el, local, m, parse_bool, t
from . import Context, error, response, success

_KINDS = {
    "PullSubscriptionRequest": "pull",
    "PushSubscriptionRequest": "push",
    "StreamingSubscriptionRequest": "streaming",
}


def subscribe(ctx: Context, req: Element) -> Element:
    from ..notifications import check_push_url, event_types, request_int

    notifications = ctx.sandbox.notifications
    request = req[0] if len(req) else None
    if request is None or local(request) not in _KINDS:
        raise SoapFault("ErrorSchemaValidation", "Subscribe needs a pull, push or streaming subscription request.",
                        fault_code="a:ErrorSchemaValidation")  # fmt: skip
    kind = _KINDS[local(request)]
    types = event_types(request.find(t("EventTypes")))
    kw = {}
    if kind == "pull":
        kw["timeout_minutes"] = request_int(request.findtext(t("Timeout")), "Timeout", 1, 1440)
    elif kind == "push":
        kw["status_frequency"] = request_int(request.findtext(t("StatusFrequency")), "StatusFrequency", 1, 1440)
    try:
        folder_ids = request.find(t("FolderIds"))
        mailbox, folders = None, None
        if folder_ids is not None and len(folder_ids) and not parse_bool(request.get("SubscribeToAllFolders")):
            folders = set()
            for f in folder_ids:
                mb, folder = ctx.folder(f)
                if mailbox is not None and mb is not mailbox:
                    raise EwsError(
                        "ErrorInvalidSubscriptionRequest", "A subscription can include folders of one mailbox only."
                    )
                mailbox = mb
                folders.add(folder.id)
            folders = frozenset(folders)
        mailbox = mailbox or ctx.mailbox()
        # exchangelib sends the resume watermark as m:Watermark, which Exchange accepts (request_xsd_view).
        watermark = request.findtext(t("Watermark")) or request.findtext(m("Watermark"))
        if kind == "push":
            kw["url"] = check_push_url(request.findtext(t("URL")))
        sub = notifications.subscribe(
            kind, ctx.principal, mailbox, folders, types, watermark if kind != "streaming" else None, **kw
        )
        children = [el(m("SubscriptionId"), sub.id)]
        if kind != "streaming":
            children.append(el(m("Watermark"), notifications.watermark(mailbox, sub.position)))
        return response("Subscribe", [success("Subscribe", children)])
    except EwsError as e:
        return response("Subscribe", [error("Subscribe", e)])


def unsubscribe(ctx: Context, req: Element) -> Element:
    notifications = ctx.sandbox.notifications
    try:
        sub_id = req.findtext(m("SubscriptionId"))
        sub = notifications.lookup(sub_id, ctx.principal, ("pull", "streaming", "push"))
        if sub.kind == "push":
            # A push subscription ends by answering a notification with Unsubscribe; Exchange refuses the
            # operation with this code (exchangelib's real-server tests expect it).
            raise EwsError("ErrorInvalidSubscription", "A push subscription cannot be unsubscribed this way.")
        notifications.unsubscribe(sub)
        return response("Unsubscribe", [success("Unsubscribe")])
    except EwsError as e:
        return response("Unsubscribe", [error("Unsubscribe", e)])


def request_xsd_view(payload: Element) -> Element:
    """A Subscribe request as the XSD wants it: m:Watermark (what exchangelib sends, and Exchange takes; exchangelib's
    own real-server tests resubscribe with it) read as t:Watermark. Everything else is validated as sent."""
    if local(payload) != "Subscribe" or payload.find(f"*/{m('Watermark')}") is None:
        return payload
    view = deepcopy(payload)
    for wm in view.iterfind(f"*/{m('Watermark')}"):
        wm.tag = t("Watermark")
    return view
