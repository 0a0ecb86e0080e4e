"""The Graph subscription keeper: one change-notification subscription per Graph mailbox, kept alive.

`GraphSubscriptionKeeper.tick(now)` is one pass (the `calsync listener` loop calls it every pass;
``calsync graph-subscriptions sync`` runs one by hand or from cron). It compares the mailboxes on Microsoft Graph
(``backend = "graph"``, enabled) with the ``graph_subscriptions`` table and, for each:

- no subscription yet → ``POST /subscriptions`` on ``/users/{mailbox}/events`` (``created,updated,deleted``),
  notification and lifecycle URLs under CALSYNC_PUBLIC_URL, a fresh random ``clientState`` (only its SHA-256 is
  stored), ``Prefer: IdType="ImmutableId"`` (notifications then name items by the ids the connector keys links
  on), then a catch-up `request_sync`: what changed before the subscription existed is not notified;
- expiring within CALSYNC_GRAPH_SUBSCRIPTION_RENEW_MINUTES → ``PATCH`` a new ``expirationDateTime``;
- marked by a ``reauthorizationRequired`` lifecycle notification → ``POST /subscriptions/{id}/reauthorize``;
- marked by ``subscriptionRemoved``, expired, or answered 404 by a renewal or reauthorization → recreated in
  place (new id, new secret) and a catch-up `request_sync` (notifications of the gap are lost);
- a row whose mailbox was removed, disabled or moved to EWS → ``DELETE /subscriptions/{id}`` (404 is fine);
- every CALSYNC_GRAPH_ORPHAN_SWEEP_MINUTES (and at a keeper's first pass) ``GET /subscriptions`` (the app's own,
  all pages) → ``DELETE`` each one of ours that no row knows (an *orphan*: created just before a crash, before
  its row was saved). Ours means its ``notificationUrl`` is this deployment's (CALSYNC_PUBLIC_URL + the
  notifications path): the listing never returns ``clientState`` ("not returned for security purposes"), so the
  URL is all there is to tell our subscriptions from another deployment's of the same app registration.

Each pass reports every Graph mailbox's ``graph-webhook`` channel (`record_channel`): ``up`` while its
subscription is live (a heartbeat of CALSYNC_GRAPH_CHANNEL_TTL seconds), ``down`` with the reason when Graph
refused it, so its scheduler falls back to polling. A refused mailbox is tried again after
CALSYNC_GRAPH_SUBSCRIPTION_RETRY_SECONDS; a pass makes at most CALSYNC_GRAPH_SUBSCRIPTION_BATCH operations, and one
pass runs at a time across processes (a Redis lock). Graph requests are counted (`KeeperReport.requests`, and the
Redis counter `REQUESTS_KEY`).

References: https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions,
https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events,
https://learn.microsoft.com/en-us/graph/outlook-immutable-id (immutable ids in change notifications).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

import requests
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from calsync.settings import ConfigError, Settings
from sync.connectors.base import ExchangeUsage
from sync.connectors.errors import ConnectorError
from sync.connectors.graph.client import GraphClient
from sync.connectors.graph.tokens import TokenSource
from sync.models import GraphSubscription, Mailbox
from sync.push import record_channel, record_event, record_status, request_sync

if TYPE_CHECKING:
    from sync.runtime import Runtime

log = logging.getLogger(__name__)

CHANNEL = "graph-webhook"
CHANGE_TYPES = "created,updated,deleted"
NOTIFICATIONS_PATH = "/api/v1/graph/notifications"
LIFECYCLE_PATH = "/api/v1/graph/lifecycle"
LOCK_KEY = "calsync:push:graph:keeper-lock"
LOCK_TTL = 600  # seconds: longer than a pass of CALSYNC_GRAPH_SUBSCRIPTION_BATCH operations
RETRY_KEY = "calsync:push:graph:retry:{mailbox_id}"
REQUESTS_KEY = "calsync:push:graph:requests"  # hash: operation -> Graph requests made, all keepers together
GONE = 404
SETTINGS_REFRESH_SECONDS = 300  # how often a long-lived keeper (the listener's) reads the stored connection again
STATUS_COMPONENT = "graph-subscriptions"  # record_status: this process's last pass, for the panel
SWEEP_KEY = "calsync:push:graph:orphan-sweep"  # set (with its period as expiry) by the last orphan sweep


def client_state_hash(client_state: str) -> str:
    """What the database keeps of a subscription's clientState (the webhook compares digests)."""
    return hashlib.sha256(client_state.encode()).hexdigest()


