"""One sync session of one mailbox: read both sides, plan, apply, record what happened.

``run_session`` is what ``calsync sync`` and the RQ job call. It never lets one item stop the others
(docs/invariants.md #11): item problems become health entries; only a failure to read a side, an exhausted API budget
or refused credentials end the session early, with the session row saying why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync import health, links, mailboxes, policy_store, scope_entry, shares
from sync.apply import Applier
from sync.connectors.base import ExchangeCalendar, SalesforceOrg
from sync.connectors.errors import AuthError, BudgetExhausted, ConnectorError
from sync.entry import EVENT
from sync.feeds import read_exchange, read_salesforce, refresh_failed
from sync.models import Link, Mailbox, SyncSession, utcnow
from sync.planner import plan as make_plan
from sync.planner.model import ChangeType, ExchangeChange, LinkStatus, MeetingEvent
from sync.policies import Direction, PolicySet

log = logging.getLogger("calsync.session")

# Check the master category list at most this often (a session with no change should cost one EWS call).
CATEGORY_CHECK_INTERVAL = dt.timedelta(hours=24)
# Mailbox-level entries of a session that could not finish: a later session that reads, plans and applies
# closes them (the item-level entries resolve item by item in the Applier).
SESSION_FAILURE_CODES = frozenset(
    {
        "session_failed",
        "internal_error",
        "api_budget_exhausted",
        "salesforce_auth_failed",
        "exchange_auth_failed",
        "salesforce_connection_revoked",
        # Microsoft Graph (sync.connectors.errors: GraphAuthError, MailboxUnavailable and its kinds)
        "exchange_mailbox_unavailable",
        "graph_mailbox_on_premises",
        "graph_mailbox_not_in_scope",
        "graph_auth_failed",
        "graph_credentials_refused",
        "graph_credentials_invalid",
        "graph_app_unknown",
        "graph_unknown_tenant",
        "graph_not_configured",
    }
)
SIDES = ("salesforce", "exchange")


class SessionError(Exception):
    """The session cannot run at all (unknown mailbox, ...); the message is meant for people."""


@dataclass
class SessionResult:
    mailbox: str
    status: str  # ok | partial | failed
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    reverted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    failed: int = 0
    writes: int = 0
    api_calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    duration_s: float = 0.0
    session_id: int | None = None
    error: str | None = None
    health: int = 0
    salesforce_reauths: int = 0  # Salesforce sessions renewed after INVALID_SESSION_ID

    def to_json(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox, "status": self.status, "created": self.created, "updated": self.updated,
            "deleted": self.deleted, "reverted": self.reverted, "failed": self.failed, "writes": self.writes,
            "api_calls": self.api_calls, "duration_s": round(self.duration_s, 3), "session_id": self.session_id,
            "error": self.error, "health": self.health, "salesforce_reauths": self.salesforce_reauths,
        }  # fmt: skip


def _categories_due(mailbox: Mailbox, wanted: dict[str, int], now: dt.datetime) -> tuple[bool, str]:
    digest = hashlib.sha256(json.dumps(sorted(wanted.items())).encode()).hexdigest()[:16]
    state = mailbox.category_state or {}
    checked = state.get("checked_at")
    if state.get("hash") != digest or not checked:
        return True, digest
    return now - dt.datetime.fromisoformat(checked) >= CATEGORY_CHECK_INTERVAL, digest


def run_session(
    db_factory: sessionmaker[Session],
    mailbox_email: str,
    *,
    salesforce: SalesforceOrg,
    exchange: ExchangeCalendar,
    policies: PolicySet | None = None,
    now: dt.datetime | None = None,
    checkpoint: Callable[[str], None] | None = None,
    force_category_check: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> SessionResult:
    """``progress(phase, done, total)`` is called as the session moves on (phases ``reading``, ``planning``,
    ``applying`` with writes done of planned, ``done``); it may raise `BudgetExhausted` to stop the session
    cleanly between two committed batches (the job's API budget guard does)."""
    started = time.monotonic()
    now = now or utcnow()
    with db_factory() as db:
        mailbox = mailboxes.find(db, mailbox_email)
        if mailbox is None:
            raise SessionError(f"{mailbox_email} is not a synced mailbox (add it with `calsync mailboxes add`)")
        record = SyncSession(mailbox_id=mailbox.id, started_at=now, status="running")
        db.add(record)
        db.commit()
        result = SessionResult(mailbox=mailbox.email, status="running", session_id=record.id)
        try:
            _run(db, mailbox, result, salesforce, exchange, policies, now, checkpoint, force_category_check,
                 progress or (lambda _phase, _done, _total: None))  # fmt: skip
            health.resolve(db, mailbox_id=mailbox.id, item_ref=health.MAILBOX_REF, codes=set(SESSION_FAILURE_CODES))
        except BudgetExhausted as exc:
            db.rollback()
            result.status, result.error = "failed", f"Salesforce API budget exhausted: {exc}"
            mailbox.backoff_reason = result.error
            _mailbox_health(db, mailbox, "salesforce", "api_budget_exhausted", result.error, now)
        except AuthError as exc:
            db.rollback()
            result.status, result.error = "failed", f"{exc.service} refused our credentials: {exc}"
            # A revoked Salesforce connection has its own code (the panel shows a banner: connect again).
            code = getattr(exc, "health_code", "") or f"{exc.service}_auth_failed"
            _mailbox_health(db, mailbox, exc.service, code, result.error, now)
        except ConnectorError as exc:
            db.rollback()
            result.status, result.error = "failed", f"{exc.service or 'remote'} error: {exc}"
            # A mailbox the protocol cannot reach (on premises, outside the app's scope) has its own code and a
            # hint for the admin; other mailboxes' sessions are not affected.
            code = getattr(exc, "health_code", "") or "session_failed"
            hint = getattr(exc, "hint", "")
            message = f"{hint} ({result.error})" if hint else result.error
            _mailbox_health(db, mailbox, exc.service or "both", code, message, now)
        except SessionError as exc:
            db.rollback()
            result.status, result.error = "failed", str(exc)
            _mailbox_health(db, mailbox, "both", "session_failed", result.error, now)
        except Exception as exc:  # a bug must not crash the worker or lose the session record
            log.exception("session of %s crashed", mailbox_email)
            db.rollback()
            result.status, result.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
            _mailbox_health(db, mailbox, "both", "internal_error", result.error, now)
        result.api_calls = {"salesforce": salesforce.usage.calls, "exchange": exchange.usage.calls}
        result.duration_s = time.monotonic() - started
        record.finished_at = utcnow()
        record.status = result.status
        record.counts = {k: getattr(result, k) for k in ("created", "updated", "deleted", "reverted")}
        record.api_calls = result.api_calls
        result.salesforce_reauths = getattr(salesforce.usage, "reauthentications", 0)
        record.salesforce_reauths = result.salesforce_reauths
        record.writes = result.writes
        record.failed = result.failed
        record.error = result.error
        used = getattr(salesforce.usage, "org_used", None)
        if used is not None:  # the admin panel's API budget view reads it
            record.salesforce_usage = {"used": used, "max": getattr(salesforce.usage, "org_max", None)}
        db.commit()
    log.info("session %s", json.dumps(result.to_json(), sort_keys=True))
    return result


def _mailbox_health(db: Session, mailbox: Mailbox, side: str, code: str, message: str, now: dt.datetime) -> None:
    health.record(db, mailbox_id=mailbox.id, item_ref=health.MAILBOX_REF, side=side, code=code, message=message,
                  now=now)  # fmt: skip
    db.commit()


def _run(db, mailbox, result, salesforce, exchange, policies, now, checkpoint, force_category_check, progress) -> None:
    progress("reading", 0, 0)
    policies = policies or policy_store.load(db)
    kinds = policy_store.kinds(policies)
    if not mailbox.salesforce_user_id:
        user_id = salesforce.active_user_id(mailbox.email)
        if not user_id:
            raise SessionError(f"no active Salesforce user has the e-mail {mailbox.email}")
        mailbox.salesforce_user_id = user_id
        db.commit()

    wanted = policy_store.categories(policies)
    due, digest = _categories_due(mailbox, wanted, now)
    if due or force_category_check:
        exchange.ensure_categories(wanted)
        mailbox.category_state = {"hash": digest, "checked_at": now.isoformat()}
        db.commit()

    previous = links.load(db, mailbox)
    share_requests = shares.pending(db, mailbox)  # Who/What chosen in the add-in since the last session
    ex_feed = read_exchange(
        exchange, sync_state=mailbox.exchange_sync_state, links=previous, policies=policies, kinds=kinds,
        mailbox_email=mailbox.email, time_zone=mailbox.time_zone, shared=share_requests,
    )  # fmt: skip
    sf_feed = read_salesforce(
        salesforce, owner_id=mailbox.salesforce_user_id, policies=policies, kinds=kinds,
        watermarks=mailbox.salesforce_watermarks or {}, time_zone=mailbox.time_zone, now=now,
        linked_kinds={link.kind for link in previous if link.is_live},
        links=previous,
    )  # fmt: skip
    refresh_failed(
        exchange, salesforce, links=previous, exchange_feed=ex_feed, salesforce_feed=sf_feed, policies=policies,
        time_zone=mailbox.time_zone, mailbox_email=mailbox.email, shared=share_requests,
    )  # fmt: skip
    entered = scope_entry.entered(db, mailbox, policies, now)  # items the scope took in since they were read
    if entered:
        scope_entry.read_entered(
            entered, exchange, salesforce, exchange_feed=ex_feed, salesforce_feed=sf_feed, links=previous,
            policies=policies, time_zone=mailbox.time_zone, mailbox_email=mailbox.email, shared=share_requests,
        )  # fmt: skip
    progress("planning", 0, len(ex_feed.changes) + len(sf_feed.changes))
    meeting_changes = _meetings_going_up(ex_feed.changes, policies)
    emails = sorted({a.email for c in meeting_changes for a in c.entry.attendees if a.email})
    people = salesforce.people_by_email(emails) if emails else {}
    known = {link.exchange_id for link in previous if link.exchange_id}
    meetings = meeting_events(db, mailbox, {c.uid for c in meeting_changes if c.uid and c.exchange_id not in known})
    plan = make_plan(
        previous, ex_feed.changes, sf_feed.changes, policies, now, mailbox=mailbox.email,
        exchange_full_count=ex_feed.full_count, salesforce_full_count=sf_feed.full_count,
        default_time_zone=mailbox.time_zone, people=people, meetings=meetings,
        notifies_attendees=exchange.notifies_attendees,
    )  # fmt: skip
    total = len(plan.writes)

    def _checkpoint(point: str) -> None:
        (checkpoint or (lambda _p: None))(point)
        progress("applying", min(total, sum(applier.report.counts.values()) + len(applier.report.failed_keys)), total)

    progress("applying", 0, total)
    applier = Applier(db, mailbox, salesforce, exchange, now, checkpoint=_checkpoint, people=people)
    report = applier.apply(plan, previous)

    if not plan.guard.tripped:
        scope_entry.remember(
            db, mailbox, exchange_changes=ex_feed.changes, salesforce_changes=sf_feed.changes, links=previous,
            policies=policies, now=now, found=entered, finished=not report.failed_keys,
        )  # fmt: skip
    # Move the cursors only when every write landed: a failed item must come back in the next feeds.
    if not report.failed_keys and not plan.guard.tripped:
        cursor = _past_own_writes(exchange, ex_feed.sync_state, applier.exchange_writes)
        mailbox.exchange_sync_state = cursor
        mailbox.salesforce_watermarks = sf_feed.watermarks
        # In the same commit, the links whose Exchange items this cursor covers stop being pending: every item
        # the feed could see, and this session's creates if the cursor moved past them (or no cursor is kept:
        # then the next session lists everything).
        past_own = cursor is None or cursor != ex_feed.sync_state
        links.confirm(db, mailbox, except_keys=() if past_own else applier.exchange_created)
        # The feed moved past these items: their share requests have been sent (or refused with a health note).
        seen = {change.exchange_id for change in ex_feed.changes}
        shares.settle(db, mailbox, seen & set(share_requests), before=now)
    db.commit()

    for (action, side), n in report.counts.items():
        bucket = getattr(result, action, None)
        if isinstance(bucket, dict) and side in bucket:
            bucket[side] += n
    result.writes = report.writes
    result.failed = len(report.failed_keys)
    result.health = report.health_recorded
    result.status = "partial" if (report.failed_keys or plan.guard.tripped) else "ok"
    if plan.guard.tripped:
        result.error = f"mass-deletion guard: {plan.guard.reason}"
    progress("done", total, total)


def _meetings_going_up(changes: list[ExchangeChange], policies: PolicySet) -> list[ExchangeChange]:
    """Changed Exchange Events whose attendees may reach Salesforce this session."""
    if policies.for_kind(EVENT).direction in (Direction.OFF, Direction.DOWNSYNC_ONLY):
        return []
    return [
        c
        for c in changes
        if c.kind == EVENT and c.type is ChangeType.CHANGED and c.entry is not None and c.entry.attendees
    ]


def meeting_events(db: Session, mailbox: Mailbox, uids: set[str]) -> dict[str, MeetingEvent]:
    """iCalUId → the Event another mailbox's link made for that meeting (one meeting, one Event)."""
    if not uids:
        return {}
    rows = db.execute(
        select(Link.exchange_uid, Link.salesforce_id, Mailbox.salesforce_user_id)
        .join(Mailbox, Link.mailbox_id == Mailbox.id)
        .where(
            Link.exchange_uid.in_(sorted(uids)),
            Link.mailbox_id != mailbox.id,
            Link.kind == EVENT,
            Link.joined_event.is_(False),
            Link.state.in_([str(LinkStatus.PENDING), str(LinkStatus.ACTIVE), str(LinkStatus.FAILED)]),
            Link.salesforce_id.is_not(None),
        )
        .order_by(Link.created_at, Link.id)
    )
    found: dict[str, MeetingEvent] = {}
    for uid, salesforce_id, owner in rows:
        found.setdefault(uid, MeetingEvent(salesforce_id=salesforce_id, owner_user_id=owner))
    return found


def _past_own_writes(exchange: ExchangeCalendar, state: str | None, writes: dict[str, str | None]) -> str | None:
    """The Exchange cursor after this session's own writes, when nothing else changed since the feed was read.

    Left before our creates, the cursor lets an item we created and the user deleted before the next session
    vanish from the feed altogether (the server folds a create and a delete the client never saw into nothing),
    and the Salesforce side would live on (found by the simulation). One more SyncFolderItems call; any change
    that is not exactly one of our writes keeps the old cursor, so no user change is ever skipped."""
    if not writes or not state:
        return state
    try:
        follow = exchange.changes(state)
    except ConnectorError:
        return state
    if follow.full or not follow.cursor:
        return state
    for change in follow.changes:
        if change.item_id not in writes:
            return state
        wrote = writes[change.item_id]
        if (change.change == "delete") != (wrote is None) or (wrote is not None and change.change_key != wrote):
            return state
    return follow.cursor
