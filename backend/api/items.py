"""``/items/{itemId}``: one Outlook item as the task pane shows it, and *Share* / *Unshare*.

Mailboxes on Microsoft Graph (``Mailbox.backend``): ids in EWS form become REST form (Graph's URLs take REST and
immutable ids), every read goes to ``/users/{caller}/events/{id}`` with the app's token, and an id of another
mailbox's item answers ``ErrorInvalidMailboxItemId`` (403 here); the categories go on through a Graph PATCH.

Item ids arrive in EWS form (``AAMkA...``, with ``/`` ``+``) or REST form (what Office.js ``item.itemId``
gives in Outlook on the web and ``convertToRestId`` makes: ``-`` and ``_`` instead). EWS's ConvertId has no
REST format (its IdFormatType lists EwsId, EwsLegacyId, EntryId, HexEntryId, StoreId and OwaId), so the REST
form is turned back into the EWS form by that documented character mapping (Office.js ``convertToEwsId`` does
the same). Whose item it is, EWS decides: every read goes through the service account *impersonating the
caller*, so an item of another mailbox answers ErrorAccessDenied (403 here) and a gone one ErrorItemNotFound
(404).

*Share* records the Who/What (`sync.shares`), puts the Salesforce category on the item through EWS (which also
brings the item into the next session's change feed) and queues a session. *Unshare* removes the category and
the pending request and queues a session, which applies the kind's ``on_unshare`` policy (keep or delete the
Salesforce record).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api import bp, remote, schemas
from backend.api import records as sf_records
from backend.api.item_ids import canonical_item_id
from backend.api.util import last_session, push_state, queue_session
from backend.auth import Caller, current_caller
from backend.errors import ApiError
from backend.globals import db_session
from backend.visibility import viewer
from sync import policy_store, shares
from sync.connectors.base import ExchangeCalendar, ExchangeItem, ItemChange
from sync.connectors.errors import ConnectorError
from sync.entry import EVENT, TASK
from sync.models import HealthEntry, Link
from sync.planner.model import LIVE_STATES, LinkStatus
from sync.policies import Direction, OnUnshare, Policy, PolicySet

ITEM_FIELDS = ("subject", "categories", "is_meeting", "my_response_type", "organizer", "start", "end")


def to_ews_id(raw: str) -> str:
    """The EWS form of an item id given in EWS or REST form (``schemas.ItemPath`` checked its form)."""
    return raw.replace("-", "/").replace("_", "+")


def to_rest_id(raw: str) -> str:
    """The REST form of an id given in EWS form (``convertToRestId``'s mapping); REST and immutable ids (what
    Graph takes in a URL) stay as they are."""
    return raw.replace("/", "-").replace("+", "_")


class OutlookItem:
    """The caller's calendar item, read as the caller: through EWS (impersonating the caller), or for a mailbox
    on Microsoft Graph at ``/users/{caller}/events/{id}``. Graph reads send ``Prefer: IdType="ImmutableId"``,
    so the item comes back under the immutable id the Graph sessions key links on, whichever form Office.js
    gave. ``ews_id`` is that key: the EWS id on EWS, the immutable id on Graph."""

    def __init__(self, caller: Caller, raw_id: str) -> None:
        self.graph = caller.mailbox.backend == "graph"
        self.mailbox_email = caller.mailbox.email
        self.ews_id = to_rest_id(raw_id) if self.graph else to_ews_id(raw_id)
        self.exchange: ExchangeCalendar = remote.exchange(caller.mailbox.email)
        self.item: ExchangeItem = self._read()
        self.ews_id = canonical_item_id(self.item, self.ews_id)  # the key of links, shares and health refs

    def _read(self) -> ExchangeItem:
        try:
            found = self.exchange.fetch([self.ews_id], ITEM_FIELDS)
        except ConnectorError as exc:
            if exc.code == "ErrorAccessDenied" and not self.graph:  # on Graph: the app's scope (MailboxNotInScope)
                raise ApiError("This item is not in your mailbox.", status=403, code="not_your_item") from None
            # An id of the right shape that names nothing (EWS: malformed) is as unknown as a deleted item.
            if exc.code in {"ErrorItemNotFound", "ErrorInvalidIdMalformed", "ErrorInvalidId"}:
                raise self.not_found() from None
            raise remote.remote_error(exc) from None
        item = found[0] if found else None
        if item is None and self.graph and remote.ownership(self.mailbox_email, self.ews_id) == "not_yours":
            # Graph reads as the caller's mailbox find only its items (ErrorInvalidMailboxItemId otherwise).
            raise ApiError("This item is not in your mailbox.", status=403, code="not_your_item")
        if item is None:
            raise self.not_found()
        if not item.is_calendar_item:
            raise ApiError("Only calendar items can be shared with Salesforce.", status=422, code="not_calendar_item")
        return item

    @staticmethod
    def not_found() -> ApiError:
        return ApiError("The item was not found: it may have been deleted or not saved yet.", status=404,
                        code="item_not_found")  # fmt: skip

    @property
    def categories(self) -> list[str]:
        return list(self.item.categories)

    def set_categories(self, categories: list[str]) -> None:
        """UpdateItem of the categories only (no meeting updates are sent). Written even when unchanged: the new
        change key brings the item into the next session's feed."""
        change = ItemChange(self.item.item_id, self.item.change_key, {"categories": categories or None})
        try:
            results = self.exchange.update([change])
        except ConnectorError as exc:
            raise remote.remote_error(exc) from None
        if results and results[0].error is not None:
            raise remote.remote_error(results[0].error)
        self.item = dataclasses.replace(self.item, fields={**self.item.fields, "categories": categories or None})


