"""The mass-deletion guard: the last step of `plan()`, which may veto every write of a session.

Mass-deletion guard (docs/invariants.md #5): if the plan deletes more than max(5, 20 %) of the mailbox's live
links, or a full listing of a side came back empty while links exist, the plan keeps only its health entries
plus a ``mass_deletion_guard`` entry, and writes nothing.
"""

from __future__ import annotations

from sync.entry import Side
from sync.planner.model import (
    Action,
    DeleteExchange,
    DeleteSalesforce,
    GuardOutcome,
    LinkState,
    Plan,
    RecordHealth,
    canonical_order,
)
from sync.policies import MassDeletionGuard

# Health code of a session the guard stopped.
MASS_DELETION_GUARD = "mass_deletion_guard"


def guard(
    mailbox: str,
    limits: MassDeletionGuard,
    links: list[LinkState],
    actions: list[Action],
    exchange_full_count: int | None,
    salesforce_full_count: int | None,
) -> Plan:
    """The plan of ``actions`` in canonical order, or only its health entries and a guard entry if it trips."""
    live = sum(1 for link in links if link.is_live)
    deletions = sum(
        1 for a in actions if isinstance(a, DeleteSalesforce) or (isinstance(a, DeleteExchange) and not a.by_policy_off)
    )
    threshold = limits.threshold(live)
    # An empty listing is suspicious only where links point at items on that side (a pending create does not).
    on_exchange = sum(1 for link in links if link.is_live and link.exchange_id)
    on_salesforce = sum(1 for link in links if link.is_live and link.salesforce_id)
    reason = ""
    if on_exchange and exchange_full_count == 0:
        reason = f"Exchange listed no items while {on_exchange} links exist."
    elif on_salesforce and salesforce_full_count == 0:
        reason = f"Salesforce listed no records while {on_salesforce} links exist."
    elif limits.trips(deletions, live):
        reason = (
            f"This session would delete {deletions} items of {live} linked "
            f"(more than {threshold:g}); nothing was written."
        )
    ordered = tuple(sorted(actions, key=canonical_order))
    if not reason:
        return Plan(actions=ordered, guard=GuardOutcome(False, deletions, live, threshold))
    kept = [a for a in ordered if isinstance(a, RecordHealth)]
    kept.append(
        RecordHealth(
            sync_key=None,
            code=MASS_DELETION_GUARD,
            message=f"Mass-deletion guard for {mailbox}: {reason} An admin should check the mailbox.",
            side=Side.EXCHANGE if "Exchange" in reason else Side.SALESFORCE,
            item_id=mailbox,
        )
    )
    return Plan(
        actions=tuple(sorted(kept, key=canonical_order)),
        guard=GuardOutcome(True, deletions, live, threshold, reason),
    )
