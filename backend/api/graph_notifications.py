"""The Microsoft Graph webhooks: ``POST /api/v1/graph/notifications`` (change notifications) and
``POST /api/v1/graph/lifecycle`` (lifecycle notifications), which Graph calls for the subscriptions that
`sync.push.graph_subscriptions` keeps. docs/push.md, "Microsoft Graph", has the whole picture.

- ``?validationToken=…`` (Graph's handshake when a subscription is created or its URL changes): 200
  ``text/plain`` with the decoded token, at once (Graph allows 10 s).
- A notification batch ``{"value": [...]}``: each item's ``clientState`` is checked against the digest stored for
  its ``subscriptionId`` (constant-time); unknown subscriptions and mismatches are dropped and counted, never
  enqueued. A change whose (``resourceData.id``, change key from ``@odata.etag``) is one our own session wrote
  (`is_echo`, waiting at most `ECHO_WAIT_SECONDS` for a write in flight) enqueues nothing; any other change of
  the mailbox makes one `request_sync`. Lifecycle items: ``reauthorizationRequired`` and
  ``subscriptionRemoved`` mark the subscription for the keeper (no Graph call here), ``missed`` asks for a full
  round. Answer: 202, no body, well within Graph's 3 s: the request touches only
  the database and Redis, never Graph or Salesforce.
- Not JSON, or not a batch: 400 ``invalid_notification`` (JSON error, as everywhere in the backend). Redis or the
  database unreachable: 503 ``push_unavailable``, so that Graph delivers again later.

These views take no token: Microsoft calls them. What protects them is the ``clientState`` secret of each
subscription (random, 256 bits, only its SHA-256 stored), the app's body size limit (1 MiB, 413) and a rate
limit per client address (CALSYNC_GRAPH_WEBHOOK_RATE_LIMIT, 429 with Retry-After). They are not part of the
add-in API's OpenAPI document. Counters (Redis hash `COUNTERS_KEY`): validations, notifications, enqueued, echoes,
client_state_mismatch, unknown_subscription, malformed, lifecycle:<event>.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import math
import time
from collections import Counter
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from backend.errors import ApiError
from backend.globals import db_session, runtime, runtime_of
from calsync.settings import ConfigError
from sync.models import GraphSubscription
from sync.push import is_echo, record_channel, record_event, record_notification, request_sync

log = logging.getLogger(__name__)

PREFIX = "/api/v1/graph"
CHANNEL = "graph-webhook"
COUNTERS_KEY = "calsync:push:graph:webhook"
EXTENSION = "calsync_graph_webhook_limits"
MAX_VALIDATION_TOKEN = 4096  # characters; Graph's tokens are far shorter
# last_notification_at is a figure for people: written at most this often per subscription, not per notification.
NOTIFICATION_STAMP_SECONDS = 60
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
# Most seconds one request waits, all its items together, for a session's Exchange write in flight to report its
# change key (`is_echo`): Graph wants the 202 within 3 s. Past it, the notification counts as someone's edit (at
# worst one quiet session more).
ECHO_WAIT_SECONDS = 1.5

bp = Blueprint("graph_webhooks", __name__, url_prefix=PREFIX)


class InvalidNotification(ApiError):
    status = 400
    code = "invalid_notification"


@bp.post("/notifications")
def notifications() -> Response:
    """Change notifications (and lifecycle ones, should Graph send them here)."""
    return _receive()


@bp.post("/lifecycle")
def lifecycle() -> Response:
    """Lifecycle notifications: the same batch shape, items with ``lifecycleEvent``."""
    return _receive()


def _receive() -> Response:
    counts: Counter[str] = Counter()
    if "validationToken" in request.args:
        return _validation(counts)
    body = request.get_json(force=True, silent=True)
    items = body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise InvalidNotification('The body must be a Graph notification batch: {"value": [...]}.')
    try:
        _handle(items, counts)
    except (RedisError, SQLAlchemyError) as exc:
        log.error("Graph notifications not taken (Graph delivers again): %s", exc)
        raise ApiError("Notifications cannot be taken right now; deliver again later.", status=503,
                       code="push_unavailable", headers={"Retry-After": "30"}) from None  # fmt: skip
    _count(counts)
    return Response(status=202)


def _validation(counts: Counter[str]) -> Response:
    token = request.args.get("validationToken", "")
    if not token or len(token) > MAX_VALIDATION_TOKEN:
        raise InvalidNotification(f"validationToken must be 1 to {MAX_VALIDATION_TOKEN} characters.")
    counts["validations"] += 1
    _count(counts)
    # text/plain (and nosniff, from the security headers): the token is echoed, never rendered.
    return Response(token, status=200, mimetype="text/plain")


def _handle(items: list[Any], counts: Counter[str]) -> None:
    redis = runtime().redis
    db = db_session()
    ids = {item.get("subscriptionId") for item in items if isinstance(item, dict)}
    ids = {i for i in ids if isinstance(i, str) and i}
    rows = {row.subscription_id: row for row in db.scalars(
        select(GraphSubscription).where(GraphSubscription.subscription_id.in_(ids))
    )} if ids else {}  # fmt: skip
    now, started = time.time(), time.monotonic()
    stamp = dt.datetime.fromtimestamp(now, dt.UTC)
    changed: set[int] = set()
    for item in items:
        row = _authentic(item, rows, counts)
        if row is None or row.mailbox_id is None:
            continue
        if "lifecycleEvent" in item:
            _lifecycle(item.get("lifecycleEvent"), row, stamp, now, counts)
            continue
        counts["notifications"] += 1
        record_notification(redis, row.mailbox_id, CHANNEL, now=now)
        if row.last_notification_at is None or (stamp - row.last_notification_at).total_seconds() > (
            NOTIFICATION_STAMP_SECONDS
        ):
            row.last_notification_at = stamp
        data = item.get("resourceData") if isinstance(item.get("resourceData"), dict) else {}
        item_id, etag = data.get("id"), data.get("@odata.etag")
        # A session's write in flight may be the cause: wait for its change key, within a share of Graph's 3 s.
        wait = max(0.0, ECHO_WAIT_SECONDS - (time.monotonic() - started))
        if isinstance(item_id, str) and is_echo(redis, row.mailbox_id, "exchange", item_id, _change_key(etag),
                                                wait=wait):  # fmt: skip
            counts["echoes"] += 1
            continue
        changed.add(row.mailbox_id)
    db.commit()
    for mailbox_id in sorted(changed):
        request_sync(redis, mailbox_id, source="graph", now=now)
        counts["enqueued"] += 1


def _authentic(item: Any, rows: dict[str, GraphSubscription], counts: Counter[str]) -> GraphSubscription | None:
    """The item's subscription when the item is well formed and carries that subscription's clientState."""
    if not isinstance(item, dict) or not isinstance(item.get("subscriptionId"), str):
        counts["malformed"] += 1
        return None
    row = rows.get(item["subscriptionId"])
    if row is None:
        counts["unknown_subscription"] += 1  # deleted or recreated since; an orphan expires by itself
        return None
    given = item.get("clientState")
    digest = hashlib.sha256(given.encode()).hexdigest() if isinstance(given, str) else ""
    if not hmac.compare_digest(digest, row.client_state_hash):
        counts["client_state_mismatch"] += 1
        log.warning("Graph notification for subscription %s with a wrong clientState: dropped", row.subscription_id)
        return None
    return row


def _lifecycle(event: Any, row: GraphSubscription, stamp: dt.datetime, now: float, counts: Counter[str]) -> None:
    redis = runtime().redis
    if event not in LIFECYCLE_EVENTS:
        counts["malformed"] += 1
        return
    counts[f"lifecycle:{event}"] += 1
    if event == "reauthorizationRequired":
        row.reauthorize_requested_at = stamp  # the keeper reauthorizes (a Graph call has no place here)
    elif event == "subscriptionRemoved":
        row.removed_at = stamp  # the keeper recreates it; until then the mailbox is polled
        record_channel(redis, row.mailbox_id, CHANNEL, "down", "subscription removed by Graph", now=now)
    else:  # missed: some notifications were not delivered, so the cursor's round is re-read whole
        record_event(redis, "missed", mailbox_id=row.mailbox_id, channel=CHANNEL, now=now)
        request_sync(redis, row.mailbox_id, source="graph", full=True, now=now)
        counts["enqueued"] += 1


def _change_key(etag: Any) -> str | None:
    """``W/"<change key>"`` → the change key (what sessions record for their writes)."""
    if not isinstance(etag, str) or not etag:
        return None
    text = etag.strip()
    if text.startswith('W/"') and text.endswith('"'):
        return text[3:-1]
    return text.strip('"')


def _count(counts: Counter[str]) -> None:
    if not counts:
        return
    try:
        with runtime().redis.pipeline(transaction=False) as pipe:
            for name, value in counts.items():
                pipe.hincrby(COUNTERS_KEY, name, value)
            pipe.execute()
    except RedisError as exc:  # figures only: the notification itself was handled
        log.warning("Graph webhook counters not kept: %s", exc)


# -- rate limit per client address -------------------------------------------------------------------------
@bp.before_request
def _check_rate() -> None:
    state = current_app.extensions.get(EXTENSION)
    if state is None:
        return
    limiter, items = state
    try:
        for item in items:
            if not limiter.hit(item, "calsync-graph-webhook", request.remote_addr or "-"):
                reset = limiter.get_window_stats(item, "calsync-graph-webhook", request.remote_addr or "-").reset_time
                wait = max(1, math.ceil(reset - time.time()))
                raise ApiError(f"Too many requests to the Graph webhook ({item}); try again in {wait} seconds.",
                               status=429, code="rate_limited", headers={"Retry-After": str(wait)})  # fmt: skip
    except RedisError as exc:
        log.error("Graph webhook rate limit unavailable (Redis): %s", exc)


def init_app(app: Flask) -> None:
    settings = runtime_of(app).settings
    raw = settings.graph_webhook_rate_limit
    try:
        items = parse_many(raw) if raw.strip() else []
    except ValueError:
        raise ConfigError(f"CALSYNC_GRAPH_WEBHOOK_RATE_LIMIT must be limits like 1200/minute, not {raw!r}") from None
    if items:
        app.extensions[EXTENSION] = (MovingWindowRateLimiter(storage_from_string(settings.redis_url)), items)
    app.register_blueprint(bp)
