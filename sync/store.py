"""What one sync session reads and writes of the database, behind one interface (`SessionStore`).

`sync.session.run_session`, `sync.preview.read_inputs` and `sync.apply.Applier` talk to a store, not to SQLAlchemy:
`SqlStore` wraps a database session and delegates to the modules that own the tables (`sync.links`,
`sync.health`, `sync.shares`, `sync.scope_entry`, `sync.profiles`, `sync.push.latency`). The planner-level
checker runs the same session code on an in-memory store with the same semantics (tests/checker/memory_store.py;
tests/checker/test_store_contract.py runs one set of cases against both).

Semantics both keep: nothing is visible to the next session until `commit`; `rollback` (and leaving the store's
context without a commit, as a killed worker does) drops every change since the last commit, and rows handed
out before go back to their committed values; rows are objects with the model's attributes (``Link``,
``Mailbox``, ``SyncSession``), changed in place and saved by the next commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy.orm import Session

from sync import health, links, mailboxes, profiles, scope_entry, shares
from sync.connectors.base import SalesforceOrg
from sync.models import Mailbox, SyncSession
from sync.planner.model import LinkState, MeetingEvent, SharedRelations
from sync.policies import PolicySet
from sync.push import latency


class SessionStore(Protocol):
    """The database as one sync session sees it (see the module docstring for the semantics)."""

    def commit(self) -> None: ...
    def rollback(self) -> None: ...

    # mailbox and session record
    def mailbox(self, email: str) -> Mailbox | None: ...
    def start_session(self, mailbox: Mailbox, now: dt.datetime, trigger: str | None) -> SyncSession: ...
    def session_policies(self, mailbox: Mailbox, salesforce: SalesforceOrg, now: dt.datetime) -> PolicySet: ...

    # links (sync.links)
    def links(self, mailbox: Mailbox) -> list[LinkState]: ...
    def link_rows(self, mailbox: Mailbox, keys: Iterable[str]) -> dict[str, Any]: ...
    def save_link(self, mailbox: Mailbox, state: LinkState, row: Any | None) -> Any: ...
    def confirm_links(self, mailbox: Mailbox, except_keys: Iterable[str] = ()) -> int: ...
    def meeting_events(self, mailbox: Mailbox, uids: set[str]) -> dict[str, MeetingEvent]: ...

    # health entries (sync.health)
    def record_health(
        self, *, mailbox_id: int | None, item_ref: str, side: str, code: str, message: str, now: dt.datetime
    ) -> Any: ...
    def resolve_health(self, *, mailbox_id: int | None, item_ref: str, codes: set[str] | None = None) -> int: ...
    def resolve_health_items(self, *, mailbox_id: int, item_refs: set[str], keep: set[tuple[str, str]]) -> int: ...

    # share requests (sync.shares), scope memory (sync.scope_entry), latency samples (sync.push.latency)
    def pending_shares(self, mailbox: Mailbox) -> dict[str, SharedRelations]: ...
    def settle_shares(self, mailbox: Mailbox, item_ids: Iterable[str], before: dt.datetime) -> int: ...
    def scope_entered(self, mailbox: Mailbox, policies: PolicySet, now: dt.datetime) -> scope_entry.Entered: ...
    def remember_scope(
        self, mailbox: Mailbox, keep: scope_entry.Spans, forget: set[tuple[str, str]], now: dt.datetime
    ) -> None: ...
    def record_latency(
        self, mailbox_id: int, samples: Iterable[latency.Sample], *, written_at: dt.datetime, trigger: str | None
    ) -> None: ...


class SqlStore:
    """`SessionStore` on a SQLAlchemy session (the production store)."""

    def __init__(self, db: Session) -> None:
        self.db = db

    def commit(self) -> None:
        self.db.commit()

    def rollback(self) -> None:
        self.db.rollback()

    def mailbox(self, email: str) -> Mailbox | None:
        return mailboxes.find(self.db, email)

    def start_session(self, mailbox: Mailbox, now: dt.datetime, trigger: str | None) -> SyncSession:
        record = SyncSession(mailbox_id=mailbox.id, started_at=now, status="running", trigger=trigger)
        self.db.add(record)
        return record

    def session_policies(self, mailbox: Mailbox, salesforce: SalesforceOrg, now: dt.datetime) -> PolicySet:
        return profiles.session_policies(self.db, mailbox, salesforce, now)

    def links(self, mailbox: Mailbox) -> list[LinkState]:
        return links.load(self.db, mailbox)

    def link_rows(self, mailbox: Mailbox, keys: Iterable[str]) -> dict[str, Any]:
        return links.rows_by_key(self.db, mailbox, keys)

    def save_link(self, mailbox: Mailbox, state: LinkState, row: Any | None) -> Any:
        return links.save(self.db, mailbox, state, row, lookup=False)

    def confirm_links(self, mailbox: Mailbox, except_keys: Iterable[str] = ()) -> int:
        return links.confirm(self.db, mailbox, except_keys=except_keys)

    def meeting_events(self, mailbox: Mailbox, uids: set[str]) -> dict[str, MeetingEvent]:
        return links.meeting_events(self.db, mailbox, uids)

    def record_health(
        self, *, mailbox_id: int | None, item_ref: str, side: str, code: str, message: str, now: dt.datetime
    ) -> Any:
        return health.record(self.db, mailbox_id=mailbox_id, item_ref=item_ref, side=side, code=code,
                             message=message, now=now)  # fmt: skip

    def resolve_health(self, *, mailbox_id: int | None, item_ref: str, codes: set[str] | None = None) -> int:
        return health.resolve(self.db, mailbox_id=mailbox_id, item_ref=item_ref, codes=codes)

    def resolve_health_items(self, *, mailbox_id: int, item_refs: set[str], keep: set[tuple[str, str]]) -> int:
        return health.resolve_items(self.db, mailbox_id=mailbox_id, item_refs=item_refs, keep=keep)

    def pending_shares(self, mailbox: Mailbox) -> dict[str, SharedRelations]:
        return shares.pending(self.db, mailbox)

    def settle_shares(self, mailbox: Mailbox, item_ids: Iterable[str], before: dt.datetime) -> int:
        return shares.settle(self.db, mailbox, item_ids, before=before)

    def scope_entered(self, mailbox: Mailbox, policies: PolicySet, now: dt.datetime) -> scope_entry.Entered:
        return scope_entry.entered(self.db, mailbox, policies, now)

    def remember_scope(
        self, mailbox: Mailbox, keep: scope_entry.Spans, forget: set[tuple[str, str]], now: dt.datetime
    ) -> None:
        scope_entry.write_memory(self.db, mailbox, keep, forget, now)

    def record_latency(
        self, mailbox_id: int, samples: Iterable[latency.Sample], *, written_at: dt.datetime, trigger: str | None
    ) -> None:
        latency.record_samples(self.db, mailbox_id, samples, written_at=written_at, trigger=trigger)


def as_store(db: Session | SessionStore) -> SessionStore:
    """A store for ``db``: a SQLAlchemy session is wrapped in `SqlStore`; a store is itself."""
    return SqlStore(db) if isinstance(db, Session) else db
