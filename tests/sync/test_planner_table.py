"""The planner's policy table (docs/policies.md), every combination of:

object kind × direction × Exchange-side change (nothing, edit, delete, unshare, left scope) × Salesforce-side
change (nothing, edit, delete) × salesforce_deletion × exchange_deletion × on_unshare × conflict_winner × origin.

`expected()` restates the design in its own words, independently of the planner; each row compares it with
the plan as a sorted list of (action, detail) pairs. `test_table_catches_a_wrong_planner` proves the table
fails when the planner is wrong.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

import sync.planner.merge as merge_module
import sync.planner.rules as rules_module
from sync.entry import EVENT, TASK, Side
from sync.planner import (
    ChangeType,
    CreateInExchange,
    CreateInSalesforce,
    ExchangeChange,
    UpdateExchange,
    UpdateSalesforce,
    plan,
)
from sync.policies import (
    ConflictWinner,
    Direction,
    ExchangeDeletion,
    OnUnshare,
    Policy,
    PolicyError,
    PolicySet,
    SalesforceDeletion,
)
from tests.sync.factories import (
    CUSTOM,
    NOW,
    SITE_VISIT,
    entry_for_kind,
    ex_changed,
    ex_gone,
    link_for,
    sf_changed,
    sf_gone,
)

KINDS = (EVENT, TASK, CUSTOM)
DIRECTIONS = {
    EVENT: ("two_way", "upsync_only", "downsync_only", "off"),
    TASK: ("downsync_only", "off"),
    CUSTOM: ("downsync_only", "off"),
}
EX_CHANGES = ("nothing", "edit", "delete", "unshare", "left_scope")
SF_CHANGES = ("nothing", "edit", "delete")
STRATEGIES = list(
    itertools.product(
        [s.value for s in SalesforceDeletion],
        [s.value for s in ExchangeDeletion],
        [s.value for s in OnUnshare],
        [s.value for s in ConflictWinner],
    )
)
BASE_SUBJECT = "Quarterly review"
EX_SUBJECT = "Edited in Outlook"
SF_SUBJECT = "Edited in Salesforce"


def expected(kind, direction, ex, sf, sf_deletion, ex_deletion, on_unshare, winner, origin) -> list[tuple]:
    """The design's answer for one row, written from docs/policies.md without looking at the planner."""
    sync_made_exchange_item = origin == "salesforce"
    if direction == "off":
        # Off: items sync created in Exchange from Salesforce go; everything else stays, unlinked.
        return [("DeleteExchange",), ("Unlink",)] if sync_made_exchange_item else [("Unlink",)]
    if ex == "left_scope":
        return []  # leaving scope never deletes, and items outside scope are not synced
    if ex == "unshare":
        if sf == "delete":
            return [("Unlink",)]
        if direction != "downsync_only" and on_unshare == "delete_salesforce":
            return [("DeleteSalesforce",), ("Unlink",)]
        return [("Unlink",)]
    if ex == "delete" and sf == "delete":
        return [("Unlink",)]
    sf_now = SF_SUBJECT if sf == "edit" else BASE_SUBJECT
    ex_now = EX_SUBJECT if ex == "edit" else BASE_SUBJECT
    if ex == "delete":
        if direction == "downsync_only":
            return [("CreateInExchange", sf_now, "revert")]  # a deleted linked item is re-created
        if ex_deletion == "delete":
            return [("DeleteSalesforce",), ("Unlink",)]
        return [("Unlink",)]
    if sf == "delete":
        if direction == "upsync_only":
            return [("CreateInSalesforce", ex_now, "revert")]  # a deleted record is re-created
        if sf_deletion == "delete" or (sf_deletion == "delete_salesforce_created" and sync_made_exchange_item):
            return [("DeleteExchange",), ("Unlink",)]
        return [("RemoveCategory",), ("Unlink",)]
    if ex == "nothing" and sf == "nothing":
        return []
    if direction == "downsync_only":
        side = "salesforce"
    elif direction == "upsync_only":
        side = "exchange"
    elif ex == "edit" and sf == "edit":
        side = {"exchange": "exchange", "salesforce": "salesforce", "latest": "salesforce"}[winner]
    else:
        side = "exchange" if ex == "edit" else "salesforce"
    one_way = direction in ("upsync_only", "downsync_only")
    if side == "exchange":
        revert = "revert" if one_way and sf == "edit" else ""
        return [("UpdateSalesforce", ex_now, revert), ("UpdateLinkBase",)]
    revert = "revert" if one_way and ex == "edit" else ""
    return [("UpdateExchange", sf_now, revert), ("UpdateLinkBase",)]


