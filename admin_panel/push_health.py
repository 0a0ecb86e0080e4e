"""The Overview's change-driven sync section (issue 18, docs/push.md): push health from
`sync.push.push_overview` (listeners, Graph subscriptions, last notification, renewals, mailboxes on fallback
polling) and the edit → other side latency per day from `sync.push.latency.latency_by_day` (p50 and p95 per
direction), drawn as inline SVG on the server like the other charts (nothing fetched, no script)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from admin_panel.charts import line_chart
from sync.push import push_overview
from sync.push.latency import TO_OUTLOOK, TO_SALESFORCE, latency_by_day

LATENCY_DAYS = 14
DIRECTIONS = ((TO_SALESFORCE, "Outlook → Salesforce", "#2f6db5"), (TO_OUTLOOK, "Salesforce → Outlook", "#2e7d32"))
# Status fields every `record_status` entry has: shown as the row's name and age, not among its details.
_STATUS_OWN = ("name", "reported")


def push_section(redis: Redis, db: Session, *, now: float | None = None) -> dict[str, Any]:
    """What the template `admin/_push.html` shows. Redis down: the health part says so (the latency chart,
    from the database, still shows)."""
    now = time.time() if now is None else now
    try:
        health: dict[str, Any] = push_overview(redis, db, now=now)
    except RedisError as exc:
        health = {"error": f"Redis at REDIS_URL does not answer: {exc}"}
    by_day = latency_by_day(db, LATENCY_DAYS, now=dt.datetime.fromtimestamp(now, dt.UTC))
    latency = []
    for direction, name, colour in DIRECTIONS:
        rows = by_day[direction]
        days = [dt.date.fromisoformat(str(row["day"])) for row in rows]
        lines = [("p50", [row["p50"] for row in rows], colour, False),
                 ("p95", [row["p95"] for row in rows], colour, True)]  # fmt: skip
        latency.append({"direction": name, "rows": rows, "count": sum(int(row["count"]) for row in rows),
                        "svg": line_chart(f"{name} latency", days, lines)})  # fmt: skip
    return {"health": health, "latency": latency, "latency_days": LATENCY_DAYS, "ago": lambda at: ago(at, now),
            "details": details, "seconds": seconds}  # fmt: skip


def ago(at: float | None, now: float) -> str:
    """An epoch time as "3 min ago (18:02 UTC)"; "never" for none."""
    if not at:
        return "never"
    gap = max(0.0, now - float(at))
    when = dt.datetime.fromtimestamp(float(at), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if gap < 90:
        return f"{gap:.0f} s ago ({when})"
    if gap < 90 * 60:
        return f"{gap / 60:.0f} min ago ({when})"
    return f"{gap / 3600:.1f} h ago ({when})"


def details(status: dict[str, Any]) -> str:
    """A process status's own fields (shard, subscriptions held, next expiry...) as "key: value" pairs."""
    return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(status.items()) if k not in _STATUS_OWN)


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"
