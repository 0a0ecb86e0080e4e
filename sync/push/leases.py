"""Which `calsync listener` holds which EWS mailbox: members and per-mailbox leases in Redis.

Keys (all under ``calsync:listener:``):

- ``members`` — sorted set, member the listener's name, score its last pass (epoch seconds). A listener counts
  as alive while its last pass is younger than the lease TTL.
- ``lease:<mailbox id>`` — the name of the listener holding the mailbox, with a TTL (CALSYNC_LISTENER_LEASE_TTL)
  its holder renews every pass. A listener that dies stops renewing: after at most one TTL the others see the
  mailbox free and take it.
- ``sub:<mailbox id>`` — hash: the mailbox's subscription as its holder last saw it (``kind`` streaming | pull,
  ``id``, ``watermark`` for pull, ``holder``, ``released`` = 1 when the holder handed it over cleanly). The next
  holder resumes it (a streaming subscription keeps its events queued for 30 minutes without a connection; a
  pull subscription replays everything after its watermark), so a restart or a takeover misses nothing.

The split is a quota, not a hash: each listener holds at most ceil(mailboxes / live listeners), gives back what
it holds above that (highest ids first) and takes free ones up to it. Two listeners converge on a half each
within two passes; when one dies, the survivor's quota covers every mailbox once the dead one has left
``members``. SET NX makes taking a lease exclusive; renewing and giving back check the holder (Lua), so a
listener that paused past its TTL never renews a lease another has taken.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from redis import Redis

PREFIX = "calsync:listener:"
MEMBERS_KEY = PREFIX + "members"

_RENEW = """
local ok = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('EXPIRE', key, ARGV[2])
    ok[#ok + 1] = i
  end
end
return ok
"""

_RELEASE = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
"""


def lease_key(mailbox_id: int) -> str:
    return f"{PREFIX}lease:{int(mailbox_id)}"


def subscription_key(mailbox_id: int) -> str:
    return f"{PREFIX}sub:{int(mailbox_id)}"


def quota(total: int, live: int) -> int:
    """How many mailboxes one of ``live`` listeners holds at most."""
    return math.ceil(total / max(live, 1)) if total else 0


class Leases:
    """One listener's view of the members and its leases."""

    def __init__(self, redis: Redis, name: str, ttl: int) -> None:
        self.redis = redis
        self.name = name
        self.ttl = int(ttl)

    def heartbeat(self, now: float | None = None) -> list[str]:
        """Record this pass and drop members silent for a TTL; the live members' names, sorted."""
        now = time.time() if now is None else now
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(MEMBERS_KEY, {self.name: now})
            pipe.zremrangebyscore(MEMBERS_KEY, "-inf", now - self.ttl)
            pipe.zrange(MEMBERS_KEY, 0, -1)
            answers = pipe.execute()
        return sorted(m.decode() if isinstance(m, bytes) else m for m in answers[2])

    def leave(self) -> None:
        self.redis.zrem(MEMBERS_KEY, self.name)

    def renew(self, mailbox_ids: Iterable[int]) -> set[int]:
        """Renew the leases we still hold; the ids whose lease is ours (the rest were lost)."""
        ids = list(mailbox_ids)
        if not ids:
            return set()
        kept = self.redis.eval(_RENEW, len(ids), *[lease_key(i) for i in ids], self.name, self.ttl)
        return {ids[int(i) - 1] for i in kept}

    def take(self, mailbox_id: int) -> bool:
        return bool(self.redis.set(lease_key(mailbox_id), self.name, nx=True, ex=self.ttl))

    def release(self, mailbox_ids: Iterable[int]) -> int:
        ids = list(mailbox_ids)
        if not ids:
            return 0
        return int(self.redis.eval(_RELEASE, len(ids), *[lease_key(i) for i in ids], self.name))

    def holders(self, mailbox_ids: Iterable[int]) -> dict[int, str | None]:
        ids = list(mailbox_ids)
        if not ids:
            return {}
        raw = self.redis.mget([lease_key(i) for i in ids])
        return {i: (v.decode() if isinstance(v, bytes) else v) for i, v in zip(ids, raw, strict=True)}


def load_subscription(redis: Redis, mailbox_id: int) -> dict[str, str]:
    raw = redis.hgetall(subscription_key(mailbox_id))
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()}  # fmt: skip


def save_subscription(redis: Redis, mailbox_id: int, fields: dict[str, str], ttl: int) -> None:
    """The subscription as its holder sees it; kept ``ttl`` seconds after the last save (past that, the server has
    dropped it anyway)."""
    key = subscription_key(mailbox_id)
    with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.hset(key, mapping={k: v for k, v in fields.items() if v is not None})
        pipe.expire(key, ttl)
        pipe.execute()


def forget_subscription(redis: Redis, mailbox_id: int) -> None:
    redis.delete(subscription_key(mailbox_id))


__all__ = [
    "MEMBERS_KEY",
    "Leases",
    "forget_subscription",
    "lease_key",
    "load_subscription",
    "quota",
    "save_subscription",
    "subscription_key",
]
