"""The checker's world: the real session (planner, apply, link store) on in-memory sides, in one of two tiers.

- the fast tier, `MemoryBackend`: the session's database is `tests.checker.memory_store` (the `sync.store`
  interface in memory, with `SqlStore`'s semantics; tests/checker/test_store_contract.py);
- the database tier, `Database`: an in-memory SQLite database behind `sync.store.SqlStore` (SQLAlchemy), its
  schema made once per process; every scenario starts from a snapshot of it (the SQLite backup API, ~0.2 ms).

Both run `sync.session.run_session` itself: the same session, planner, apply and link-store code.
One `World` per scenario: a `FaultyCalendar` and a `FaultyOrg` (`tests.checker.faults`) sharing a fault plan,
the policies in force, and the user's meetings. ``run_session`` is `sync.session.run_session` itself, with the
policies passed in (a profile switch is a switch of the `PolicySet` the session gets).

Users act through the memory stores' own methods (``MemoryCalendar.update``, ``MemoryOrg.update``), never through
the fault layer: a user's edit is no write point and no engine write.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

from sync import mailboxes
from sync.connectors.base import ItemChange, NewItem
from sync.entry import Entry, Side, project
from sync.mapping.exchange import SYNC_KEY_ATTR, entry_from_exchange, entry_to_exchange
from sync.mapping.salesforce import SYNC_KEY_FIELD, event_from_salesforce, event_to_salesforce, format_datetime
from sync.models import Base
from sync.planner import new_sync_key
from sync.policies import MassDeletionGuard, Policy, PolicySet
from sync.session import SessionResult, run_session
from tests.checker.faults import Faults, FaultSession, FaultyCalendar, FaultyOrg
from tests.checker.memory_store import MemoryDatabase
from tests.connectors.memory import CALENDAR, MemoryCalendar, MemoryOrg

EMAIL, OWNER = "rep@example.com", "005000000000000001"
NOW = dt.datetime(2026, 12, 8, 9, tzinfo=dt.UTC)
CATEGORY = "Salesforce"
SIDES = ("exchange", "salesforce")
# Projection fields the user edits (sync.entry); "time" edits move "when".
EDIT_FIELDS = ("subject", "location", "body", "time", "private", "attendees")
FIELD_OF = {"subject": "subject", "location": "location", "body": "body", "time": "when", "private": "is_private",
            "attendees": "attendees"}  # fmt: skip
BAD_LOCATION = "L" * 300  # Salesforce holds 255 characters: a health entry, never a cut value


class Database:
    """The database tier: the process's in-memory SQLite database, its schema made once, and a snapshot to
    start each scenario."""

    tier = "database"

    def __init__(self) -> None:
        self.faults = Faults()
        self.engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        event.listen(self.engine, "connect", lambda conn, _r: conn.execute("PRAGMA foreign_keys=ON"))
        Base.metadata.create_all(self.engine)
        session_class = type("CheckerSession", (FaultSession,), {"faults": None})
        self.factory = sessionmaker(self.engine, class_=session_class, expire_on_commit=False)
        with self.factory() as db:
            mailboxes.add(db, EMAIL, OWNER, time_zone="UTC")
            db.commit()
        self._session_class = session_class
        self._raw = self.engine.raw_connection().driver_connection
        self._snapshot = sqlite3.connect(":memory:")
        self._raw.backup(self._snapshot)

    def reset(self) -> None:
        self._snapshot.backup(self._raw)
        self.faults.clear()

    def arm(self, on: bool) -> None:
        """Commits are write points only during sessions (not during the checker's own reads)."""
        self._session_class.faults = self.faults if on else None

    def scalar(self, sql: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql)).scalar()

    def execute(self, *sql: str) -> None:
        with self.engine.begin() as conn:
            for statement in sql:
                conn.execute(text(statement))

    def lose(self, what: str) -> None:
        """Lost cursors (``cursor``) or the whole database but the mailbox row (``database``)."""
        if what == "cursor":
            self.execute("UPDATE mailboxes SET exchange_sync_state = NULL, salesforce_watermarks = '{}'")
            return
        self.execute(
            "DELETE FROM links", "DELETE FROM health_entries", "DELETE FROM sync_sessions",
            "DELETE FROM out_of_scope_items", "DELETE FROM share_requests",
            "UPDATE mailboxes SET exchange_sync_state = NULL, salesforce_watermarks = '{}', category_state = '{}'",
        )  # fmt: skip

    def live_links(self) -> int:
        return int(self.scalar("SELECT count(*) FROM links WHERE state IN ('pending', 'active', 'failed')") or 0)

    def open_health(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT code, item_ref FROM health_entries WHERE status = 'open'")).all()
        return [(r[0], r[1]) for r in rows]

    def close(self) -> None:
        self.engine.dispose()


class MemoryBackend:
    """The fast tier: a fresh `MemoryDatabase` per scenario (a few dict entries), its commits write points
    while a session runs."""

    tier = "memory"

    def __init__(self) -> None:
        self.faults = Faults()
        self.reset()

    def reset(self) -> None:
        self.factory = MemoryDatabase()
        self.factory.add_mailbox(EMAIL, OWNER, time_zone="UTC")
        self.faults.clear()

    def arm(self, on: bool) -> None:
        self.factory.before_commit = self.faults.db_commit if on else None
        self.factory.after_commit = self.faults.db_committed if on else None

    def lose(self, what: str) -> None:
        [mailbox] = self.factory.tables["mailboxes"].values()
        mailbox.exchange_sync_state, mailbox.salesforce_watermarks = None, {}
        if what != "cursor":
            mailbox.category_state = {}
            self.factory.clear("links", "health_entries", "sync_sessions", "out_of_scope_items", "share_requests")

    def live_links(self) -> int:
        return sum(1 for r in self.factory.tables["links"].values() if r.state in ("pending", "active", "failed"))

    def open_health(self) -> list[tuple[str, str]]:
        return [(r.code, r.item_ref) for r in self.factory.tables["health_entries"].values() if r.status == "open"]

    def close(self) -> None:
        pass


Backend = Database | MemoryBackend


@dataclass
class Meeting:
    """One meeting the user made, and what the model knows about it."""

    token: str
    origin: str
    origin_id: str
    key: str
    agreed: dict[str, Any] = field(default_factory=dict)  # field → value both sides last agreed on
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # field → side → value edited since
    free: set[str] = field(default_factory=set)  # fields whose right value the model cannot tell (see settle)
    deleted: set[str] = field(default_factory=set)  # sides the user deleted
    user_deleted: set[str] = field(default_factory=set)  # the item ids the user deleted
    unshared: bool = False
    reshared_after_loss: bool = False  # shared again after its Salesforce record went
    bad: bool = False  # holds a value Salesforce cannot (a 300-character location)
    # Made bad against a Salesforce edit of the location since the base, or while the database was lost (no base:
    # EDIT_WHILE_DATABASE_LOST in test_regressions.py): the conflict winner may replace the bad value, which fixes
    # the item.
    bad_contested: bool = False
    # Deleted on one side before a lost database: the known bug of test_regressions.py
    # (LOST_DATABASE_AFTER_DELETION) brings it back; #3 is not checked on it until that is fixed.
    lost_tombstone: bool = False
    maybe_unsent: bool = False  # existed under a policy that does not send it across
    seen: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SIDES})
    made_by_sync: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SIDES})