def graph_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_graph_time(text: str | None, default: dt.datetime) -> dt.datetime:
    """Graph's ``2026-12-07T18:00:00.0000000Z`` (seven fraction digits, which ``fromisoformat`` may refuse)."""
    if not text:
        return default
    head, _, rest = text.rstrip("Z").partition(".")
    try:
        return dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
    except ValueError:
        return default


@dataclass
class KeeperReport:
    """What one pass did; ``failed`` maps a mailbox to Graph's error code."""

    created: int = 0
    renewed: int = 0
    reauthorized: int = 0
    recreated: int = 0
    deleted: int = 0
    orphans: int = 0  # subscriptions of ours without a row, deleted by the sweep
    healthy: int = 0
    deferred: int = 0  # operations left for the next pass (CALSYNC_GRAPH_SUBSCRIPTION_BATCH)
    requests: int = 0  # Graph HTTP requests of the pass
    failed: dict[str, str] = field(default_factory=dict)
    locked: bool = False  # another process was running a pass: this one did nothing

    def as_dict(self) -> dict:
        return {
            "created": self.created, "renewed": self.renewed, "reauthorized": self.reauthorized,
            "recreated": self.recreated, "deleted": self.deleted, "orphans": self.orphans, "healthy": self.healthy,
            "deferred": self.deferred, "requests": self.requests, "failed": dict(self.failed), "locked": self.locked,
        }  # fmt: skip


class _Budget:
    """The pass's allowance of Graph operations."""

    def __init__(self, size: int) -> None:
        self.left = size

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


