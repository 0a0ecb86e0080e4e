"""The org-wide Salesforce change scan (``calsync salesforce-scan``; docs/push.md, Salesforce scan).

Instead of one query per object kind per mailbox per session, one query per synced object for the whole org
every CALSYNC_SALESFORCE_SCAN_SECONDS (45): the rows of every synced owner (``OwnerId IN`` the mailboxes'
Salesforce users, CALSYNC_SALESFORCE_SCAN_OWNER_CHUNK owners a query) changed since the scan's watermark minus
the overlap the per-mailbox feed uses (`sync.feeds.WATERMARK_OVERLAP`), deleted rows included. Each row is
kept for its mailbox (`sync.push.salesforce_rows`), where that mailbox's sessions read it instead of querying;
a mailbox with a row that is new and not our own echo gets `request_sync(..., source="salesforce")`; every
scanned mailbox gets a ``salesforce-scan`` heartbeat.

- Watermarks (per object, the org's clock when it answered) live in the database (``org_settings`` row
  ``salesforce_scan``): a restarted scanner carries on where it stopped, the overlap catching late commits.
- Only one scanner acts: the holder of a Redis leader lock (`sync.schedule.LeaderLock`, its own key), so any
  number may run for availability.
- Echoes: a row that `sync.push.is_echo` names (the id and SystemModstamp a session recorded), or that the
  integration user modified last (``LastModifiedById``), is our own write: kept, but no session is requested.
  Sessions therefore never read a record back after writing it to learn its SystemModstamp.
- A row read again in the overlap at the stamp already held is not new: no request.
- A mailbox first seen (or whose rows Redis lost) is read from its own watermark minus the overlap, so that
  its next session finds the scan's rows cover it and needs no query.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from calsync.settings import Settings
from sync import policy_store, profiles
from sync.connectors.base import ChangeQuery, SalesforceOrg
from sync.connectors.errors import ConnectorError
from sync.entry import is_custom_kind
from sync.feeds import WATERMARK_OVERLAP, salesforce_fields, salesforce_object
from sync.models import Mailbox, OrgSetting, utcnow
from sync.policies import Direction
from sync.push import salesforce_rows as held
from sync.push.echo import is_echo
from sync.push.health import record_channel
from sync.push.requests import outlook_requests, request_sync
from sync.schedule import LeaderLock, ScheduleConfig, enqueue_session, group_key

log = logging.getLogger("calsync.salesforce_scan")

LEADER_KEY = "calsync:salesforce-scan:leader"
STATE_KEY = "salesforce_scan"  # the org_settings row of the watermarks
CHANNEL = "salesforce-scan"
# Owners per query when each query is its own GET: the IN list must keep the URI (with the headers) under
# 16,384 bytes; about 28 bytes an id once URL-encoded.
GET_OWNER_CHUNK = 400


@dataclass(frozen=True)
class ScanConfig:
    interval: float = 45.0  # CALSYNC_SALESFORCE_SCAN_SECONDS (docs/push.md, Measured: why 45)
    owner_chunk: int = 2000  # CALSYNC_SALESFORCE_SCAN_OWNER_CHUNK
    org_wide: bool = False  # CALSYNC_SALESFORCE_SCAN_ORG_WIDE
    composite: bool = True  # CALSYNC_SALESFORCE_SCAN_COMPOSITE
    retention: float = 12 * 3600.0  # CALSYNC_SALESFORCE_SCAN_RETENTION_HOURS, in seconds
    healthy: float = 180.0  # CALSYNC_SALESFORCE_SCAN_HEALTHY_SECONDS
    overlap: dt.timedelta = WATERMARK_OVERLAP


def scan_config(settings: Settings) -> ScanConfig:
    return ScanConfig(
        interval=settings.salesforce_scan_seconds,
        owner_chunk=settings.salesforce_scan_owner_chunk,
        org_wide=settings.salesforce_scan_org_wide,
        composite=settings.salesforce_scan_composite,
        retention=settings.salesforce_scan_retention_hours * 3600,
        healthy=settings.salesforce_scan_healthy_seconds,
    )


# -- what to scan ---------------------------------------------------------------------------------------------
@dataclass
class Target:
    """One object to scan: its columns (every profile's) and the mailboxes of each owner, with the mailbox's
    own watermark of the kind (ISO, or None) for owners the scan has not covered yet."""

    sobject: str
    fields: set[str] = field(default_factory=set)
    owners: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)


def targets(db: Session) -> dict[str, Target]:
    """Object → `Target`, over the enabled mailboxes with a Salesforce user and the kinds their profile syncs."""
    rule_list = profiles.rules(db)
    by_profile: dict[int | None, Any] = {}
    out: dict[str, Target] = {}
    query = select(Mailbox).where(Mailbox.enabled.is_(True), Mailbox.salesforce_user_id.is_not(None))
    for mailbox in db.scalars(query.order_by(Mailbox.id)):
        profile_id = profiles.effective(db, mailbox, rule_list=rule_list).profile_id
        if profile_id not in by_profile:
            by_profile[profile_id] = profiles.policies_for(db, mailbox)[0]
        policies = by_profile[profile_id]
        for kind in policy_store.kinds(policies):
            policy = policies.for_kind(kind)
            if policy.direction is Direction.OFF or (is_custom_kind(kind) and policy.custom is None):
                continue
            sobject = salesforce_object(policy)
            target = out.setdefault(sobject, Target(sobject))
            target.fields.update(salesforce_fields(policy))
            mark = (mailbox.salesforce_watermarks or {}).get(kind)
            target.owners.setdefault(mailbox.salesforce_user_id, []).append((mailbox.id, mark))
    return out


def load_watermarks(db: Session) -> dict[str, str]:
    row = db.scalars(select(OrgSetting).where(OrgSetting.key == STATE_KEY)).one_or_none()
    return dict((row.value or {}).get("watermarks") or {}) if row is not None else {}


def save_watermark(db: Session, sobject: str, value: dt.datetime) -> None:
    row = db.scalars(select(OrgSetting).where(OrgSetting.key == STATE_KEY)).one_or_none()
    if row is None:
        row = OrgSetting(key=STATE_KEY, value={})
        db.add(row)
    marks = dict((row.value or {}).get("watermarks") or {})
    marks[sobject] = value.isoformat()
    row.value = {**(row.value or {}), "watermarks": marks}  # a new dict: the JSON column sees the change
    db.commit()


@dataclass(frozen=True)
class Plan:
    query: ChangeQuery
    owners: Sequence[str]  # whose rows the query brings (every owner of the object with ``org_wide``)
    covers: dict[int, held.Cover | None]


def _our_echo(redis: Redis, mailbox_id: int, row: dict[str, Any], ours: str | None) -> bool:
    """Whether a scanned row is our own write. With our user known, ``LastModifiedById`` decides: the time
    match `is_echo` falls back on for writes whose modstamp we never learn would take a rep's edit made within
    the clock margin after our write for its echo, and leave it to the safety net."""
    modified_by = row.get("LastModifiedById")
    if ours and modified_by:
        return modified_by == ours
    return is_echo(redis, mailbox_id, "salesforce", row["Id"], row.get("SystemModstamp"))


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- one pass -------------------------------------------------------------------------------------------------
@dataclass
class ScanReport:
    leader: bool = True
    queries: int = 0  # SOQL queries (one per object and owner chunk)
    calls: int = 0  # Salesforce API requests, pages included
    rows: int = 0
    new_rows: int = 0
    echoes: int = 0
    requested: list[int] = field(default_factory=list)
    enqueued: list[int] = field(default_factory=list)  # sessions the pass enqueued itself (a queue given)
    mailboxes: int = 0
    errors: list[str] = field(default_factory=list)
    query_seconds: float = 0.0  # the Salesforce round trip(s)
    seconds: float = 0.0  # the whole pass, until the last session is enqueued

    def to_json(self) -> dict[str, Any]:
        return {"leader": self.leader, "queries": self.queries, "calls": self.calls, "rows": self.rows,
                "new_rows": self.new_rows, "echoes": self.echoes, "requested": self.requested,
                "enqueued": self.enqueued, "mailboxes": self.mailboxes, "errors": self.errors,
                "query_seconds": round(self.query_seconds, 3), "seconds": round(self.seconds, 3)}  # fmt: skip


class SalesforceScanner:
    """``calsync salesforce-scan``: `tick` every ``config.interval`` seconds while holding the leader lock.

    With a ``queue`` (the session queue; ``schedule`` its settings) the pass enqueues the sessions it requests
    itself, through `enqueue_session` (whose job id dedupes against a queued or running session), instead of
    leaving them to the scheduler's next push pass: up to CALSYNC_PUSH_PASS_SECONDS less latency. The request
    stays recorded either way, so a session busy now, a mailbox backing off or a lost job is served by the push
    pass as before."""

    def __init__(self, redis: Redis, db_factory: sessionmaker[Session], salesforce: Callable[[], SalesforceOrg],
                 config: ScanConfig | None = None, *, clock: Callable[[], float] = time.time,
                 queue: Queue | None = None, schedule: ScheduleConfig | None = None) -> None:  # fmt: skip
        self.redis = redis
        self.queue = queue
        self.schedule = schedule or ScheduleConfig()
        self.db_factory = db_factory
        self.salesforce = salesforce
        self.config = config or ScanConfig()
        self.clock = clock
        self.leader = LeaderLock(redis, max(int(3 * self.config.interval) + 1, 30), key=LEADER_KEY)
        self._connector: SalesforceOrg | None = None

    def tick(self) -> ScanReport:
        if not self.leader.hold():
            return ScanReport(leader=False)
        return self.scan()

    def scan(self) -> ScanReport:
        """One pass over every synced object (the caller holds the leader lock, or is a test). All queries go
        out together (five to a Composite request, one API call); if one fails, nothing of this pass is kept
        (no watermark, no cover moves), the next pass reads the same span again."""
        report = ScanReport()
        began = time.monotonic()
        if self._connector is None:  # kept between passes: one sign-in, not one per minute
            self._connector = self.salesforce()
        connector = self._connector
        calls_before = connector.usage.calls
        with self.db_factory() as db:
            found = targets(db)
            marks = load_watermarks(db)
        everyone = sorted({m for t in found.values() for ms in t.owners.values() for m, _ in ms})
        plans = [plan for sobject in sorted(found) for plan in self._plan(found[sobject], marks.get(sobject))]
        asked = time.monotonic()
        try:
            answers = connector.owners_changed_batch([p.query for p in plans], composite=self.config.composite)
        except ConnectorError as exc:
            # Sessions use their own queries once the scan's rows go stale (CALSYNC_SALESFORCE_SCAN_HEALTHY_SECONDS).
            log.warning("Salesforce scan failed: %s", exc)
            report.errors.append(str(exc))
            for mailbox_id in everyone:
                record_channel(self.redis, mailbox_id, CHANNEL, "down", str(exc)[:500], now=self.clock())
            report.calls = connector.usage.calls - calls_before
            return report
        report.query_seconds = time.monotonic() - asked
        answered = connector.usage.server_time or dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        ours = self._integration_user(connector, found)
        wanted: dict[int, float] = {}  # mailbox → stamp of its oldest new row (the edit waiting longest)
        for plan, rows in zip(plans, answers, strict=True):
            report.queries += 1
            by_owner: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                by_owner.setdefault(row.get("OwnerId") or "", []).append(row)
            target = found[plan.query.sobject]
            for owner in plan.owners:
                report.rows += len(by_owner.get(owner, ()))
                for mailbox_id, own_mark in target.owners[owner]:
                    self._hold(mailbox_id, owner, target.sobject, list(plan.query.fields), by_owner.get(owner, []),
                               plan.query.since, answered, plan.covers.get(mailbox_id), own_mark, ours, wanted,
                               report)  # fmt: skip
        with self.db_factory() as db:
            for sobject in sorted(found):
                save_watermark(db, sobject, answered)
        now = self.clock()
        for mailbox_id in sorted(wanted):
            request_sync(self.redis, mailbox_id, source="salesforce", now=now)
        report.requested = sorted(wanted)
        # Oldest edit first: with fewer workers than requests, the sessions of a pass run one after the other,
        # and the edit that has waited longest for the scan should not also wait for the others' sessions.
        report.enqueued = self._enqueue(sorted(wanted, key=lambda m: (wanted[m], m)))
        for mailbox_id in everyone:
            record_channel(self.redis, mailbox_id, CHANNEL, "up", ttl=int(self.config.healthy), now=now)
        report.mailboxes = len(everyone)
        report.calls = connector.usage.calls - calls_before
        report.seconds = time.monotonic() - began
        if report.requested:
            log.info("salesforce scan: %s", report.to_json())
        return report

    def _enqueue(self, ids: list[int]) -> list[int]:
        """Enqueue the sessions of the requested mailboxes now (the push pass's rules: not while backing off
        from the API budget; a queued or running session makes it a duplicate, its request stays pending for
        the push pass; a mailbox with an Outlook change waiting for the batching window, or claimed by a group
        job, is left to the push pass: it waits with the Outlook ones, docs/push.md "Batched writes"). A Redis
        or database failure here loses nothing: the requests are recorded."""
        if self.queue is None or not ids:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            for mailbox_id in ids:
                pipe.exists(group_key(mailbox_id))
            claimed = {m for m, found in zip(ids, pipe.execute(), strict=True) if found}
        batched = set(outlook_requests(self.redis, ids)) if self.schedule.push.batch_seconds > 0 else set()
        ids = [m for m in ids if m not in claimed and m not in batched]
        now = utcnow()
        with self.db_factory() as db:
            waiting = {row.id for row in db.execute(select(Mailbox.id, Mailbox.backoff_until).where(
                Mailbox.id.in_(ids))) if row.backoff_until is not None and row.backoff_until > now}  # fmt: skip
        enqueued = []
        for mailbox_id in ids:
            if mailbox_id in waiting:
                continue
            if enqueue_session(self.queue, mailbox_id, self.schedule, reason="push") != "duplicate":
                enqueued.append(mailbox_id)
        return enqueued

    def _integration_user(self, connector: SalesforceOrg, found: dict[str, Target]) -> str | None:
        """Our own user, whose modifications are echoes; None when unknown, or when it is also a synced rep
        (a development token signed in as a rep): its edits would then be the rep's own."""
        try:
            user = getattr(getattr(connector, "session", None), "user_id", "") or ""
        except ConnectorError:
            return None
        owners = {o for t in found.values() for o in t.owners}
        return user if user and user not in owners else None

    def _plan(self, target: Target, mark: str | None) -> list[Plan]:
        """The queries of one object: one per owner chunk (one for all with ``org_wide``), each from the
        watermark minus the overlap, or from further back for mailboxes the scan holds nothing for yet (their
        own watermark minus the overlap, so that their next session finds itself covered); never before the
        retention."""
        config = self.config
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        floor = now - dt.timedelta(seconds=config.retention)
        # First pass ever: from now (minus the overlap); mailboxes not covered yet are read from their own marks.
        base = (dt.datetime.fromisoformat(mark) if mark else now) - config.overlap
        owners = sorted(target.owners)
        existing = held.covers(self.redis, [m for o in owners for m, _ in target.owners[o]], target.sobject)
        fields = tuple(sorted(target.fields))
        chunk = config.owner_chunk if config.composite else min(config.owner_chunk, GET_OWNER_CHUNK)
        groups: list[list[str] | None] = [None] if config.org_wide else [list(g) for g in _chunks(owners, chunk)]
        plans: list[Plan] = []
        for group in groups:
            members = owners if group is None else group
            since = base
            for owner in members:
                for mailbox_id, own_mark in target.owners[owner]:
                    cover = existing.get(mailbox_id)
                    if cover is None or cover.owner != owner or not set(fields) <= cover.fields:
                        since = min(since, dt.datetime.fromisoformat(own_mark) - config.overlap if own_mark else base)
            query = ChangeQuery(target.sobject, fields, None if group is None else tuple(group), max(since, floor))
            plans.append(Plan(query, members, existing))
        return plans

    def _hold(self, mailbox_id: int, owner: str, sobject: str, fields: list[str], rows: list[dict[str, Any]],
              since: dt.datetime, answered: dt.datetime, cover: held.Cover | None, own_mark: str | None,
              ours: str | None, wanted: dict[int, float], report: ScanReport) -> None:  # fmt: skip
        """Keep one mailbox's rows of one object and its new cover; request a session if any row is new and
        not an echo. On a first cover, rows stamped before the mailbox's own watermark were read by its last
        session already: held (its next session reads them in its overlap), but no request."""
        fresh = cover is None or cover.owner != owner or not set(fields) <= cover.fields
        if fresh:  # start over: rows held for another owner or fewer columns are of no use
            held.forget(self.redis, mailbox_id, [sobject])
        stamps = held.known_stamps(self.redis, mailbox_id, sobject, [r["Id"] for r in rows])
        new = [r for r, s in zip(rows, stamps, strict=True)
               if s is None or held.stamp_score(r.get("SystemModstamp")) > s]  # fmt: skip
        report.new_rows += len(new)
        seen_until = held.parse_stamp(own_mark) if fresh and own_mark else None
        for row in new:
            if seen_until is not None and (held.parse_stamp(row.get("SystemModstamp")) or seen_until) < seen_until:
                continue
            if _our_echo(self.redis, mailbox_id, row, ours):
                report.echoes += 1
                continue
            stamp = held.stamp_score(row.get("SystemModstamp"))
            wanted[mailbox_id] = min(stamp, wanted.get(mailbox_id, stamp))
        start = since if fresh or cover is None else min(cover.since, since)
        held.hold(self.redis, mailbox_id, sobject, new,
                  held.Cover(start, answered, self.clock(), owner, frozenset(fields)))  # fmt: skip
        held.trim(self.redis, mailbox_id, sobject, self.clock() - self.config.retention)

    # -- the loop -------------------------------------------------------------------------------------------
    def run(self, *, once: bool = False, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        try:
            while True:
                started = time.monotonic()
                try:
                    self.tick()
                except Exception:  # a database, Redis or Salesforce hiccup must not end the scanner
                    log.exception("salesforce scan pass failed; trying again in %s s", self.config.interval)
                    self._connector = None
                if once or stop.wait(max(0.0, self.config.interval - (time.monotonic() - started))):
                    return
        finally:
            self.leader.release()
