"""Faults behind the connector protocols: the in-memory sides of `tests.connectors.memory`, plus what goes wrong.

`FaultyCalendar` and `FaultyOrg` are the memory connectors with a shared `Faults` plan. They change nothing the
engine can see on a good day; a fault plan makes them:

- **kill the worker** at the n-th *write point* of a session, before or after it takes effect (``Killed`` is a
  `BaseException`, so it goes through the engine's ``except Exception`` like a SIGKILL would: nothing after it
  runs). Write points are every remote write call (create, update, delete, upsert) and every database commit
  (`FaultSession`), so "between any two writes" is any n;
- **be busy**: the n-th remote write call fails as a whole with a `TransientError` (a 503, a locked row);
- **mangle the Exchange feed**: every entry twice (``duplicate``), entries in reverse order (``reorder``), the
  saved cursor taken back to an older valid position (``replay``: the changes since then come again), or
  small pages, so one item shows in several pages (``page``: SyncFolderItems pages of 512, here of 1-2).

The Salesforce feed gets ``duplicate``/``reorder`` of its rows too (``queryAll`` with a watermark overlap repeats
rows by design).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from sync.connectors.base import CREATE, DELETE, UPDATE, FeedChange, ItemChange, ItemFeed, NewItem
from sync.connectors.errors import TransientError
from tests.connectors.memory import CALENDAR, MemoryCalendar, MemoryOrg

FEED_FAULTS = ("duplicate", "reorder", "replay", "page")


class Killed(BaseException):  # noqa: N818 - a kill, not an error the engine may handle
    """The worker died here (a BaseException: the engine's ``except Exception`` does not catch a kill)."""


@dataclass
class Faults:
    """What goes wrong in the current session; ``points`` counts the write points reached so far."""

    kill_at: int | None = None  # the n-th write point (1-based) kills the worker
    kill_after: bool = False  # ... after the write took effect (its answer is lost) instead of before
    busy_at: int | None = None  # the n-th remote write call fails with a TransientError
    feed: str | None = None  # one of FEED_FAULTS
    points: int = 0
    calls: int = 0
    killed: bool = False
    # (side, operation, ids) of every remote write that took effect, for the policy and write-count checks.
    writes: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def clear(self) -> None:
        self.kill_at = self.busy_at = self.feed = None
        self.kill_after = False
        self.points = self.calls = 0
        self.killed = False
        self.writes = []

    def point(self, *, after: bool) -> None:
        """A write point: kill here if the plan says so (``after``: the write has just taken effect)."""
        if not after:
            self.points += 1
        if after != self.kill_after:
            return
        if self.kill_at is not None and self.points == self.kill_at and not self.killed:
            self.killed = True
            raise Killed(f"killed at write point {self.points} ({'after' if after else 'before'} the write)")

    def remote(self, side: str, op: str, ids: Iterable[str], service: str) -> None:
        """Before a remote write call: a write point, and maybe a busy answer."""
        self.calls += 1
        self.point(after=False)
        if self.busy_at is not None and self.calls == self.busy_at:
            raise TransientError(f"{service} busy (injected)", code="ServerBusy", service=service, status=503)

    def landed(self, side: str, op: str, ids: Iterable[str]) -> None:
        self.writes.append((side, op, tuple(ids)))
        self.point(after=True)

    def db_commit(self) -> None:
        self.point(after=False)

    def db_committed(self) -> None:
        self.point(after=True)


class FaultSession(Session):
    """A SQLAlchemy session whose commits are write points (kills between two commits)."""

    faults: Faults | None = None

    def commit(self) -> None:
        faults = type(self).faults
        if faults is not None:
            faults.db_commit()
        super().commit()
        if faults is not None:
            faults.db_committed()


@dataclass
class FaultyCalendar(MemoryCalendar):
    faults: Faults = field(default_factory=Faults)
    _history: list[int] = field(default_factory=list)  # log positions of cursors handed out

    def changes(self, cursor: str | None, *, page_size: int = 512) -> ItemFeed:
        fault = self.faults.feed
        if fault == "replay" and cursor and cursor.isdigit() and self._history:
            older = [p for p in self._history if p < int(cursor)]
            cursor = str(older[len(older) // 2]) if older else cursor
        if fault == "page":
            feed = self._paged(cursor, page_size=2)
        else:
            feed = super().changes(cursor, page_size=page_size)
        if feed.cursor and feed.cursor.isdigit():
            self._history.append(int(feed.cursor))
        if fault == "duplicate":
            feed.changes = [c for change in feed.changes for c in (change, change)]
        elif fault == "reorder":
            feed.changes = list(reversed(feed.changes))
        return feed

    def _paged(self, cursor: str | None, *, page_size: int) -> ItemFeed:
        """SyncFolderItems in pages: each page collapses the changes of its own stretch of the log, so an item
        changed in two stretches shows twice (a create, then its update or delete)."""
        position = int(cursor) if cursor and cursor.isdigit() and int(cursor) <= len(self._log) else None
        if position is None:
            return super().changes(cursor)
        self.usage.calls += 1
        out: list[FeedChange] = []
        stretch: dict[str, str] = {}
        for item_id, what in [*self._log[position:], ("", "")]:
            if item_id not in stretch and (len(stretch) >= page_size or not item_id):
                out += [self._page_change(i, w) for i, w in stretch.items()]
                stretch = {}
                self.usage.calls += 1
            if item_id:
                first = stretch.get(item_id)
                stretch[item_id] = CREATE if first == CREATE and what == UPDATE else what
        return ItemFeed(changes=out, cursor=str(len(self._log)), full=False)

    def _page_change(self, item_id: str, what: str) -> FeedChange:
        item = self._items.get(item_id)
        if what == DELETE or item is None or item.folder != CALENDAR:
            return FeedChange(DELETE, item_id)  # a page read after a later deletion sees the item gone too
        return self._change(what, item_id)

    def create(self, items: Sequence[NewItem]) -> list:
        if not items:
            return []
        self.faults.remote("exchange", "create", (), self.service)
        results = super().create(items)
        self.faults.landed("exchange", "create", tuple(r.item_id for r in results if r.item_id))
        return results

    def update(self, changes: Sequence[ItemChange]) -> list:
        if not changes:
            return []
        self.faults.remote("exchange", "update", (), self.service)
        results = super().update(changes)
        self.faults.landed("exchange", "update", tuple(r.item_id for r in results if r.ok and r.item_id))
        return results

    def delete(self, item_ids: Sequence[str]) -> list:
        if not item_ids:
            return []
        self.faults.remote("exchange", "delete", (), self.service)
        results = super().delete(item_ids)
        self.faults.landed("exchange", "delete", tuple(item_ids))
        return results


@dataclass
class FaultyOrg(MemoryOrg):
    faults: Faults = field(default_factory=Faults)

    def changed_records(self, sobject: str, fields: Iterable[str], **kw: Any) -> list[dict[str, Any]]:
        rows = super().changed_records(sobject, fields, **kw)
        if self.faults.feed == "duplicate":
            rows = [r for row in rows for r in (row, dict(row))]
        elif self.faults.feed == "reorder":
            rows = list(reversed(rows))
        return rows

    def _write(self, op: str, sobject: str, call, records) -> list:
        if not records:
            return []
        self.faults.remote("salesforce", op, (), self.service)
        results = call()
        if sobject != "EventRelation":
            self.faults.landed("salesforce", op, tuple(r.id for r in results if r.success and r.id))
        else:
            self.faults.point(after=True)
        return results

    def create(self, sobject: str, records: Sequence[dict[str, Any]]) -> list:
        return self._write("create", sobject, lambda: super(FaultyOrg, self).create(sobject, records), records)

    def upsert(self, sobject: str, external_id_field: str, records: Sequence[dict[str, Any]]) -> list:
        call = lambda: super(FaultyOrg, self).upsert(sobject, external_id_field, records)  # noqa: E731
        return self._write("upsert", sobject, call, records)

    def update(self, sobject: str, records: Sequence[dict[str, Any]]) -> list:
        return self._write("update", sobject, lambda: super(FaultyOrg, self).update(sobject, records), records)

    def delete(self, ids: Sequence[str]) -> list:
        sobject = "EventRelation" if ids and all(i.startswith("0RE") for i in ids) else "Event"
        return self._write("delete", sobject, lambda: super(FaultyOrg, self).delete(ids), ids)