class GraphSubscriptionKeeper:
    """Keeps one Graph subscription per Graph mailbox (see the module docstring). ``tokens`` gives app-only
    Graph tokens (`sync.connectors.graph.auth.MsalTokenSource`); ``settings`` the Graph URL, CALSYNC_PUBLIC_URL
    and the CALSYNC_GRAPH_SUBSCRIPTION_* figures."""

    def __init__(
        self,
        *,
        db: Callable[[], sessionmaker[Session]],
        redis: Redis,
        settings: Settings,
        tokens: Callable[[], TokenSource],
        session: requests.Session | None = None,
        name: str | None = None,
    ) -> None:
        self._db = db
        self.redis = redis
        self.settings = settings
        self._tokens = tokens
        self._token_source: TokenSource | None = None
        self.http = session or requests.Session()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        # Mailbox → (detail, time) of the last "up" heartbeat: a listener calls tick every few seconds, and a
        # heartbeat is only due every third of its TTL (or when the subscription changed).
        self._beats: dict[int, tuple[str, float]] = {}
        self._refresh: Callable[[], None] | None = None
        self._refreshed = time.monotonic()
        self._swept = False  # a keeper's first pass sweeps whatever the last sweep's time: it may follow a crash

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> GraphSubscriptionKeeper:
        """The keeper of a process's runtime: the Microsoft 365 connection in force (panel over environment),
        its token cache in the runtime's Redis, Graph's CA bundle."""
        from sync.runtime import graph_session

        settings = runtime.connection_settings()
        keeper = cls(
            db=runtime.db,
            redis=runtime.redis,
            settings=settings,
            tokens=lambda: runtime.graph_tokens(keeper.settings),
            session=graph_session(settings),
        )

        def refresh() -> None:  # an admin may change the Microsoft 365 connection while a listener runs
            fresh = runtime.connection_settings()
            if fresh != keeper.settings:
                keeper.settings, keeper._token_source = fresh, None

        keeper._refresh = refresh
        return keeper

    # -- the pass --------------------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> KeeperReport:
        """One pass over the Graph mailboxes and their subscriptions at ``now`` (epoch seconds; default the
        clock). Never raises for a Graph or configuration failure: those are in the report and the channels."""
        now = time.time() if now is None else now
        report = KeeperReport()
        if self._refresh is not None and time.monotonic() - self._refreshed > SETTINGS_REFRESH_SECONDS:
            self._refreshed = time.monotonic()
            try:
                self._refresh()
            except ConfigError as exc:  # a stored connection that no longer decrypts: keep the last good one
                log.warning("Graph subscription keeper keeps its settings: %s", exc)
        token = secrets.token_hex(8)
        if not self.redis.set(LOCK_KEY, token, nx=True, ex=LOCK_TTL):
            report.locked = True
            return report
        try:
            self._pass(dt.datetime.fromtimestamp(now, dt.UTC), now, report)
        finally:
            if self.redis.get(LOCK_KEY) in (token, token.encode()):
                self.redis.delete(LOCK_KEY)
        self._report_status(now, report)
        return report

    def _pass(self, when: dt.datetime, now: float, report: KeeperReport) -> None:
        budget = _Budget(self.settings.graph_subscription_batch)
        with self._db()() as db:
            wanted = {
                m.id: m
                for m in db.scalars(select(Mailbox).where(Mailbox.backend == "graph", Mailbox.enabled.is_(True)))
            }
            rows = list(db.scalars(select(GraphSubscription).order_by(GraphSubscription.expires_at)))
            db.expunge_all()
        by_mailbox = {row.mailbox_id: row for row in rows if row.mailbox_id in wanted}

        self._sweep(rows, budget, report, now)
        # Subscriptions nobody needs any more first: they cost Graph's resources and notify for nothing.
        for row in rows:
            if row.mailbox_id in wanted:
                continue
            if not budget.take():
                report.deferred += 1
                continue
            self._delete(row, report, now)

        problem = self._url_problem()
        for mailbox_id, mailbox in sorted(wanted.items()):
            row = by_mailbox.get(mailbox_id)
            action = self._due(row, when)
            if action is None:
                report.healthy += 1
                self._up(mailbox, row, now)
                continue
            if problem is not None:  # push not configured: no subscription can exist, nothing failed
                self._off(mailbox, problem, report, now)
                continue
            waiting = self.redis.get(RETRY_KEY.format(mailbox_id=mailbox_id))
            if waiting is not None:  # refused lately: the channel stays down until the retry
                report.failed[mailbox.email] = waiting.decode() if isinstance(waiting, bytes) else str(waiting)
                continue
            if not budget.take():
                report.deferred += 1
                if row is not None and row.expires_at > when and row.removed_at is None:
                    self._up(mailbox, row, now)  # still live: renewed next pass
                continue
            try:
                action(mailbox, row, when, now, report)
            except (ConnectorError, ConfigError) as exc:
                code = getattr(exc, "code", None) or type(exc).__name__
                log.warning("Graph subscription of %s: %s", mailbox.email, exc)
                self.redis.set(RETRY_KEY.format(mailbox_id=mailbox_id), code,
                               ex=self.settings.graph_subscription_retry_seconds)  # fmt: skip
                self._down(mailbox, f"{code}: {exc}", report, now)

    def _due(self, row: GraphSubscription | None, when: dt.datetime):
        """The operation this subscription needs now, or None when it is fine as it is."""
        if row is None:
            return self._create
        if row.removed_at is not None or row.expires_at <= when:
            return self._recreate
        if row.reauthorize_requested_at is not None:
            return self._reauthorize
        if row.expires_at - when <= dt.timedelta(minutes=self.settings.graph_subscription_renew_minutes):
            return self._renew
        return None

    # -- operations ------------------------------------------------------------------------------------------
    def _create(self, mailbox: Mailbox, row: GraphSubscription | None, when: dt.datetime, now: float,
                report: KeeperReport) -> None:  # fmt: skip
        made = self._subscribe(mailbox, when, report)
        with self._db()() as db:
            db.add(made)
            db.commit()
        report.created += 1
        # Changes made before the subscription existed are never notified: one delta round catches them up.
        request_sync(self.redis, mailbox.id, source="graph", now=now)
        self._up(mailbox, made, now)

    def _recreate(self, mailbox: Mailbox, row: GraphSubscription | None, when: dt.datetime, now: float,
                  report: KeeperReport) -> None:  # fmt: skip
        assert row is not None
        # An expired subscription may linger at Graph for a moment; one that was removed answers 404.
        self._call("DELETE", f"/subscriptions/{quote(row.subscription_id)}", mailbox.email, report, "delete")
        made = self._subscribe(mailbox, when, report)
        with self._db()() as db:
            stored = db.get(GraphSubscription, row.id)
            if stored is None:
                db.add(made)
            else:
                for name in ("subscription_id", "resource", "client_state_hash", "expires_at", "created_at"):
                    setattr(stored, name, getattr(made, name))
                stored.last_renewed_at = stored.reauthorize_requested_at = stored.removed_at = None
            db.commit()
        report.recreated += 1
        record_event(self.redis, "recreate", mailbox_id=mailbox.id, channel=CHANNEL, now=now)
        # Whatever changed while there was no subscription was not notified.
        request_sync(self.redis, mailbox.id, source="graph", now=now)
        self._up(mailbox, made, now)

    def _renew(self, mailbox: Mailbox, row: GraphSubscription | None, when: dt.datetime, now: float,
               report: KeeperReport) -> None:  # fmt: skip
        assert row is not None
        expires = when + dt.timedelta(minutes=self.settings.graph_subscription_minutes)
        answer = self._call("PATCH", f"/subscriptions/{quote(row.subscription_id)}", mailbox.email, report, "renew",
                            body={"expirationDateTime": graph_time(expires)})  # fmt: skip
        if answer.status_code == GONE:
            self._recreate(mailbox, row, when, now, report)
            return
        body = answer.json() if answer.content else {}
        with self._db()() as db:
            stored = db.get(GraphSubscription, row.id)
            if stored is not None:
                stored.expires_at = parse_graph_time(body.get("expirationDateTime"), expires)
                stored.last_renewed_at = when
                # A renewal reauthorizes too (Graph accepts either answer to reauthorizationRequired).
                stored.reauthorize_requested_at = None
                db.commit()
                row = stored
        report.renewed += 1
        record_event(self.redis, "renewal", mailbox_id=mailbox.id, channel=CHANNEL, now=now)
        self._up(mailbox, row, now)

    def _reauthorize(self, mailbox: Mailbox, row: GraphSubscription | None, when: dt.datetime, now: float,
                     report: KeeperReport) -> None:  # fmt: skip
        assert row is not None
        answer = self._call("POST", f"/subscriptions/{quote(row.subscription_id)}/reauthorize", mailbox.email,
                            report, "reauthorize")  # fmt: skip
        if answer.status_code == GONE:
            self._recreate(mailbox, row, when, now, report)
            return
        with self._db()() as db:
            stored = db.get(GraphSubscription, row.id)
            if stored is not None:
                stored.reauthorize_requested_at = None
                db.commit()
        report.reauthorized += 1
        record_event(self.redis, "reauthorization", mailbox_id=mailbox.id, channel=CHANNEL, now=now)
        self._up(mailbox, row, now)

    def _delete(self, row: GraphSubscription, report: KeeperReport, now: float) -> None:
        try:
            self._call("DELETE", f"/subscriptions/{quote(row.subscription_id)}", row.mailbox_email, report, "delete")
        except ConnectorError as exc:
            # Left for the next pass; meanwhile its notifications find no mailbox and are dropped.
            log.warning("cannot delete the Graph subscription of %s: %s", row.mailbox_email, exc)
            report.failed[row.mailbox_email] = exc.code or type(exc).__name__
            return
        with self._db()() as db:
            stored = db.get(GraphSubscription, row.id)
            if stored is not None:
                db.delete(stored)
                db.commit()
        report.deleted += 1
        if row.mailbox_id is not None:  # moved to EWS or disabled: this channel no longer carries its changes
            self._beats.pop(row.mailbox_id, None)
            record_channel(self.redis, row.mailbox_id, CHANNEL, "down", "not a Graph mailbox any more", now=now)

    def _sweep(self, rows: list[GraphSubscription], budget: _Budget, report: KeeperReport, now: float) -> None:
        """Delete our subscriptions that no row knows (see the module docstring). Runs inside the pass's lock,
        so no subscription of ours is between its creation and its row's commit meanwhile. A failed listing or
        deletion is tried again at the next pass."""
        if self._url_problem() is not None:
            return  # without our URL nothing can be told ours (and we made none)
        if self._swept and self.redis.exists(SWEEP_KEY):
            return
        ours = self.settings.public_url.strip().rstrip("/") + NOTIFICATIONS_PATH
        known = {row.subscription_id for row in rows}
        listed: list[dict] = []
        path: str | None = "/subscriptions"
        try:
            while path:
                answer = self._call("GET", path, "", report, "list")
                body = answer.json() if answer.content else {}
                listed += body.get("value") or []
                path = body.get("@odata.nextLink")
            for sub in listed:
                if str(sub.get("id")) in known or (sub.get("notificationUrl") or "").rstrip("/") != ours:
                    continue
                if not budget.take():
                    report.deferred += 1
                    return  # the rest at the next pass (no sweep mark yet)
                resource = str(sub.get("resource") or "")
                self._call("DELETE", f"/subscriptions/{quote(str(sub['id']))}", resource, report, "delete")
                log.info("deleted orphaned Graph subscription %s (%s): no row knew it", sub["id"], resource)
                report.orphans += 1
        except ConnectorError as exc:
            log.warning("Graph orphan sweep: %s", exc)
            report.failed["(orphan sweep)"] = exc.code or type(exc).__name__
            return
        self._swept = True
        self.redis.set(SWEEP_KEY, str(now), ex=max(60, 60 * self.settings.graph_orphan_sweep_minutes))

    def _subscribe(self, mailbox: Mailbox, when: dt.datetime, report: KeeperReport) -> GraphSubscription:
        """``POST /subscriptions`` for the mailbox; Graph validates both URLs (our webhook answers) first."""
        base = self.settings.public_url.rstrip("/")
        client_state = secrets.token_urlsafe(32)  # ≤ 128 characters, Graph's limit
        resource = f"/users/{quote(mailbox.email, safe='@')}/events"
        expires = when + dt.timedelta(minutes=self.settings.graph_subscription_minutes)
        answer = self._call("POST", "/subscriptions", mailbox.email, report, "create", body={
            "changeType": CHANGE_TYPES,
            "notificationUrl": base + NOTIFICATIONS_PATH,
            "lifecycleNotificationUrl": base + LIFECYCLE_PATH,
            "resource": resource,
            "expirationDateTime": graph_time(expires),
            "clientState": client_state,
            "latestSupportedTlsVersion": "v1_2",
        })  # fmt: skip
        body = answer.json()
        return GraphSubscription(
            subscription_id=str(body["id"]),
            mailbox_id=mailbox.id,
            mailbox_email=mailbox.email,
            resource=resource,
            client_state_hash=client_state_hash(client_state),
            expires_at=parse_graph_time(body.get("expirationDateTime"), expires),
            created_at=when,
        )

    def _call(self, method: str, path: str, mailbox_email: str, report: KeeperReport, operation: str, *,
              body: dict | None = None) -> requests.Response:  # fmt: skip
        """One Graph request through the connector's transport (throttling, one fresh token on a 401). 404 is
        returned (the subscription is gone), other errors raise `ConnectorError`."""
        usage = ExchangeUsage()
        client = GraphClient(self.settings.graph_url, mailbox_email, self.tokens(), usage, session=self.http,
                             timeout=self.settings.http_timeout)  # fmt: skip
        try:
            return client.request(method, path, body=body, ok_statuses=(GONE,))
        finally:
            report.requests += usage.calls
            if usage.calls:
                self.redis.hincrby(REQUESTS_KEY, operation, usage.calls)

    def tokens(self) -> TokenSource:
        if self._token_source is None:
            self._token_source = self._tokens()
        return self._token_source

    # -- health ----------------------------------------------------------------------------------------------
    def _url_problem(self) -> str | None:
        url = self.settings.public_url.strip()
        if not url:
            return "public_url_missing: set CALSYNC_PUBLIC_URL to the backend's https address"
        if not url.lower().startswith("https://"):
            return "public_url_not_https: Graph delivers notifications to https URLs only (CALSYNC_PUBLIC_URL)"
        return None

    def _up(self, mailbox: Mailbox, row: GraphSubscription | None, now: float) -> None:
        detail = f"subscription {row.subscription_id} until {graph_time(row.expires_at)}" if row is not None else ""
        ttl = self.settings.graph_channel_ttl
        last = self._beats.get(mailbox.id)
        if last is not None and last[0] == detail and 0 <= now - last[1] < ttl / 3:
            return
        record_channel(self.redis, mailbox.id, CHANNEL, "up", detail, ttl=ttl, now=now)
        self._beats[mailbox.id] = (detail, now)

    def _down(self, mailbox: Mailbox, reason: str, report: KeeperReport, now: float) -> None:
        report.failed[mailbox.email] = reason.split(":", 1)[0]
        self._beats.pop(mailbox.id, None)
        record_channel(self.redis, mailbox.id, CHANNEL, "down", reason, now=now)

    def _off(self, mailbox: Mailbox, reason: str, report: KeeperReport, now: float) -> None:
        """Push is not configured for this mailbox (no https CALSYNC_PUBLIC_URL): channel ``off``, so that its
        periodic sessions keep the adaptive interval rather than the 30-minute fallback of a push that failed."""
        report.failed[mailbox.email] = reason.split(":", 1)[0]
        self._beats.pop(mailbox.id, None)
        record_channel(self.redis, mailbox.id, CHANNEL, "off", reason, now=now)

    def _report_status(self, now: float, report: KeeperReport) -> None:
        with self._db()() as db:
            rows = list(db.scalars(select(GraphSubscription.expires_at)))
        status = {
            "subscriptions": len(rows),
            "next_expiry": graph_time(min(rows)) if rows else None,
            "last_pass": report.as_dict(),
            "at": now,
        }
        record_status(self.redis, STATUS_COMPONENT, self.name, status, ttl=self.settings.graph_channel_ttl)

    def close(self) -> None:
        self.http.close()
