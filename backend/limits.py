"""Per-caller rate limits on ``/api/v1`` (the ``limits`` library, moving windows in Redis), and the org's
Salesforce API budget guard in front of lookups.

- Every authenticated call counts against its mailbox: ``CALSYNC_API_RATE_LIMIT`` for the whole API, and
  tighter limits on the calls that cost Salesforce requests or sync sessions (``ENDPOINT_LIMITS``: lookups,
  sync now, share). Public views (health, the API document) count per client address.
- Over a limit: 429 ``rate_limited`` with ``Retry-After`` (seconds until the window frees a slot), in the
  JSON error shape of `backend.errors`.
- Lookups also stop (429 ``api_budget_exhausted``) once the org's daily Salesforce API usage is over the
  guard the sync sessions respect (CALSYNC_API_BUDGET_MAX_* or the panel's settings), as the last Salesforce
  answer (``Sforce-Limit-Info``, kept in Redis by every lookup) or the last session reported it.

The checks run after authentication (they are appended to the ``api`` blueprint's before-request functions
when the app is built), so the views themselves carry no decorators. Without Redis the API keeps answering
(logged): an outage of the limiter must not take the add-in down.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, fields

from flask import Flask, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError
from sqlalchemy import select

from backend.api import remote
from backend.errors import ApiError
from backend.globals import db_session, runtime_of
from calsync.settings import ConfigError, Settings
from sync import settings_store
from sync.models import SyncSession
from sync.schedule import over_budget

log = logging.getLogger(__name__)

EXTENSION = "calsync_limits"
BLUEPRINT = "api"
USAGE_KEY = "calsync:salesforce:org-usage"
# Endpoint name -> the setting with its limits (on top of the API-wide one).
ENDPOINT_LIMITS = {
    "api.lookup": "api_lookup_rate_limit",
    "api.sync_now": "api_sync_rate_limit",
    "api.share_item": "api_sync_rate_limit",
    "api.unshare_item": "api_sync_rate_limit",
}
BUDGET_GUARDED = {"api.lookup"}


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"


@dataclass
class Limiter:
    limiter: MovingWindowRateLimiter
    storage: Storage
    api: list[RateLimitItem]
    per_endpoint: dict[str, list[RateLimitItem]]


def _parse(settings: Settings, name: str) -> list[RateLimitItem]:
    env = next(f.metadata["env"] for f in fields(settings) if f.name == name)
    raw = getattr(settings, name)
    try:
        return parse_many(raw) if raw.strip() else []
    except ValueError:
        raise ConfigError(f"{env} must be limits like 30/minute or 30/minute;300/hour, not {raw!r}") from None


def _key() -> str:
    caller = g.get("calsync_caller")
    return f"mailbox:{caller.mailbox.id}" if caller is not None else f"address:{request.remote_addr}"


def _check_rate() -> None:
    state: Limiter = current_app.extensions[EXTENSION]
    key = _key()
    items = [("api", item) for item in state.api]
    items += [(request.endpoint or "", item) for item in state.per_endpoint.get(request.endpoint or "", [])]
    try:
        for scope, item in items:
            if not state.limiter.hit(item, "calsync-api", scope, key):
                reset = state.limiter.get_window_stats(item, "calsync-api", scope, key).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                what = "this call" if scope != "api" else "the add-in API"
                raise RateLimited(f"Too many requests to {what} ({item}); try again in {wait} seconds.",
                                  headers={"Retry-After": str(wait)})  # fmt: skip
    except RedisError as exc:
        log.error("API rate limits unavailable (Redis): %s", exc)


# -- the org's API budget ------------------------------------------------------------------------------------
def record_org_usage(used: int | None, limit: int | None) -> None:
    """Keep the org's usage a Salesforce answer reported, for the next lookups' budget check."""
    if used is None:
        return
    try:
        remote.redis().set(USAGE_KEY, json.dumps({"used": used, "max": limit, "at": time.time()}), ex=24 * 3600)
    except RedisError as exc:
        log.warning("cannot keep the org's API usage in Redis: %s", exc)


def _known_usage() -> tuple[int | None, int | None]:
    try:
        raw = remote.redis().get(USAGE_KEY)
    except RedisError:
        raw = None
    if raw:
        value = json.loads(raw)
        return value.get("used"), value.get("max")
    row = db_session().scalars(
        select(SyncSession).where(SyncSession.salesforce_usage.is_not(None))
        .order_by(SyncSession.started_at.desc(), SyncSession.id.desc()).limit(1)
    ).first()  # fmt: skip
    usage = (row.salesforce_usage or {}) if row is not None else {}
    return usage.get("used"), usage.get("max")


def _check_budget() -> None:
    config = settings_store.apply_to_schedule(settings_store.load(db_session()), remote.schedule_config())
    used, limit = _known_usage()
    if over_budget(used, limit, config):
        raise ApiError(
            f"Salesforce's daily API allowance is nearly used up ({used} of {limit or '?'} requests): searches are "
            "paused until it frees up.",
            status=429, code="api_budget_exhausted", headers={"Retry-After": "3600"},
        )  # fmt: skip


def _before_api_request() -> None:
    if request.method == "OPTIONS":
        return
    _check_rate()
    if request.endpoint in BUDGET_GUARDED:
        _check_budget()


def _after_api_request(response):
    connector = g.pop("calsync_salesforce", None)
    if connector is not None:
        record_org_usage(connector.usage.org_used, connector.usage.org_max)
    return response


def init_app(app: Flask) -> None:
    """After ``backend.api.init_app``: the checks run after the blueprint's authentication."""
    settings: Settings = runtime_of(app).settings
    per_endpoint = {endpoint: _parse(settings, name) for endpoint, name in ENDPOINT_LIMITS.items()}
    unknown = sorted(set(per_endpoint) - set(app.view_functions))
    if unknown:
        raise RuntimeError(f"rate limits name unknown endpoints: {', '.join(unknown)}")
    app.extensions[EXTENSION] = Limiter(
        limiter=MovingWindowRateLimiter(storage := storage_from_string(settings.redis_url)),
        storage=storage,
        api=_parse(settings, "api_rate_limit"),
        per_endpoint=per_endpoint,
    )
    app.before_request_funcs.setdefault(BLUEPRINT, []).append(_before_api_request)
    app.after_request_funcs.setdefault(BLUEPRINT, []).append(_after_api_request)
