"""Push health per mailbox and channel, kept in Redis as heartbeats.

Channels: ``ews-streaming`` and ``ews-pull`` (the `calsync listener`), ``graph-webhook`` (Graph change
notifications) — the mailbox's *Exchange* channels — and ``salesforce-scan`` (the org-wide change scan).

One hash per mailbox and channel, ``calsync:push:channel:<mailbox>:<channel>``:

==================  ==========================================================================================
``state``           ``up``, ``down`` or ``off`` as last reported (``off``: push is not configured for it, say
                    a Graph keeper without an https CALSYNC_PUBLIC_URL: nothing is wrong, there is no push)
``detail``          free text for people (an error, a subscription id)
``since``           when the state last changed (epoch seconds)
``updated``         the last report
``expires``         ``up`` only: the report is trusted until then (``updated`` + heartbeat TTL). A listener
                    that dies stops refreshing it, so the channel counts as down without anyone saying so.
``last_notification``, ``notifications``  the latest notification's time and how many there were
==================  ==========================================================================================

The hash itself lives a week after its last update (`PushConfig.record_ttl`), so that "was up, heartbeat
expired" (poll every 30 minutes) stays distinct from "never had push" (the adaptive interval as before push).
``off`` is "no push here by configuration": like never having had push, the adaptive interval.
The set ``calsync:push:channels`` indexes the hashes (members ``<mailbox>:<channel>``) for the panel.

`channel_state` is the pure rule; `exchange_push_state` is what the scheduler asks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping

from redis import Redis

from sync.push.config import DEFAULT, PushConfig

EXCHANGE_CHANNELS = ("ews-streaming", "ews-pull", "graph-webhook")
CHANNELS = (*EXCHANGE_CHANNELS, "salesforce-scan")
INDEX_KEY = "calsync:push:channels"
STATUS_INDEX_KEY = "calsync:push:statuses"
EVENTS_KEY = "calsync:push:events"


def channel_key(mailbox_id: int, channel: str) -> str:
    return f"calsync:push:channel:{int(mailbox_id)}:{channel}"


def status_key(component: str, name: str) -> str:
    return f"calsync:push:status:{component}:{name}"


def _check(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown push channel {channel!r} (expected one of {', '.join(CHANNELS)})")


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _decoded(raw: Mapping) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


# -- writing ------------------------------------------------------------------------------------------------
def record_channel(redis: Redis, mailbox_id: int, channel: str, state: str, detail: str = "", ttl: int | None = None,
                   *, now: float | None = None, config: PushConfig = DEFAULT) -> None:  # fmt: skip
    """Report a mailbox's channel ``up`` (a heartbeat: call it again before ``ttl`` seconds, default
    CALSYNC_PUSH_HEARTBEAT_TTL, or it counts as down), ``down`` (with the reason in ``detail``) or ``off``
    (push is not configured for it, the reason in ``detail``: the mailbox keeps its adaptive interval)."""
    _check(channel)
    if state not in ("up", "down", "off"):
        raise ValueError(f"push channel state must be up, down or off, not {state!r}")
    now = time.time() if now is None else now
    ttl = config.heartbeat_ttl if ttl is None else ttl
    key = channel_key(mailbox_id, channel)
    previous = _decoded(redis.hgetall(key))
    was_up = channel_state(previous, now) == "up"
    changed = (state == "up") != was_up or not previous
    fields = {"state": state, "detail": detail, "updated": now, "expires": now + ttl if state == "up" else 0}
    if changed:
        fields["since"] = now
    with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=fields)
        pipe.expire(key, config.record_ttl)
        pipe.sadd(INDEX_KEY, f"{int(mailbox_id)}:{channel}")
        pipe.execute()


def record_notification(redis: Redis, mailbox_id: int, channel: str, now: float | None = None, *,
                        config: PushConfig = DEFAULT) -> None:  # fmt: skip
    """A notification arrived for this mailbox on this channel (whether or not it was an echo)."""
    _check(channel)
    now = time.time() if now is None else now
    key = channel_key(mailbox_id, channel)
    with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, "last_notification", now)
        pipe.hincrby(key, "notifications", 1)
        pipe.expire(key, config.record_ttl)
        pipe.sadd(INDEX_KEY, f"{int(mailbox_id)}:{channel}")
        pipe.execute()


def record_event(redis: Redis, event: str, *, mailbox_id: int | None = None, channel: str = "",
                 now: float | None = None) -> None:  # fmt: skip
    """Count a lifecycle event for the panel: ``renewal``, ``reauthorization``, ``recreate``, ``missed``,
    ``reconnect``... Kept per day (UTC) for a week: ``calsync:push:events:<yyyy-mm-dd>`` hash event → count,
    and the latest of each in ``calsync:push:events`` (event → JSON {at, mailbox_id, channel})."""
    now = time.time() if now is None else now
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(f"{EVENTS_KEY}:{day}", event, 1)
        pipe.expire(f"{EVENTS_KEY}:{day}", 8 * 24 * 3600)
        pipe.hset(EVENTS_KEY, event, json.dumps({"at": now, "mailbox_id": mailbox_id, "channel": channel}))
        pipe.execute()


def record_status(redis: Redis, component: str, name: str, status: Mapping[str, object], ttl: int) -> None:
    """A process's own status for the panel (a listener: its shard, subscriptions held, connections; the Graph
    subscription keeper: subscriptions, next expiry). JSON under ``calsync:push:status:<component>:<name>`` that
    expires after ``ttl`` seconds: a dead process disappears from the panel. Values must be JSON-serialisable."""
    key = status_key(component, name)
    with redis.pipeline(transaction=True) as pipe:
        pipe.set(key, json.dumps({**status, "reported": time.time()}), ex=ttl)
        pipe.sadd(STATUS_INDEX_KEY, f"{component}:{name}")
        pipe.execute()


# -- reading ------------------------------------------------------------------------------------------------
def channel_state(fields: Mapping[str, str | None], now: float) -> str:
    """``up`` (reported up and the heartbeat not expired), ``down`` (reported down, or up but expired),
    ``off`` (reported not configured) or ``none`` (never reported)."""
    if not fields or not fields.get("state"):
        return "none"
    if fields["state"] == "off":
        return "off"
    if fields["state"] == "up" and float(fields.get("expires") or 0) > now:
        return "up"
    return "down"


def channels_of(redis: Redis, mailbox_id: int, channels: Iterable[str] = CHANNELS) -> dict[str, dict[str, str]]:
    """Channel → its hash (decoded) for one mailbox; channels never reported are left out."""
    channels = list(channels)
    with redis.pipeline(transaction=False) as pipe:
        for channel in channels:
            pipe.hgetall(channel_key(mailbox_id, channel))
        answers = pipe.execute()
    return {channel: _decoded(raw) for channel, raw in zip(channels, answers, strict=True) if raw}


def combined_state(states: Iterable[str]) -> str:
    """Several channels as one: ``up`` if any is up, else ``down`` if any is down (was up, or failed), else
    ``off`` if any is not configured, else ``none``."""
    states = set(states)
    for state in ("up", "down", "off"):
        if state in states:
            return state
    return "none"


def exchange_push_state(redis: Redis, mailbox_id: int, *, now: float | None = None) -> str:
    """``up`` / ``down`` / ``off`` / ``none`` for the mailbox's Exchange side (any of ews-streaming, ews-pull,
    graph-webhook): what decides its periodic safety interval."""
    now = time.time() if now is None else now
    found = channels_of(redis, mailbox_id, EXCHANGE_CHANNELS)
    return combined_state(channel_state(fields, now) for fields in found.values())


def exchange_push_states(redis: Redis, mailbox_ids: Iterable[int], *, now: float | None = None) -> dict[int, str]:
    """`exchange_push_state` for many mailboxes in one round trip (the scheduler's pass)."""
    now = time.time() if now is None else now
    ids = list(mailbox_ids)
    with redis.pipeline(transaction=False) as pipe:
        for mailbox_id in ids:
            for channel in EXCHANGE_CHANNELS:
                pipe.hmget(channel_key(mailbox_id, channel), "state", "expires")
        answers = pipe.execute()
    states: dict[int, str] = {}
    width = len(EXCHANGE_CHANNELS)
    for index, mailbox_id in enumerate(ids):
        rows = answers[index * width : (index + 1) * width]
        states[mailbox_id] = combined_state(
            channel_state({"state": _text(state), "expires": _text(expires)}, now) for state, expires in rows
        )
    return states


def statuses(redis: Redis) -> dict[str, list[dict]]:
    """Component → the live statuses `record_status` keeps (expired ones are dropped from the index)."""
    members = sorted(_text(m) for m in redis.smembers(STATUS_INDEX_KEY))
    if not members:
        return {}
    values = redis.mget([status_key(*m.split(":", 1)) for m in members])
    found: dict[str, list[dict]] = {}
    gone = []
    for member, value in zip(members, values, strict=True):
        if value is None:
            gone.append(member)
            continue
        component, name = member.split(":", 1)
        found.setdefault(component, []).append({"name": name, **json.loads(value)})
    if gone:
        redis.srem(STATUS_INDEX_KEY, *gone)
    return found


def events(redis: Redis, *, now: float | None = None, days: int = 1) -> dict[str, dict]:
    """Event → {count over the last ``days`` UTC days (today included), last: {at, mailbox_id, channel}}."""
    now = time.time() if now is None else now
    counts: dict[str, int] = {}
    for back in range(days):
        day = time.strftime("%Y-%m-%d", time.gmtime(now - back * 86400))
        for event, count in redis.hgetall(f"{EVENTS_KEY}:{day}").items():
            counts[_text(event)] = counts.get(_text(event), 0) + int(count)
    latest = {_text(k): json.loads(v) for k, v in redis.hgetall(EVENTS_KEY).items()}
    return {
        event: {"count": counts.get(event, 0), "last": latest.get(event)} for event in sorted(set(counts) | set(latest))
    }
