"""A Microsoft Graph (v1.0) sandbox: Exchange Online's calendar API over HTTPS, on the **same mailboxes and
items** as the EWS sandbox, that unmodified msal and requests talk to.

One store, two protocols: every endpoint reads and writes ``ExchangeSandbox.store`` under its lock, so an item
made through EWS is seen through Graph and back, with the same categories, the same extended properties (the
sync key exchangelib writes as ``PropertySetId=3f0d1c4e-... PropertyName=CalSyncKey`` is Graph's
``String {3f0d1c4e-...} Name CalSyncKey``), the same change history (a Graph write moves the store's write
counter, so EWS SyncFolderItems reports it; an EWS write shows in the next Graph delta round) and the same
meeting-message log (``ExchangeSandbox.log_snapshot()["invitations" | "cancellations"]`` and
``GET /__sandbox__/messages`` list both protocols' messages).

Tokens come from the identity sandbox (``sandbox/identity``): ``client_credentials`` with a client secret or a
certificate assertion (RS256 + ``x5t`` or PS256 + ``x5t#S256``), ``scope=https://graph.microsoft.com/.default``.
MSAL's ``ConfidentialClientApplication(client_id, client_credential, authority=info["authority"],
http_client=<requests.Session with verify=ca_file>, instance_discovery=False)`` gets them unmodified.

Served (``{base}`` = ``https://localhost:<port>/v1.0``; ``{user}`` = a user's id or e-mail address)::

    GET    {base}/users/{user}                                      User.Read.All
    GET    {base}/users/{user}/calendar
    GET    {base}/users/{user}/calendarView?startDateTime&endDateTime[&$top&$skip&$select]
    GET    {base}/users/{user}/calendarView/delta?startDateTime&endDateTime | ?$skiptoken | ?$deltatoken
    GET    {base}/users/{user}/events[?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '…' and
               ep/value eq '…')][&$expand=singleValueExtendedProperties($filter=id eq '…')][&$top&$skip&$select]
    POST   {base}/users/{user}/events                 (also …/calendar/events)             201
    GET    {base}/users/{user}/events/{id}[?$expand=singleValueExtendedProperties($filter=id eq '…')]
    PATCH  {base}/users/{user}/events/{id}            If-Match: W/"<changeKey>" (412 when stale) 200
    DELETE {base}/users/{user}/events/{id}            If-Match optional                  204
    GET    {base}/users/{user}/events/{id}/instances?startDateTime&endDateTime
    GET    {base}/users/{user}/mailFolders/{deleteditems|inbox|sentitems|drafts}/messages[?$filter=<as /events>]
               [&$select&$top&$skip]                                        Mail.ReadBasic.All
    GET|POST {base}/users/{user}/outlook/masterCategories; GET|PATCH|DELETE …/masterCategories/{id}
    POST   {base}/users/{user}/translateExchangeIds   ewsId, restId, restImmutableEntryId, entryId,
                                                       immutableEntryId; ≤ 1,000 ids of one mailbox
    POST   {base}/$batch                               ≤ 20 requests, dependsOn, per-item status
    POST|GET {base}/subscriptions; GET|PATCH|DELETE {base}/subscriptions/{id}; POST …/{id}/reauthorize

Shapes (Graph v1.0, https://learn.microsoft.com/en-us/graph/api/resources/event):

- event: ``@odata.etag`` (``W/"<changeKey>"``), ``id``, ``createdDateTime``, ``lastModifiedDateTime``,
  ``changeKey``, ``categories``, ``transactionId``, ``originalStartTimeZone``/``originalEndTimeZone`` (Windows
  zone ids), ``iCalUId`` (the UID; per occurrence its Global Object Id carries the occurrence date), ``uid``,
  ``reminderMinutesBeforeStart``, ``isReminderOn``, ``hasAttachments``, ``subject``, ``bodyPreview``,
  ``importance``, ``sensitivity`` (normal|personal|private|confidential), ``isAllDay``, ``isCancelled``,
  ``isOrganizer``, ``responseRequested``, ``seriesMasterId``, ``showAs``
  (free|tentative|busy|oof|workingElsewhere|unknown), ``type`` (singleInstance|occurrence|exception|
  seriesMaster), ``webLink``, ``responseStatus``, ``body {contentType, content}``, ``start``/``end``
  ``{dateTime: "YYYY-MM-DDTHH:MM:SS.0000000", timeZone}`` (UTC, or the ``Prefer: outlook.timezone`` zone),
  ``location``, ``locations``, ``recurrence`` (patternedRecurrence, masters only), ``attendees [{type,
  status {response, time}, emailAddress {name, address}}]``, ``organizer {emailAddress}``, ``originalStart``
  (occurrences and exceptions); ``singleValueExtendedProperties [{id, value}]`` only when ``$expand`` asks for
  them and the item has them.
- delta pages: ``{"@odata.context", "value": [event | {"id", "@removed": {"reason": "deleted"}}],
  "@odata.nextLink" | "@odata.deltaLink"}`` with absolute links; entries carry ``@odata.type``.
- collections: ``{"@odata.context", "value", "@odata.nextLink"?}``; outlookCategory ``{id, displayName, color}``;
  convertIdResult ``{sourceId, targetId}`` or ``{sourceId, errorDetails {code, message}}``.
- errors: ``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``;
  responses carry ``request-id``, ``client-request-id`` and ``OData-Version: 4.0``.
- ``Prefer``: ``odata.maxpagesize=N`` (delta; 1..1,000, default 100), ``outlook.timezone="<Windows or IANA
  zone>"``, ``IdType="ImmutableId"`` (ids in restImmutableEntryId form); applied ones are echoed in
  ``Preference-Applied``.

Errors served: 401 ``InvalidAuthenticationToken`` (missing, malformed, foreign, wrong-audience or expired token);
403 ``ErrorAccessDenied`` (a role the call needs is missing — Calendars.Read[Write] for events,
MailboxSettings.Read[Write] for masterCategories, User.Read.All for users and translateExchangeIds — or the mailbox
is outside the app's RBAC scope); 404 ``MailboxNotEnabledForRESTAPI`` (an on-premises mailbox),
``ErrorInvalidUser`` (unknown user), ``ErrorItemNotFound``, ``ErrorInvalidMailboxItemId``; 400
``ErrorInvalidIdMalformed``, ``ErrorInvalidParameter`` (calendar views without a window), ``ErrorInvalidUrlQuery``
(``$select``/``$expand``/``$filter``/``$orderby``/``$search``/``$top`` on delta), ``RequestBodyRead`` (unknown
property, bad enum value), ``TimeZoneNotSupportedException``, ``ErrorOccurrenceCrossingBoundary``,
``ErrorInvalidRecurrence``, ``ErrorDuplicateTransactionId`` and the Exchange codes of the EWS rules
(``ErrorCalendarEndDateIsEarlierThanStartDate``, ``ErrorRecurrenceHasNoOccurrence``, ...); 410
``syncStateNotFound`` / ``resyncRequired`` (+ ``Location``); 412 ``ErrorIrresolvableConflict``; 409
``ErrorDuplicateMasterCategory``; 424 in ``$batch``; 429 ``ApplicationThrottled`` with ``Retry-After``; injected
503/504 with ``Retry-After``.

Throttling (``limits.py``): ≤ 4 requests in flight per app and mailbox, a request budget per 10 minutes
(10,000 by default), both per app and mailbox; ``$batch`` items run one after another, each counted and
limited like a request of its own.

Meeting messages: real Graph cannot suppress them, so every write of an organiser's meeting with attendees
(POST with attendees, any PATCH, DELETE of the organiser's copy or of an occurrence) is logged as sent, with
its recipients; writes to items without attendees or to an attendee's copy are logged as not sent.

Control endpoints under ``/__sandbox__`` (no token): ``GET /`` (info), ``GET|PUT /faults`` (``faults.py``),
``GET|PUT /limits`` (``concurrency``, ``budget``, ``window_seconds``, ``retry_after``), ``GET|PUT /scopes``
(``{client_id: [emails] | null}``, null = every mailbox), ``GET|PUT /on_premises`` (``{"mailboxes": [...]}``),
``GET /log`` (request counters per operation and per app+mailbox, statuses, calls), ``GET /messages`` (the meeting-
message log of both protocols), ``GET /notifications`` (webhook deliveries), ``PUT /notifications``
(``{"paused": bool, "list_page_size": n}``: hold change notifications back; subscriptions per page of
``GET /subscriptions``, default 100), ``POST /subscriptions/{id}/lifecycle``
(``{"event"}``: send a lifecycle notification), ``POST /reset`` (log, faults, limits), ``POST /delta/expire``
(forget every delta token), ``GET|PUT /clock`` (``{"offset_seconds"}``: moves the clock tokens are checked against,
the identity provider's included).

Differences from real Graph (what the sandbox refuses or does differently):

- Only the calendar surface above; no ``/me`` (app-only: 400 as Graph answers), no other calendars, no
  attachments, no online meetings, no ``multiValueExtendedProperties``.
- ``$filter`` on ``/events`` supports only the single-value extended-property ``Any`` forms (``eq``, ``ne``,
  ``startswith``, ``contains``), and ``$expand`` only ``singleValueExtendedProperties($filter=id eq '…' [or …])``;
  Graph accepts many more filters (``subject eq …``, dates) — those answer 400 here.
- Delta tokens live in memory: they do not survive a sandbox restart (answered ``syncStateNotFound``, which
  Graph may answer at any time too). A round's entries are fixed at its first request; Graph computes pages
  lazily (both are allowed by its contract). Default delta page size 100 and maximum 1,000 (Graph's are
  undocumented). Events moved to Deleted Items are ``@removed``; Graph ids do not change on that move.
- ``transactionId``: a POST repeating one answers ``400 ErrorDuplicateTransactionId`` (what Graph clients in
  the wild handle; the status and message are not in the v1.0 reference) and makes no second event.
- All-day validation (midnight to midnight in one zone; where a zone skips midnight, the day's first instant,
  as the EWS sandbox normalises) answers ``ErrorInvalidRequest``; Graph's exact code
  for it is unverified. Duplicate category names answer 409 ``ErrorDuplicateMasterCategory`` (unverified).
  The budget refusal message is the sandbox's own; Graph's wording differs by workload.
- Attendees-only PATCHes are logged as notifying every attendee (Graph notifies changed attendees only).
- ``organizer`` in a body is ignored: the organizer of a new event is the mailbox owner. ``locations``,
  ``responseRequested``, ``allowNewTimeProposals``, ``isOnlineMeeting``, ``onlineMeetingProvider`` and
  ``hideAttendees`` are accepted and not stored; ``Prefer: outlook.body-content-type`` is not honoured (bodies
  come back as stored).
- Unimplemented OData options (``$orderby``, ``$search``, ``$count``, ...) answer 400 instead of being applied.
- ``/mailFolders/{name}/messages`` lists only well-known folders (``deleteditems``, ``inbox``, ``sentitems``,
  ``drafts``), renders items as minimal messages (id, changeKey, subject, categories, parentFolderId), and lists
  calendar items moved to Deleted Items among them (unverified on a tenant); ``$filter`` as on ``/events``.
- Events live in the default calendar only (no ``/calendars/{id}/...``, no ``/calendarGroups``).
- Items are never moved by Graph other than on DELETE, so restId and restImmutableEntryId both stay valid.
- Subscriptions (``subscriptions.py``): ``/users/{id}/events`` only, no resource data (no
  ``includeResourceData``/encryption), no retries of failed deliveries, no throttling of slow endpoints;
  notifications are found by polling the store (a fraction of a second late, like Graph's own delay).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox import seed as shared_seed
from sandbox.identity.apps import GRAPH_ROLES, AppRegistration, Certificate, make_certificate, new_secret

from .app import ADMIN_PREFIX, GraphApp
from .delta import DeltaStates
from .errors import GraphError, access_denied
from .faults import Faults
from .limits import Limits
from .subscriptions import Subscriptions

log = logging.getLogger("sandbox.graph")
# The calsync app registration of the sandbox tenant (fixed, so that the demo's configuration stays valid).
CALSYNC_CLIENT_ID = "5b7e0c3a-0000-4000-8000-00000000ca15"

__all__ = ["CALSYNC_CLIENT_ID", "GraphSandbox"]


class GraphSandbox:
    def __init__(
        self,
        *,
        exchange,
        identity,
        on_premises: set[str] | None = None,
        faults: dict | None = None,
        state_dir: Path | None = None,
        notification_ca_file: str | None = None,
    ) -> None:
        self.exchange = exchange
        self.identity = identity
        self.on_premises = {e.lower() for e in (on_premises if on_premises is not None else _seed_on_premises())}
        self.faults = Faults(faults)
        self.limits = Limits()
        self.delta_states = DeltaStates()
        self.scopes: dict[str, set[str] | None] = {}
        self.clock_offset = 0.0
        self.internal_errors: list[str] = []
        self.app = self._register_calsync_app(state_dir)
        # Outbound HTTPS to notification URLs trusts this CA (the sandboxes' own, in the runner).
        self.subscriptions = Subscriptions(self, notification_ca_file)
        self.wsgi_app = GraphApp(self)

    def stop(self) -> None:
        """Stop the subscription watcher thread (servers are stopped by their owner)."""
        self.subscriptions.stop()

    # -- the calsync app registration ----------------------------------------------------------------------------
    def _register_calsync_app(self, state_dir: Path | None) -> dict[str, Any]:
        """Register calsync's app (secret + certificate) with the identity provider; reuse files in state_dir."""
        import tempfile

        directory = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="graph-sandbox-"))
        directory.mkdir(parents=True, exist_ok=True)
        saved = directory / "graph-app.json"
        cert_file, key_file = directory / "graph-app.crt.pem", directory / "graph-app.key.pem"
        if saved.exists() and cert_file.exists() and key_file.exists():
            data = json.loads(saved.read_text())
            certificate = Certificate(cert_file.read_bytes())
        else:
            cert_file, key_file, certificate = make_certificate(directory, "graph-app")
            data = {"client_id": CALSYNC_CLIENT_ID, "client_secret": new_secret()}
            saved.write_text(json.dumps(data))
            saved.chmod(0o600)
        from sandbox.identity.provider import TENANT_ID

        registration = AppRegistration(
            # Mail.ReadBasic.All: the sync key lookup in Deleted Items (a mail folder) reads its items' ids.
            roles=[*GRAPH_ROLES, "Mail.ReadBasic.All"],
            client_id=data["client_id"],
            tenant_id=TENANT_ID,
            display_name="calsync",
            secrets=[data["client_secret"]],
            certificates=[certificate],
        )
        self.identity.register_app(registration)
        return {
            "client_id": registration.client_id,
            "tenant_id": TENANT_ID,
            "client_secret": data["client_secret"],
            "certificate_file": str(cert_file),
            "private_key_file": str(key_file),
            "thumbprint": certificate.sha1_hex,
        }

    # -- clock and mailboxes ---------------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset

    @staticmethod
    def object_id(email: str) -> str:
        rep = shared_seed.rep_by_email(email)
        return rep.object_id if rep else str(uuid.uuid5(uuid.NAMESPACE_DNS, email.lower()))

    def resolve_mailbox(self, user: str, caller):
        store = self.exchange.store
        with store.lock:
            mb = store.mailbox(user)
            if mb is None:
                mb = next((m for m in store.mailboxes.values() if self.object_id(m.email) == user.lower()), None)
        if mb is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        if mb.email.lower() in self.on_premises:
            raise GraphError(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )
        scope = self.scopes.get(caller.client_id.lower())
        if scope is not None and mb.email.lower() not in scope:
            raise access_denied()
        return mb

    # -- control endpoints -------------------------------------------------------------------------------------
    def admin(self, request: Request) -> Response:
        path = request.path[len(ADMIN_PREFIX) :].rstrip("/")
        method = request.method

        def js(data, status=200):
            return Response(json.dumps(data, default=str), status=status, mimetype="application/json")

        try:
            body = json.loads(request.get_data() or b"{}") if method in ("PUT", "POST", "PATCH") else {}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            if path in ("", "/info") and method == "GET":
                return js(self.info(request.host_url.rstrip("/")))
            if path == "/faults":
                return js(self.faults.update(body) if method != "GET" else self.faults.snapshot())
            if path == "/limits":
                return js(self.limits.update(body) if method != "GET" else self.limits.snapshot())
            if path == "/scopes":
                if method != "GET":
                    for client_id, mailboxes in body.items():
                        if mailboxes is None:
                            self.scopes.pop(client_id.lower(), None)
                        elif isinstance(mailboxes, list):
                            self.scopes[client_id.lower()] = {str(m).lower() for m in mailboxes}
                        else:
                            raise ValueError("a scope is a list of mailboxes or null")
                return js({k: sorted(v) for k, v in self.scopes.items() if v is not None})
            if path == "/on_premises":
                if method != "GET":
                    mailboxes = body.get("mailboxes")
                    if not isinstance(mailboxes, list):
                        raise ValueError("mailboxes must be a list")
                    self.on_premises = {str(m).lower() for m in mailboxes}
                return js({"mailboxes": sorted(self.on_premises)})
            if path == "/log" and method == "GET":
                return js(
                    {
                        **self.wsgi_app.log_snapshot(),
                        "limits": self.limits.snapshot(),
                        "internal_errors": list(self.internal_errors),
                    }
                )
            if path == "/messages" and method == "GET":
                snapshot = self.exchange.log_snapshot()
                return js({k: snapshot[k] for k in ("calls", "invitations", "cancellations")})
            if path == "/reset" and method == "POST":
                self.wsgi_app.reset_log()
                self.faults.reset()
                self.limits.reset()
                return js({"ok": True})
            if path == "/notifications" and method == "GET":
                return js({"deliveries": list(self.subscriptions.deliveries), "paused": self.subscriptions.paused})
            if path == "/notifications" and method == "PUT":
                paused, size = body.get("paused", self.subscriptions.paused), body.get("list_page_size")
                if not isinstance(paused, bool):
                    raise ValueError("paused must be true or false")
                if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
                    raise ValueError("list_page_size must be a positive integer")
                self.subscriptions.paused = paused
                if size is not None:
                    self.subscriptions.list_page_size = size
                return js({"paused": paused, "list_page_size": self.subscriptions.list_page_size})
            if path.startswith("/subscriptions/") and path.endswith("/lifecycle") and method == "POST":
                sub_id = path[len("/subscriptions/") : -len("/lifecycle")]
                return js(self.subscriptions.lifecycle(sub_id, str(body.get("event"))))
            if path == "/delta/expire" and method == "POST":
                self.delta_states.clear()
                return js({"ok": True})
            if path == "/clock":
                if method != "GET":
                    offset = body.get("offset_seconds", 0)
                    if not isinstance(offset, int | float) or isinstance(offset, bool):
                        raise ValueError("offset_seconds must be a number")
                    self.clock_offset = float(offset)
                    self.identity.clock_offset = float(offset)
                return js({"offset_seconds": self.clock_offset, "now": self.now()})
        except ValueError as e:
            return js({"error": str(e)}, 400)
        return js({"error": "not found"}, 404)

    # -- info -----------------------------------------------------------------------------------------------------
    def info(self, base_url: str, authority_base: str | None = None) -> dict[str, Any]:
        base_url = base_url.rstrip("/")
        authority_base = (authority_base or self.identity.base_url or base_url).rstrip("/")
        with self.exchange.store.lock:
            emails = [mb.email for mb in self.exchange.store.mailboxes.values()]
        return {
            "base_url": f"{base_url}/v1.0",
            "authority": f"{authority_base}/{self.app['tenant_id']}",
            "tenant_id": self.app["tenant_id"],
            "client_id": self.app["client_id"],
            "client_secret": self.app["client_secret"],
            "certificate_file": self.app["certificate_file"],
            "private_key_file": self.app["private_key_file"],
            "thumbprint": self.app["thumbprint"],
            "scope": "https://graph.microsoft.com/.default",
            "mailboxes": [{"email": e, "id": self.object_id(e)} for e in emails if e.lower() not in self.on_premises],
            "on_premises": [e for e in emails if e.lower() in self.on_premises],
            "admin_url": f"{base_url}{ADMIN_PREFIX}",
        }


def _seed_on_premises() -> set[str]:
    return {r.email for r in shared_seed.REPS if not r.exchange_online}
