"""The planner: a pure function from (links, change feeds, policies, now) to a `Plan` of typed actions.

``sync.planner.plan`` is the entry point; the decision table is the docstring of `sync.planner.rules`.
The package, by concern:

- `sync.planner.model`: link state, change records, actions, the plan (what links, feeds and apply import);
- `sync.planner.rules`: ``plan()`` and the per-pair rules, with the decision table;
- `sync.planner.merge`: the field-by-field merge of edits;
- `sync.planner.guard`: the mass-deletion guard;
- `sync.planner.context`: what rules and merge share (the session's context, masking, link bookkeeping).

The names below are re-exported so that callers keep importing them from ``sync.planner``.
"""

from sync.planner.context import mask_entry, mask_projection
from sync.planner.guard import MASS_DELETION_GUARD
from sync.planner.merge import EXCHANGE_READ_ONLY
from sync.planner.model import (
    DELETION_TYPES,
    LIVE_STATES,
    Action,
    ChangeType,
    CreateInExchange,
    CreateInSalesforce,
    DeleteExchange,
    DeleteSalesforce,
    ExchangeChange,
    GuardOutcome,
    JoinSalesforceEvent,
    LeaveSalesforceEvent,
    LinkState,
    LinkStatus,
    MeetingEvent,
    Plan,
    RecordHealth,
    RemoveCategory,
    SalesforceChange,
    SharedRelations,
    Unlink,
    UpdateExchange,
    UpdateLinkBase,
    UpdateSalesforce,
    WriteAction,
)
from sync.planner.rules import NOT_SENT_UP, PRIVATE_ITEM_SKIPPED, in_scope, new_sync_key, plan

__all__ = [
    "DELETION_TYPES",
    "EXCHANGE_READ_ONLY",
    "LIVE_STATES",
    "MASS_DELETION_GUARD",
    "NOT_SENT_UP",
    "PRIVATE_ITEM_SKIPPED",
    "Action",
    "ChangeType",
    "CreateInExchange",
    "CreateInSalesforce",
    "DeleteExchange",
    "DeleteSalesforce",
    "ExchangeChange",
    "GuardOutcome",
    "JoinSalesforceEvent",
    "LeaveSalesforceEvent",
    "LinkState",
    "LinkStatus",
    "MeetingEvent",
    "Plan",
    "RecordHealth",
    "RemoveCategory",
    "SalesforceChange",
    "SharedRelations",
    "Unlink",
    "UpdateExchange",
    "UpdateLinkBase",
    "UpdateSalesforce",
    "WriteAction",
    "in_scope",
    "mask_entry",
    "mask_projection",
    "new_sync_key",
    "plan",
]
