"""Apply a plan: batched, idempotent writes, then the link rows, per sync key.

Order: health entries; deletions; creates (links saved as *pending* and committed first, Salesforce by upsert on
``CalSync_Key__c``, Exchange after a look-up by the sync key for retried creates); updates; category removals;
then the link rows of every sync key whose writes all succeeded. A key with a failed write keeps its old link,
so the next session plans it again (docs/invariants.md #11); the failure becomes a health entry. A link whose
Exchange item the saved cursor may not cover is saved *pending*, not active; the session confirms it with the
cursor (`sync.links.confirm`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from sync import links, series
from sync.attendees import Person, relation_changes
from sync.connectors.base import ExchangeCalendar, ItemChange, NewItem, RecordResult, SalesforceOrg
from sync.connectors.errors import AuthError, ConnectorError
from sync.entry import Side, entry_from_projection
from sync.mapping.exchange import entry_to_exchange, exchange_update
from sync.mapping.salesforce import SYNC_KEY_FIELD, event_to_salesforce, salesforce_update
from sync.models import Mailbox
from sync.planner.model import (
    CreateInExchange,
    CreateInSalesforce,
    DeleteExchange,
    DeleteSalesforce,
    JoinSalesforceEvent,
    LeaveSalesforceEvent,
    LinkState,
    LinkStatus,
    Plan,
    RemoveCategory,
    Unlink,
    UpdateExchange,
    UpdateLinkBase,
    UpdateSalesforce,
)
from sync.store import SessionStore, as_store

BATCH_SIZE = {Side.SALESFORCE: 200, Side.EXCHANGE: 100}  # items per write request (collections, EWS bulk)
EXCHANGE_REJECTED = "exchange_rejected"
SALESFORCE_REJECTED = "salesforce_rejected"
EXCHANGE_BUSY = "exchange_busy"
SALESFORCE_BUSY = "salesforce_busy"


@dataclass
class ApplyReport:
    counts: Counter = field(default_factory=Counter)  # (action, side) → n, action in created/updated/...
    writes: int = 0
    failed_keys: set[str] = field(default_factory=set)
    health_recorded: int = 0

    def count(self, action: str, side: Side | str, n: int = 1) -> None:
        self.counts[(action, str(side))] += n


@dataclass
class Applier:
    db: Session | SessionStore  # a SQLAlchemy session (wrapped in `sync.store.SqlStore`) or a store
    mailbox: Mailbox
    salesforce: SalesforceOrg
    exchange: ExchangeCalendar
    now: dt.datetime
    # Called after every commit of link rows: tests inject crashes here (crash atomicity, docs/invariants.md #7).
    checkpoint: Callable[[str], None] = lambda _point: None
    report: ApplyReport = field(default_factory=ApplyReport)
    # Attendee e-mail → matched Contact/Lead/User, for EventRelation invitees (see sync.attendees).
    people: Mapping[str, Person] = field(default_factory=dict)
    _change_keys: dict[str, str] = field(default_factory=dict)  # sync key → Exchange change key after our write
    _created: dict[str, dict[str, Any]] = field(default_factory=dict)  # sync key → ids from creates
    _raised: set[tuple[str, str]] = field(default_factory=set)  # (item_ref, code) recorded this session
    # Exchange item id → change key after our write (None: deleted): lets the session move its cursor past
    # its own writes (see session._past_own_writes).
    exchange_writes: dict[str, str | None] = field(default_factory=dict)
    # Sync keys whose Exchange item this session created (not found by its key): a cursor read before the create
    # does not cover it.
    exchange_created: set[str] = field(default_factory=set)
    _salesforce_ids: dict[str, str] = field(default_factory=dict)  # sync key → Salesforce id, of known links

    def __post_init__(self) -> None:
        self.store = as_store(self.db)

    # -- entry point ---------------------------------------------------------------------------------------
    def apply(self, plan: Plan, previous: Sequence[LinkState]) -> ApplyReport:
        for action in plan.health:
            self._health(action.sync_key, action.side, action.code, action.message, action.item_id, action.item_side)
        self.store.commit()
        if plan.guard.tripped:
            return self.report
        by_type: dict[type, list[Any]] = defaultdict(list)
        for action in plan.actions:
            by_type[type(action)].append(action)
        pending_before = {link.sync_key for link in previous if link.state is LinkStatus.PENDING}
        self._salesforce_ids = {link.sync_key: link.salesforce_id for link in previous if link.salesforce_id}

        self._delete_salesforce(by_type[DeleteSalesforce])
        self._delete_exchange(by_type[DeleteExchange])
        self._save_pending(by_type[CreateInSalesforce] + by_type[CreateInExchange])
        self._create_salesforce(by_type[CreateInSalesforce])
        self._create_exchange(by_type[CreateInExchange], pending_before)
        self._update_salesforce(by_type[UpdateSalesforce])
        self._sync_occurrences(by_type[CreateInSalesforce], by_type[UpdateSalesforce])
        self._sync_invitees(by_type[CreateInSalesforce], by_type[UpdateSalesforce])
        self._join_events(by_type[JoinSalesforceEvent])
        self._leave_events(by_type[LeaveSalesforceEvent])
        self._update_exchange(by_type[UpdateExchange])
        self._remove_categories(by_type[RemoveCategory])
        cut_short = {
            link.sync_key
            for link in previous
            if link.state is LinkStatus.PENDING and not (link.exchange_id and link.salesforce_id)
        }
        self._confirm_series(by_type[UpdateLinkBase], cut_short)
        self._finish_links(plan)
        return self.report

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def _item_ref(self, sync_key: str | None, item_id: str | None, side: Side | str) -> str:
        if item_id:
            return f"{side}:{item_id}"
        return f"link:{sync_key}" if sync_key else "mailbox"

    def _health(self, sync_key, side, code, message, item_id=None, ref_side=None) -> None:
        item_ref = self._item_ref(sync_key, item_id, ref_side or side)
        self.store.record_health(
            mailbox_id=self.mailbox.id, item_ref=item_ref, side=str(side), code=code, message=message, now=self.now
        )
        self._raised.add((item_ref, code))
        self.report.health_recorded += 1

    def _fail(
        self,
        sync_key: str | None,
        side: Side,
        error: ConnectorError | str,
        item_id: str | None,
        ref_side: Side | None = None,
    ) -> None:
        """A write to ``side`` failed. ``item_id`` names the item on ``ref_side`` (default: ``side``)."""
        if sync_key:
            self.report.failed_keys.add(sync_key)
        if isinstance(error, ConnectorError):
            transient = error.retryable
            detail = f"{error.code}: {error}" if error.code else str(error)
        else:
            transient, detail = False, error
        if side is Side.SALESFORCE:
            code = SALESFORCE_BUSY if transient else SALESFORCE_REJECTED
            what = "Salesforce"
        else:
            code = EXCHANGE_BUSY if transient else EXCHANGE_REJECTED
            what = "Exchange"
        message = (
            f"{what} was busy ({detail}); the change will be retried at the next session."
            if transient
            else f"{what} refused the change: {detail}"
        )
        self._health(sync_key, side, code, message, item_id, ref_side)

    def _record_result(
        self, sync_key: str | None, side: Side, result: RecordResult, item_id: str | None, ref_side: Side | None = None
    ) -> bool:
        if result.success:
            return True
        code = result.error_code
        error = ConnectorError(result.message or code, code=code, service="salesforce")
        if result.transient:
            error.retryable = True
        self._fail(sync_key, side, error, item_id, ref_side)
        return False

    def _send(self, side: Side, call: Callable[[], Any], n: int, refs: Sequence[tuple]) -> Any:
        """One batched write of ``n`` items: its results, or None when the call failed as a whole, which fails
        every item (``refs``: (sync key, item id[, side the id lives on]) per item)."""
        try:
            results = call()
        except ConnectorError as exc:
            if side is Side.SALESFORCE and isinstance(exc, AuthError):
                raise  # refused even after a renewal: every later call would be too, so the session ends
            for key, item_id, *ref_side in refs:
                self._fail(key, side, exc, item_id, *ref_side)
            return None
        self.report.writes += -(-n // BATCH_SIZE[side])
        return results

    def _label(self, action: Any, verb: str) -> str:
        return "reverted" if getattr(action, "revert", False) else verb

    # -- deletions -----------------------------------------------------------------------------------------
    def _delete_salesforce(self, actions: list[DeleteSalesforce]) -> None:
        if not actions:
            return
        refs = [(a.sync_key, a.salesforce_id) for a in actions]
        results = self._send(Side.SALESFORCE, lambda: self.salesforce.delete([r[1] for r in refs]), len(refs), refs)
        if results is None:
            return
        for action, result in zip(actions, results, strict=False):
            if self._record_result(action.sync_key, Side.SALESFORCE, result, action.salesforce_id):
                self.report.count("deleted", Side.SALESFORCE)

    def _delete_exchange(self, actions: list[DeleteExchange]) -> None:
        if not actions:
            return
        refs = [(a.sync_key, a.exchange_id) for a in actions]
        results = self._send(Side.EXCHANGE, lambda: self.exchange.delete([r[1] for r in refs]), len(refs), refs)
        if results is None:
            return
        for action, result in zip(actions, results, strict=True):
            if result.ok:
                self.exchange_writes[action.exchange_id] = None
                self.report.count("deleted", Side.EXCHANGE)
            else:
                self._fail(action.sync_key, Side.EXCHANGE, result.error, action.exchange_id)

    # -- creates -------------------------------------------------------------------------------------------
    def _save_pending(self, actions: list[CreateInSalesforce | CreateInExchange]) -> None:
        if not actions:
            return
        rows = self.store.link_rows(self.mailbox, [a.sync_key for a in actions])
        for action in actions:
            pending = dataclasses.replace(action.link, state=LinkStatus.PENDING)
            if isinstance(action, CreateInSalesforce):
                pending = dataclasses.replace(pending, salesforce_id=None)
            else:
                pending = dataclasses.replace(pending, exchange_id=None, exchange_change_key=None)
            row = rows.get(action.sync_key)
            rows[action.sync_key] = self.store.save_link(self.mailbox, pending, row)
        self.store.commit()
        self.checkpoint("pending_saved")

    def _create_salesforce(self, actions: list[CreateInSalesforce]) -> None:
        if not actions:
            return
        records = []
        for action in actions:
            fields, _ = event_to_salesforce(action.entry, sync_key=action.sync_key)
            fields = {k: v for k, v in fields.items() if v is not None}
            if self.mailbox.salesforce_user_id:
                fields["OwnerId"] = self.mailbox.salesforce_user_id
            records.append(fields)
        refs = [(a.sync_key, a.exchange_id, Side.EXCHANGE) for a in actions]
        results = self._send(
            Side.SALESFORCE, lambda: self.salesforce.upsert("Event", SYNC_KEY_FIELD, records), len(records), refs
        )
        if results is None:
            return
        self.checkpoint("salesforce_created")
        for action, result in zip(actions, results, strict=False):
            if self._record_result(action.sync_key, Side.SALESFORCE, result, action.exchange_id, Side.EXCHANGE):
                self._created.setdefault(action.sync_key, {}).update(salesforce_id=result.id, new=result.created)
                self.report.count(self._label(action, "created"), Side.SALESFORCE)

    def _create_exchange(self, actions: list[CreateInExchange], pending_before: set[str]) -> None:
        if not actions:
            return
        # A create that may have reached Exchange before a crash: find it by its key instead of a second one.
        retried = [a.sync_key for a in actions if a.sync_key in pending_before]
        existing: dict[str, str] = {}
        if retried:
            try:
                existing = self.exchange.find_by_sync_key(retried)
            except ConnectorError as exc:
                for a in actions:
                    self._fail(a.sync_key, Side.EXCHANGE, exc, a.salesforce_id, Side.SALESFORCE)
                return
        to_create: list[CreateInExchange] = []
        items: list[NewItem] = []
        for action in actions:
            if action.sync_key in existing:
                self._created.setdefault(action.sync_key, {}).update(
                    exchange_id=existing[action.sync_key], change_key=None
                )
                self.report.count(self._label(action, "created"), Side.EXCHANGE)
                if series.has_exceptions(action.entry.recurrence):  # again: occurrence writes are idempotent
                    self._exchange_occurrences(action.sync_key, existing[action.sync_key], None, action.entry)
                continue
            data, _ = entry_to_exchange(action.entry, sync_key=action.sync_key)
            to_create.append(action)
            items.append(NewItem(data))
        if not items:
            return
        refs = [(a.sync_key, a.salesforce_id, Side.SALESFORCE) for a in to_create]
        results = self._send(Side.EXCHANGE, lambda: self.exchange.create(items), len(items), refs)
        if results is None:
            return
        self.checkpoint("exchange_created")
        for action, result in zip(to_create, results, strict=True):
            if result.ok:
                self._created.setdefault(action.sync_key, {}).update(
                    exchange_id=result.item_id, change_key=result.change_key
                )
                if result.item_id:
                    self.exchange_writes[result.item_id] = result.change_key
                self.exchange_created.add(action.sync_key)
                self.report.count(self._label(action, "created"), Side.EXCHANGE)
                if result.item_id and series.has_exceptions(action.entry.recurrence):
                    self._exchange_occurrences(action.sync_key, result.item_id, None, action.entry)  # holds none
            else:
                self._fail(action.sync_key, Side.EXCHANGE, result.error, action.salesforce_id, Side.SALESFORCE)

    # -- updates -------------------------------------------------------------------------------------------
    def _update_salesforce(self, actions: list[UpdateSalesforce]) -> None:
        records, sent = [], []
        for action in actions:
            if action.sync_key in self.report.failed_keys:
                continue
            fields, _ = salesforce_update(action.current, action.entry)
            if not fields:
                continue
            records.append({"Id": action.salesforce_id, **fields})
            sent.append(action)
        if not records:
            return
        refs = [(a.sync_key, a.salesforce_id) for a in sent]
        results = self._send(
            Side.SALESFORCE, lambda: self.salesforce.update(sent[0].salesforce_object, records), len(records), refs
        )
        if results is None:
            return
        for action, result in zip(sent, results, strict=False):
            if self._record_result(action.sync_key, Side.SALESFORCE, result, action.salesforce_id):
                self.report.count(self._label(action, "updated"), Side.SALESFORCE)

    def _update_exchange(self, actions: list[UpdateExchange]) -> None:
        changes: list[ItemChange] = []
        sent: list[UpdateExchange] = []
        rewritten: list[UpdateExchange] = []
        for action in actions:
            if action.sync_key in self.report.failed_keys:
                continue
            if (
                "recurrence" in action.fields
                and "when" not in action.fields
                and series.only_exceptions_changed(action.current.recurrence, action.entry.recurrence)
            ):
                if not self._exchange_occurrences(
                    action.sync_key, action.exchange_id, action.current.recurrence, action.entry
                ):
                    continue
                self.report.count(self._label(action, "updated"), Side.EXCHANGE)
                action = dataclasses.replace(action, fields=tuple(f for f in action.fields if f != "recurrence"))
                if not action.fields:
                    continue
            elif {"recurrence", "when"} & set(action.fields) and action.entry.recurrence is not None:
                rewritten.append(action)  # Exchange drops a rewritten master's exceptions: put them back after
            data, _ = exchange_update(action.current, action.entry, action.fields)
            if not data:
                continue
            changes.append(ItemChange(action.exchange_id, action.change_key, data))
            sent.append(action)
        self._send_exchange_updates(changes, sent, "updated")
        for action in rewritten:
            if action.sync_key not in self.report.failed_keys:
                self._series_rewritten(action)

    def _exchange_occurrences(self, key: str, item_id: str, before, entry) -> bool:
        """Deleted and changed occurrences reach the Outlook series one by one (sync.series); ``before``: the
        exceptions the item holds (``None``: a master just written)."""
        try:
            done = series.write_exchange_occurrences(self.exchange, item_id, before, entry)
        except ConnectorError as exc:
            self._fail(key, Side.EXCHANGE, exc, item_id)
            return False
        self.report.writes += done.writes
        for issue in done.issues:
            self._health(key, Side.EXCHANGE, issue.code, issue.message, item_id)
        if done.error is not None:
            self._fail(key, Side.EXCHANGE, done.error, item_id)
            return False
        return True

    def _series_rewritten(self, action: UpdateExchange) -> None:
        """A series' pattern, start or length written to Outlook: its exceptions that the new pattern still has
        go back on both sides (Exchange dropped them with the rewrite; the org re-created its occurrence Events
        if the change came from Salesforce); the others are dropped, with a note (docs/recurrence.md)."""
        after = action.entry.recurrence
        bounds = series.series_bounds(action.entry)
        current = action.current.recurrence
        if after is None or bounds is None:
            return
        if current is not None and series.has_exceptions(current):
            _, dropped = series.in_pattern(after.with_exceptions(current), bounds[0], action.entry.time_zone)
            dropped = [d for d in dropped if d not in after.exdates and d not in {o.original for o in after.overrides}]
            if dropped:
                self._health(action.sync_key, Side.EXCHANGE, series.EXCEPTIONS_DROPPED,
                             series.dropped_message(action.entry.subject, dropped), action.exchange_id)  # fmt: skip
        if series.has_exceptions(after) and self._exchange_occurrences(
            action.sync_key, action.exchange_id, None, action.entry
        ):
            self._salesforce_occurrences(action.sync_key, self._salesforce_ids.get(action.sync_key), action.entry)

    def _send_exchange_updates(self, changes, sent, verb: str) -> None:
        if not changes:
            return
        refs = [(a.sync_key, a.exchange_id) for a in sent]
        results = self._send(Side.EXCHANGE, lambda: self.exchange.update(changes), len(changes), refs)
        if results is None:
            return
        for action, result in zip(sent, results, strict=True):
            if result.ok:
                self._change_keys[action.sync_key] = result.change_key
                self.exchange_writes[action.exchange_id] = result.change_key
                self.report.count(self._label(action, verb), Side.EXCHANGE)
            else:
                self._fail(action.sync_key, Side.EXCHANGE, result.error, action.exchange_id)

    def _remove_categories(self, actions: list[RemoveCategory]) -> None:
        actions = [a for a in actions if a.sync_key not in self.report.failed_keys]
        if not actions:
            return
        try:
            items = self.exchange.fetch([a.exchange_id for a in actions], fields=("categories",))
        except ConnectorError as exc:
            for a in actions:
                self._fail(a.sync_key, Side.EXCHANGE, exc, a.exchange_id)
            return
        changes: list[ItemChange] = []
        sent: list[RemoveCategory] = []
        for action, item in zip(actions, items, strict=True):
            if item is None:
                continue  # already gone: nothing left to untag
            remaining = [c for c in item.categories if c.lower() != action.category.lower()]
            changes.append(ItemChange(item.item_id, item.change_key, {"categories": remaining or None}))
            sent.append(action)
        self._send_exchange_updates(changes, sent, "untagged")

    # -- series occurrences (sync.series) -------------------------------------------------------------
    def _sync_occurrences(self, creates: list[CreateInSalesforce], updates: list[UpdateSalesforce]) -> None:
        """Deleted and changed occurrences of written series reach their Salesforce occurrence Events."""
        todo = [(c.sync_key, self._created.get(c.sync_key, {}).get("salesforce_id"), c.entry) for c in creates]
        todo += [(u.sync_key, u.salesforce_id, u.entry) for u in updates if "recurrence" in u.fields]
        for key, series_id, entry in todo:
            if key not in self.report.failed_keys:
                self._salesforce_occurrences(key, series_id, entry)

    def _salesforce_occurrences(self, key: str, series_id: str | None, entry) -> bool:
        """One series' occurrence Events made to match its entry's exceptions (sync.series)."""
        if not series_id or entry.recurrence is None or not series.has_exceptions(entry.recurrence):
            return True
        try:
            done = series.sync_salesforce_occurrences(
                self.salesforce, series_id, key, entry.recurrence, entry.time_zone, subject=entry.subject
            )
        except ConnectorError as exc:
            self._fail(key, Side.SALESFORCE, exc, series_id)
            return False
        self.report.writes += done.writes
        for issue in done.issues:
            self._health(key, Side.SALESFORCE, issue.code, issue.message, series_id)
        return not done.failed or self._record_result(key, Side.SALESFORCE, done.failed[0], series_id)

    def _confirm_series(self, actions: list[UpdateLinkBase], cut_short: set[str]) -> None:
        """A series whose create was cut short (pending link without one side's id, now confirmed) gets its
        exceptions written again on both sides: the occurrence writes after the create may never have happened
        (idempotent; found by the simulation)."""
        for action in actions:
            link = action.link
            base = link.exchange_base or {}
            if action.sync_key not in cut_short or not link.exchange_id or not link.salesforce_id:
                continue
            if action.sync_key in self.report.failed_keys or not (base.get("recurrence") or {}).get("rrule"):
                continue
            entry = entry_from_projection(base)
            if series.has_exceptions(entry.recurrence) and self._salesforce_occurrences(
                action.sync_key, link.salesforce_id, entry
            ):
                self._exchange_occurrences(action.sync_key, link.exchange_id, None, entry)

    # -- invitees (EventRelation) -----------------------------------------------------------------------
    def _sync_invitees(self, creates: list[CreateInSalesforce], updates: list[UpdateSalesforce]) -> None:
        """Make each written Event's invitees the matched attendees its entry carries."""
        todo: dict[str, tuple[str, tuple[str, ...]]] = {}  # event id → (sync key, attendee e-mails)
        fresh: set[str] = set()  # Events this session created: no invitees yet, nothing to read
        for c in creates:
            event_id = self._created.get(c.sync_key, {}).get("salesforce_id")
            if c.kind == "event" and event_id and c.sync_key not in self.report.failed_keys:
                todo[event_id] = (c.sync_key, tuple(a.email for a in c.entry.attendees))
                if self._created[c.sync_key].get("new"):
                    fresh.add(event_id)
        for u in updates:
            if u.kind == "event" and "attendees" in u.fields and u.sync_key not in self.report.failed_keys:
                todo[u.salesforce_id] = (u.sync_key, tuple(a.email for a in u.entry.attendees))
        whos = self._further_whos(creates, updates)
        todo = {i: t for i, t in todo.items() if t[1] or i not in fresh}
        if not todo:
            self._write_relations(whos, [])
            return
        try:
            existing = self.salesforce.event_invitees([i for i in todo if i not in fresh])
        except ConnectorError as exc:
            for event_id, (key, _) in todo.items():
                self._fail(key, Side.SALESFORCE, exc, event_id)
            return
        adds: list[tuple[str, dict[str, Any]]] = []
        deletes: list[tuple[str, str, str]] = []  # (sync key, event id, relation row id)
        for event_id, (key, emails) in sorted(todo.items()):
            to_add, to_delete = relation_changes(
                emails, self.people, existing.get(event_id, ()), owner_user_id=self.mailbox.salesforce_user_id
            )
            adds += [(key, {"EventId": event_id, "RelationId": r, "IsInvitee": True}) for r in to_add]
            deletes += [(key, event_id, row_id) for row_id in to_delete]
        self._write_relations(adds + whos, deletes)  # an attendee who is also a Who stays an invitee

    def _further_whos(self, creates: list[CreateInSalesforce], updates: list[UpdateSalesforce]) -> list:
        """Whos chosen in the add-in beyond the first (WhoId holds one): EventRelation rows that are not
        invitees, as Shared Activities keeps them. Added, never removed here."""
        rows: list[tuple[str, dict[str, Any]]] = []
        written = [(c.sync_key, self._created.get(c.sync_key, {}).get("salesforce_id"), c.entry) for c in creates]
        written += [(u.sync_key, u.salesforce_id, u.entry) for u in updates if "who_what" in u.fields]
        for key, event_id, entry in written:
            if event_id and entry.kind == "event" and key not in self.report.failed_keys:
                rows += [(key, {"EventId": event_id, "RelationId": who, "IsInvitee": False, "IsParent": True})
                         for who in entry.who_ids[1:]]  # fmt: skip
        return rows

    def _write_relations(self, adds: list[tuple[str, dict[str, Any]]], deletes: list[tuple[str, str, str]]) -> None:
        """Insert and delete EventRelation rows in collections; an invitee that is already there is fine."""
        if adds:
            rows = [row for _, row in adds]
            refs = [(key, row["EventId"]) for key, row in adds]
            results = self._send(
                Side.SALESFORCE, lambda: self.salesforce.create("EventRelation", rows), len(rows), refs
            )
            for (key, event_id), result in zip(refs, results or (), strict=False):
                if result.error_code != "DUPLICATE_VALUE":
                    self._record_result(key, Side.SALESFORCE, result, event_id)
        if deletes:
            refs = [(key, event_id) for key, event_id, _ in deletes]
            ids = [row_id for _, _, row_id in deletes]
            results = self._send(Side.SALESFORCE, lambda: self.salesforce.delete(ids), len(ids), refs)
            for (key, event_id), result in zip(refs, results or (), strict=False):
                self._record_result(key, Side.SALESFORCE, result, event_id)

    def _join_events(self, actions: list[JoinSalesforceEvent]) -> None:
        """One meeting, one Event: this mailbox's user becomes an invitee of the Event that exists."""
        user = self.mailbox.salesforce_user_id
        adds = [
            (a.sync_key, {"EventId": a.salesforce_id, "RelationId": user, "IsInvitee": True})
            for a in actions
            if user and a.owner_user_id != user
        ]
        self._write_relations(adds, [])
        for a in actions:
            if a.sync_key not in self.report.failed_keys:
                self._created.setdefault(a.sync_key, {})
                self.report.count("joined", Side.SALESFORCE)

    def _leave_events(self, actions: list[LeaveSalesforceEvent]) -> None:
        user = self.mailbox.salesforce_user_id
        if not actions or not user:
            return
        try:
            existing = self.salesforce.event_invitees([a.salesforce_id for a in actions])
        except ConnectorError as exc:
            for a in actions:
                self._fail(a.sync_key, Side.SALESFORCE, exc, a.salesforce_id)
            return
        deletes = [
            (a.sync_key, a.salesforce_id, r.id)
            for a in actions
            for r in existing.get(a.salesforce_id, ())
            if r.relation_id == user
        ]
        self._write_relations([], deletes)

    # -- links ---------------------------------------------------------------------------------------------
    def _finish_links(self, plan: Plan) -> None:
        rows = self.store.link_rows(self.mailbox, {a.sync_key for a in plan.actions if a.sync_key})
        for action in plan.actions:
            key = action.sync_key
            if key is None or key in self.report.failed_keys:
                continue
            if isinstance(action, JoinSalesforceEvent):
                if key in self._created:
                    self._save_link(rows, action.link)
            elif isinstance(action, CreateInSalesforce | CreateInExchange):
                created = self._created.get(key)
                if created is None:
                    continue
                state = dataclasses.replace(action.link, state=LinkStatus.ACTIVE)
                if "salesforce_id" in created:
                    state = dataclasses.replace(state, salesforce_id=created["salesforce_id"])
                if "exchange_id" in created:
                    state = dataclasses.replace(
                        state, exchange_id=created["exchange_id"], exchange_change_key=created["change_key"]
                    )
                self._save_link(rows, state)
            elif isinstance(action, UpdateLinkBase):
                state = action.link
                if key in self._change_keys:
                    state = dataclasses.replace(state, exchange_change_key=self._change_keys[key])
                self._save_link(rows, state)
            elif isinstance(action, Unlink):
                row = rows.get(key)
                if row is not None:
                    links.unlink(row, exchange_deleted=action.exchange_deleted,
                                 salesforce_deleted=action.salesforce_deleted)  # fmt: skip
                    self.report.count("unlinked", "both")
        for key in self.report.failed_keys:
            row = rows.get(key)
            if row is not None and row.state == LinkStatus.ACTIVE:
                row.state = str(LinkStatus.FAILED)
        self._resolve_health(plan, rows)
        self.store.commit()
        self.checkpoint("links_saved")

    def _save_link(self, rows: dict[str, Any], state: LinkState) -> None:
        """Save a link row as planned, but *pending* while the saved cursor may not cover its Exchange item."""
        row = rows.get(state.sync_key)
        if links.stays_pending(row, state):
            state = dataclasses.replace(state, state=LinkStatus.PENDING)
        rows[state.sync_key] = self.store.save_link(self.mailbox, state, row)

    def _resolve_health(self, plan: Plan, rows: dict[str, Any]) -> None:
        """Items that synced in this session close their open health entries (`sync.health`: an entry closes
        only when the item it is about has actually synced). A pair synced when every write of it landed and its
        link was saved active or ended (unlinked); a link saved *failed* (its change refused again, or planned
        without both sides' current content) closes nothing."""
        refs: set[str] = set()
        for action in plan.actions:
            key = action.sync_key
            if key is None or key in self.report.failed_keys:
                continue
            if (row := rows.get(key)) is not None and row.state == LinkStatus.FAILED:
                continue
            refs.add(f"link:{key}")
            for side, attr in ((Side.EXCHANGE, "exchange_id"), (Side.SALESFORCE, "salesforce_id")):
                item_id = getattr(action, attr, None) or getattr(getattr(action, "link", None), attr, None)
                if item_id:
                    refs.add(f"{side}:{item_id}")
            row = rows.get(key)
            if row is not None:
                refs.update(f"{s}:{i}" for s, i in (("exchange", row.exchange_item_id),
                                                    ("salesforce", row.salesforce_id)) if i)  # fmt: skip
        self.store.resolve_health_items(mailbox_id=self.mailbox.id, item_refs=refs, keep=self._raised)