# -- reading ------------------------------------------------------------------------------------------------
def _link(db: Session, caller: Caller, ews_id: str) -> Link | None:
    return db.scalars(
        select(Link).where(Link.mailbox_id == caller.mailbox.id, Link.exchange_item_id == ews_id)
    ).one_or_none()


def _kind_of(item: OutlookItem, link: Link | None, policies: PolicySet) -> str:
    if link is not None and link.state in LIVE_STATES:
        return link.kind
    tags = {c.lower() for c in item.categories}
    for kind in policy_store.kinds(policies):
        policy = policies.for_kind(kind)
        if kind != EVENT and policy.direction is not Direction.OFF and policy.category.lower() in tags:
            return kind
    return EVENT


def read_only_reason(policy: Policy) -> str | None:
    """Why the task pane cannot share or unshare items of this kind, or None."""
    if policy.kind == TASK:
        return "This is a Salesforce Task. It comes from Salesforce and is updated from there only."
    if policy.kind != EVENT:
        name = policy.custom.object_name if policy.custom else policy.kind
        return f"This item comes from Salesforce ({name}) and is updated from there only."
    if policy.direction is Direction.DOWNSYNC_ONLY:
        return "Your admin syncs events from Salesforce to Outlook only: Outlook changes are not sent to Salesforce."
    if policy.direction is Direction.OFF:
        return "Your admin has switched event sync off."
    return None


def _health(db: Session, caller: Caller, item_ews_id: str, link: Link | None) -> list[dict[str, Any]]:
    refs = {f"exchange:{item_ews_id}", "mailbox"}
    if link is not None:
        refs.add(f"link:{link.sync_key}")
        if link.salesforce_id:
            refs.add(f"salesforce:{link.salesforce_id}")
    entries = db.scalars(
        select(HealthEntry)
        .where(
            HealthEntry.mailbox_id == caller.mailbox.id, HealthEntry.status == "open", HealthEntry.item_ref.in_(refs)
        )
        .order_by(HealthEntry.last_seen.desc(), HealthEntry.id)
    )
    return [
        {
            "code": e.code,
            "message": e.message,
            "side": e.side,
            "scope": "mailbox" if e.item_ref == "mailbox" else "item",
            "first_seen": e.first_seen,
            "last_seen": e.last_seen,
            "attempts": e.attempts,
        }
        for e in entries
    ]


