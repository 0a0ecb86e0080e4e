"""Several mailboxes' sessions sharing their Salesforce writes: one sObject Collections call for many mailboxes.

The push pass holds Outlook-sourced requests for a batching window (CALSYNC_PUSH_BATCH_SECONDS) and enqueues
one *group job* for the mailboxes due together (`sync.schedule.enqueue_group`, `sync.jobs.sync_group`). The
group job runs each mailbox's normal session (`sync.session.run_session`: its own lock, its own database
session, its own connectors and echo recording) in a thread of its own, through `run_group`; the sessions'
Salesforce connectors are wrapped in `SharedWriter.client`, whose ``create`` / ``upsert`` / ``update`` /
``delete`` hand their records to one `SharedWriter`. The writer merges the waiting calls of the same verb,
sObject and external id field into one call (the connector splits it at 200 records, one Collections call
each) and hands each caller back exactly its own per-record results, in its order: one mailbox's failed record
is that mailbox's failure only. An error of the whole call (Salesforce not answering, a refused session)
reaches every caller of that call, as it would have reached each alone.

When the writer flushes: as soon as every session still running waits on it (none can add records any more),
when a call reaches 200 records, or when the oldest waiting call has waited ``wait_seconds`` (a session busy
with Exchange does not hold the others for longer).

API-usage counters: a merged call is made on the connector of its first caller and counted there, once, as
every call is (``usage.calls``, ``by_resource``); the other sessions of the call count nothing for it. So the
session records of a group add up to the calls made, and a session's own record can show 0 writes for records
it did write (the group's first caller carries them); ``shared`` on each client counts the records it had
written by a call another session made.

Crash safety is the engine's: creates are upserts on the sync-key external id after the pending link is
committed (docs/invariants.md), so a session that dies after the shared call and before its commit finds its
records again at its next session instead of creating them twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sync.connectors.base import RecordResult

log = logging.getLogger("calsync.push.batching")

MAX_RECORDS = 200  # records of one sObject Collections call
T = TypeVar("T")


@dataclass
class _Call:
    inner: Any  # the caller's own connector
    records: list[Any]
    since: float
    results: list[RecordResult] | None = None
    error: BaseException | None = None
    done: bool = False
    made_by_me: bool = False


@dataclass
class WriterStats:
    calls: int = 0  # merged calls made (each may be several Collections calls past 200 records)
    records: int = 0
    callers: int = 0  # write calls of the sessions the merged calls served
    sizes: list[int] = field(default_factory=list)  # callers per merged call


class SharedWriter:
    """Merges concurrent Salesforce writes of ``participants`` sessions (see the module docstring)."""

    def __init__(self, participants: int, *, wait_seconds: float = 2.0, max_records: int = MAX_RECORDS) -> None:
        self._cond = threading.Condition()
        self._active = participants
        self._waiting = 0
        self._pending: dict[tuple[str, str | None, str | None], list[_Call]] = {}
        self.wait_seconds = wait_seconds
        self.max_records = max_records
        self.stats = WriterStats()

    def client(self, inner: Any) -> SharedClient:
        """``inner`` (a session's Salesforce connector) with its record writes going through this writer."""
        return SharedClient(inner, self)

    def leave(self) -> None:
        """A session ended (or never started): the others no longer wait for it."""
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def submit(self, inner: Any, verb: str, sobject: str | None, external_id: str | None,
               records: Sequence[Any]) -> tuple[list[RecordResult], bool]:  # fmt: skip
        """Write ``records`` with the others' of the same kind; returns this caller's results and whether its
        own connector made (and counted) the call."""
        if not records:
            return [], False
        key = (verb, sobject, external_id)
        call = _Call(inner, list(records), time.monotonic())
        with self._cond:
            self._pending.setdefault(key, []).append(call)
            self._waiting += 1
            while not call.done:
                batches = self._due()
                if batches:
                    self._cond.release()
                    try:
                        for batch_key, batch in batches:
                            self._write(batch_key, batch)
                    finally:
                        self._cond.acquire()
                    continue
                oldest = min((c.since for calls in self._pending.values() for c in calls), default=None)
                timeout = self.wait_seconds if oldest is None else oldest + self.wait_seconds - time.monotonic()
                self._cond.wait(max(0.01, timeout))
        if call.error is not None:
            raise call.error
        return call.results or [], call.made_by_me

    def _due(self) -> list[tuple[tuple[str, str | None, str | None], list[_Call]]]:
        """Under the lock: take every pending call when a flush is due, else nothing."""
        if not self._pending:
            return []
        now = time.monotonic()
        everyone_waits = self._waiting >= self._active
        full = any(sum(len(c.records) for c in calls) >= self.max_records for calls in self._pending.values())
        late = any(c.since + self.wait_seconds <= now for calls in self._pending.values() for c in calls)
        if not (everyone_waits or full or late):
            return []
        batches = list(self._pending.items())
        self._pending = {}
        return batches

    def _write(self, key: tuple[str, str | None, str | None], batch: list[_Call]) -> None:
        """Outside the lock: one merged call on the first caller's connector (each caller waits on its own
        call only, so no connector is used by two threads at once), the results handed back in slices."""
        verb, sobject, external_id = key
        records = [r for call in batch for r in call.records]
        connector = batch[0].inner
        try:
            if verb == "create":
                results = connector.create(sobject, records)
            elif verb == "upsert":
                results = connector.upsert(sobject, external_id, records)
            elif verb == "update":
                results = connector.update(sobject, records)
            else:
                results = connector.delete(records)
            error = None
        except Exception as exc:  # the whole call failed: every caller sees it, as it would alone
            results, error = [], exc
        offset = 0
        with self._cond:
            self.stats.calls += 1
            self.stats.records += len(records)
            self.stats.callers += len(batch)
            self.stats.sizes.append(len(batch))
            for index, call in enumerate(batch):
                call.results = list(results[offset : offset + len(call.records)])
                call.error = error
                call.made_by_me = index == 0
                call.done = True
                self._waiting -= 1  # answered: no longer one of those who cannot add records
                offset += len(call.records)
            self._cond.notify_all()
        if len(batch) > 1:
            log.debug("one %s %s call for %d sessions (%d records)", verb, sobject or "", len(batch), len(records))


class SharedClient:
    """A session's Salesforce connector whose record writes go through a `SharedWriter`; everything else
    (reads, usage, metadata) is the connector's own."""

    def __init__(self, inner: Any, writer: SharedWriter) -> None:
        self._inner = inner
        self._writer = writer
        self.shared = 0  # records written by a call another session's connector made

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _submit(self, verb: str, sobject: str | None, external_id: str | None, records: Sequence[Any]) -> list[Any]:
        results, mine = self._writer.submit(self._inner, verb, sobject, external_id, records)
        if not mine:
            self.shared += len(records)
        return results

    def create(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]:
        return self._submit("create", sobject, None, records)

    def upsert(self, sobject: str, external_id_field: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]:
        return self._submit("upsert", sobject, external_id_field, records)

    def update(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]:
        return self._submit("update", sobject, None, records)

    def delete(self, ids: Sequence[str]) -> list[RecordResult]:
        return self._submit("delete", None, None, list(ids))


def run_group(sessions: Sequence[Callable[[SharedWriter], T]], *,
              wait_seconds: float = 2.0) -> tuple[list[T | BaseException], WriterStats]:  # fmt: skip
    """Run each ``session(writer)`` in a thread of its own, all sharing one `SharedWriter`: their results (or
    the exception one raised) in order, and the writer's figures. Each leaves the writer when it returns,
    whatever happened."""
    writer = SharedWriter(len(sessions), wait_seconds=wait_seconds)
    out: list[T | BaseException] = [RuntimeError("not run")] * len(sessions)

    def run(index: int) -> None:
        try:
            out[index] = sessions[index](writer)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, per session
            out[index] = exc
        finally:
            writer.leave()

    threads = [threading.Thread(target=run, args=(i,), name=f"group session {i}") for i in range(len(sessions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out, writer.stats
