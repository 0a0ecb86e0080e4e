"""EWS notifications: the mailbox event table, subscriptions (pull, push, streaming), watermarks and push delivery.

Reference: https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/notification-subscriptions-mailbox-events-and-ews-in-exchange
and the Subscribe, GetEvents, GetStreamingEvents and Unsubscribe operation pages.

**The event table.** The store calls ``Journal.record`` after every item write (``Store.observers``), whichever
protocol wrote (EWS or the Graph sandbox on the same store). Each write is one *change* at a position of a
sandbox-wide counter; a watermark names a mailbox and a position, so a subscription created with a watermark
(or a GetEvents from an older watermark) replays everything after it: resuming from a watermark misses nothing.
The table keeps the last ``MAX_CHANGES`` changes per mailbox (Exchange keeps 30 days); an older watermark, one
of another mailbox or of another sandbox instance is ``ErrorInvalidWatermark``.

**Events per change**, as Microsoft's table of events per scenario shows them (Exchange 2013 and later):
created -> CreatedEvent (+ NewMailEvent in the Inbox); a new folder (CreateFolder, or a distinguished folder
on first use) -> CreatedEvent with FolderId and a ModifiedEvent of its parent; a renamed, moved or deleted
folder (services/folders.py) -> ModifiedEvent, MovedEvent or DeletedEvent with FolderId, to subscriptions of
its parent;
modified -> ModifiedEvent; moved (also DeleteItem with MoveToDeletedItems) -> MovedEvent with
OldParentFolderId (and OldItemId: sandbox ids survive a move, Exchange's change);
copied (CopyItem) -> CopiedEvent with OldItemId; deleted -> DeletedEvent. Each is followed by a
ModifiedEvent of every folder whose content changed (FolderId = that folder, ParentFolderId = its parent), and
changes in the Calendar folder add a FreeBusyChangedEvent for the item. An event reaches a subscription when
its ParentFolderId (or, for moves and copies, OldParentFolderId; for folder events, the FolderId) is one of the
subscribed folders, or the subscription is on all folders. Differences: a SoftDelete is reported as a
DeletedEvent (Exchange 2013+ reports a MovedEvent to Recoverable Items for single-folder subscriptions); an
item created then rolled back by a failed CreateItem yields nothing; no UnreadCount on folder events; no events
for the hidden search folders.

**Pull** (``Timeout`` minutes, reset by each GetEvents): GetEvents returns the events after the given watermark
and after what it already returned (the subscription is a queue), at most ``MAX_EVENTS`` events (whole
changes) per response with ``MoreEvents``; each event carries its watermark;
with nothing new, one StatusEvent with the current watermark. **Streaming**: GetStreamingEvents keeps the HTTP
response open for ``ConnectionTimeout`` minutes (1-30) and writes one SOAP envelope per chunk: notifications
(one Notification per subscription, no watermarks, as in Microsoft's example), a heartbeat (a response message
with ``ConnectionStatus`` OK and no notifications; the EWS Managed API expects one within 45 seconds, the sandbox
sends one every ``HEARTBEAT_MINUTES``) and finally ``ConnectionStatus`` Closed. Several subscriptions share one
connection; if any id is bad the answer is one error message naming them in ``ErrorSubscriptionIds`` with
``ConnectionStatus`` Closed (exchangelib notes that Exchange then returns nothing for the good ones either).
A streaming subscription expires 30 minutes after its last connection closed. **Push**: a watcher thread POSTs
``m:SendNotification`` to the URL for every batch of events and, after ``StatusFrequency`` minutes without any,
a StatusEvent (the keep-alive). The listener answers ``m:SendNotificationResult`` with ``SubscriptionStatus`` OK
(the watermark advances) or Unsubscribe (the subscription ends). A failed delivery (no answer within 10 s, not
200, not a SendNotificationResult) is retried after 30 seconds, then 60, 120, ... (the StatusFrequency page) until
``StatusFrequency`` minutes have passed since the first failure; then the subscription is dropped. Every
delivery is in ``GET /__sandbox__/notifications``.

**Errors** (the ResponseCode reference): an unknown, unsubscribed or malformed subscription id is
``ErrorSubscriptionNotFound``; one that expired (pull timeout, push given up, streaming idle) is
``ErrorExpiredSubscription`` (Exchange answers that while it deletes an expired subscription, then NotFound; the
sandbox keeps answering it, undocumented beyond that); a push id given to GetEvents is
``ErrorInvalidPullSubscriptionId``, given to Unsubscribe ``ErrorInvalidSubscription``; a pull or push id (or a
malformed one) given to GetStreamingEvents ``ErrorInvalidSubscription``
(undocumented; Exchange's own example of a GetStreamingEvents error uses that code); another account's
subscription ``ErrorSubscriptionAccessDenied``; folders of two mailboxes in one Subscribe
``ErrorInvalidSubscriptionRequest``; a push URL that is not http(s) or not 1-2082 characters
``ErrorInvalidPushSubscriptionUrl``. Not modelled: EwsMaxSubscriptions (ErrorExceededSubscriptionCount),
connection limits (ErrorExceededConnectionCount), a second connection for a subscription closing the first.

**Time.** Exchange counts these timeouts in minutes. ``ExchangeSandbox(notification_minute_seconds=...)`` (or
``PUT /__sandbox__/notifications {"minute_seconds": 1}``) sets how many real seconds a sandbox minute lasts, so
tests see a 1-minute streaming connection close after a second (a test-only knob; the default is 60).
``PUT /__sandbox__/notifications {"expire": "all"}`` (or a list of ids) expires subscriptions at once, as if
their timeout had passed (connected streaming subscriptions are left alone with "all", refused by id).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import itertools
import logging
import struct
import threading
import time
import uuid
from collections import deque
from copy import deepcopy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lxml import etree

from .errors import EwsError, SoapFault
from .xml import SOAP, Element, M, T, el, fmt_datetime, local, m, q, t, utcnow

if TYPE_CHECKING:
    from . import ExchangeSandbox
    from .store import Item, Mailbox

log = logging.getLogger("sandbox.exchange")

MAX_CHANGES = 10_000  # per mailbox
MAX_GONE = 10_000
MAX_DELIVERIES = 5_000
MAX_EVENTS = 50  # per notification (the GetStreamingEvents page: "the first 50 events from the queue")
HEARTBEAT_MINUTES = 0.5
STREAMING_IDLE_MINUTES = 30
PUSH_FIRST_RETRY_MINUTES = 0.5
PUSH_TIMEOUT_SECONDS = 10.0
EVENT_TYPES = (
    "CopiedEvent",
    "CreatedEvent",
    "DeletedEvent",
    "ModifiedEvent",
    "MovedEvent",
    "NewMailEvent",
    "FreeBusyChangedEvent",
)
_WM_MAGIC = b"\x57\x4d\x01"
_SUB_MAGIC = b"\x53\x42\x01"


@dataclass(frozen=True)
class Change:
    position: int
    time: dt.datetime
    kind: str  # created | modified | moved | copied | deleted
    item_id: str
    changekey: str
    folder_id: str
    old_folder_id: str | None = None
    old_item_id: str | None = None


@dataclass
class Subscription:
    id: str
    kind: str  # pull | push | streaming
    owner: str  # the authenticated account that created it (lower case)
    mailbox: str  # lower-case e-mail of the subscribed mailbox
    folders: frozenset[str] | None  # folder ids; None = all folders
    event_types: frozenset[str]
    position: int  # events after this position are pending
    expires: float | None = None  # monotonic deadline (pull: Timeout; streaming: idle; push: retries)
    timeout_minutes: int = 0
    url: str | None = None
    status_frequency: int = 0
    last_sent: float = 0.0
    failures: int = 0
    first_failure: float | None = None
    next_attempt: float = 0.0
    connections: int = 0
    extra: dict = field(default_factory=dict)


class Notifications:
    """The event table and the subscriptions of one EWS sandbox."""

    def __init__(self, sandbox: ExchangeSandbox, minute_seconds: float = 60.0) -> None:
        self.sandbox = sandbox
        self.minute_seconds = float(minute_seconds)
        self.position = 0
        self.changes: dict[str, deque[Change]] = {}  # mailbox (lower) -> changes
        self.floor: dict[str, int] = {}  # mailbox -> position of the newest change dropped from the table
        self.subscriptions: dict[str, Subscription] = {}
        self.gone: dict[str, str] = {}  # subscription id -> "expired" (the last MAX_GONE)
        self.deliveries: deque[dict] = deque(maxlen=MAX_DELIVERIES)
        self.epoch = uuid.uuid4().bytes[:8]
        self.cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        sandbox.store.observers.append(self.record)

    # -- the event table ------------------------------------------------------------------------------------
    def record(self, kind: str, mb: Mailbox, item: Item | None, folder_id: str, old_folder_id: str | None) -> None:
        """Store observer: one change per item write or folder creation (called under the store lock)."""
        with self.cond:
            self.position += 1
            key = mb.email.lower()
            table = self.changes.setdefault(key, deque())
            item_id, changekey = (item.id, item.changekey) if item is not None else ("", "")
            table.append(Change(self.position, utcnow(), kind, item_id, changekey, folder_id, old_folder_id))
            while len(table) > MAX_CHANGES:
                self.floor[key] = table.popleft().position
            self.cond.notify_all()

    def mark_copied(self, mb: Mailbox, new_item_id: str, source_id: str, source_folder_id: str) -> None:
        """CopyItem: turn the 'created' change of the copy into a 'copied' one."""
        with self.cond:
            table = self.changes.get(mb.email.lower())
            if not table:
                return
            for i in range(len(table) - 1, -1, -1):
                c = table[i]
                if c.item_id == new_item_id and c.kind == "created":
                    table[i] = Change(
                        c.position, c.time, "copied", c.item_id, c.changekey, c.folder_id, source_folder_id, source_id
                    )
                    break

    def minutes(self, n: float) -> float:
        return n * self.minute_seconds

    # -- watermarks and ids ---------------------------------------------------------------------------------
    def watermark(self, mb: Mailbox, position: int) -> str:
        return base64.b64encode(_WM_MAGIC + mb.guid.bytes + self.epoch + struct.pack(">Q", position)).decode()

    def parse_watermark(self, mb: Mailbox, text: str | None) -> int:
        try:
            raw = base64.b64decode((text or "").strip(), validate=True)
        except (binascii.Error, ValueError):
            raise EwsError("ErrorInvalidWatermark", "The watermark is invalid.") from None
        if len(raw) != 35 or not raw.startswith(_WM_MAGIC):
            raise EwsError("ErrorInvalidWatermark", "The watermark is invalid.")
        guid, epoch, position = raw[3:19], raw[19:27], struct.unpack(">Q", raw[27:])[0]
        if guid != mb.guid.bytes or epoch != self.epoch:
            raise EwsError("ErrorInvalidWatermark", "The watermark does not belong to this mailbox.")
        if position > self.position or position < self.floor.get(mb.email.lower(), 0):
            raise EwsError("ErrorInvalidWatermark", "The watermark is no longer in the mailbox's event table.")
        return position

    def _new_id(self) -> str:
        return base64.b64encode(_SUB_MAGIC + self.epoch + uuid.uuid4().bytes).decode()

    # -- subscriptions --------------------------------------------------------------------------------------
    def subscribe(
        self,
        kind: str,
        owner: str,
        mb: Mailbox,
        folders: frozenset[str] | None,
        event_types: frozenset[str],
        watermark: str | None,
        *,
        timeout_minutes: int = 0,
        url: str | None = None,
        status_frequency: int = 0,
    ) -> Subscription:
        start = self.parse_watermark(mb, watermark) if watermark else self.position
        now = time.monotonic()
        sub = Subscription(
            id=self._new_id(),
            kind=kind,
            owner=owner.lower(),
            mailbox=mb.email.lower(),
            folders=folders,
            event_types=event_types,
            position=start,
            timeout_minutes=timeout_minutes,
            url=url,
            status_frequency=status_frequency,
            last_sent=now,
        )
        if kind == "pull":
            sub.expires = now + self.minutes(timeout_minutes)
        elif kind == "streaming":
            sub.expires = now + self.minutes(STREAMING_IDLE_MINUTES)
        with self.cond:
            self.subscriptions[sub.id] = sub
        if kind == "push":
            self._start()
        return sub

    def _expire(self, now: float) -> None:
        for sub in list(self.subscriptions.values()):
            if sub.expires is not None and sub.connections == 0 and sub.expires <= now:
                self.subscriptions.pop(sub.id, None)
                self._forget(sub.id)

    def expire_now(self, which: object) -> list[str]:
        """Test knob (``{"expire": "all"}`` or a list of ids): those subscriptions expire now, as if their timeout
        had passed (a listener down longer than 30 minutes, a pull subscription not polled within its Timeout).
        A subscription that still has an open streaming connection is refused (ValueError): Exchange does not
        expire a connected one. Later calls answer ErrorExpiredSubscription."""
        with self.cond:
            if which == "all":
                ids = list(self.subscriptions)
            elif isinstance(which, list) and all(isinstance(i, str) for i in which):
                ids = [i for i in which if i in self.subscriptions]
            else:
                raise ValueError('expire must be "all" or a list of subscription ids')
            connected = [i for i in ids if self.subscriptions[i].connections > 0]
            if connected and which != "all":
                raise ValueError(f"{len(connected)} of these subscriptions have an open streaming connection")
            ids = [i for i in ids if i not in connected]
            for sub_id in ids:
                self.subscriptions.pop(sub_id, None)
                self._forget(sub_id)
            self.cond.notify_all()
        return ids

    def _forget(self, sub_id: str) -> None:
        self.gone[sub_id] = "expired"
        while len(self.gone) > MAX_GONE:
            self.gone.pop(next(iter(self.gone)))

    def lookup(self, sub_id: str, principal: str, kinds: tuple[str, ...]) -> Subscription:
        """The live subscription, or the ResponseCode Exchange answers for this id."""
        with self.cond:
            self._expire(time.monotonic())
            sub = self.subscriptions.get((sub_id or "").strip())
            reason = self.gone.get((sub_id or "").strip())
        if sub is None:
            if reason == "expired":
                raise EwsError(
                    "ErrorExpiredSubscription", "Subscription information is not available. Subscription is expired."
                )
            raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
        if sub.owner != principal.lower():
            raise EwsError("ErrorSubscriptionAccessDenied", "The subscription can only be accessed by its creator.")
        if sub.kind not in kinds:
            if kinds == ("streaming",):
                raise EwsError("ErrorInvalidSubscription", "The subscription is not a streaming subscription.")
            raise EwsError("ErrorInvalidPullSubscriptionId", "The subscription is a push subscription.")
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self.cond:
            self.subscriptions.pop(sub.id, None)
            self.gone.pop(sub.id, None)  # an unsubscribed id is simply unknown afterwards
            self.cond.notify_all()

    def touch_pull(self, sub: Subscription) -> None:
        sub.expires = time.monotonic() + self.minutes(sub.timeout_minutes)

    # -- events ---------------------------------------------------------------------------------------------
    def pending(self, sub: Subscription, after: int) -> tuple[list[tuple[int, list[Element]]], bool, int]:
        """([(position, events of one change)], more, last position scanned) after ``after``, for ``sub``.
        Called under the store lock (events look folders up)."""
        mb = self.sandbox.store.mailbox(sub.mailbox)
        if mb is None:
            return [], False, after
        with self.cond:
            table = self.changes.get(sub.mailbox, ())
            # Positions increase along the table: start at the first change after ``after``.
            first = len(table) - bisect.bisect_right(_Positions(table), after, lo=0)
            table = list(itertools.islice(reversed(table), first))[::-1] if first else []
        out: list[tuple[int, list[Element]]] = []
        count = 0
        scanned = after
        for change in table:
            events = self._render(mb, sub, change)
            if events and count + len(events) > MAX_EVENTS and out:
                return out, True, scanned
            scanned = change.position
            if events:
                out.append((change.position, events))
                count += len(events)
        return out, False, max(scanned, after)

    def _render(self, mb: Mailbox, sub: Subscription, c: Change) -> list[Element]:
        if c.kind == "folder_created":
            return self._render_folder(mb, sub, c)
        if c.kind in ("folder_modified", "folder_moved", "folder_deleted"):
            return self._render_folder_change(mb, sub, c)
        if c.kind == "created" and c.item_id not in mb.items and not self._ever_existed(mb, c.item_id):
            return []  # a CreateItem that failed and was rolled back
        folders = sub.folders

        def wanted_item(*parents: str | None) -> bool:
            return folders is None or any(p in folders for p in parents if p)

        def folder_ref(tag: str, folder_id: str) -> Element:
            f = mb.folders.get(folder_id)
            return el(t(tag), attrs={"Id": folder_id, "ChangeKey": f.changekey if f else None})

        stamp = fmt_datetime(c.time)
        item_ref = el(t("ItemId"), attrs={"Id": c.item_id, "ChangeKey": c.changekey})
        events: list[Element] = []

        def item_event(name: str, old: bool = False) -> None:
            if name not in sub.event_types:
                return
            children = [el(t("TimeStamp"), stamp), deepcopy(item_ref), folder_ref("ParentFolderId", c.folder_id)]
            if old:
                old_id = c.old_item_id or c.item_id
                children += [el(t("OldItemId"), attrs={"Id": old_id}), folder_ref("OldParentFolderId", c.old_folder_id)]
            events.append(el(t(name), children=children))

        if c.kind == "created" and wanted_item(c.folder_id):
            item_event("CreatedEvent")
            if mb.distinguished.get("inbox") == c.folder_id:
                item_event("NewMailEvent")
        elif c.kind == "modified" and wanted_item(c.folder_id):
            item_event("ModifiedEvent")
        elif c.kind == "deleted" and wanted_item(c.folder_id):
            item_event("DeletedEvent")
        elif c.kind == "moved" and wanted_item(c.folder_id, c.old_folder_id):
            item_event("MovedEvent", old=True)
        elif c.kind == "copied" and wanted_item(c.folder_id, c.old_folder_id):
            item_event("CopiedEvent", old=True)
        # The folders whose content changed.
        touched = [c.old_folder_id, c.folder_id] if c.kind == "moved" else [c.folder_id]
        for folder_id in touched:
            f = mb.folders.get(folder_id)
            if f is None or "ModifiedEvent" not in sub.event_types:
                continue
            if folders is not None and folder_id not in folders and (f.parent_id or "") not in folders:
                continue
            children = [el(t("TimeStamp"), stamp), folder_ref("FolderId", folder_id)]
            children.append(folder_ref("ParentFolderId", f.parent_id or folder_id))
            events.append(el(t("ModifiedEvent"), children=children))
        if (
            mb.distinguished.get("calendar") == c.folder_id
            and c.kind in ("created", "modified", "deleted", "copied")
            and wanted_item(c.folder_id)
        ):
            item_event("FreeBusyChangedEvent")
        return events

    def _render_folder(self, mb: Mailbox, sub: Subscription, c: Change) -> list[Element]:
        """A new folder: CreatedEvent for it, ModifiedEvent for its parent (Microsoft's 'new folder' row)."""
        folder = mb.folders.get(c.folder_id)
        # Events render when read: a folder deleted since keeps the parent its change recorded.
        parent_id = folder.parent_id if folder is not None else c.old_folder_id
        parent = mb.folders.get(parent_id) if parent_id else None
        if parent is None or (sub.folders is not None and parent.id not in sub.folders):
            return []
        stamp = fmt_datetime(c.time)
        events = []
        if "CreatedEvent" in sub.event_types:
            events.append(el(t("CreatedEvent"), children=[
                el(t("TimeStamp"), stamp),
                el(t("FolderId"), attrs={"Id": c.folder_id, "ChangeKey": folder.changekey if folder else None}),
                el(t("ParentFolderId"), attrs={"Id": parent.id, "ChangeKey": parent.changekey}),
            ]))  # fmt: skip
        if "ModifiedEvent" in sub.event_types:
            grand = mb.folders.get(parent.parent_id) if parent.parent_id else parent
            events.append(el(t("ModifiedEvent"), children=[
                el(t("TimeStamp"), stamp),
                el(t("FolderId"), attrs={"Id": parent.id, "ChangeKey": parent.changekey}),
                el(t("ParentFolderId"), attrs={"Id": grand.id, "ChangeKey": grand.changekey}),
            ]))  # fmt: skip
        return events

    def _render_folder_change(self, mb: Mailbox, sub: Subscription, c: Change) -> list[Element]:
        """A renamed (ModifiedEvent), moved (MovedEvent) or deleted (DeletedEvent) folder, seen by subscriptions
        to its parent (old or new), as Exchange reports folder events (sandbox/exchange/services/folders.py)."""
        folder = mb.folders.get(c.folder_id)
        # A deleted folder is gone: its change keeps the parent it had (old_folder_id).
        parent_id = folder.parent_id if folder is not None else c.old_folder_id
        parents = {parent_id, c.old_folder_id} - {None}
        if not parent_id or (sub.folders is not None and not parents & sub.folders):
            return []
        name = {"folder_modified": "ModifiedEvent", "folder_moved": "MovedEvent"}.get(c.kind, "DeletedEvent")
        if name not in sub.event_types:
            return []

        def ref(tag: str, folder_id: str) -> Element:
            f = mb.folders.get(folder_id)
            return el(t(tag), attrs={"Id": folder_id, "ChangeKey": f.changekey if f else None})

        stamp = el(t("TimeStamp"), fmt_datetime(c.time))
        children = [stamp, ref("FolderId", c.folder_id), ref("ParentFolderId", parent_id)]
        if c.kind == "folder_moved":
            children += [el(t("OldFolderId"), attrs={"Id": c.folder_id}), ref("OldParentFolderId", c.old_folder_id)]
        return [el(t(name), children=children)]

    @staticmethod
    def _ever_existed(mb: Mailbox, item_id: str) -> bool:
        return any(item_id in f.tombstones for f in mb.folders.values())

    def notification(
        self,
        mb: Mailbox,
        sub: Subscription,
        batches: list[tuple[int, list[Element]]],
        previous: int | None,
        more: bool | None,
        last: int,
        *,
        watermarks: bool = True,
    ) -> Element:
        """An m:Notification for ``sub`` (a StatusEvent when there are no events)."""
        children = [el(t("SubscriptionId"), sub.id)]
        if previous is not None:
            children.append(el(t("PreviousWatermark"), self.watermark(mb, previous)))
        if more is not None:
            children.append(el(t("MoreEvents"), "true" if more else "false"))
        if not batches:
            status = el(t("StatusEvent"))
            if watermarks:
                status.append(el(t("Watermark"), self.watermark(mb, last)))
            children.append(status)
        for position, events in batches:
            for e in events:
                if watermarks:
                    e.insert(0, el(t("Watermark"), self.watermark(mb, position)))
                children.append(e)
        return el(m("Notification"), children=children)

    # -- push delivery --------------------------------------------------------------------------------------
    def _start(self) -> None:
        with self.cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="ews-push", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self.cond:
            self.cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        seen = -1
        while not self._stop.is_set():
            with self.cond:
                if self.position == seen:  # nothing written since the last round: wait for a write or a timer
                    self.cond.wait(timeout=min(0.2, self.minute_seconds / 10))
                seen = self.position
            if self._stop.is_set():
                return
            try:
                self.push_once()
            except Exception:  # keep delivering; the failure is in the log
                log.exception("EWS push delivery failed")

    def push_once(self) -> None:
        now = time.monotonic()
        store = self.sandbox.store
        jobs = []
        with store.lock:
            with self.cond:
                self._expire(now)
                subs = [s for s in self.subscriptions.values() if s.kind == "push"]
            for sub in subs:
                if now < sub.next_attempt:
                    continue
                mb = store.mailbox(sub.mailbox)
                if mb is None:
                    continue
                batches, more, last = self.pending(sub, sub.position)
                keep_alive = now - sub.last_sent >= self.minutes(sub.status_frequency)
                if not batches and not keep_alive and sub.failures == 0:
                    continue
                body = self.notification(mb, sub, batches, sub.position, more, last)
                jobs.append((sub, body, last))
        for sub, body, last in jobs:
            self._deliver(sub, body, last)

    def _envelope(self, notification: Element) -> bytes:
        message = el(
            m("SendNotificationResponseMessage"),
            attrs={"ResponseClass": "Success"},
            children=[el(m("ResponseCode"), "NoError"), notification],
        )
        payload = el(m("SendNotification"), children=[el(m("ResponseMessages"), children=[message])])
        sb = self.sandbox
        if sb.validate_schema:
            errors = sb.validator.errors(payload)
            if errors:
                sb.record_schema_errors("push SendNotification", errors)
        envelope = etree.Element(q(SOAP, "Envelope"), nsmap={"s": SOAP})
        header = etree.SubElement(envelope, q(SOAP, "Header"))
        etree.SubElement(header, t("RequestServerVersion"), {"Version": "Exchange2013_SP1"})
        etree.SubElement(envelope, q(SOAP, "Body")).append(payload)
        etree.cleanup_namespaces(envelope, top_nsmap={"m": M, "t": T})
        return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")

    def _deliver(self, sub: Subscription, notification: Element, last: int) -> None:
        import requests

        data = self._envelope(notification)
        entry: dict = {"subscription": sub.id, "url": sub.url, "events": [local(e) for e in notification[1:]]}
        status = None
        try:
            session = requests.Session()
            session.trust_env = False
            with session:
                answer = session.post(
                    sub.url,
                    data=data,
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                    timeout=PUSH_TIMEOUT_SECONDS,
                )
            entry["http_status"] = answer.status_code
            if answer.status_code == 200:
                status = _subscription_status(answer.content)
        except requests.RequestException as e:
            entry["error"] = type(e).__name__
        entry["answer"] = status
        entry["time"] = dt.datetime.now(dt.UTC).isoformat()
        now = time.monotonic()
        with self.cond:
            self.deliveries.append(entry)
            if sub.id not in self.subscriptions:
                return
            if status == "OK":
                sub.position = max(sub.position, last)
                sub.last_sent, sub.failures, sub.first_failure, sub.next_attempt = now, 0, None, 0.0
            elif status == "Unsubscribe":
                self.subscriptions.pop(sub.id, None)
            else:
                sub.failures += 1
                sub.first_failure = sub.first_failure or now
                if now - sub.first_failure >= self.minutes(sub.status_frequency):
                    self.subscriptions.pop(sub.id, None)
                    self._forget(sub.id)
                else:
                    wait = self.minutes(PUSH_FIRST_RETRY_MINUTES) * 2 ** (sub.failures - 1)
                    sub.next_attempt = now + wait

    def admin(self, method: str, body: dict | None) -> dict:
        if method in ("PUT", "PATCH", "POST") and body:
            if "minute_seconds" in body:
                value = float(body["minute_seconds"])
                if not 0.05 <= value <= 3600:
                    raise ValueError("minute_seconds must be between 0.05 and 3600")
                self.minute_seconds = value
            if "expire" in body:
                self.expire_now(body["expire"])
        with self.cond:
            return {
                "minute_seconds": self.minute_seconds,
                "subscriptions": [
                    {"id": s.id, "kind": s.kind, "mailbox": s.mailbox, "url": s.url}
                    for s in self.subscriptions.values()
                ],
                "deliveries": list(self.deliveries),
            }


class _Positions:
    """A read-only sequence view of a change table's positions, for bisect."""

    def __init__(self, table) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int) -> int:
        return self.table[i].position


