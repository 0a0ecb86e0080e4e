"""Policies as stored in the database (one JSON row per object kind), read into a validated ``PolicySet``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync import settings_store
from sync.entry import EVENT, TASK
from sync.models import Mailbox
from sync.models import Policy as PolicyRow
from sync.policies import (
    SALESFORCE_CATEGORY,
    Direction,
    MassDeletionGuard,
    Policy,
    PolicySet,
    Scope,
    policy_from_dict,
)

# The Salesforce category's colour in Outlook (preset7 = blue).
SALESFORCE_CATEGORY_COLOR = 7


def load(db: Session) -> PolicySet:
    policies = {row.kind: policy_from_dict({**row.settings, "kind": row.kind}) for row in db.scalars(select(PolicyRow))}
    # The admin panel's org settings: the default scope of kinds without a stored policy, and the guard.
    org = settings_store.load(db)
    if org.scope_past_days is not None or org.scope_future_days is not None:
        scope = Scope(
            past_days=org.scope_past_days if org.scope_past_days is not None else Scope.past_days,
            future_days=org.scope_future_days if org.scope_future_days is not None else Scope.future_days,
        )
        for kind in (EVENT, TASK):
            policies.setdefault(kind, Policy(kind=kind, scope=scope))
    guard = MassDeletionGuard()
    if org.guard_min_count is not None or org.guard_fraction is not None:
        guard = MassDeletionGuard(
            min_count=org.guard_min_count if org.guard_min_count is not None else guard.min_count,
            fraction=org.guard_fraction if org.guard_fraction is not None else guard.fraction,
        )
    return PolicySet(policies=policies, guard=guard).validated()


def save(db: Session, policy: Policy) -> PolicyRow:
    """Validate and store one kind's policy. The caller commits."""
    policy = policy.validated()
    row = db.scalars(select(PolicyRow).where(PolicyRow.kind == policy.kind)).one_or_none()
    if row is None:
        row = PolicyRow(kind=policy.kind)
        db.add(row)
    data = policy.to_dict()
    data.pop("kind", None)
    row.settings = data
    return row


def kinds(policies: PolicySet) -> list[str]:
    """Every kind a session looks at: events, tasks, and each mapped custom object."""
    return sorted({EVENT, TASK, *policies.policies})


def kinds_off(policies: PolicySet) -> list[str]:
    """The kinds whose direction is ``off`` under ``policies`` (sorted): what a session saves as
    ``Mailbox.kinds_off`` with its cursors."""
    return sorted(k for k in kinds(policies) if policies.for_kind(k).direction is Direction.OFF)


def switched_on(mailbox: Mailbox, policies: PolicySet) -> set[str]:
    """Kinds that were off when the mailbox's cursors last moved and sync under ``policies``: whatever way their
    policy changed (the panel, a profile or its rules, the CLI), the session sees it here and reads Exchange from
    scratch (the calendar cursor, shared by every kind, moved past their edits; docs/policies.md)."""
    return (set(mailbox.kinds_off or ()) & set(kinds(policies))) - set(kinds_off(policies))


def categories(policies: PolicySet) -> dict[str, int]:
    """Master categories the mailbox needs: the Salesforce category and one per synced object kind."""
    wanted = {SALESFORCE_CATEGORY: SALESFORCE_CATEGORY_COLOR}
    for kind in kinds(policies):
        policy = policies.for_kind(kind)
        if policy.direction is Direction.OFF:
            continue
        if policy.task is not None and kind == TASK:
            wanted.setdefault(policy.task.category, policy.task.color)
        elif policy.custom is not None:
            wanted.setdefault(policy.custom.category, policy.custom.color)
    return wanted