def _relations(link: Link | None, pending: shares.SharedRelations | None) -> tuple[list[str], str | None]:
    if pending is not None:
        return list(pending.who_ids), pending.what_id
    if link is not None and link.state in LIVE_STATES:
        return list(link.shared_who_ids or []), link.shared_what_id
    return [], None


def item_view(db: Session, caller: Caller, item: OutlookItem) -> dict[str, Any]:
    """What ``GET /items/{itemId}`` answers (also the body of the share and unshare answers)."""
    policies = policy_store.load(db)
    link = _link(db, caller, item.ews_id)
    kind = _kind_of(item, link, policies)
    policy = policies.for_kind(kind)
    request_row = shares.find(db, caller.mailbox, item.ews_id)
    pending = shares.SharedRelations(tuple(request_row.who_ids or ()), request_row.what_id) if request_row else None
    tagged = policy.category.lower() in {c.lower() for c in item.categories}
    live = link is not None and link.state in LIVE_STATES

    if live and link.state == LinkStatus.FAILED:
        state = "failed"
    elif live and link.salesforce_id and request_row is None and tagged:
        state = "synced"
    elif tagged or request_row is not None:
        state = "pending"  # waiting for the next session
    else:
        state = "not_shared"

    who_ids, what_id = _relations(link, pending)
    salesforce = None
    if live and link.salesforce_id:
        obj = link.salesforce_object or "Event"
        salesforce = {"object": obj, "id": link.salesforce_id, "url": remote.salesforce_url(obj, link.salesforce_id)}
    names: dict[str, dict[str, Any]] = {}
    lookup_error = None
    if who_ids or what_id or (salesforce and salesforce["object"] == "Event"):
        try:
            sf = remote.salesforce()
            if salesforce and salesforce["object"] == "Event" and not (who_ids or what_id):
                who_ids, what_id = sf_records.event_relations(sf, salesforce["id"])
            names = sf_records.describe(sf, [*who_ids, *([what_id] if what_id else [])], visible_to=viewer())
        except (ConnectorError, ApiError):
            lookup_error = "Salesforce cannot be reached right now: names of linked records are not shown."

    def record(record_id: str) -> dict[str, Any]:
        known = names.get(record_id) or names.get(record_id[:15])
        if known is not None:
            return {**known, "id": record_id}
        record_type = sf_records.type_of(record_id)
        return {"id": record_id, "type": record_type.name if record_type else None, "name": None, "detail": None}

    reason = read_only_reason(policy)
    last = last_session(db, caller.mailbox)
    return {
        "item_id": item.ews_id,
        "subject": item.item.fields.get("subject"),
        "state": state,
        "shared": state != "not_shared",
        "kind": kind,
        "category": policy.category,
        "read_only": reason is not None,
        "read_only_reason": reason,
        "on_unshare": str(policy.on_unshare),
        "salesforce": salesforce,
        "who": [record(i) for i in who_ids],
        "what": record(what_id) if what_id else None,
        "last_sync": last,
        "push": push_state(caller.mailbox),
        "health": _health(db, caller, item.ews_id, link),
        "notice": lookup_error,
    }


def _not_the_share_path(view: Callable[..., Any]) -> Callable[..., Any]:
    """``GET /items/{itemId}/share`` reaches ``get_item`` (``path`` ids contain ``/``): answer 405 before the id
    is checked, as the share operations' own route would."""

    @functools.wraps(view)
    def checked(item_id: str, **kwargs: Any) -> Any:
        if item_id.endswith("/share"):
            raise ApiError(
                "Use PUT or DELETE on /items/{itemId}/share.",
                status=405,
                code="method_not_allowed",
                headers={"Allow": "PUT, DELETE"},
            )
        return view(item_id=item_id, **kwargs)

    return checked


@bp.get("/items/<path:item_id>")
@_not_the_share_path
@bp.arguments(schemas.ItemPath(), location="path", as_kwargs=True)
@bp.response(200, schemas.Item, description="The item.")
@bp.errors(405, 400, 404, 422, 502)
def get_item(item_id: str):
    """An item's sync state

    Whether the item is shared, its Salesforce record (with a link), Who/What, the last session of the mailbox
    and the item's open health entries in plain words.
    """
    caller = current_caller()
    item = OutlookItem(caller, item_id)
    return item_view(db_session(), caller, item)


