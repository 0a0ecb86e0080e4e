"""Echo suppression: the notifications our own writes cause enqueue nothing.

After applying, a session calls `record_writes` with every item it wrote and the version the write produced:
(Exchange item id, change key) or (Salesforce record id, SystemModstamp). A listener or the org scan asks
`is_echo` before `request_sync`: a notification for exactly that (id, version) is the echo of our own write.

One Redis hash per written item, ``calsync:push:echo:<mailbox>:<side>:<item id>``, its fields the versions we
wrote (several when a session writes one item twice), with a TTL (CALSYNC_PUSH_ECHO_TTL, default 15 minutes:
notifications arrive within seconds, the org scan within its interval plus overlap). A write whose version is
not known is stored as the field ``*`` and matches only a notification that carries no version either: a
notification with a version we did not write is somebody else's edit and must sync, so unknown versions
never swallow it.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis import Redis

from sync.push.config import DEFAULT, PushConfig

SIDES = ("exchange", "salesforce")
UNKNOWN = "*"


def echo_key(mailbox_id: int, side: str, item_id: str) -> str:
    return f"calsync:push:echo:{int(mailbox_id)}:{side}:{item_id}"


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


def record_writes(redis: Redis, mailbox_id: int, side: str, writes: Iterable[tuple[str, str | None]], *,
                  config: PushConfig = DEFAULT) -> int:  # fmt: skip
    """Remember the (item id, version) pairs a session just wrote. Returns how many were recorded."""
    _check(side)
    count = 0
    with redis.pipeline(transaction=False) as pipe:
        for item_id, version in writes:
            if not item_id:
                continue
            key = echo_key(mailbox_id, side, item_id)
            pipe.hset(key, normalize_version(side, version), 1)
            pipe.expire(key, config.echo_ttl)
            count += 1
        if count:
            pipe.execute()
    return count


def is_echo(redis: Redis, mailbox_id: int, side: str, item_id: str, version: str | None) -> bool:
    """True when (item id, version) is one of our own recent writes: that notification enqueues nothing."""
    _check(side)
    if not item_id:
        return False
    return bool(redis.hexists(echo_key(mailbox_id, side, item_id), normalize_version(side, version)))
