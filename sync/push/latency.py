"""Latency samples: for each write a session makes, how long after the edit on the other side it landed.

``outlook_to_salesforce``: a Salesforce write made for an Exchange change, measured from the Exchange item's
last-modified time; ``salesforce_to_outlook``: an Exchange write made for a Salesforce change, from the record's
``LastModifiedDate``. Both clocks are the services' own (what the user saw as "edited at") and our write's
end is ours: samples below zero (clock skew) count as 0. Reverts (a side put back by policy) and deletions
without a modification time are not edits travelling across and are left out.

One row per sample in ``push_latency_samples`` (migration 0010_push_latency_samples), kept
CALSYNC_PUSH_LATENCY_DAYS days (each session's insert prunes older rows: one indexed delete). At 1,000 reps
and 20 changes a day that is 20,000 small rows a day; `latency_by_day` reads only the seconds of the days asked.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sync.models import LatencySample, utcnow
from sync.planner.model import (
    CreateInExchange,
    CreateInSalesforce,
    DeleteExchange,
    DeleteSalesforce,
    ExchangeChange,
    LinkState,
    SalesforceChange,
    UpdateExchange,
    UpdateSalesforce,
)

TO_SALESFORCE = "outlook_to_salesforce"
TO_OUTLOOK = "salesforce_to_outlook"
DIRECTIONS = (TO_SALESFORCE, TO_OUTLOOK)
KEEP_DAYS = 30


@dataclass(frozen=True)
class Sample:
    direction: str
    seconds: float


def _times(changes: Iterable[ExchangeChange | SalesforceChange], id_field: str) -> dict[str, dt.datetime]:
    times: dict[str, dt.datetime] = {}
    for change in changes:
        if change.modified_at is None:
            continue
        times[getattr(change, id_field)] = change.modified_at
        if change.sync_key:
            times[f"key:{change.sync_key}"] = change.modified_at
    return times


def samples_from_session(
    actions: Sequence[object],
    failed_keys: Iterable[str],
    exchange_changes: Sequence[ExchangeChange],
    salesforce_changes: Sequence[SalesforceChange],
    written_at: dt.datetime,
    links: Iterable[LinkState] = (),
) -> list[Sample]:
    """The samples of one applied plan (pure): every successful write that carried an edit across. The source
    change is found by the action's id on the source side, else through the link of its sync key."""
    failed = set(failed_keys)
    by_key = {link.sync_key: link for link in links}
    ex_times = _times(exchange_changes, "exchange_id")
    sf_times = _times(salesforce_changes, "salesforce_id")
    samples: list[Sample] = []
    for action in actions:
        if getattr(action, "revert", False) or getattr(action, "by_policy_off", False):
            continue
        key = getattr(action, "sync_key", None)
        if key in failed:
            continue
        if isinstance(action, CreateInSalesforce | UpdateSalesforce | DeleteSalesforce):
            direction, times, item = TO_SALESFORCE, ex_times, getattr(action, "exchange_id", None)
        elif isinstance(action, CreateInExchange | UpdateExchange | DeleteExchange):
            direction, times, item = TO_OUTLOOK, sf_times, getattr(action, "salesforce_id", None)
        else:
            continue
        link = by_key.get(key) if key else None
        if item is None and link is not None:
            item = link.exchange_id if direction == TO_SALESFORCE else link.salesforce_id
        edited = times.get(item) if item else None
        edited = edited or (times.get(f"key:{key}") if key else None)
        if edited is None:
            continue
        samples.append(Sample(direction, max(0.0, (written_at - edited).total_seconds())))
    return samples


def record_samples(db: Session, mailbox_id: int, samples: Iterable[Sample], *, written_at: dt.datetime,
                   trigger: str | None = None, keep_days: int = KEEP_DAYS) -> int:  # fmt: skip
    """Store a session's samples (the caller commits) and prune rows older than ``keep_days``."""
    rows = [LatencySample(mailbox_id=mailbox_id, direction=s.direction, seconds=s.seconds, written_at=written_at,
                          trigger=trigger) for s in samples]  # fmt: skip
    db.add_all(rows)
    if rows:
        db.execute(delete(LatencySample).where(LatencySample.written_at < written_at - dt.timedelta(days=keep_days)))
    return len(rows)


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values (p95 of 20 samples is the 19th): every value it
    returns is a measured one, which is what a p95 promise is about."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[rank - 1])


def latency_by_day(db: Session, days: int = 14, *, now: dt.datetime | None = None,
                   trigger: str | None = None) -> dict[str, list[dict[str, object]]]:  # fmt: skip
    """p50 and p95 per UTC day and direction, for the panel's latency chart.

    Returns ``{direction: [{"day": "YYYY-MM-DD", "count": n, "p50": seconds | None, "p95": seconds | None}, ...]}``
    for both directions, one entry per day from ``days - 1`` days ago to today, oldest first (days without
    samples have count 0 and None). ``trigger`` keeps only sessions run for that reason (``push``)."""
    now = now or utcnow()
    first_day = (now - dt.timedelta(days=max(days, 1) - 1)).date()
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=dt.UTC)
    query = select(LatencySample.direction, LatencySample.written_at, LatencySample.seconds).where(
        LatencySample.written_at >= start
    )
    if trigger is not None:
        query = query.where(LatencySample.trigger == trigger)
    values: dict[tuple[str, dt.date], list[float]] = {}
    for direction, written_at, seconds in db.execute(query):
        values.setdefault((direction, written_at.astimezone(dt.UTC).date()), []).append(seconds)
    span = [first_day + dt.timedelta(days=n) for n in range(max(days, 1))]
    return {direction: [_day(day, values.get((direction, day), [])) for day in span] for direction in DIRECTIONS}


def _day(day: dt.date, seconds: list[float]) -> dict[str, object]:
    ordered = sorted(seconds)
    return {"day": day.isoformat(), "count": len(ordered), "p50": percentile(ordered, 0.5),
            "p95": percentile(ordered, 0.95)}  # fmt: skip


def summary(by_day: Mapping[str, list[dict[str, object]]]) -> dict[str, int]:
    """Samples per direction over the days `latency_by_day` returned (for a tile beside the chart)."""
    return {direction: sum(int(d["count"]) for d in rows) for direction, rows in by_day.items()}