# -- share / unshare ----------------------------------------------------------------------------------------


def _check_exist(who: list[str], what: str | None) -> None:
    """Refuse records that do not exist now, rather than leave the next session a health entry."""
    wanted = [*who, *([what] if what else [])]
    if not wanted:
        return
    try:
        found = sf_records.describe(remote.salesforce(), wanted, visible_to=viewer())  # what the rep may see
    except ConnectorError as exc:
        raise remote.remote_error(exc) from None
    missing = [i for i in wanted if i not in found and i[:15] not in found]
    if missing:
        raise ApiError(f"No Salesforce record has the id {', '.join(missing)}.", status=422, code="unknown_record")


@bp.put("/items/<path:item_id>/share")
@bp.arguments(schemas.ShareRequest(), location="json")
@bp.arguments(schemas.ItemPath(), location="path", as_kwargs=True)
@bp.response(202, schemas.ShareAnswer, description="Shared; a session is queued.")
@bp.errors(409, 400, 404, 422, 502)
def share_item(body: dict[str, Any], item_id: str):
    """Share an item with Salesforce

    Records the chosen Who (Contacts, Leads) and What (an Account or Opportunity), adds the Salesforce category
    to the item through EWS and queues a session of the mailbox. Items that policy makes read-only (Tasks,
    custom objects, downsync-only events) answer 409.
    """
    caller = current_caller()
    who, what = list(dict.fromkeys(body["who_ids"])), body["what_id"]
    db = db_session()
    item = OutlookItem(caller, item_id)
    policies = policy_store.load(db)
    link = _link(db, caller, item.ews_id)
    policy = policies.for_kind(_kind_of(item, link, policies))
    reason = read_only_reason(policy)
    if reason is not None:
        raise ApiError(reason, status=409, code="read_only")
    _check_exist(who, what)
    categories = item.categories
    if policy.category.lower() not in {c.lower() for c in categories}:
        categories.append(policy.category)
    item.set_categories(categories)
    shares.request(db, caller.mailbox, item.ews_id, who, what)
    db.commit()
    job = queue_session(caller.mailbox.id, reason="share")
    return {"item": item_view(db, caller, item), "job": job}


@bp.delete("/items/<path:item_id>/share")
@bp.arguments(schemas.ItemPath(), location="path", as_kwargs=True)
@bp.response(200, schemas.UnshareAnswer, description="Unshared.")
@bp.errors(409, 400, 404, 422, 502)
def unshare_item(item_id: str):
    """Stop sharing an item

    Removes the Salesforce category and any pending share and queues a session, which keeps or deletes the
    Salesforce event as the `on_unshare` policy says.
    """
    caller = current_caller()
    db = db_session()
    item = OutlookItem(caller, item_id)
    policies = policy_store.load(db)
    link = _link(db, caller, item.ews_id)
    policy = policies.for_kind(_kind_of(item, link, policies))
    reason = read_only_reason(policy)
    if reason is not None and policy.kind != EVENT:
        raise ApiError(reason, status=409, code="read_only")
    own = policy.category.lower()
    remaining = [c for c in item.categories if c.lower() != own]
    tagged = len(remaining) != len(item.categories)
    job = None
    if tagged:
        item.set_categories(remaining)
    withdrawn = shares.withdraw(db, caller.mailbox, item.ews_id)
    db.commit()
    if tagged or withdrawn or (link is not None and link.state in LIVE_STATES):
        job = queue_session(caller.mailbox.id, reason="unshare")
    keep = policy.on_unshare is OnUnshare.KEEP_SALESFORCE
    message = (
        "The item is no longer synced. Its Salesforce event stays in Salesforce."
        if keep
        else "The item is no longer synced. Its Salesforce event will be deleted at the next sync."
    )
    if link is None or not link.salesforce_id:
        message = "The item is no longer shared with Salesforce."
    return {"item": item_view(db, caller, item), "job": job, "message": message}
