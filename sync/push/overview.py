"""`push_overview`: everything the panel's Overview shows about change-driven sync, as one plain dict.

Read-only; one database query (the enabled mailboxes) and a few Redis round trips, whatever the number of
mailboxes (pipelines). The shape is documented on the function and tested in tests/push/test_overview.py.
"""

from __future__ import annotations

import time
from typing import Any

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.models import Mailbox
from sync.push import health
from sync.push.requests import pending_requests


def push_overview(redis: Redis, db: Session, *, now: float | None = None, fallback_limit: int = 50) -> dict[str, Any]:
    """Push health for the panel.

    Returns::

        {
          "now": float,                       # epoch seconds the figures were taken at
          "mailboxes": int,                   # enabled mailboxes
          "on_push": int,                     # of them: Exchange channel up
          "on_fallback": int,                 # of them: Exchange channel down, off or never reported (polled)
          "push_off": int,                    # of those: push not configured (channel off: adaptive interval)
          "fallback": [{"id", "email", "state": "down" | "off" | "none", "detail"}],   # at most fallback_limit,
                                              # down first, then off
          "channels": {channel: {"up": int, "down": int, "off": int}},         # per channel, over all mailboxes
          "last_notification": {"at", "mailbox_id", "email", "channel"} | None,
          "notifications": {channel: int},    # notifications recorded (over the kept records, a week at most)
          "pending": int,                     # mailboxes with a push request not yet taken by a session
          "listeners": [status dict],         # live `record_status("listener", ...)` entries
          "subscriptions": [status dict],     # live `record_status("graph-subscriptions", ...)` entries
          "statuses": {component: [status dict]},   # every component, the two above included
          "events": {event: {"count": int (today, UTC), "last": {"at", "mailbox_id", "channel"} | None}},
          "renewals": {"count": int, "last": ... | None},   # events["renewal"], for the panel's tile
        }
    """
    now = time.time() if now is None else now
    mailboxes = list(
        db.execute(select(Mailbox.id, Mailbox.email).where(Mailbox.enabled.is_(True)).order_by(Mailbox.id))
    )
    emails = {row.id: row.email for row in mailboxes}
    ids = list(emails)
    channels = list(health.CHANNELS)
    with redis.pipeline(transaction=False) as pipe:
        for mailbox_id in ids:
            for channel in channels:
                pipe.hgetall(health.channel_key(mailbox_id, channel))
        answers = pipe.execute()
    per_channel = {channel: {"up": 0, "down": 0, "off": 0} for channel in channels}
    notifications = dict.fromkeys(channels, 0)
    fallback: list[dict[str, Any]] = []
    on_push = 0
    last: dict[str, Any] | None = None
    for index, mailbox_id in enumerate(ids):
        exchange_states = []
        details = []
        for offset, channel in enumerate(channels):
            fields = health._decoded(answers[index * len(channels) + offset])
            state = health.channel_state(fields, now)
            if state != "none":
                per_channel[channel][state] += 1
            notifications[channel] += int(fields.get("notifications") or 0)
            at = float(fields.get("last_notification") or 0)
            if at and (last is None or at > last["at"]):
                last = {"at": at, "mailbox_id": mailbox_id, "email": emails[mailbox_id], "channel": channel}
            if channel in health.EXCHANGE_CHANNELS:
                exchange_states.append(state)
                if fields.get("detail"):
                    details.append(f"{channel}: {fields['detail']}")
        combined = health.combined_state(exchange_states)
        if combined == "up":
            on_push += 1
        else:
            fallback.append({"id": mailbox_id, "email": emails[mailbox_id], "state": combined,
                             "detail": "; ".join(details)})  # fmt: skip
    rank = {"down": 0, "off": 1}
    fallback.sort(key=lambda row: (rank.get(row["state"], 2), row["id"]))
    statuses = health.statuses(redis)
    events = health.events(redis, now=now)
    return {
        "now": now,
        "mailboxes": len(ids),
        "on_push": on_push,
        "on_fallback": len(ids) - on_push,
        "push_off": sum(row["state"] == "off" for row in fallback),
        "fallback": fallback[:fallback_limit],
        "channels": per_channel,
        "last_notification": last,
        "notifications": notifications,
        "pending": len(pending_requests(redis)),
        "listeners": statuses.get("listener", []),
        "subscriptions": statuses.get("graph-subscriptions", []),
        "statuses": statuses,
        "events": events,
        "renewals": events.get("renewal", {"count": 0, "last": None}),
    }