def _subscription_status(content: bytes) -> str | None:
    """SubscriptionStatus of a listener's SendNotificationResult answer (None when it is not one)."""
    from .xml import PARSER

    try:
        root = etree.fromstring(content, parser=PARSER)
    except etree.XMLSyntaxError:
        return None
    result = root.find(f".//{m('SendNotificationResult')}")
    if result is None:
        return None
    value = (result.findtext(m("SubscriptionStatus")) or "").strip()
    return value if value in ("OK", "Unsubscribe") else None


def request_int(text: str | None, name: str, low: int, high: int) -> int:
    """An integer element of a request (the XSD's range); out of range or missing is ErrorSchemaValidation,
    as a schema-validating Exchange answers, also when the sandbox runs without XSD validation."""
    try:
        value = int((text or "").strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise SoapFault(
            "ErrorSchemaValidation",
            f"The request failed schema validation: {name} must be an integer from {low} to {high}.",
            fault_code="a:ErrorSchemaValidation",
        )
    return value


def event_types(elem: Element | None) -> frozenset[str]:
    names = frozenset((e.text or "").strip() for e in (elem if elem is not None else ()))
    if not names or names - set(EVENT_TYPES):
        raise SoapFault(
            "ErrorSchemaValidation",
            "The request failed schema validation: EventTypes must list CopiedEvent, CreatedEvent, DeletedEvent, "
            "ModifiedEvent, MovedEvent, NewMailEvent or FreeBusyChangedEvent.",
            fault_code="a:ErrorSchemaValidation",
        )
    return names


def check_push_url(url: str | None) -> str:
    """The URL rules of ErrorInvalidPushSubscriptionUrl: 1-2082 characters, http or https, parseable."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        ok = 0 < len(text) < 2083 and parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        ok = False
    if not ok:
        raise EwsError("ErrorInvalidPushSubscriptionUrl", "The push subscription URL is invalid.")
    return text


__all__ = ["EVENT_TYPES", "Notifications", "Subscription", "check_push_url", "event_types", "request_int"]
