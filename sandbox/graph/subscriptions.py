"""Change notifications (webhooks) for ``/users/{id}/events``: subscriptions, the validation handshake,
change notifications and lifecycle notifications.

- ``POST /subscriptions`` ``{changeType, notificationUrl, lifecycleNotificationUrl?, resource,
  expirationDateTime, clientState?}``: the URLs must be HTTPS; before answering 201 the sandbox POSTs
  ``?validationToken=<token>`` (``Content-Type: text/plain``) to each URL and needs ``200`` with the decoded token
  as plain text within 10 seconds, else ``400 ValidationError``. ``expirationDateTime`` at most 10,080 minutes
  ahead (the live page's limit for events; older revisions say 4,230).
- ``GET /subscriptions``, ``GET|PATCH|DELETE /subscriptions/{id}`` (PATCH renews ``expirationDateTime``),
  ``POST /subscriptions/{id}/reauthorize`` (204).
- A watcher thread reads the store's write counter every ``poll_seconds`` and notifies each subscription of the
  changes to its mailbox's Calendar folder since the last look, whichever protocol wrote them (EWS or Graph):
  ``{"value": [{subscriptionId, subscriptionExpirationDateTime, changeType, resource, resourceData {@odata.type,
  @odata.id, @odata.etag, id}, clientState, tenantId}]}``; ids are restIds, or immutable ids for a subscription
  created with ``Prefer: IdType="ImmutableId"`` (as Graph does). A change is ``created`` when the item entered the
  folder since, ``deleted`` when it left, else ``updated``. Deliveries time out after 3 seconds (Graph's ack
  deadline) and are not retried; every delivery is in ``GET /__sandbox__/notifications``.
  ``PUT /__sandbox__/notifications {"paused": true}`` holds change notifications back (nothing is lost: the
  changes are notified once ``{"paused": false}``), so a test can act before Graph would have notified.
- ``POST /__sandbox__/subscriptions/{id}/lifecycle`` ``{"event": "reauthorizationRequired" | "missed" |
  "subscriptionRemoved"}`` sends that lifecycle notification (``subscriptionRemoved`` also removes it).
  Expired subscriptions stop receiving notifications and are dropped.

Reference: https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks and
https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import requests

from .errors import GraphError, body_read

if TYPE_CHECKING:
    from . import GraphSandbox

MAX_MINUTES = 10_080
CHANGE_TYPES = ("created", "updated", "deleted")
_RESOURCE = re.compile(r"^/?(?:users|Users)/(?P<user>[^/]+)/(?:calendar/)?events/?$")


@dataclass
class Subscription:
    id: str
    app: str
    tenant: str
    mailbox: str
    resource: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: dt.datetime
    seen_seq: int
    user_id: str
    immutable_ids: bool = False  # created with Prefer: IdType="ImmutableId"
    extra: dict = field(default_factory=dict)

    def json(self) -> dict:
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": self.expiration.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "creatorId": self.app,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


class Subscriptions:
    def __init__(self, sandbox: GraphSandbox, ca_file: str | None, poll_seconds: float = 0.2) -> None:
        self.sandbox = sandbox
        self.ca_file = ca_file
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self.items: dict[str, Subscription] = {}
        self.deliveries: list[dict] = []
        # Held back while paused (a test's control): changes are kept and notified at the first look after.
        self.paused = False
        self.list_page_size = 100  # GET /subscriptions per page (PUT /__sandbox__/notifications to change)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- outbound HTTPS -----------------------------------------------------------------------------------------
    def _post(self, url: str, **kw) -> requests.Response:
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_file or True
        with session:
            return session.post(url, **kw)

    def _validate(self, url: str) -> None:
        token = secrets.token_urlsafe(24) + " + / ="  # characters that must be URL-decoded by the receiver
        try:
            answer = self._post(url, params={"validationToken": token}, headers={"Content-Type": "text/plain"},
                                data=b"", timeout=10)  # fmt: skip
            ok = answer.status_code == 200 and answer.text == token
        except requests.RequestException:
            ok = False
        self._log({"kind": "validation", "url": url, "ok": ok})
        if not ok:
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
                "validation request.",
            )

    def _log(self, entry: dict) -> None:
        with self._lock:
            entry["time"] = dt.datetime.now(dt.UTC).isoformat()
            self.deliveries.append(entry)

    # -- API -----------------------------------------------------------------------------------------------------
    def _expiration(self, value) -> dt.datetime:
        from .events import parse_graph_datetime

        if value is None:
            raise GraphError(400, "ExtensionError", "expirationDateTime is required.")
        when = parse_graph_datetime(value)
        now = dt.datetime.fromtimestamp(self.sandbox.now(), dt.UTC)
        if when <= now:
            raise GraphError(400, "ExtensionError", "Subscription expiration can only be in the future.")
        if when > now + dt.timedelta(minutes=MAX_MINUTES):
            raise GraphError(
                400,
                "ExtensionError",
                f"Subscription expiration can only be {MAX_MINUTES} minutes in the future.",
            )
        return when

    def create(self, caller, body, *, immutable: bool = False) -> dict:
        if not isinstance(body, dict):
            raise body_read("The request body must be a JSON object.")
        resource = body.get("resource")
        match = _RESOURCE.match(resource or "") if isinstance(resource, str) else None
        if match is None:
            raise GraphError(
                400,
                "ExtensionError",
                f"The sandbox subscribes to /users/{{id}}/events only, not '{resource}'.",
            )
        from .app import roles_allow

        if not roles_allow(caller.roles, ("Calendars.Read", "Calendars.ReadWrite")):
            raise GraphError(403, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden]")
        mb = self.sandbox.resolve_mailbox(match.group("user"), caller)
        kinds = tuple(k.strip() for k in str(body.get("changeType") or "").split(",") if k.strip())
        if not kinds or any(k not in CHANGE_TYPES for k in kinds):
            raise GraphError(400, "ExtensionError", f"Invalid changeType '{body.get('changeType')}'.")
        urls = [body.get("notificationUrl"), body.get("lifecycleNotificationUrl")]
        for url in urls:
            if url is not None and (not isinstance(url, str) or not url.lower().startswith("https://")):
                raise GraphError(
                    400, "ValidationError", "The Notification Url must be an HTTPS endpoint (http is not allowed)."
                )
        if urls[0] is None:
            raise GraphError(400, "ValidationError", "notificationUrl is required.")
        client_state = body.get("clientState")
        if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
            raise GraphError(400, "ExtensionError", "clientState is a string of at most 128 characters.")
        expiration = self._expiration(body.get("expirationDateTime"))
        for url in urls:
            if url is not None:
                self._validate(url)
        sub = Subscription(
            id=str(uuid.uuid4()),
            app=caller.client_id,
            tenant=caller.tenant_id,
            mailbox=mb.email.lower(),
            resource=resource,
            change_types=kinds,
            notification_url=urls[0],
            lifecycle_url=urls[1],
            client_state=client_state,
            expiration=expiration,
            seen_seq=self.sandbox.exchange.store.seq,
            user_id=self.sandbox.object_id(mb.email),
            immutable_ids=immutable,
        )
        with self._lock:
            self.items[sub.id] = sub
        self._start()
        return sub.json()

    def _own(self, caller, sub_id: str) -> Subscription:
        with self._lock:
            sub = self.items.get(sub_id)
        if sub is None or sub.app.lower() != caller.client_id.lower():
            raise GraphError(404, "ResourceNotFound", f"The object was not found: subscription '{sub_id}'.")
        return sub

    def list(self, caller, skip: int = 0) -> tuple[list[dict], int | None]:
        """One page of the caller app's subscriptions (app-only: those it made for any user) from ``skip``, and
        the offset of the next page (None on the last). As Graph's, the listing never shows ``clientState``
        ("not returned for security purposes", GET /subscriptions in the Graph reference)."""
        with self._lock:
            mine = [s.json() for s in self.items.values() if s.app.lower() == caller.client_id.lower()]
        page = [{**s, "clientState": None} for s in mine[skip : skip + self.list_page_size]]
        return page, (skip + self.list_page_size if skip + self.list_page_size < len(mine) else None)

    def get(self, caller, sub_id: str) -> dict:
        return self._own(caller, sub_id).json()

    def update(self, caller, sub_id: str, body) -> dict:
        sub = self._own(caller, sub_id)
        if not isinstance(body, dict) or set(body) - {"expirationDateTime", "notificationUrl"}:
            raise GraphError(400, "ExtensionError", "Only expirationDateTime (and notificationUrl) can be updated.")
        if "notificationUrl" in body:
            url = body["notificationUrl"]
            if not isinstance(url, str) or not url.lower().startswith("https://"):
                raise GraphError(400, "ValidationError", "The Notification Url must be an HTTPS endpoint.")
            self._validate(url)
            sub.notification_url = url
        if "expirationDateTime" in body:
            sub.expiration = self._expiration(body["expirationDateTime"])
        return sub.json()

    def delete(self, caller, sub_id: str) -> None:
        sub = self._own(caller, sub_id)
        with self._lock:
            self.items.pop(sub.id, None)

    def reauthorize(self, caller, sub_id: str) -> None:
        self._own(caller, sub_id)

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def lifecycle(self, sub_id: str, event: str) -> dict:
        if event not in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
            raise ValueError("event must be reauthorizationRequired, missed or subscriptionRemoved")
        with self._lock:
            sub = self.items.get(sub_id)
        if sub is None:
            raise ValueError(f"no subscription {sub_id}")
        if event == "subscriptionRemoved":
            with self._lock:
                self.items.pop(sub_id, None)
        url = sub.lifecycle_url or sub.notification_url
        payload = {
            "value": [
                {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": sub.json()["expirationDateTime"],
                    "tenantId": sub.tenant,
                    "clientState": sub.client_state,
                    "lifecycleEvent": event,
                }
            ]
        }
        return self._deliver(sub, url, payload, "lifecycle")

    # -- change notifications ---------------------------------------------------------------------------------------
    def _deliver(self, sub: Subscription, url: str, payload: dict, kind: str) -> dict:
        entry = {"kind": kind, "subscription": sub.id, "url": url, "payload": payload}
        try:
            answer = self._post(url, json=payload, timeout=3)
            entry["status"] = answer.status_code
        except requests.RequestException as e:
            entry["status"] = None
            entry["error"] = type(e).__name__
        self._log(entry)
        return entry

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="graph-subscriptions", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll_once()
            except Exception:  # keep watching; a failure is visible in the deliveries log
                import logging

                logging.getLogger("sandbox.graph").exception("subscription watcher failed")

    def poll_once(self) -> None:
        if self.paused:
            return
        store = self.sandbox.exchange.store
        now = dt.datetime.fromtimestamp(self.sandbox.now(), dt.UTC)
        with self._lock:
            subs = list(self.items.values())
            for sub in subs:
                if sub.expiration <= now:
                    self.items.pop(sub.id, None)
        batches = []
        with store.lock:
            current = store.seq
            for sub in subs:
                if sub.expiration <= now or sub.seen_seq >= current:
                    continue
                changes = self._changes(sub, store)
                sub.seen_seq = current
                if changes:
                    batches.append((sub, changes))
        for sub, changes in batches:
            self._deliver(sub, sub.notification_url, {"value": changes}, "change")

    def _changes(self, sub: Subscription, store) -> list[dict]:
        from sandbox.exchange import ids as ews_ids

        from . import ids

        mb = store.mailbox(sub.mailbox)
        if mb is None:
            return []
        folder = mb.folder("calendar")
        found = []
        for item in mb.items_in(folder.id):
            last = max(item.changed_seq, item.entered_seq)
            if last > sub.seen_seq:
                kind = "created" if item.entered_seq > sub.seen_seq else "updated"
                found.append((kind, item.id, item.changekey))
        for item_id, (_, deleted) in folder.tombstones.items():
            if deleted > sub.seen_seq:
                found.append(("deleted", item_id, None))
        out = []
        for kind, item_id, changekey in found:
            if kind not in sub.change_types:
                continue
            parsed = ews_ids.decode(item_id)
            rest = ids.immutable_id(parsed) if sub.immutable_ids else ids.rest_id(parsed)
            resource = f"Users/{sub.user_id}/Events/{rest}"
            data = {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource, "id": rest}
            if changekey:
                data["@odata.etag"] = f'W/"{changekey}"'
            out.append(
                {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": sub.json()["expirationDateTime"],
                    "changeType": kind,
                    "resource": resource,
                    "resourceData": data,
                    "clientState": sub.client_state,
                    "tenantId": sub.tenant,
                }
            )
        return out
