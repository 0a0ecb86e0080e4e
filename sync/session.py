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

from sqlalchemy.orm import Session, sessionmaker

from sync import health, policy_store, preview, scope_entry
from sync.apply import Applier
from sync.connectors.base import ExchangeCalendar, SalesforceOrg
from sync.connectors.errors import AuthError, BudgetExhausted, ConnectorError
from sync.models import Mailbox, utcnow
from sync.policies import PolicySet
from sync.push import latency
from sync.store import SessionStore, as_store

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
    db_factory: sessionmaker[Session] | Callable[[], Any],
    mailbox_email: str,
    *,
    salesforce: SalesforceOrg,
    exchange: ExchangeCalendar,
    policies: PolicySet | None = None,
    now: dt.datetime | None = None,
    checkpoint: Callable[[str], None] | None = None,
    force_category_check: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    full_exchange: bool = False,
    trigger: str | None = None,
) -> SessionResult:
    """``progress(phase, done, total)`` is called as the session moves on (phases ``reading``, ``planning``,
    ``applying`` with writes done of planned, ``done``); it may raise `BudgetExhausted` to stop the session
    cleanly between two committed batches (the job's API budget guard does).

    ``full_exchange``: a push source lost notifications (Graph ``missed``, a lost EWS subscription): the
    Exchange feed is read from scratch, the cursor forgotten first (committed, so that a session that fails
    leaves the next one reading from scratch too). ``trigger`` (``push``, ``schedule``, ``now``) labels the
    session (``SyncSession.trigger``) and its latency samples (`sync.push.latency`).

    ``db_factory`` makes a SQLAlchemy session (the production case) or, for the planner-level checker, a
    `sync.store.SessionStore` context with the same semantics (tests/checker/memory_store.py)."""
    started = time.monotonic()
    now = now or utcnow()
    with db_factory() as opened:
        db = as_store(opened)
        mailbox = db.mailbox(mailbox_email)
        if mailbox is None:
            raise SessionError(f"{mailbox_email} is not a synced mailbox (add it with `calsync mailboxes add`)")
        record = db.start_session(mailbox, now, trigger)
        db.commit()
        result = SessionResult(mailbox=mailbox.email, status="running", session_id=record.id)
        if full_exchange and mailbox.exchange_sync_state is not None:
            mailbox.exchange_sync_state = None
            db.commit()
        try:
            _run(db, mailbox, result, salesforce, exchange, policies, now, checkpoint, force_category_check,
                 progress or (lambda _phase, _done, _total: None), trigger)  # fmt: skip
            db.resolve_health(mailbox_id=mailbox.id, item_ref=health.MAILBOX_REF, codes=set(SESSION_FAILURE_CODES))
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


def _mailbox_health(db: SessionStore, mailbox: Mailbox, side: str, code: str, message: str, now: dt.datetime) -> None:
    db.record_health(mailbox_id=mailbox.id, item_ref=health.MAILBOX_REF, side=side, code=code, message=message,
                     now=now)  # fmt: skip
    db.commit()


def _run(db, mailbox, result, salesforce, exchange, policies, now, checkpoint, force_category_check, progress,
         trigger=None) -> None:  # fmt: skip
    progress("reading", 0, 0)
    if not mailbox.salesforce_user_id:
        user_id = salesforce.active_user_id(mailbox.email)
        if not user_id:
            raise SessionError(f"no active Salesforce user has the e-mail {mailbox.email}")
        mailbox.salesforce_user_id = user_id
        db.commit()
    # The mailbox's policy profile (issue 19: explicit, by a rule on the rep's user, or the org default).
    policies = policies or db.session_policies(mailbox, salesforce, now)

    off, back_on = policy_store.kinds_off(policies), policy_store.switched_on(mailbox, policies)
    if back_on and mailbox.exchange_sync_state is not None:
        # The calendar cursor is shared by every kind: sessions with a kind off moved it past that kind's edits,
        # which would never be read again. Read Exchange from scratch (planned against the links' bases, so
        # only real edits are written); forgotten in its own commit, so a session that fails leaves the next one
        # reading from scratch too (`preview.read_inputs` reads from scratch as long as the kinds say so: a preview
        # or a dry run is what this session does). Salesforce needs nothing: a kind off is not queried and its
        # watermark stays.
        log.info("%s: %s switched on again, full Exchange read", mailbox.email, ", ".join(sorted(back_on)))
        mailbox.exchange_sync_state = None
        db.commit()

    wanted = policy_store.categories(policies)
    due, digest = _categories_due(mailbox, wanted, now)
    if due or force_category_check:
        exchange.ensure_categories(wanted)
        mailbox.category_state = {"hash": digest, "checked_at": now.isoformat()}
        db.commit()

    # Read and plan exactly as a preview does (sync.preview: the plan-without-applying path).
    inputs = preview.read_inputs(db, mailbox, salesforce, exchange, policies, now)
    previous, ex_feed, sf_feed = inputs.links, inputs.exchange_feed, inputs.salesforce_feed
    share_requests, entered, people = inputs.share_requests, inputs.entered, inputs.people
    progress("planning", 0, inputs.change_count)
    plan = preview.plan_inputs(inputs, now)
    total = len(plan.writes)

    def _checkpoint(point: str) -> None:
        (checkpoint or (lambda _p: None))(point)
        progress("applying", min(total, sum(applier.report.counts.values()) + len(applier.report.failed_keys)), total)

    progress("applying", 0, total)
    applier = Applier(db, mailbox, salesforce, exchange, now, checkpoint=_checkpoint, people=people)
    report = applier.apply(plan, previous)
    if not plan.guard.tripped:
        # Edit → other side, per write (the panel's latency chart): committed with the session's last commit.
        written_at = utcnow()
        samples = latency.samples_from_session(plan.actions, report.failed_keys, ex_feed.changes, sf_feed.changes,
                                               written_at, previous)  # fmt: skip
        db.record_latency(mailbox.id, samples, written_at=written_at, trigger=trigger)

    if not plan.guard.tripped:
        keep, forget = scope_entry.to_remember(
            exchange_changes=ex_feed.changes, salesforce_changes=sf_feed.changes, links=previous,
            policies=policies, now=now, found=entered, finished=not report.failed_keys,
        )  # fmt: skip
        db.remember_scope(mailbox, keep, forget, now)
    # Move the cursors only when every write landed: a failed item must come back in the next feeds.
    if not report.failed_keys and not plan.guard.tripped:
        cursor = _past_own_writes(exchange, ex_feed.sync_state, applier.exchange_writes)
        mailbox.exchange_sync_state = cursor
        mailbox.salesforce_watermarks = sf_feed.watermarks
        mailbox.kinds_off = off  # with the cursor it explains (a new list: stores copy rows shallowly)
        # In the same commit, the links whose Exchange items this cursor covers stop being pending: every item
        # the feed could see, and this session's creates if the cursor moved past them (or no cursor is kept:
        # then the next session lists everything).
        past_own = cursor is None or cursor != ex_feed.sync_state
        db.confirm_links(mailbox, except_keys=() if past_own else applier.exchange_created)
        # The feed moved past these items: their share requests have been sent (or refused with a health note).
        seen = {change.exchange_id for change in ex_feed.changes}
        db.settle_shares(mailbox, seen & set(share_requests), before=now)
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


# Kept under their old names for callers of this module (they live in sync.preview now).
meeting_events = preview.meeting_events
_meetings_going_up = preview.meetings_going_up


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
