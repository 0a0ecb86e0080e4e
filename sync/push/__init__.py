"""Change-driven sync (issue 18, docs/push.md): notifications only *request* sessions.

The shared interface every push source uses:

- `request_sync` — record that a mailbox needs a session (coalesced; the scheduler's push pass enqueues it);
- `record_writes` / `is_echo` — a session's own writes, so that the notifications they cause enqueue nothing;
- `record_channel` / `record_notification` — push health per mailbox and channel (heartbeats), which sets the
  periodic safety interval (`sync.schedule`);
- `push_overview` — the panel's view of all that.

Modules: `requests` (pending requests in Redis), `echo`, `health`, `overview`, `latency` (edit → other side
samples in the database), `config` (the CALSYNC_PUSH_* settings as one object).
"""

from sync.push.config import PushConfig, push_config
from sync.push.echo import is_echo, record_writes
from sync.push.health import (
    CHANNELS,
    EXCHANGE_CHANNELS,
    exchange_push_state,
    record_channel,
    record_event,
    record_notification,
    record_status,
)
from sync.push.overview import push_overview
from sync.push.requests import request_sync, take_request

__all__ = [
    "CHANNELS",
    "EXCHANGE_CHANNELS",
    "PushConfig",
    "exchange_push_state",
    "is_echo",
    "push_config",
    "push_overview",
    "record_channel",
    "record_event",
    "record_notification",
    "record_status",
    "record_writes",
    "request_sync",
    "take_request",
]
