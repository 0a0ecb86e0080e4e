"""The session store's contract (`sync.store.SessionStore`): one set of cases run against `SqlStore` (SQLAlchemy on
SQLite, the production store) and the checker's `MemoryStore` (tests/checker/memory_store.py), so the fast tier's
store behaves like the real one: links, health entries, share requests, the scope memory, the session record,
and the transaction semantics (commit, rollback, a session closed without a commit, a second link per key)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select
from sqlalchemy.pool import StaticPool

from calsync.database import make_session_factory
from sync import links, mailboxes, shares
from sync.entry import Side
from sync.models import Base, HealthEntry
from sync.planner.model import LinkState, LinkStatus, MeetingEvent, SharedRelations
from sync.policies import Direction, Policy, PolicySet
from sync.push.latency import Sample
from sync.store import SqlStore, as_store
from tests.checker.memory_store import MemoryDatabase

EMAIL, OWNER = "rep@example.com", "005000000000000001"
OTHER, OTHER_OWNER = "colleague@example.com", "005000000000000002"
NOW = dt.datetime(2026, 12, 8, 9, tzinfo=dt.UTC)


class SqlBackend:
    def __init__(self) -> None:
        self.engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        event.listen(self.engine, "connect", lambda conn, _r: conn.execute("PRAGMA foreign_keys=ON"))
        Base.metadata.create_all(self.engine)
        self.factory = make_session_factory(self.engine)
        with self.factory() as db:
            mailboxes.add(db, EMAIL, OWNER, time_zone="UTC")
            mailboxes.add(db, OTHER, OTHER_OWNER, time_zone="UTC")
            db.commit()

    def open(self) -> Any:
        return self.factory()

    def request_share(self, store: SqlStore, mailbox: Any, item_id: str, who: list[str], what: str | None) -> None:
        shares.request(store.db, mailbox, item_id, who, what, now=NOW)

    def health(self) -> list[tuple[str, str, str, int]]:
        with self.factory() as db:
            rows = db.scalars(select(HealthEntry)).all()
            return sorted((r.item_ref, r.code, r.status, r.attempts) for r in rows)


class MemoryBackend:
    def __init__(self) -> None:
        self.factory = MemoryDatabase()
        self.factory.add_mailbox(EMAIL, OWNER)
        self.factory.add_mailbox(OTHER, OTHER_OWNER)

    def open(self) -> Any:
        return self.factory()

    def request_share(self, store: Any, mailbox: Any, item_id: str, who: list[str], what: str | None) -> None:
        store.request_share(mailbox, item_id, who, what, NOW)

    def health(self) -> list[tuple[str, str, str, int]]:
        return sorted((r.item_ref, r.code, r.status, r.attempts) for r in self.factory.rows("health_entries"))


@pytest.fixture(params=["sql", "memory"])
def backend(request) -> Iterator[Any]:
    yield SqlBackend() if request.param == "sql" else MemoryBackend()


def link(key: str, **kw: Any) -> LinkState:
    fields = dict(sync_key=key, mailbox=EMAIL, kind="event", origin=Side.EXCHANGE, state=LinkStatus.PENDING,
                  exchange_id=f"AAMk{key}", exchange_change_key="ck1", salesforce_id=None,
                  exchange_base={"subject": key}, salesforce_base=None)  # fmt: skip
    return LinkState(**(fields | kw))


def save(backend: Any, *states: LinkState, email: str = EMAIL) -> None:
    with backend.open() as opened:
        store = as_store(opened)
        mailbox = store.mailbox(email)
        rows = store.link_rows(mailbox, [s.sync_key for s in states])
        for state in states:
            store.save_link(mailbox, state, rows.get(state.sync_key))
        store.commit()


def loaded(backend: Any, email: str = EMAIL) -> list[LinkState]:
    with backend.open() as opened:
        store = as_store(opened)
        return store.links(store.mailbox(email))


def test_the_mailbox_is_found_by_its_email_in_any_case(backend) -> None:
    with backend.open() as opened:
        store = as_store(opened)
        assert store.mailbox(" Rep@Example.com ").salesforce_user_id == OWNER
        assert store.mailbox("nobody@example.com") is None


def test_changes_reach_the_next_session_only_when_committed(backend) -> None:
    with backend.open() as opened:
        store = as_store(opened)
        store.mailbox(EMAIL).exchange_sync_state = "lost"  # the worker dies before its commit
    with backend.open() as opened:
        store = as_store(opened)
        mailbox = store.mailbox(EMAIL)
        assert mailbox.exchange_sync_state is None
        mailbox.exchange_sync_state, mailbox.salesforce_watermarks = "c1", {"Event": "w1"}
        store.commit()
    with backend.open() as opened:
        mailbox = as_store(opened).mailbox(EMAIL)
        assert (mailbox.exchange_sync_state, mailbox.salesforce_watermarks) == ("c1", {"Event": "w1"})


def test_a_rollback_drops_what_was_not_committed_and_restores_the_rows(backend) -> None:
    with backend.open() as opened:
        store = as_store(opened)
        mailbox = store.mailbox(EMAIL)
        mailbox.exchange_sync_state = "c1"
        store.commit()
        mailbox.exchange_sync_state = "c2"
        store.save_link(mailbox, link("k1"), None)
        store.rollback()
        assert mailbox.exchange_sync_state == "c1"
        assert store.links(mailbox) == []
        mailbox.backoff_reason = "after the rollback"  # the session goes on after a failure and commits
        store.commit()
    with backend.open() as opened:
        mailbox = as_store(opened).mailbox(EMAIL)
        assert (mailbox.exchange_sync_state, mailbox.backoff_reason) == ("c1", "after the rollback")
    assert loaded(backend) == []


def test_links_round_trip_in_key_order_and_per_mailbox(backend) -> None:
    states = [link("k2", salesforce_id="00U2", state=LinkStatus.ACTIVE, shared_who_ids=("003A", "003B")),
              link("k1", exchange_read_only=True, created_by_sync_on_exchange=True, exchange_uid="uid-1")]  # fmt: skip
    save(backend, *states)
    save(backend, link("k9", mailbox=OTHER), email=OTHER)
    assert loaded(backend) == sorted(states, key=lambda s: s.sync_key)
    assert [s.sync_key for s in loaded(backend, OTHER)] == ["k9"]
    with backend.open() as opened:
        store = as_store(opened)
        assert sorted(store.link_rows(store.mailbox(EMAIL), ["k1", "k9", "nope"])) == ["k1"]


def test_a_saved_row_is_updated_in_place_and_a_session_sees_its_own_changes(backend) -> None:
    save(backend, link("k1"))
    with backend.open() as opened:
        store = as_store(opened)
        mailbox = store.mailbox(EMAIL)
        row = store.link_rows(mailbox, ["k1"])["k1"]
        store.save_link(mailbox, link("k1", salesforce_id="00U1", exchange_base={"subject": "new"}), row)
        store.save_link(mailbox, link("k2"), None)
        assert [(s.sync_key, s.salesforce_id) for s in store.links(mailbox)] == [("k1", "00U1"), ("k2", None)]
        store.commit()
    assert [(s.sync_key, s.exchange_base) for s in loaded(backend)] == [("k1", {"subject": "new"}),
                                                                         ("k2", {"subject": "k2"})]  # fmt: skip


def test_a_second_link_for_one_sync_key_is_refused(backend) -> None:
    save(backend, link("k1"))
    with pytest.raises(Exception), backend.open() as opened:  # noqa: B017, PT011 - IntegrityError, either kind
        store = as_store(opened)
        store.save_link(store.mailbox(EMAIL), link("k1"), None)
        store.commit()
    assert len(loaded(backend)) == 1


def test_confirm_makes_pending_links_with_both_ids_active_but_the_excepted(backend) -> None:
    save(backend, link("k1", salesforce_id="00U1"), link("k2", salesforce_id="00U2"), link("k3"),
         link("k4", salesforce_id="00U4", state=LinkStatus.UNLINKED))  # fmt: skip
    with backend.open() as opened:
        store = as_store(opened)
        assert store.confirm_links(store.mailbox(EMAIL), except_keys=["k2"]) == 1
        store.commit()
    assert [(s.sync_key, str(s.state)) for s in loaded(backend)] == [
        ("k1", "active"), ("k2", "pending"), ("k3", "pending"), ("k4", "unlinked")]  # fmt: skip


def test_an_unlinked_row_keeps_its_tombstone_and_forgets_the_deleted_side(backend) -> None:
    save(backend, link("k1", salesforce_id="00U1", state=LinkStatus.ACTIVE))
    with backend.open() as opened:
        store = as_store(opened)
        row = store.link_rows(store.mailbox(EMAIL), ["k1"])["k1"]
        links.unlink(row, exchange_deleted=True, salesforce_deleted=False)
        assert not links.stays_pending(row, dataclasses.replace(link("k1"), state=LinkStatus.ACTIVE))
        store.commit()
    [state] = loaded(backend)
    assert (str(state.state), state.exchange_id, state.exchange_change_key, state.salesforce_id) == (
        "unlinked", None, None, "00U1")  # fmt: skip


def test_meeting_events_are_other_mailboxes_live_unjoined_links_of_the_meeting(backend) -> None:
    save(backend, link("k1", exchange_uid="uid-1", salesforce_id="00U1", state=LinkStatus.ACTIVE),
         link("k2", exchange_uid="uid-2", salesforce_id="00U2", joined=True),
         link("k3", exchange_uid="uid-3", state=LinkStatus.UNLINKED, salesforce_id="00U3"), email=OTHER)  # fmt: skip
    save(backend, link("k4", exchange_uid="uid-1", salesforce_id="00U4"))
    with backend.open() as opened:
        store = as_store(opened)
        found = store.meeting_events(store.mailbox(EMAIL), {"uid-1", "uid-2", "uid-3", "uid-9"})
        assert found == {"uid-1": MeetingEvent(salesforce_id="00U1", owner_user_id=OTHER_OWNER)}
        assert store.meeting_events(store.mailbox(OTHER), {"uid-1"})["uid-1"].salesforce_id == "00U4"
        assert store.meeting_events(store.mailbox(EMAIL), set()) == {}


def test_health_entries_open_bump_resolve_and_reopen(backend) -> None:
    def record(store: Any, mailbox: Any, ref: str, code: str, at: dt.datetime) -> None:
        store.record_health(mailbox_id=mailbox.id, item_ref=ref, side="exchange", code=code, message=code, now=at)

    with backend.open() as opened:
        store = as_store(opened)
        mailbox = store.mailbox(EMAIL)
        record(store, mailbox, "exchange:A", "busy", NOW)
        record(store, mailbox, "exchange:A", "busy", NOW)
        record(store, mailbox, "exchange:A", "rejected", NOW)
        record(store, mailbox, "mailbox", "session_failed", NOW)
        store.commit()
        assert store.resolve_health(mailbox_id=mailbox.id, item_ref="mailbox", codes={"other"}) == 0
        assert store.resolve_health(mailbox_id=mailbox.id, item_ref="mailbox", codes={"session_failed"}) == 1
        kept = {("exchange:A", "rejected")}
        assert store.resolve_health_items(mailbox_id=mailbox.id, item_refs={"exchange:A"}, keep=kept) == 1
        store.commit()
    assert backend.health() == [("exchange:A", "busy", "resolved", 2), ("exchange:A", "rejected", "open", 1),
                                ("mailbox", "session_failed", "resolved", 1)]  # fmt: skip
    with backend.open() as opened:
        store = as_store(opened)
        record(store, store.mailbox(EMAIL), "exchange:A", "busy", NOW + dt.timedelta(hours=1))
        store.commit()
    assert ("exchange:A", "busy", "open", 1) in backend.health()


def test_share_requests_are_pending_until_settled_and_a_newer_one_waits(backend) -> None:
    with backend.open() as opened:
        store = as_store(opened)
        mailbox = store.mailbox(EMAIL)
        backend.request_share(store, mailbox, "AAMk1", ["003A", "003A", "003B"], "006X")
        backend.request_share(store, mailbox, "AAMk2", [], None)
        store.commit()
        assert store.pending_shares(mailbox) == {"AAMk1": SharedRelations(("003A", "003B"), "006X"),
                                                 "AAMk2": SharedRelations((), None)}  # fmt: skip
        assert store.settle_shares(mailbox, ["AAMk1", "AAMk2"], before=NOW - dt.timedelta(seconds=1)) == 0
        assert store.settle_shares(mailbox, ["AAMk1"], before=NOW) == 1
        store.commit()
    with backend.open() as opened:
        store = as_store(opened)
        assert list(store.pending_shares(store.mailbox(EMAIL))) == ["AAMk2"]


def test_the_scope_memory_keeps_forgets_and_reports_what_entered(backend) -> None:
    policies = PolicySet({"event": Policy()})
    soon, later = NOW + dt.timedelta(days=10), NOW + dt.timedelta(days=90)
    with backend.open() as opened:
        store = as_store(opened)
        mailbox = store.mailbox(EMAIL)
        keep = {("exchange", "AAMk1"): ("event", (later, later + dt.timedelta(hours=1))),
                ("salesforce", "00U1"): ("event", (later, later + dt.timedelta(hours=1))),
                ("exchange", "AAMk2"): ("event", (later, later + dt.timedelta(hours=1)))}  # fmt: skip
        store.remember_scope(mailbox, keep, set(), NOW)
        store.commit()
        assert not store.scope_entered(mailbox, policies, NOW)
        entered = store.scope_entered(mailbox, policies, NOW + dt.timedelta(days=40))
        assert (entered.exchange, entered.salesforce) == ((("AAMk1", "event"), ("AAMk2", "event")),
                                                          (("00U1", "event"),))  # fmt: skip
        off = PolicySet({"event": Policy(direction=Direction.OFF)})
        assert not store.scope_entered(mailbox, off, NOW + dt.timedelta(days=40))
        moved = {("exchange", "AAMk1"): ("event", (soon, soon + dt.timedelta(hours=1)))}
        store.remember_scope(mailbox, moved, {("exchange", "AAMk2"), ("salesforce", "00U1")}, NOW)
        store.commit()
    with backend.open() as opened:
        store = as_store(opened)
        entered = store.scope_entered(store.mailbox(EMAIL), policies, NOW)
        assert (entered.exchange, entered.salesforce) == ((("AAMk1", "event"),), ())


def test_the_session_record_gets_an_id_and_keeps_its_outcome(backend) -> None:
    with backend.open() as opened:
        store = as_store(opened)
        mailbox = store.mailbox(EMAIL)
        record = store.start_session(mailbox, NOW, "push")
        store.commit()
        assert isinstance(record.id, int)
        record.status, record.writes = "ok", 3
        store.record_latency(mailbox.id, [Sample("outlook_to_salesforce", 4.0)], written_at=NOW, trigger="push")
        store.commit()
        assert (record.status, record.writes, record.trigger) == ("ok", 3, "push")
