"""``calsync listener``: Exchange push for the EWS mailboxes (docs/push.md, "EWS listener").

Each listener process holds subscriptions on the calendars of the EWS mailboxes it has a lease on
(`sync.push.leases`) and turns every item event into `request_sync` for that mailbox, unless it is the echo of
our own write (`is_echo` on the event's item id and change key). It never reads or writes calendars itself:
the session stays the one place that does.

**Streaming** (the default): one GetStreamingEvents connection per group of up to
CALSYNC_LISTENER_SUBSCRIPTIONS_PER_CONNECTION subscriptions made by the same login, each on a thread of its own
(`_Stream`). A connection lasts CALSYNC_LISTENER_CONNECTION_MINUTES (below Exchange's 30); when the server
closes it the thread opens the next at once, and the subscription queues events meanwhile, so nothing falls
between two connections. A group whose membership changes opens a new connection with the new set; Exchange then
ends the old one (ErrorNewEventStreamConnectionOpened) after everything it had already sent, so a regrouping loses
nothing either.

**Pull**: CALSYNC_LISTENER_MODE=pull, or a mailbox whose streaming subscription is refused or whose connection
failed CALSYNC_LISTENER_STREAM_FAILURES times in a row. Each pass calls GetEvents from the saved watermark; the
watermark is saved only after the events were handled (at least once, never lost).

**What is kept, and what covers a gap.** The subscription (kind, id, pull watermark) is saved in Redis. A new
holder (a restart, a takeover) resumes it: a streaming subscription is still queued on the server for 30
minutes after its last connection, a pull one replays from its watermark. A gap is covered by one session,
``request_sync(..., full=False)``, whenever the listener cannot be sure it heard everything:

- a mailbox's first subscription, or a new one after the old was lost on the server (ErrorSubscriptionNotFound,
  ErrorExpiredSubscription) or could not resume its watermark: the edits before it;
- a takeover from a listener that died (its lease expired without a clean hand-over): events its connection had
  received but not handled.

**Health**: every pass reports each held mailbox's channel (``ews-streaming`` or ``ews-pull``) ``up`` with
`record_channel`, or ``down`` with the reason; a listener that dies stops the heartbeats, so those mailboxes fall
back to 30-minute polling by themselves. `record_status` publishes the listener's own figures (mailboxes,
connections, EWS calls by operation, events, echoes, requests).

Protocol-neutral: exchangelib is spoken by `sync.push.ews_streaming`, which the command line hands in as the
`Backend`; this module sees only `ItemEvent` and the errors below.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from calsync.settings import Settings
from sync.models import Mailbox
from sync.push import is_echo, record_channel, record_event, record_notification, record_status, request_sync
from sync.push.leases import Leases, forget_subscription, load_subscription, quota, save_subscription
from sync.schedule import lock_key

log = logging.getLogger("calsync.listener")

STREAMING, PULL = "streaming", "pull"
CHANNELS = {STREAMING: "ews-streaming", PULL: "ews-pull"}
# Subscribe answers meaning "this server or mailbox does not do streaming": pull instead, at once.
STREAMING_REFUSED = frozenset({"ErrorInvalidRequest", "ErrorInvalidSubscriptionRequest", "ErrorInvalidServerVersion",
                               "ErrorSchemaValidation"})  # fmt: skip


# -- what the backend speaks ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ItemEvent:
    """One item event of a mailbox's calendar: what echo suppression needs and nothing else."""

    kind: str  # CreatedEvent, ModifiedEvent, DeletedEvent, MovedEvent, CopiedEvent
    item_id: str
    changekey: str | None


