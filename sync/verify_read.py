"""The reads of ``calsync verify``: both sides of one mailbox in full, the next session's plan, the stored report.

`verify_mailbox` reads through the session's own read path (`sync.preview.read_inputs`) twice: once as the next
session will (from the saved cursors, planned: ``next_session``), once in full (``full=True``: a full Exchange
listing and every Salesforce row of the rep; planned too: ``after_reset``), reads directly the records of live
links that the listing lacks (a joined Event, an Event handed to another owner, a purged one), and hands all of
it to the pure `sync.verify.compare`. Nothing is written to either side and the caller's database session is
rolled back; `store` keeps the report (`sync.models.VerifyReport`) in a transaction of its own.

`verify` is the whole run for one mailbox, as the CLI and the panel's job use it: effective policies (the rep's
Salesforce user read again if due, not stored), connectors, the report, errors as a ``failed`` report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from sync import preview
from sync.connectors.base import ExchangeCalendar, SalesforceOrg
from sync.feeds import salesforce_changes_for
from sync.models import HealthEntry, Link, Mailbox
from sync.models import VerifyReport as VerifyRow
from sync.planner.model import SalesforceChange
from sync.policies import PolicySet
from sync.verify import VerifyInputs, VerifyReport, compare

CHUNK = 500  # ids per IN (...) of the look-up in other mailboxes' links


def _known_elsewhere(db: Session, mailbox: Mailbox, refs: Iterable[str]) -> frozenset[str]:
    """Of these sync keys and record ids, those another mailbox's link holds."""
    refs = sorted(set(refs))
    found: set[str] = set()
    for start in range(0, len(refs), CHUNK):
        chunk = refs[start : start + CHUNK]
        rows = db.execute(
            select(Link.sync_key, Link.salesforce_id).where(
                Link.mailbox_id != mailbox.id, or_(Link.sync_key.in_(chunk), Link.salesforce_id.in_(chunk))
            )
        )
        for key, record in rows:
            found |= {key, record} & set(chunk)
    return frozenset(found)


def _open_health(db: Session, mailbox: Mailbox) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    rows = db.execute(select(HealthEntry.item_ref, HealthEntry.code).where(
        HealthEntry.mailbox_id == mailbox.id, HealthEntry.status == "open"))  # fmt: skip
    for ref, code in rows:
        out.setdefault(ref, []).append(code)
    return out


def verify_mailbox(
    db: Session,
    mailbox: Mailbox,
    salesforce: SalesforceOrg,
    exchange: ExchangeCalendar,
    policies: PolicySet,
    now: dt.datetime,
    *,
    profile: str | None = None,
) -> VerifyReport:
    """Read both sides of ``mailbox`` and compare them (see the module docstring). Connector errors propagate."""
    calls_before = {"salesforce": salesforce.usage.calls, "exchange": exchange.usage.calls}
    owner = mailbox.salesforce_user_id or salesforce.active_user_id(mailbox.email)
    if not owner:
        raise preview.PreviewError(f"no active Salesforce user has the e-mail {mailbox.email}")
    try:
        upcoming = preview.read_inputs(db, mailbox, salesforce, exchange, policies, now, owner_id=owner)
        full = preview.read_inputs(db, mailbox, salesforce, exchange, policies, now, owner_id=owner, full=True)
        listed = {c.salesforce_id for c in full.salesforce_feed.changes}
        absent = [(link.salesforce_id, link.kind) for link in full.links
                  if link.is_live and link.salesforce_id and link.salesforce_id not in listed]  # fmt: skip
        extra: list[SalesforceChange] = salesforce_changes_for(
            salesforce, absent, policies=policies, links=full.links, time_zone=mailbox.time_zone
        )  # fmt: skip
        mine = {ref for link in full.links for ref in (link.sync_key, link.salesforce_id) if ref}
        theirs = {ref for c in full.salesforce_feed.changes for ref in (c.sync_key, c.salesforce_id) if ref}
        theirs |= {c.sync_key for c in full.exchange_feed.changes if c.sync_key}
        report = compare(
            VerifyInputs(
                mailbox=mailbox.email, links=full.links, exchange=full.exchange_feed.changes,
                salesforce=[*full.salesforce_feed.changes, *extra], policies=policies, now=now,
                next_plan=preview.plan_inputs(upcoming, now), reset_plan=preview.plan_inputs(full, now),
                known_elsewhere=_known_elsewhere(db, mailbox, theirs - mine), open_health=_open_health(db, mailbox),
            )
        )  # fmt: skip
    finally:
        db.rollback()  # verify keeps nothing of what it read (it changed nothing: this makes sure)
    report.profile = profile
    report.api_calls = {side: c.usage.calls - calls_before[side]
                        for side, c in (("salesforce", salesforce), ("exchange", exchange))}  # fmt: skip
    return report


def verify(
    db_factory: Callable[[], Session],
    mailbox_email: str,
    connectors: Callable[[str], tuple[SalesforceOrg, ExchangeCalendar]],
    *,
    now: dt.datetime | None = None,
) -> VerifyReport:
    """One mailbox's report under its effective policies; a mailbox that cannot be read gives a ``failed``
    report saying why (an unknown mailbox raises `preview.PreviewError`). ``connectors(email)`` builds them."""
    from sync import mailboxes, profiles  # profiles imports the policy store; keep this module's imports light

    now = now or dt.datetime.now(dt.UTC)
    with db_factory() as db:
        mailbox = mailboxes.find(db, mailbox_email)
        if mailbox is None:
            raise preview.PreviewError(f"{mailbox_email} is not a synced mailbox (add it with `calsync mailboxes add`)")
        email = mailbox.email
        exchange = None
        try:
            salesforce, exchange = connectors(email)
            facts = profiles.refresh_facts(db, mailbox, salesforce, now, persist=False)
            policies, eff = profiles.policies_for(db, mailbox, facts=facts)
            return verify_mailbox(db, mailbox, salesforce, exchange, policies, now, profile=eff.name)
        except Exception as exc:  # noqa: BLE001 - any failure to read is the report's error, never a crash
            db.rollback()
            return VerifyReport(mailbox=email, status="failed", error=f"{type(exc).__name__}: {exc}",
                                checked_at=now.isoformat())  # fmt: skip
        finally:
            if exchange is not None:
                exchange.close()


def store(db: Session, mailbox: Mailbox, report: VerifyReport, *, requested_by: str | None) -> VerifyRow:
    """Keep ``report`` as the mailbox's last one (the caller commits)."""
    row = db.get(VerifyRow, mailbox.id)
    if row is None:
        row = VerifyRow(mailbox_id=mailbox.id)
        db.add(row)
    row.checked_at = dt.datetime.fromisoformat(report.checked_at) if report.checked_at else dt.datetime.now(dt.UTC)
    row.status = report.status
    row.findings = len(report.findings)
    row.report = report.to_json()
    row.requested_by = requested_by
    return row


def last_report(db: Session, mailbox_id: int) -> dict[str, Any] | None:
    row = db.get(VerifyRow, mailbox_id)
    return dict(row.report, requested_by=row.requested_by) if row is not None else None
