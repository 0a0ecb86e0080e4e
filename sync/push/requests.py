"""Push requests: "this mailbox needs a session", recorded in Redis, coalesced, enqueued by the scheduler.

A change notification (Graph webhook, EWS streaming or pull, the Salesforce org scan) does one thing:
`request_sync`. The session stays the only place that reads and writes (docs/push.md, "Core").

Keys (all under ``calsync:push:``):

- ``pending`` — sorted set, member the mailbox id, score the time of the *first* request not yet taken by a
  session (``ZADD LT``: later requests of a burst keep the first time, so a burst within the coalescing
  window makes one session, and a steady stream of notifications cannot postpone a session for ever).
  Requests from the Salesforce org scan are due at once (scored one window early): the scan already gathers
  an interval's changes into one request per mailbox, and waiting again would only add latency.
- ``full`` — hash mailbox id → time of the latest request with ``full=True`` (the session re-reads without
  trusting its cursor).
- ``sources:<id>`` — hash source → time of that source's latest request (the panel and the latency figures).
- ``outlook`` — sorted set, mailbox id → time of the first Outlook-sourced (``ews``, ``graph``) request not
  yet taken: the push pass holds these for the batching window and runs them as group jobs whose Salesforce
  writes share calls (`sync.push.batching`, docs/push.md "Batched writes"). Taken and dropped with ``pending``.

Who removes a request: the session itself, when it starts (`take_request`), and only a request whose first
time is at or before the session's start. A request that arrives while a session runs therefore stays pending
and makes exactly one more session after it (however many arrive meanwhile: they coalesce into one entry).
The scheduler's push pass (`due_requests`) only reads: for each request older than the coalescing window it
calls `sync.schedule.enqueue_session`, whose job id dedupes against a queued or running session; so a lost
job, or a worker that died, leaves the request pending and the next pass enqueues again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis

from sync.push.config import DEFAULT, PushConfig

PREFIX = "calsync:push:"
PENDING_KEY = PREFIX + "pending"
FULL_KEY = PREFIX + "full"
OUTLOOK_KEY = PREFIX + "outlook"
OUTLOOK_SOURCES = ("graph", "ews")
SOURCES = ("graph", "ews", "salesforce")


def sources_key(mailbox_id: int) -> str:
    return f"{PREFIX}sources:{int(mailbox_id)}"


def request_sync(redis: Redis, mailbox_id: int, *, source: str, full: bool = False, now: float | None = None,
                 config: PushConfig = DEFAULT) -> None:  # fmt: skip
    """Record that ``mailbox_id`` needs a session (the only effect of a change notification).

    ``source``: ``graph``, ``ews`` or ``salesforce``. ``full=True`` (a Graph ``missed`` event, a lost EWS
    subscription) makes the next session re-read everything without trusting its cursor. Coalesced: see the
    module docstring. Raises ``ValueError`` for an unknown source.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown push source {source!r} (expected one of {', '.join(SOURCES)})")
    now = time.time() if now is None else now
    member = str(int(mailbox_id))
    # Never later than the request: `take_request` compares it with a session's start.
    score = now - config.coalesce_seconds if source == "salesforce" else now
    with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(PENDING_KEY, {member: score}, lt=True)
        if source in OUTLOOK_SOURCES:
            pipe.zadd(OUTLOOK_KEY, {member: now}, lt=True)
        if full:
            pipe.hset(FULL_KEY, member, now)
        pipe.hset(sources_key(mailbox_id), source, now)
        pipe.expire(sources_key(mailbox_id), 7 * 24 * 3600)
        pipe.execute()


def due_requests(redis: Redis, *, now: float | None = None, config: PushConfig = DEFAULT,
                 limit: int = 1000) -> list[int]:  # fmt: skip
    """Mailbox ids whose first pending request is at least the coalescing window old, oldest first."""
    now = time.time() if now is None else now
    members = redis.zrangebyscore(PENDING_KEY, "-inf", now - config.coalesce_seconds, start=0, num=limit)
    return [int(m) for m in members]


def outlook_requests(redis: Redis, mailbox_ids: list[int]) -> dict[int, float]:
    """Of ``mailbox_ids``, those with a pending Outlook-sourced request: mailbox id → its first time."""
    if not mailbox_ids:
        return {}
    scores = redis.zmscore(OUTLOOK_KEY, [str(int(m)) for m in mailbox_ids])
    return {int(m): float(s) for m, s in zip(mailbox_ids, scores, strict=True) if s is not None}


def pending_requests(redis: Redis) -> dict[int, float]:
    """Every pending request: mailbox id → time of its first request (the panel, the tests)."""
    return {int(m): float(s) for m, s in redis.zrange(PENDING_KEY, 0, -1, withscores=True)}


# Atomically: remove the mailbox's pending request if it was first made at or before the session's start, and
# its full flag and its Outlook entry likewise. Returns {taken, full}.
_TAKE = """
local taken, full = 0, 0
local first = redis.call('ZSCORE', KEYS[1], ARGV[1])
if first and tonumber(first) <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  taken = 1
end
local outlook = redis.call('ZSCORE', KEYS[3], ARGV[1])
if outlook and tonumber(outlook) <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[3], ARGV[1])
end
local asked = redis.call('HGET', KEYS[2], ARGV[1])
if asked and tonumber(asked) <= tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[2], ARGV[1])
  full = 1
end
return {taken, full}
"""


@dataclass(frozen=True)
class Taken:
    """What a starting session took over: a pending request (``requested``) and whether it asked for a full
    round (``full``)."""

    requested: bool
    full: bool


def take_request(redis: Redis, mailbox_id: int, *, started: float | None = None) -> Taken:
    """Called by the session when it starts, before it reads anything: the requests made up to ``started`` are
    served by this session. Requests made later stay pending and make one more session."""
    started = time.time() if started is None else started
    taken, full = redis.eval(_TAKE, 3, PENDING_KEY, FULL_KEY, OUTLOOK_KEY, str(int(mailbox_id)), repr(float(started)))
    return Taken(requested=bool(taken), full=bool(full))


def drop_request(redis: Redis, mailbox_id: int) -> None:
    """Forget a mailbox's request (the push pass does, for a mailbox removed or disabled meanwhile)."""
    member = str(int(mailbox_id))
    with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(PENDING_KEY, member)
        pipe.hdel(FULL_KEY, member)
        pipe.zrem(OUTLOOK_KEY, member)
        pipe.execute()


def last_requests(redis: Redis, mailbox_id: int) -> dict[str, float]:
    """Source → time of its latest request for this mailbox."""
    raw = redis.hgetall(sources_key(mailbox_id))
    return {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}