class PushError(Exception):
    """A call failed for a reason other than a lost subscription (network, login, throttling, server error).
    ``code`` is stable (the EWS response code or the client's error class) for health entries."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class SubscriptionsLost(PushError):
    """The server no longer knows these subscriptions (expired, unknown): subscribe again and cover the gap."""

    def __init__(self, ids: list[str], code: str, message: str = "") -> None:
        super().__init__(message or f"{code}: {len(ids)} subscription(s)", code)
        self.ids = list(ids)


class WatermarkLost(PushError):
    """A pull subscription cannot resume from the saved watermark (older than the server's event table)."""


class StreamSuperseded(PushError):
    """A newer GetStreamingEvents connection took these subscriptions over (ours after a regrouping, or another
    listener's after a lease moved): this connection has ended and nothing was lost."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__("a newer connection took the subscriptions over", "ErrorNewEventStreamConnectionOpened")
        self.ids = list(ids)


class MailboxPush(Protocol):
    """Subscriptions on one mailbox's calendar."""

    email: str
    login_key: tuple  # subscriptions made by the same login may share a streaming connection

    def subscribe_streaming(self) -> str: ...
    def subscribe_pull(self, watermark: str | None, timeout_minutes: int) -> tuple[str, str]: ...
    def get_events(self, sub_id: str, watermark: str) -> tuple[list[ItemEvent], str]: ...
    def unsubscribe(self, sub_id: str) -> None: ...


class Connection(Protocol):
    def notifications(self) -> Iterator[tuple[str, list[ItemEvent]]]: ...
    def close(self) -> None: ...


class Backend(Protocol):
    def mailbox(self, email: str) -> MailboxPush: ...
    def stream(self, mailbox: MailboxPush, subscription_ids: list[str], minutes: int, *,
               on_open: Callable[[], None] | None = None) -> Connection: ...  # fmt: skip
    def calls(self) -> dict[str, int]: ...


# -- configuration ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListenerConfig:
    mode: str = STREAMING
    interval: float = 10.0
    connection_minutes: int = 25
    per_connection: int = 200
    lease_ttl: int = 60
    pull_timeout_minutes: int = 30
    stream_failures: int = 3
    shard: int = 0
    shards: int = 1
    heartbeat_ttl: int | None = None  # None: the push heartbeat TTL (CALSYNC_PUSH_HEARTBEAT_TTL)
    defer_max: float = 900.0  # longest wait for a running session's end (CALSYNC_JOB_TIMEOUT)


def listener_config(settings: Settings, *, shard: int = 0, shards: int = 1, interval: float | None = None,
                    mode: str | None = None) -> ListenerConfig:  # fmt: skip
    """The CALSYNC_LISTENER_* settings (and the push heartbeat TTL), with the command line's overrides."""
    return ListenerConfig(
        mode=mode or settings.listener_mode,
        interval=interval or settings.listener_interval,
        connection_minutes=settings.listener_connection_minutes,
        per_connection=settings.listener_subscriptions_per_connection,
        lease_ttl=settings.listener_lease_ttl,
        pull_timeout_minutes=settings.listener_pull_timeout_minutes,
        stream_failures=settings.listener_stream_failures,
        shard=shard,
        shards=shards,
        heartbeat_ttl=settings.push_heartbeat_ttl,
        defer_max=float(settings.job_timeout),
    )


def listener_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


# -- state -----------------------------------------------------------------------------------------------------
@dataclass
class Held:
    """A mailbox this listener holds the lease on."""

    id: int
    email: str
    kind: str = STREAMING
    sub_id: str | None = None
    watermark: str | None = None  # pull only
    push: MailboxPush | None = None
    error: str = ""  # why the channel is down, "" when up
    streaming_failures: int = 0


@dataclass
class Stats:
    events: int = 0
    echoes: int = 0
    requests: int = 0
    gaps: int = 0  # catch-up sessions requested (new subscriptions, lost ones, takeovers)
    connections: int = 0
    lost: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {k: getattr(self, k) for k in ("events", "echoes", "requests", "gaps", "connections", "lost")}


class _Stream:
    """One GetStreamingEvents connection, reopened as long as it is wanted, on a thread of its own."""

    def __init__(self, listener: Listener, login_key: tuple, members: dict[int, str]) -> None:
        self.listener = listener
        self.login_key = login_key
        self.members = dict(members)  # mailbox id -> subscription id
        self.retired = threading.Event()
        self.connection: Connection | None = None
        self.failures = 0
        self.error = ""
        self.thread = threading.Thread(target=self._run, name=f"ews-stream-{min(members)}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and not self.retired.is_set()

    def retire(self, *, close: bool = False) -> None:
        """Stop reconnecting. ``close``: also end the open connection now (shutdown)."""
        self.retired.set()
        if close and self.connection is not None:
            self.connection.close()

    def _run(self) -> None:
        listener = self.listener
        while not self.retired.is_set() and self.members:
            first = min(self.members)
            held = listener.held.get(first)
            if held is None or held.push is None:
                return
            ids = list(self.members.values())
            try:
                self.connection = listener.backend.stream(held.push, ids, listener.config.connection_minutes,
                                                          on_open=self._opened)  # fmt: skip
                listener.stats.add(connections=1)
                for sub_id, events in self.connection.notifications():
                    self.failures = 0
                    listener.handle(self.mailbox_of(sub_id), events)
                self.failures = 0  # ConnectionStatus Closed: the lifetime is over, open the next one at once
            except StreamSuperseded as exc:
                if set(exc.ids) & set(ids) and self.retired.is_set():
                    return  # the connection that replaced us has them
                listener.inbox.put(("superseded", self, exc.ids))
                return
            except SubscriptionsLost as exc:
                lost = {mid for mid, sid in self.members.items() if sid in exc.ids} or set(self.members)
                for mid in lost:
                    self.members.pop(mid, None)
                listener.inbox.put(("lost", sorted(lost), exc.code))
            except PushError as exc:
                self.failures += 1
                self.error = f"{exc.code}: {exc}"[:300]
                listener.inbox.put(("failed", self, self.error))
                log.warning("streaming connection for %d mailbox(es) failed (%d in a row): %s",
                            len(ids), self.failures, self.error)  # fmt: skip
                if self.retired.wait(min(60.0, 2.0 ** min(self.failures, 6) / 2)):
                    return
            except Exception:  # a bug must not silently end a group's notifications: log, report, retry
                log.exception("streaming connection thread failed")
                self.failures += 1
                self.error = "internal error (see the listener's log)"
                listener.inbox.put(("failed", self, self.error))
                if self.retired.wait(5.0):
                    return
            finally:
                self.connection = None

    def _opened(self) -> None:
        """The server answered and started the stream: the connection is up (until it fails again)."""
        self.error = ""

    def mailbox_of(self, sub_id: str) -> int | None:
        for mid, sid in self.members.items():
            if sid == sub_id:
                return mid
        return None


class Listener:
    """`calsync listener`: see the module docstring. `tick` is one pass; `run` repeats it until stopped."""

    def __init__(
        self,
        redis: Redis,
        db_factory: sessionmaker[Session],
        backend: Backend,
        config: ListenerConfig,
        *,
        name: str | None = None,
        keepers: Iterable[tuple[str, Callable[[], Any]]] = (),
    ) -> None:
        self.redis = redis
        self.db_factory = db_factory
        self.backend = backend
        self.config = config
        self.name = name or listener_name()
        self.leases = Leases(redis, self.name, config.lease_ttl)
        self.keepers = list(keepers)
        self.held: dict[int, Held] = {}
        self.streams: list[_Stream] = []
        self.inbox: queue.Queue = queue.Queue()
        self.stats = Stats()
        self.keeper_errors: dict[str, str] = {}
        self.passes = 0
        self.deferred: dict[int, tuple[float, list[ItemEvent]]] = {}  # mailbox id -> (since, events)
        self._deferred_lock = threading.Lock()

    # -- one pass ------------------------------------------------------------------------------------------------
    def tick(self) -> dict[str, Any]:
        """Leases, subscriptions, pull rounds, streaming groups, heartbeats, status, keepers. Returns the status."""
        self.passes += 1
        self._drain_inbox()
        self.settle()
        live = self.leases.heartbeat()
        self._balance(self._ews_mailboxes(), max(len(live), 1))
        self._subscribe()
        self._pull()
        self._regroup()
        self._drain_inbox()
        self._heartbeats()
        self._keepers()
        status = self.status(live)
        record_status(self.redis, "listener", self.name, status, ttl=max(self.config.lease_ttl, 1))
        return status

    def _ews_mailboxes(self) -> dict[int, str]:
        with self.db_factory() as db:
            rows = db.execute(
                select(Mailbox.id, Mailbox.email)
                .where(Mailbox.enabled.is_(True), Mailbox.backend == "ews")
                .order_by(Mailbox.id)
            ).all()
        shards = max(self.config.shards, 1)
        return {mid: email for mid, email in rows if mid % shards == self.config.shard}

    def _balance(self, mailboxes: dict[int, str], live: int) -> None:
        """Renew our leases, give back what is no longer ours or above our quota, take free ones up to it."""
        kept = self.leases.renew(self.held)
        for mid in [m for m in self.held if m not in kept]:
            log.warning("lease on mailbox %d was lost (taken over by another listener)", mid)
            self._drop(mid, release=False)
        for mid in [m for m in self.held if m not in mailboxes]:  # disabled, removed or moved to Graph
            self._drop(mid, release=True, unsubscribe=True)
        limit = quota(len(mailboxes), live)
        for mid in sorted(self.held, reverse=True)[: max(len(self.held) - limit, 0)]:
            log.info("handing mailbox %d over (quota %d with %d listeners)", mid, limit, live)
            self._drop(mid, release=True)
        if len(self.held) >= limit:
            return
        free = [mid for mid, holder in self.leases.holders(m for m in mailboxes if m not in self.held).items()
                if holder is None]  # fmt: skip
        # Start at a different place per listener, so that two listeners starting together rarely race.
        if free:
            offset = hash(self.name) % len(free)
            free = free[offset:] + free[:offset]
        for mid in free:
            if len(self.held) >= limit:
                break
            if self.leases.take(mid):
                self._adopt(mid, mailboxes[mid])

    def _adopt(self, mid: int, email: str) -> None:
        """A mailbox we just took: resume its saved subscription if there is one."""
        held = Held(mid, email, kind=self.config.mode)
        saved = load_subscription(self.redis, mid)
        if saved.get("id") and saved.get("kind") in (STREAMING, PULL):
            held.kind, held.sub_id, held.watermark = saved["kind"], saved["id"], saved.get("watermark") or None
            held.streaming_failures = self.config.stream_failures if saved.get("fallback") == "1" else 0
            if saved.get("released") != "1" and saved.get("holder") != self.name:
                # Its holder died: what its connection had received but not handled is unknown.
                self._gap(mid, f"taken over from {saved.get('holder') or 'a listener'} without a hand-over")
            log.info("mailbox %d: resuming %s subscription %s", mid, held.kind, _short(held.sub_id))
            record_event(self.redis, "resume", mailbox_id=mid, channel=CHANNELS[held.kind])
        self.held[mid] = held
        self._save(held)

    def _drop(self, mid: int, *, release: bool, unsubscribe: bool = False, clean: bool = True) -> None:
        held = self.held.pop(mid, None)
        if held is None:
            return
        if unsubscribe and held.sub_id and held.push is not None:
            try:
                held.push.unsubscribe(held.sub_id)
            except PushError as exc:
                log.info("mailbox %d: unsubscribe failed (%s); the subscription expires on its own", mid, exc.code)
            forget_subscription(self.redis, mid)
        elif release:
            self._save(held, released=clean)
        if release:
            self.leases.release([mid])
        # A streaming group with this mailbox regroups in `_regroup`; its old connection ends when superseded.

    def _push(self, held: Held) -> MailboxPush:
        if held.push is None:
            held.push = self.backend.mailbox(held.email)
        return held.push

    def _subscribe(self) -> None:
        for held in list(self.held.values()):
            if held.sub_id:
                continue
            try:
                push = self._push(held)
            except Exception as exc:  # noqa: BLE001 - a mailbox whose connector cannot be built stays down
                held.error = f"cannot reach the mailbox: {type(exc).__name__}: {exc}"[:300]
                continue
            try:
                if held.kind == STREAMING and held.streaming_failures < self.config.stream_failures:
                    try:
                        held.sub_id, held.watermark = push.subscribe_streaming(), None
                    except PushError as exc:
                        if exc.code not in STREAMING_REFUSED:
                            raise
                        log.warning("mailbox %d: streaming refused (%s): pull instead", held.id, exc.code)
                        held.kind, held.streaming_failures = PULL, self.config.stream_failures
                replayed = False
                if not held.sub_id:
                    if held.kind == STREAMING:
                        held.watermark = None  # a streaming subscription has none; the pull one starts afresh
                    held.kind = PULL
                    try:
                        held.sub_id, mark = push.subscribe_pull(held.watermark, self.config.pull_timeout_minutes)
                        replayed = bool(held.watermark)  # the server replays everything after the saved watermark
                    except WatermarkLost:
                        held.sub_id, mark = push.subscribe_pull(None, self.config.pull_timeout_minutes)
                    held.watermark = held.watermark if replayed else mark
                held.error = ""
                self._save(held)
                log.info("mailbox %d: new %s subscription %s", held.id, held.kind, _short(held.sub_id))
                if not replayed:
                    self._gap(held.id, f"new {held.kind} subscription")
            except PushError as exc:
                held.error = f"subscribe failed: {exc.code}: {exc}"[:300]
                log.warning("mailbox %d: %s", held.id, held.error)

    def _pull(self) -> None:
        for held in list(self.held.values()):
            if held.kind != PULL or not held.sub_id:
                continue
            try:
                events, mark = self._push(held).get_events(held.sub_id, held.watermark or "")
            except SubscriptionsLost as exc:
                # Pull subscriptions resume from the watermark: subscribe again from it, nothing is missed.
                self.stats.add(lost=1)
                record_event(self.redis, "recreate", mailbox_id=held.id, channel=CHANNELS[PULL])
                log.info("mailbox %d: pull subscription lost (%s): resubscribing from its watermark", held.id, exc.code)
                self._resubscribe_pull(held)
                continue
            except WatermarkLost:
                held.sub_id = None
                held.watermark = None
                continue  # `_subscribe` makes a fresh one next pass and covers the gap
            except PushError as exc:
                held.error = f"GetEvents failed: {exc.code}: {exc}"[:300]
                continue
            self.handle(held.id, events, channel=CHANNELS[PULL])
            held.watermark, held.error = mark, ""
            self._save(held)  # only now: the events before ``mark`` were handled

    def _resubscribe_pull(self, held: Held) -> None:
        try:
            # GetEvents continues from the saved watermark: the new subscription replays everything after it.
            held.sub_id, _ = self._push(held).subscribe_pull(held.watermark, self.config.pull_timeout_minutes)
            held.error = ""
            self._save(held)
        except WatermarkLost:
            held.sub_id, held.watermark = None, None  # `_subscribe` starts afresh and covers the gap
        except PushError as exc:
            held.sub_id = None  # subscribe again next pass (from the watermark, which we keep)
            held.error = f"resubscribe failed: {exc.code}: {exc}"[:300]

    # -- streaming groups ------------------------------------------------------------------------------------------
    def _regroup(self) -> None:
        """Stable groups per login: a mailbox stays in its connection while it is held; newcomers fill a
        connection with room or open a new one; any group whose members changed reconnects with the new set."""
        wanted = {}
        for held in self.held.values():
            if held.kind == STREAMING and held.sub_id:
                try:
                    self._push(held)  # a resumed subscription has no client yet
                except Exception as exc:  # noqa: BLE001 - a mailbox whose connector cannot be built stays down
                    held.error = f"cannot reach the mailbox: {type(exc).__name__}: {exc}"[:300]
                    continue
                wanted[held.id] = held
        placed: set[int] = set()
        plans: list[tuple[_Stream | None, tuple, dict[int, str]]] = []
        for stream in self.streams:
            if not stream.alive:
                continue
            members = {mid: wanted[mid].sub_id for mid in stream.members if mid in wanted}
            placed |= set(members)
            plans.append((stream, stream.login_key, members))
        for held in sorted(wanted.values(), key=lambda h: h.id):
            if held.id in placed:
                continue
            key = held.push.login_key
            target = next((p for p in plans if p[1] == key and len(p[2]) < self.config.per_connection), None)
            if target is None:
                target = (None, key, {})
                plans.append(target)
            target[2][held.id] = held.sub_id
        streams = []
        for stream, key, members in plans:
            if stream is not None and members == stream.members:
                streams.append(stream)
                continue
            if stream is not None:
                stream.retire()  # ended by the server once the new connection takes the subscriptions over
            if members:
                fresh = _Stream(self, key, members)
                fresh.start()
                streams.append(fresh)
        for stream in self.streams:
            if stream not in streams and not stream.retired.is_set():
                stream.retire()
        self.streams = streams

    def _drain_inbox(self) -> None:
        while True:
            try:
                kind, *rest = self.inbox.get_nowait()
            except queue.Empty:
                return
            if kind == "lost":
                mids, code = rest
                for mid in mids:
                    held = self.held.get(mid)
                    if held is None:
                        continue
                    self.stats.add(lost=1)
                    log.info("mailbox %d: streaming subscription lost on the server (%s): subscribing again", mid, code)
                    record_event(self.redis, "recreate", mailbox_id=mid, channel=CHANNELS[STREAMING])
                    held.sub_id = None  # `_subscribe` makes a new one and requests the catch-up session
            elif kind == "failed":
                stream, detail = rest
                for mid in stream.members:
                    held = self.held.get(mid)
                    if held is None:
                        continue
                    if stream.failures >= self.config.stream_failures and held.kind == STREAMING:
                        log.warning("mailbox %d: streaming failed %d times in a row: falling back to pull",
                                    mid, stream.failures)  # fmt: skip
                        held.kind, held.sub_id, held.watermark = PULL, None, None
                        held.streaming_failures = stream.failures
                        record_event(self.redis, "fallback", mailbox_id=mid, channel=CHANNELS[STREAMING])
                        record_channel(self.redis, mid, CHANNELS[STREAMING], "down",
                                       f"fell back to pull: {detail}", self.config.heartbeat_ttl)  # fmt: skip
                if stream.failures >= self.config.stream_failures:
                    stream.retire(close=True)
            elif kind == "superseded":
                stream, _ids = rest
                # Not by our own regrouping: another listener opened a connection for these subscriptions (it took
                # the lease) or something else did. `_balance` sees the lost lease; the group reconnects meanwhile.
                stream.retire()

    # -- events ------------------------------------------------------------------------------------------------
    def handle(self, mailbox_id: int | None, events: list[ItemEvent], *, channel: str = CHANNELS[STREAMING]) -> bool:
        """The only thing a notification does: request a session, unless every event is our own write's echo.
        Thread-safe (the streaming threads call it).

        While the mailbox's own session runs (its lock is held), the events wait: that session records its writes
        (`record_writes`) only after making them, and its events arrive within milliseconds, before that record.
        They are judged when the session has finished (`settle`), so our own writes never cost a session."""
        if mailbox_id is None or not events:
            return False
        record_notification(self.redis, mailbox_id, channel)
        if self.redis.exists(lock_key(mailbox_id)):
            with self._deferred_lock:
                self.deferred.setdefault(mailbox_id, (time.monotonic(), []))[1].extend(events)
            return False
        return self._judge(mailbox_id, events)

    def settle(self) -> None:
        """Judge the events that waited for their mailbox's session to end (or waited longer than a session may
        run: then the lock belongs to a dead worker, and the events are judged anyway)."""
        with self._deferred_lock:
            waiting = list(self.deferred.items())
        if not waiting:
            return
        with self.redis.pipeline(transaction=False) as pipe:
            for mid, _ in waiting:
                pipe.exists(lock_key(mid))
            locked = pipe.execute()
        now = time.monotonic()
        for (mid, (since, _)), busy in zip(waiting, locked, strict=True):
            if busy and now - since < self.config.defer_max:
                continue
            with self._deferred_lock:
                _, events = self.deferred.pop(mid, (since, []))
            self._judge(mid, events)

    def _judge(self, mailbox_id: int, events: list[ItemEvent]) -> bool:
        foreign = [e for e in events if not is_echo(self.redis, mailbox_id, "exchange", e.item_id, e.changekey)]
        self.stats.add(events=len(events), echoes=len(events) - len(foreign))
        if not foreign:
            return False
        request_sync(self.redis, mailbox_id, source="ews")
        self.stats.add(requests=1)
        log.debug("mailbox %d: %d event(s) (%d echo): session requested", mailbox_id, len(events),
                  len(events) - len(foreign))  # fmt: skip
        return True

    def _gap(self, mid: int, why: str) -> None:
        request_sync(self.redis, mid, source="ews", full=False)
        self.stats.add(gaps=1)
        log.info("mailbox %d: catch-up session requested (%s)", mid, why)

    # -- health ------------------------------------------------------------------------------------------------
    def _heartbeats(self) -> None:
        in_stream = {mid: s for s in self.streams if s.alive for mid in s.members}
        ttl = self.config.heartbeat_ttl
        for held in self.held.values():
            channel = CHANNELS[held.kind]
            error = held.error
            if not error and held.kind == STREAMING:
                stream = in_stream.get(held.id)
                if stream is None:
                    error = "no streaming connection yet" if held.sub_id else "not subscribed yet"
                elif stream.error:
                    error = f"streaming connection failed: {stream.error}"
            if not error and not held.sub_id:
                error = "not subscribed yet"
            if error:
                record_channel(self.redis, held.id, channel, "down", error, ttl)
            else:
                record_channel(self.redis, held.id, channel, "up", f"{self.name} {_short(held.sub_id)}", ttl)

    def _keepers(self) -> None:
        """Other push parts that want a periodic call (the Graph subscriptions keeper): failures are logged and
        reported in the status, never allowed to stop the EWS listener."""
        for name, keep in self.keepers:
            try:
                keep()
                self.keeper_errors.pop(name, None)
            except Exception as exc:  # noqa: BLE001 - another part's failure must not stop this one
                log.exception("%s failed", name)
                self.keeper_errors[name] = f"{type(exc).__name__}: {exc}"[:300]

    def status(self, live: list[str] | None = None) -> dict[str, Any]:
        kinds = [h.kind for h in self.held.values()]
        return {
            "name": self.name,
            "shard": f"{self.config.shard}/{self.config.shards}",
            "mode": self.config.mode,
            "listeners": len(live) if live is not None else None,
            "mailboxes": len(self.held),
            "streaming": kinds.count(STREAMING),
            "pull": kinds.count(PULL),
            "down": sorted(h.id for h in self.held.values() if h.error),
            "connections": sum(1 for s in self.streams if s.alive),
            "ews_calls": self.backend.calls(),
            "passes": self.passes,
            "keeper_errors": dict(self.keeper_errors),
            **self.stats.snapshot(),
        }

    def _save(self, held: Held, *, released: bool = False) -> None:
        fields = {
            "kind": held.kind,
            "id": held.sub_id or "",
            "watermark": held.watermark or "",
            "holder": self.name,
            "released": "1" if released else "0",
            "fallback": "1" if held.kind == PULL and self.config.mode == STREAMING else "0",
            "updated": f"{time.time():.3f}",
        }
        # Past the pull Timeout (or streaming's 30 minutes) the server has dropped the subscription anyway.
        save_subscription(self.redis, held.id, fields, ttl=max(self.config.pull_timeout_minutes, 30) * 60 * 4)

    # -- the loop ------------------------------------------------------------------------------------------------
    def run(self, *, once: bool = False, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        try:
            while True:
                started = time.monotonic()
                try:
                    self.tick()
                except Exception:  # a database or Redis hiccup must not end the listener
                    log.exception("listener pass failed; trying again in %s s", self.config.interval)
                if once:
                    return
                # Wake early when a connection reports a lost subscription: the new one (and the catch-up
                # session) should not wait a whole pass.
                deadline = started + self.config.interval
                while not stop.is_set() and time.monotonic() < deadline:
                    if not self.inbox.empty():
                        break
                    self._settle_quietly()
                    stop.wait(min(0.2, max(0.0, deadline - time.monotonic())))
                if stop.is_set():
                    return
        finally:
            self.close()

    def _settle_quietly(self) -> None:
        try:
            self.settle()
        except Exception:  # Redis hiccup: the events stay deferred, the next try judges them
            log.exception("judging deferred events failed")

    def close(self) -> None:
        """Shutdown: end the connections, hand every mailbox over (the next holder resumes its subscription),
        leave the members."""
        for stream in self.streams:
            stream.retire(close=True)
        for mid, held in list(self.held.items()):
            # Closing a streaming connection may drop what the server had written but we had not read: the next
            # holder covers that with one session. A pull subscription stops exactly at its saved watermark.
            self._drop(mid, release=True, clean=held.kind == PULL)
        self.leases.leave()


def _short(sub_id: str | None) -> str:
    return (sub_id or "")[-10:]


__all__ = [
    "CHANNELS",
    "Backend",
    "Connection",
    "ItemEvent",
    "Listener",
    "ListenerConfig",
    "MailboxPush",
    "PushError",
    "StreamSuperseded",
    "SubscriptionsLost",
    "WatermarkLost",
    "listener_config",
    "listener_name",
]
