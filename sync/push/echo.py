"""Echo suppression: the notifications our own writes cause enqueue nothing.

A session records every item it writes and the version the write produced: (Exchange item id, change key)
or (Salesforce record id, SystemModstamp) — `record_writes`. A listener or the org scan asks `is_echo` before
`request_sync`: a notification for exactly that (id, version) is the echo of our own write.

Keys (``calsync:push:`` …):

- ``echo:<mailbox>:<side>:<item id>`` — hash, its fields the versions we wrote (several when a session writes
  one item twice), value the write's time; TTL CALSYNC_PUSH_ECHO_TTL (default 15 minutes: notifications come
  within seconds, the org scan within its interval and overlap).
- ``writing:<mailbox>:<side>`` — set while a write batch is in flight (`writing`). The notification a write
  causes can reach a listener before the write's answer (with the change key to compare) reaches the session;
  `is_echo` waits for the marker to go (at most CALSYNC_PUSH_ECHO_WAIT_SECONDS) before it answers.

Versions we do not know: the Salesforce REST write answers carry no SystemModstamp, and reading it back would
cost a query per session, which the push design exists to save. Such a write is stored as the field ``*`` with
its time; a Salesforce notification whose modstamp is no later than that time plus a clock margin
(`PushConfig.clock_margin_seconds`) is its echo: the record's last modification is not later than our write,
so there is nothing new to read. An Exchange write always has its change key, except deletions (``*`` then
matches only a notification without a version). A notification with a version we did not write is somebody
else's edit and syncs.

`RecordingExchange` and `RecordingSalesforce` wrap a session's connectors and do all of this around every
write call, whatever path in the engine makes it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from sync.push.config import DEFAULT, PushConfig

log = logging.getLogger("calsync.push")

SIDES = ("exchange", "salesforce")
UNKNOWN = "*"
# The field that keeps when the last write of the item began (not a version): a version stamped before it is
# one that write superseded (`sync.push.salesforce_rows` leaves such held rows out).
STARTED = "started"


def echo_key(mailbox_id: int, side: str, item_id: str) -> str:
    return f"calsync:push:echo:{int(mailbox_id)}:{side}:{item_id}"


def writing_key(mailbox_id: int, side: str) -> str:
    return f"calsync:push:writing:{int(mailbox_id)}:{side}"


def _check(side: str) -> None:
    if side not in SIDES:
        raise ValueError(f"unknown side {side!r} (expected exchange or salesforce)")


def normalize_version(side: str, version: str | None) -> str:
    """One spelling per version: Salesforce modstamps come as ``2026-12-04T18:00:00.000+0000`` from the REST
    API and ``...Z`` elsewhere; Graph etags wrap the change key as ``W/"<change key>"``."""
    if version is None or version == "":
        return UNKNOWN
    text = str(version).strip()
    if side == "exchange" and text.startswith('W/"') and text.endswith('"'):
        return text[3:-1]
    if side == "salesforce":
        if text.endswith("Z"):
            text = text[:-1] + "+0000"
        if "." not in text and len(text) == 24:  # 2026-12-04T18:00:00+0000: no milliseconds
            text = text[:19] + ".000" + text[19:]
    return text


def _modstamp_epoch(version: str) -> float | None:
    try:
        return dt.datetime.strptime(version, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return None


def record_writes(redis: Redis, mailbox_id: int, side: str, writes: Iterable[tuple[str, str | None]], *,
                  now: float | None = None, config: PushConfig = DEFAULT,
                  started: float | None = None) -> int:  # fmt: skip
    """Remember the (item id, version) pairs a session just wrote (version None: not known, see the module
    docstring), and with ``started`` when the write began (field `STARTED`). Returns how many were recorded."""
    _check(side)
    now = time.time() if now is None else now
    count = 0
    with redis.pipeline(transaction=False) as pipe:
        for item_id, version in writes:
            if not item_id:
                continue
            key = echo_key(mailbox_id, side, item_id)
            pipe.hset(key, normalize_version(side, version), now)
            if started is not None:
                pipe.hset(key, STARTED, started)
            pipe.expire(key, config.echo_ttl)
            count += 1
        if count:
            pipe.execute()
    return count


@contextmanager
def writing(redis: Redis, mailbox_id: int, side: str, *, config: PushConfig = DEFAULT) -> Iterator[None]:
    """Mark a write batch of this mailbox and side in flight; `record_writes` it before leaving the block."""
    _check(side)
    key = writing_key(mailbox_id, side)
    redis.set(key, 1, ex=config.in_flight_ttl)
    try:
        yield
    finally:
        redis.delete(key)


def is_echo(redis: Redis, mailbox_id: int, side: str, item_id: str, version: str | None, *,
            wait: float | None = None, config: PushConfig = DEFAULT) -> bool:  # fmt: skip
    """True when (item id, version) is one of our own recent writes: that notification enqueues nothing.

    While a write of this mailbox and side is in flight it waits (at most ``wait`` seconds, default
    CALSYNC_PUSH_ECHO_WAIT_SECONDS) for its result: callers that must answer fast (a webhook request) pass a
    smaller ``wait`` or check off the request thread."""
    _check(side)
    if not item_id:
        return False
    deadline = time.monotonic() + (config.echo_wait_seconds if wait is None else wait)
    while redis.exists(writing_key(mailbox_id, side)) and time.monotonic() < deadline:
        time.sleep(0.05)
    wanted = normalize_version(side, version)
    written = redis.hgetall(echo_key(mailbox_id, side, item_id))
    fields = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in written.items()}
    if wanted in fields:
        return True
    if side == "salesforce" and UNKNOWN in fields and wanted != UNKNOWN:
        stamp = _modstamp_epoch(wanted)
        return stamp is not None and stamp <= fields[UNKNOWN] + config.clock_margin_seconds
    return False


# -- the session's connectors, recording their own writes ----------------------------------------------------
class _Recording:
    """Delegates everything to the wrapped connector; subclasses intercept the write calls."""

    side = ""

    def __init__(self, inner: Any, redis: Redis, mailbox_id: int, config: PushConfig = DEFAULT) -> None:
        self._inner = inner
        self._redis = redis
        self._mailbox_id = mailbox_id
        self._config = config
        self.recorded = 0  # how many writes were recorded (the session's figures, the tests)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _write(self, call, pairs_of):
        # Recording is best effort: with Redis gone mid-session the write still happens (a session does not
        # need Redis to finish its work); the only cost is that its notifications are not known as echoes and
        # may make one more session (docs/push.md, "Echo suppression").
        key = writing_key(self._mailbox_id, self.side)
        marked = self._best_effort("not marked in flight", self._redis.set, key, 1, ex=self._config.in_flight_ttl)
        started = time.time()
        try:
            results = call()
            recorded = self._best_effort("not recorded as echoes", record_writes, self._redis, self._mailbox_id,
                                         self.side, pairs_of(results), config=self._config,
                                         started=started)  # fmt: skip
            self.recorded += recorded or 0
        finally:
            if marked:
                self._best_effort("in-flight marker left to its TTL", self._redis.delete, key)
        return results

    def _best_effort(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except RedisError as exc:
            log.warning("mailbox %s: %s writes %s (%s)", self._mailbox_id, self.side, what, exc)
            return None


class RecordingExchange(_Recording):
    """An `ExchangeCalendar` whose creates, updates and deletes are recorded as (item id, change key)."""

    side = "exchange"

    @staticmethod
    def _changed(results) -> list[tuple[str, str | None]]:
        return [(r.item_id, r.change_key) for r in results if r.ok and r.item_id]

    def create(self, items: Sequence[Any]) -> list[Any]:
        return self._write(lambda: self._inner.create(items), self._changed)

    def update(self, changes: Sequence[Any]) -> list[Any]:
        return self._write(lambda: self._inner.update(changes), self._changed)

    def delete(self, item_ids: Sequence[str]) -> list[Any]:
        ids = list(item_ids)
        return self._write(lambda: self._inner.delete(ids),
                           lambda results: [(i, None) for i, r in zip(ids, results, strict=False) if r.ok])  # fmt: skip

    def update_occurrences(self, master_id: str, changes: Sequence[Any]) -> list[Any]:
        return self._write(lambda: self._inner.update_occurrences(master_id, changes), self._changed)

    def delete_occurrences(self, master_id: str, instance_indexes: Sequence[int]) -> int:
        # The master's new change key is not in the answer: a notification for the master may enqueue a session.
        return self._write(lambda: self._inner.delete_occurrences(master_id, instance_indexes), lambda _n: ())


class RecordingSalesforce(_Recording):
    """A `SalesforceOrg` whose record writes are recorded as (record id, unknown modstamp, at the write's end)."""

    side = "salesforce"

    @staticmethod
    def _ids(results) -> list[tuple[str, None]]:
        return [(r.id, None) for r in results if r.success and r.id]

    def create(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[Any]:
        return self._write(lambda: self._inner.create(sobject, records), self._ids)

    def upsert(self, sobject: str, external_id_field: str, records: Sequence[dict[str, Any]]) -> list[Any]:
        return self._write(lambda: self._inner.upsert(sobject, external_id_field, records), self._ids)

    def update(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[Any]:
        ids = [record.get("Id") for record in records]
        return self._write(lambda: self._inner.update(sobject, records),
                           lambda results: [(i or r.id, None) for i, r in zip(ids, results, strict=False)
                                            if r.success and (i or r.id)])  # fmt: skip

    def delete(self, ids: Sequence[str]) -> list[Any]:
        ids = list(ids)

        def deleted(results) -> list[tuple[str, None]]:
            return [(i, None) for i, r in zip(ids, results, strict=False) if r.success]

        return self._write(lambda: self._inner.delete(ids), deleted)
