"""An in-memory `sync.store.SessionStore`: the checker's fast tier runs the real session on it, without SQLAlchemy.

`MemoryDatabase` holds the committed rows (plain dataclasses with the model's attributes, so `sync.links`,
`sync.health` and `sync.scope_entry` work on them as on ORM rows); calling it opens a `MemoryStore`, one
session's view, as a sessionmaker opens a SQLAlchemy session. The semantics are `SqlStore`'s (the contract,
tests/checker/test_store_contract.py, runs the same cases on both):

- a row handed out is the session's working copy; changes reach the database at `commit`, never before;
- `rollback`, and leaving the context without a commit (a killed worker), drop what was not committed; rows
  handed out before go back to their committed values;
- a session's own queries see its uncommitted changes (SQLAlchemy's autoflush);
- one link per sync key: a commit that would make a second one fails (the unique index).
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sync import health, links, scope_entry
from sync.connectors.base import SalesforceOrg
from sync.entry import EVENT
from sync.models import utcnow
from sync.planner.model import LinkState, MeetingEvent, SharedRelations
from sync.policies import PolicySet
from sync.push import latency


class MemoryIntegrityError(Exception):
    """A commit would break a unique constraint (as the database's IntegrityError)."""


@dataclass
class MailboxRow:
    id: int
    email: str
    salesforce_user_id: str | None = None
    enabled: bool = True
    time_zone: str = "UTC"
    category_state: dict[str, Any] = field(default_factory=dict)
    backend: str = "ews"
    exchange_sync_state: str | None = None
    salesforce_watermarks: dict[str, Any] = field(default_factory=dict)
    kinds_off: list[str] = field(default_factory=list)
    next_sync_at: dt.datetime | None = None
    sync_interval_minutes: int = 30
    backoff_until: dt.datetime | None = None
    backoff_reason: str | None = None


@dataclass
class LinkRow:
    id: int
    mailbox_id: int
    sync_key: str
    kind: str = EVENT
    origin: str = "exchange"
    state: str = "pending"
    exchange_item_id: str | None = None
    exchange_change_key: str | None = None
    exchange_uid: str | None = None
    salesforce_object: str | None = None
    salesforce_id: str | None = None
    salesforce_modstamp: dt.datetime | None = None
    exchange_base: dict[str, Any] | None = None
    salesforce_base: dict[str, Any] | None = None
    shared_who_ids: list[str] | None = None
    shared_what_id: str | None = None
    created_by_sync_on_exchange: bool = False
    exchange_read_only: bool = False
    joined_event: bool = False
    created_at: dt.datetime = field(default_factory=utcnow)


@dataclass
class SessionRow:
    id: int
    mailbox_id: int
    started_at: dt.datetime
    status: str = "running"
    trigger: str | None = None
    finished_at: dt.datetime | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    api_calls: dict[str, Any] = field(default_factory=dict)
    writes: int = 0
    failed: int = 0
    error: str | None = None
    salesforce_usage: dict[str, Any] | None = None
    salesforce_reauths: int = 0


@dataclass
class HealthRow:
    id: int
    mailbox_id: int | None
    item_ref: str
    side: str
    code: str
    message: str
    attempts: int = 1
    first_seen: dt.datetime = field(default_factory=utcnow)
    last_seen: dt.datetime = field(default_factory=utcnow)
    status: str = "open"


@dataclass
class ShareRow:
    id: int
    mailbox_id: int
    exchange_item_id: str
    who_ids: list[str] = field(default_factory=list)
    what_id: str | None = None
    requested_at: dt.datetime = field(default_factory=utcnow)


@dataclass
class ScopeRow:
    id: int
    mailbox_id: int
    side: str
    item_id: str
    kind: str = EVENT
    starts_at: dt.datetime = field(default_factory=utcnow)
    ends_at: dt.datetime = field(default_factory=utcnow)
    seen_at: dt.datetime = field(default_factory=utcnow)


@dataclass
class LatencyRow:
    id: int
    mailbox_id: int
    direction: str
    seconds: float
    written_at: dt.datetime
    trigger: str | None = None


TABLES = ("mailboxes", "links", "sync_sessions", "health_entries", "share_requests", "out_of_scope_items",
          "latency_samples")  # fmt: skip


class MemoryDatabase:
    """Committed rows by table and id. ``MemoryDatabase()()`` opens a `MemoryStore` (a ``db_factory``)."""

    def __init__(self, policies: PolicySet | None = None) -> None:
        self.tables: dict[str, dict[int, Any]] = {t: {} for t in TABLES}
        self.policies = policies  # what `session_policies` answers (no profiles here)
        self._ids = itertools.count(1)
        # Called around every commit (the checker's write points); None: nothing.
        self.before_commit: Callable[[], None] | None = None
        self.after_commit: Callable[[], None] | None = None

    def next_id(self) -> int:
        return next(self._ids)

    def __call__(self) -> MemoryStore:
        return MemoryStore(self)

    def add_mailbox(self, email: str, salesforce_user_id: str | None = None, *, time_zone: str = "UTC") -> MailboxRow:
        row = MailboxRow(self.next_id(), email.strip().lower(), salesforce_user_id, time_zone=time_zone)
        self.tables["mailboxes"][row.id] = row
        return copy.copy(row)

    def clear(self, *tables: str) -> None:
        for table in tables:
            self.tables[table].clear()

    def rows(self, table: str) -> list[Any]:
        """Committed rows (copies), for the checker's own reads."""
        return [copy.copy(row) for row in self.tables[table].values()]


class MemoryStore:
    """One session's view of a `MemoryDatabase` (see the module docstring)."""

    def __init__(self, database: MemoryDatabase) -> None:
        self.database = database
        self._work: dict[tuple[str, int], Any] = {}  # working copies handed out or added
        self._gone: set[tuple[str, int]] = set()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._work.clear()  # what was not committed is lost, as when a session closes
        self._gone.clear()

    # -- the unit of work --------------------------------------------------------------------------------
    def _view(self, table: str) -> Iterator[Any]:
        """Every row of ``table`` as this session sees it (committed, overlaid by its own changes)."""
        committed = self.database.tables[table]
        for row_id, row in committed.items():
            if (table, row_id) not in self._gone:
                yield self._work.get((table, row_id), row)
        for (t, row_id), row in list(self._work.items()):
            if t == table and row_id not in committed and (t, row_id) not in self._gone:
                yield row

    def _take(self, table: str, row: Any) -> Any:
        """The session's working copy of ``row`` (changes to it are saved by the next commit)."""
        key = (table, row.id)
        if key not in self._work:
            self._work[key] = copy.copy(row)
        return self._work[key]

    def _add(self, table: str, row: Any) -> Any:
        self._work[(table, row.id)] = row
        return row

    def commit(self) -> None:
        if self.database.before_commit is not None:
            self.database.before_commit()
        keys: dict[str, int] = {}
        for row in self._view("links"):
            if keys.setdefault(row.sync_key, row.id) != row.id:
                raise MemoryIntegrityError(f"a second link for sync key {row.sync_key}")
        for (table, row_id), row in self._work.items():
            self.database.tables[table][row_id] = copy.copy(row)
        for table, row_id in self._gone:
            self.database.tables[table].pop(row_id, None)
        self._gone.clear()
        if self.database.after_commit is not None:
            self.database.after_commit()

    def rollback(self) -> None:
        for (table, row_id), row in list(self._work.items()):
            committed = self.database.tables[table].get(row_id)
            if committed is None:
                del self._work[(table, row_id)]
            else:
                row.__dict__.update(copy.copy(committed).__dict__)
        self._gone.clear()

    # -- mailbox and session record ------------------------------------------------------------------------
    def mailbox(self, email: str) -> Any:
        wanted = email.strip().lower()
        for row in self._view("mailboxes"):
            if row.email.lower() == wanted:
                return self._take("mailboxes", row)
        return None

    def start_session(self, mailbox: Any, now: dt.datetime, trigger: str | None) -> SessionRow:
        return self._add("sync_sessions", SessionRow(self.database.next_id(), mailbox.id, now, trigger=trigger))

    def session_policies(self, mailbox: Any, salesforce: SalesforceOrg, now: dt.datetime) -> PolicySet:
        if self.database.policies is None:
            raise LookupError("the memory store holds no profiles: set MemoryDatabase.policies or pass policies")
        return self.database.policies

    # -- links ---------------------------------------------------------------------------------------------
    def links(self, mailbox: Any) -> list[LinkState]:
        rows = sorted((r for r in self._view("links") if r.mailbox_id == mailbox.id), key=lambda r: r.sync_key)
        return [links.to_state(row, mailbox.email) for row in rows]

    def link_rows(self, mailbox: Any, keys: Iterable[str]) -> dict[str, Any]:
        wanted = set(keys)
        return {r.sync_key: self._take("links", r) for r in self._view("links")
                if r.mailbox_id == mailbox.id and r.sync_key in wanted}  # fmt: skip

    def save_link(self, mailbox: Any, state: LinkState, row: Any | None) -> Any:
        if row is None:
            row = self._add("links", LinkRow(self.database.next_id(), mailbox.id, state.sync_key))
        links.fill(row, state)
        return row

    def confirm_links(self, mailbox: Any, except_keys: Iterable[str] = ()) -> int:
        mine = [r for r in self._view("links") if r.mailbox_id == mailbox.id and r.state == "pending"]
        rows = [self._take("links", r) for r in mine if r.exchange_item_id is not None and r.salesforce_id is not None]
        return links.confirms(rows, except_keys)

    def meeting_events(self, mailbox: Any, uids: set[str]) -> dict[str, MeetingEvent]:
        if not uids:
            return {}
        owners = {m.id: m.salesforce_user_id for m in self._view("mailboxes")}
        rows = [r for r in self._view("links") if r.exchange_uid in uids and r.mailbox_id != mailbox.id
                and r.kind == EVENT and not r.joined_event and r.state in links.LIVE_STATES
                and r.salesforce_id is not None]  # fmt: skip
        found: dict[str, MeetingEvent] = {}
        for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
            found.setdefault(row.exchange_uid, MeetingEvent(row.salesforce_id, owners.get(row.mailbox_id)))
        return found

    # -- health entries ------------------------------------------------------------------------------------
    def record_health(
        self, *, mailbox_id: int | None, item_ref: str, side: str, code: str, message: str, now: dt.datetime
    ) -> Any:
        for row in self._view("health_entries"):
            if row.mailbox_id == mailbox_id and row.item_ref == item_ref and row.code == code:
                return health.seen_again(self._take("health_entries", row), side=side, message=message, now=now)
        entry = HealthRow(self.database.next_id(), mailbox_id, item_ref, side, code, message, first_seen=now,
                          last_seen=now)  # fmt: skip
        return self._add("health_entries", entry)

    def resolve_health(self, *, mailbox_id: int | None, item_ref: str, codes: set[str] | None = None) -> int:
        count = 0
        for row in list(self._view("health_entries")):
            if row.mailbox_id == mailbox_id and row.item_ref == item_ref and row.status == "open":
                if codes is None or row.code in codes:
                    self._take("health_entries", row).status = "resolved"
                    count += 1
        return count

    def resolve_health_items(self, *, mailbox_id: int, item_refs: set[str], keep: set[tuple[str, str]]) -> int:
        count = 0
        for row in list(self._view("health_entries")):
            if row.mailbox_id == mailbox_id and row.status == "open" and row.item_ref in item_refs:
                if (row.item_ref, row.code) not in keep:
                    self._take("health_entries", row).status = "resolved"
                    count += 1
        return count

    # -- share requests, scope memory, latency samples ---------------------------------------------------
    def request_share(self, mailbox: Any, item_id: str, who_ids: Iterable[str], what_id: str | None,
                      now: dt.datetime) -> ShareRow:  # fmt: skip
        """What the add-in's API records (`sync.shares.request`; here for the contract test)."""
        for row in self._view("share_requests"):
            if row.mailbox_id == mailbox.id and row.exchange_item_id == item_id:
                row = self._take("share_requests", row)
                break
        else:
            row = self._add("share_requests", ShareRow(self.database.next_id(), mailbox.id, item_id))
        row.who_ids, row.what_id, row.requested_at = list(dict.fromkeys(who_ids)), what_id, now
        return row

    def pending_shares(self, mailbox: Any) -> dict[str, SharedRelations]:
        return {r.exchange_item_id: SharedRelations(tuple(r.who_ids or ()), r.what_id)
                for r in self._view("share_requests") if r.mailbox_id == mailbox.id}  # fmt: skip

    def settle_shares(self, mailbox: Any, item_ids: Iterable[str], before: dt.datetime) -> int:
        ids = set(item_ids)
        gone = [r for r in self._view("share_requests")
                if r.mailbox_id == mailbox.id and r.exchange_item_id in ids and r.requested_at <= before]  # fmt: skip
        self._gone.update(("share_requests", r.id) for r in gone)
        return len(gone)

    def scope_entered(self, mailbox: Any, policies: PolicySet, now: dt.datetime) -> scope_entry.Entered:
        rows = sorted((r for r in self._view("out_of_scope_items") if r.mailbox_id == mailbox.id),
                      key=lambda r: (r.side, r.item_id))  # fmt: skip
        return scope_entry.entered_among(rows, policies, now)

    def remember_scope(
        self, mailbox: Any, keep: scope_entry.Spans, forget: set[tuple[str, str]], now: dt.datetime
    ) -> None:
        if not keep and not forget:
            return
        ids = {i for _, i in set(keep) | forget}
        existing = {(r.side, r.item_id): r for r in self._view("out_of_scope_items")
                    if r.mailbox_id == mailbox.id and r.item_id in ids}  # fmt: skip
        self._gone.update(("out_of_scope_items", existing[ref].id) for ref in forget if ref in existing)
        for (side, item_id), (kind, (starts, ends)) in sorted(keep.items()):
            row = existing.get((side, item_id))
            if row is None:
                row = self._add("out_of_scope_items", ScopeRow(self.database.next_id(), mailbox.id, side, item_id))
            else:
                row = self._take("out_of_scope_items", row)
            row.kind, row.starts_at, row.ends_at, row.seen_at = kind, starts, ends, now

    def record_latency(
        self, mailbox_id: int, samples: Iterable[latency.Sample], *, written_at: dt.datetime, trigger: str | None
    ) -> None:
        rows = [LatencyRow(self.database.next_id(), mailbox_id, s.direction, s.seconds, written_at, trigger)
                for s in samples]  # fmt: skip
        for row in rows:
            self._add("latency_samples", row)
        if rows:
            oldest = written_at - dt.timedelta(days=latency.KEEP_DAYS)
            self._gone.update(("latency_samples", r.id) for r in self._view("latency_samples")
                              if r.written_at < oldest)  # fmt: skip