def scenario(kind, direction, ex, sf, sf_deletion, ex_deletion, on_unshare, winner, origin):
    base = entry_for_kind(kind, BASE_SUBJECT)
    link = link_for(base, origin=Side(origin))
    settings = dict(
        direction=Direction(direction),
        conflict_winner=ConflictWinner(winner),
        salesforce_deletion=SalesforceDeletion(sf_deletion),
        exchange_deletion=ExchangeDeletion(ex_deletion),
        on_unshare=OnUnshare(on_unshare),
    )
    policy = Policy(kind=kind, custom=SITE_VISIT if kind == CUSTOM else None, **settings)
    policy_set = PolicySet(policies={kind: policy}).validated()
    ex_feed = {
        "nothing": [],
        "edit": [ex_changed(base.replace(subject=EX_SUBJECT), modified_at=NOW - timedelta(minutes=5))],
        "delete": [ex_gone(kind=kind)],
        "unshare": [ExchangeChange(exchange_id="ex-1", type=ChangeType.UNSHARED, kind=kind, entry=base)],
        "left_scope": [ex_changed(_moved(base, days=100))],
    }[ex]
    sf_feed = {
        "nothing": [],
        "edit": [sf_changed(base.replace(subject=SF_SUBJECT), modified_at=NOW - timedelta(minutes=1))],
        "delete": [sf_gone(kind=kind)],
    }[sf]
    return plan([link], ex_feed, sf_feed, policy_set, NOW)


def _moved(entry, days):
    if entry.is_all_day:
        return entry.replace(
            start_date=entry.start_date + timedelta(days=days), end_date=entry.end_date + timedelta(days=days)
        )
    return entry.replace(start=entry.start + timedelta(days=days), end=entry.end + timedelta(days=days))


def summarise(result) -> list[tuple]:
    out = []
    for action in result.actions:
        name = type(action).__name__
        if isinstance(action, UpdateSalesforce | UpdateExchange | CreateInSalesforce | CreateInExchange):
            out.append((name, action.entry.subject, "revert" if action.revert else ""))
        else:
            out.append((name,))
    return sorted(out)


def rows(kind, direction, ex, sf):
    origins = ("exchange", "salesforce") if kind == EVENT else ("salesforce",)
    for strategy in STRATEGIES:
        for origin in origins:
            yield (kind, direction, ex, sf, *strategy, origin)


def mismatches(kind, direction, ex, sf) -> list[str]:
    out = []
    for row in rows(kind, direction, ex, sf):
        want = sorted(expected(*row))
        got = summarise(scenario(*row))
        if got != want:
            out.append(f"{row}: expected {want}, planned {got}")
    return out


CASES = [
    (kind, direction, ex, sf)
    for kind in KINDS
    for direction in DIRECTIONS[kind]
    for ex in EX_CHANGES
    for sf in SF_CHANGES
]


@pytest.mark.parametrize("kind,direction,ex,sf", CASES, ids=["-".join(c) for c in CASES])
def test_policy_table(kind, direction, ex, sf):
    problems = mismatches(kind, direction, ex, sf)
    assert not problems, f"{len(problems)} rows differ, e.g.:\n" + "\n".join(problems[:5])


def test_table_size():
    # 4 event directions × 15 change pairs × 36 strategies × 2 origins + 2 × (2 × 15 × 36) for tasks/custom.
    assert sum(1 for case in CASES for _ in rows(*case)) == 4 * 15 * 36 * 2 + 2 * 2 * 15 * 36


@pytest.mark.parametrize("kind", [TASK, CUSTOM])
@pytest.mark.parametrize("direction", ["two_way", "upsync_only"])
def test_one_way_kinds_reject_two_way_and_upsync(kind, direction):
    policy = Policy(kind=kind, direction=Direction(direction), custom=SITE_VISIT if kind == CUSTOM else None)
    problems = policy.problems()
    assert len(problems) == 1 and "one way only" in problems[0] and "downsync_only" in problems[0]
    with pytest.raises(PolicyError):
        PolicySet(policies={kind: policy}).validated()


@pytest.mark.parametrize(
    "mutation",
    [
        (merge_module, "_winner", lambda policy, ex, sf: Side.EXCHANGE),
        (rules_module, "_salesforce_gone", lambda link, policy, reason: rules_module._delete_ex(link, reason) and []),
        (rules_module, "in_scope", lambda p, window: True),
    ],
    ids=["winner-always-exchange", "sf-deletion-ignored", "scope-ignored"],
)
def test_table_catches_a_wrong_planner(monkeypatch, mutation):
    module, name, broken = mutation
    monkeypatch.setattr(module, name, broken)
    found = sum(len(mismatches(EVENT, d, ex, sf)) for d in ("two_way", "upsync_only") for ex, sf in [
        ("edit", "edit"), ("nothing", "delete"), ("left_scope", "edit")
    ])  # fmt: skip
    assert found > 0