POLICY_CHOICES: dict[str, tuple[Any, ...]] = {
    "direction": ("two_way", "upsync_only", "downsync_only", "off"),
    "conflict_winner": ("exchange", "salesforce", "latest"),
    "exchange_deletion": ("delete", "keep"),
    "salesforce_deletion": ("keep", "delete_salesforce_created", "delete"),
    "on_unshare": ("keep_salesforce", "delete_salesforce"),
    "private_items": ("full", "masked", "skip"),
    "description": ("two_way", "once"),
    "attendees_to_exchange": (False, True),
    "guard": (5, 1, 0),  # the mass-deletion guard's minimum count (fraction 20 %)
}


@dataclass
class World:
    db: Backend
    calendar: FaultyCalendar
    org: FaultyOrg
    settings: dict[str, Any] = field(default_factory=dict)
    meetings: list[Meeting] = field(default_factory=list)
    now: dt.datetime = NOW
    sessions: int = 0
    log: list[str] = field(default_factory=list)
    ever: dict[str, set[Any]] = field(default_factory=dict)  # every value each setting has had
    database_lost: bool = False  # lost (not strict) and no session has linked the pairs again yet
    twins: set[str] = field(default_factory=set)  # meetings given the same edit on both sides since the last session
    # A policy changed since the last session that finished: its writes (a kind switched off deletes the copies,
    # a masking policy rewrites) may touch any pair, so a twin edit made meanwhile is not free (#2).
    policy_switched: bool = False
    # Shared again since the last session that finished: the revived pair is planned from its old Salesforce base,
    # so a twin edit costs one redundant write (RESHARE_THEN_TWIN in test_regressions.py, open).
    reshared: set[str] = field(default_factory=set)
    _policies: tuple[dict[str, Any], PolicySet] | None = field(default=None, repr=False)

    @classmethod
    def fresh(cls, db: Backend, **settings: Any) -> World:
        db.reset()
        chosen = {"direction": "two_way", "conflict_winner": "exchange", "exchange_deletion": "delete",
                  "salesforce_deletion": "keep", "on_unshare": "keep_salesforce", "private_items": "full",
                  "description": "two_way", "attendees_to_exchange": False, "guard": 5} | settings  # fmt: skip
        world = cls(db, FaultyCalendar(EMAIL, faults=db.faults), FaultyOrg(clock=NOW, faults=db.faults), chosen)
        world.ever = {k: {v} for k, v in chosen.items()}
        return world

    # -- policies -------------------------------------------------------------------------------------------
    @property
    def policies(self) -> PolicySet:
        """The `PolicySet` of the current settings (made again only after a switch)."""
        s = self.settings
        made = self._policies
        if made is None or made[0] != s:
            event_policy = Policy(**{k: v for k, v in s.items() if k != "guard"})
            made = self._policies = (
                dict(s),
                PolicySet({"event": event_policy}, guard=MassDeletionGuard(min_count=s["guard"])),
            )
        return made[1]

    def set_policy(self, name: str, value: Any) -> None:
        self.settings[name] = value
        self.ever.setdefault(name, set()).add(value)

    # -- reading the sides (the checker's own look, no API calls counted) -------------------------------------
    def ex_items(self) -> dict[str, dict[str, Any]]:
        """Calendar items (not Deleted Items) by id: their fields."""
        return {i: item.fields for i, item in MemoryCalendar.items(self.calendar).items() if item.folder == CALENDAR}

    def sf_events(self) -> dict[str, dict[str, Any]]:
        return {i: r for i, r in MemoryOrg.records(self.org, "Event").items() if not r["IsDeleted"]}

    def items_of(
        self, m: Meeting, sides: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] | None = None
    ) -> dict[str, list[str]]:
        """The live ids of the meeting on each side: its origin item and every item carrying its sync key.
        ``sides``: `ex_items` and `sf_events` read once for a loop over the meetings (nothing changed since)."""
        ex_now, sf_now = sides or (self.ex_items(), self.sf_events())
        ex_origin = m.origin_id if m.origin == "exchange" else None
        sf_origin = m.origin_id if m.origin == "salesforce" else None
        ex = [i for i, f in ex_now.items() if f.get(SYNC_KEY_ATTR) == m.key or i == ex_origin]
        sf = [i for i, r in sf_now.items() if r.get(SYNC_KEY_FIELD) == m.key or i == sf_origin]
        return {"exchange": sorted(ex), "salesforce": sorted(sf)}

    def sides(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        return self.ex_items(), self.sf_events()

    @staticmethod
    def ex_projection(fields: dict[str, Any]) -> dict[str, Any] | None:
        entry = entry_from_exchange(fields).entry
        return project(entry) if entry is not None else None

    @staticmethod
    def sf_projection(record: dict[str, Any]) -> dict[str, Any] | None:
        entry = event_from_salesforce(record, time_zone="UTC").entry
        return project(entry) if entry is not None else None

    def projection(self, side: str, item_id: str) -> dict[str, Any] | None:
        if side == "exchange":
            return self.ex_projection(self.ex_items()[item_id])
        return self.sf_projection(self.sf_events()[item_id])

    # -- the user -------------------------------------------------------------------------------------------
    def create(self, side: str, private: bool) -> Meeting:
        token = f"T{len(self.meetings) + 1}"
        start = NOW + dt.timedelta(days=len(self.meetings) + 1)
        entry = Entry(subject=f"{token} new", start=start, end=start + dt.timedelta(hours=1), time_zone="UTC",
                      location=f"{token} room", body=f"{token} notes", is_private=private,
                      categories=(CATEGORY,) if side == "exchange" else ())  # fmt: skip
        if side == "exchange":
            [made] = MemoryCalendar.create(self.calendar, [NewItem(entry_to_exchange(entry)[0])])
            origin_id, origin = made.item_id, Side.EXCHANGE
        else:
            fields, _ = event_to_salesforce(entry)
            [made] = MemoryOrg.create(self.org, "Event", [{**fields, "OwnerId": OWNER}])
            origin_id, origin = made.id, Side.SALESFORCE
        assert origin_id
        m = Meeting(token, side, origin_id, new_sync_key(EMAIL, origin, origin_id))
        m.agreed = {f: v for f, v in (self.projection(side, origin_id) or {}).items()}
        m.seen[side].add(origin_id)
        self.meetings.append(m)
        return m

    def value(self, m: Meeting, side: str, what: str, v: int) -> Any:
        """The user-level value of an edit (``side`` empty: the same value on both sides)."""
        tag = f"{v}{side[:1]}"
        if what == "subject":
            return f"{m.token} s{tag}"
        if what == "location":
            return None if v == 0 else f"{m.token} room {tag}"
        if what == "body":
            return None if v == 0 else f"{m.token} body {tag}"
        if what == "attendees":  # invitees in Outlook (Salesforce keeps them as EventRelation rows: not edited here)
            return [{"email": f"guest{n}@example.org", "name": f"Guest {n}"} for n in range(v)] or None
        if what == "time":
            later = 2 if side == "salesforce" else 0  # the two sides move it to different times
            start = NOW + dt.timedelta(days=self.meetings.index(m) + 1, minutes=30 * (v + later))
            return start, start + dt.timedelta(minutes=45)
        return bool(v % 2)

    def edit(self, m: Meeting, side: str, what: str, value: Any) -> bool:
        ids = self.items_of(m)[side]
        if not ids or (what == "attendees" and side == "salesforce"):
            return False
        item_id = ids[0]
        if side == "exchange":
            change = {"subject": {"subject": value}, "location": {"location": value}, "body": {"body": value},
                      "private": {"sensitivity": "Private" if value else "Normal"},
                      "attendees": {"required_attendees": value}}.get(what)  # fmt: skip
            if what == "time":
                change = {"start": value[0], "end": value[1], "is_all_day": False}
            MemoryCalendar.update(self.calendar, [ItemChange(item_id, None, change)])
        else:
            record = {"subject": {"Subject": value}, "location": {"Location": value}, "body": {"Description": value},
                      "private": {"IsPrivate": value}}.get(what)  # fmt: skip
            if what == "time":
                record = {"StartDateTime": format_datetime(value[0]), "EndDateTime": format_datetime(value[1])}
            MemoryOrg.update(self.org, "Event", [{"Id": item_id, **record}])
        if what == "location" and side == "exchange":
            m.bad = False  # a new location replaces the one Salesforce could not hold
        if what == "location" and side == "salesforce" and m.bad:
            m.bad_contested = True
        name = FIELD_OF[what]
        now = self.projection(side, item_id)
        other_side = "salesforce" if side == "exchange" else "exchange"
        if now is not None and side == m.origin and not m.seen[other_side] and name not in m.pending:
            m.agreed[name] = now[name]  # never synced across yet: no base, this is just the item's content
        elif now is not None:
            edits = m.pending.setdefault(name, {})
            if name in m.agreed and now[name] == m.agreed[name] and not self.database_lost:
                # Back to the value both sides last agreed on (the base): no change since the base on this side
                # (docs/invariants.md #1), so the other side's edit, if any, is the one to sync.
                edits.pop(side, None)
                if not edits:
                    del m.pending[name]
            else:
                edits[side] = now[name]
            if self.database_lost:
                m.free.add(name)
        return True

    def delete(self, m: Meeting, side: str) -> bool:
        ids = self.items_of(m)[side]
        if not ids:
            return False
        if side == "exchange":
            MemoryCalendar.delete(self.calendar, ids[:1])
        else:
            MemoryOrg.delete(self.org, ids[:1])
        m.deleted.add(side)
        m.user_deleted.add(ids[0])
        m.lost_tombstone = m.lost_tombstone or (self.database_lost and side == "exchange")
        return True

    def set_category(self, m: Meeting, shared: bool) -> bool:
        ids = self.items_of(m)["exchange"]
        if not ids:
            return False
        MemoryCalendar.update(self.calendar, [ItemChange(ids[0], None, {"categories": [CATEGORY] if shared else None})])
        return True

    def set_bad(self, m: Meeting, bad: bool) -> bool:
        ids = self.items_of(m)["exchange"]
        if not ids:
            return False
        value = BAD_LOCATION if bad else f"{m.token} fixed"
        MemoryCalendar.update(self.calendar, [ItemChange(ids[0], None, {"location": value})])
        m.bad = bad
        m.bad_contested = bad and (self.database_lost or "salesforce" in m.pending.get("location", {}))
        if not bad:
            m.pending.setdefault("location", {})["exchange"] = value
            if self.database_lost:  # as `edit`: with no base the adopted pair's conflict winner decides
                m.free.add("location")
        return True

    # -- lost state -----------------------------------------------------------------------------------------
    def lose(self, what: str, strict: bool = False) -> None:
        """``strict``: expect the same end state as a normal run, where test_regressions.py knows it differs
        (LOST_DATABASE_AFTER_DELETION, EDIT_WHILE_DATABASE_LOST); random histories forgive those two."""
        if what != "cursor":  # the whole database but the mailbox row (restored from nothing, registered again)
            for m in self.meetings:
                m.lost_tombstone = m.lost_tombstone or ("exchange" in m.deleted and not strict)
                # With no base, the pair is adopted and every differing field is a conflict for the conflict
                # winner (test_regressions.py, EDIT_WHILE_DATABASE_LOST): the model no longer says which wins.
                if not strict:
                    m.free |= set(m.pending)
                    m.bad_contested = m.bad_contested or m.bad
            self.database_lost = not strict
            self.twins.clear()  # the adopted pairs have no base: what the next session writes is no echo (#2)
        self.db.lose(what)

    # -- sessions -------------------------------------------------------------------------------------------
    def session(self, **faults: Any) -> tuple[SessionResult | None, list[tuple[str, str, tuple[str, ...]]]]:
        """One session of the real engine under the current policies and ``faults`` (see `Faults`): its result
        (``None`` when the worker was killed) and the remote writes that took effect."""
        f = self.db.faults
        f.clear()
        for name, value in faults.items():
            setattr(f, name, value)
        self.sessions += 1
        self.now = NOW + dt.timedelta(minutes=10 * self.sessions)
        self.db.arm(True)
        try:
            result = run_session(self.db.factory, EMAIL, salesforce=self.org, exchange=self.calendar,
                                 policies=self.policies, now=self.now)  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - only our kill is expected here
            from tests.checker.faults import Killed

            if not isinstance(exc, Killed):
                raise
            result = None
        finally:
            self.db.arm(False)
        writes = list(f.writes)
        f.clear()
        if result is not None and result.status == "ok":
            self.database_lost = False
            self.policy_switched = False
            self.reshared = set()
        return result, writes

    def live_links(self) -> int:
        return self.db.live_links()

    def open_health(self) -> list[tuple[str, str]]:
        return self.db.open_health()
