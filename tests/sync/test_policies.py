"""Policies: docs/policies.md defaults, validation messages, storage round trip, the mass-deletion guard."""

from __future__ import annotations

import pytest

from sync.entry import EVENT, TASK, custom_kind
from sync.policies import (
    CompletedTasks,
    ConflictWinner,
    CustomObjectMapping,
    DescriptionMode,
    Direction,
    ExchangeDeletion,
    MassDeletionGuard,
    OnUnshare,
    Policy,
    PolicyError,
    PolicySet,
    PrivateItems,
    SalesforceDeletion,
    Scope,
    TaskOptions,
    policy_from_dict,
)

VISIT = CustomObjectMapping(
    object_name="Site_Visit__c", subject_field="Name", date_field="Date__c", category="SF Site Visit"
)


def test_event_defaults_follow_the_design():
    p = Policy()
    assert (p.kind, p.direction, p.conflict_winner) == (EVENT, Direction.TWO_WAY, ConflictWinner.EXCHANGE)
    assert p.salesforce_deletion is SalesforceDeletion.KEEP
    assert p.exchange_deletion is ExchangeDeletion.DELETE
    assert p.on_unshare is OnUnshare.KEEP_SALESFORCE
    assert p.private_items is PrivateItems.SKIP
    assert p.description is DescriptionMode.ONCE
    assert p.scope == Scope(past_days=14, future_days=60)
    assert p.attendees_to_exchange is False
    assert p.category == "Salesforce"
    assert p.problems() == []


def test_task_and_custom_defaults():
    task = Policy(kind=TASK)
    assert task.direction is Direction.DOWNSYNC_ONLY and task.task == TaskOptions()
    assert task.task.all_day and task.task.completed is CompletedTasks.MARK and task.category == "SF Task"
    custom = Policy(kind=VISIT.kind, custom=VISIT)
    assert custom.direction is Direction.DOWNSYNC_ONLY and custom.category == "SF Site Visit"
    assert PolicySet().for_kind(custom_kind("Unmapped__c")).direction is Direction.OFF


@pytest.mark.parametrize(
    "policy,fragment",
    [
        (Policy(kind="meeting"), "Unknown object kind"),
        (Policy(kind=TASK, direction=Direction.TWO_WAY), "one way only"),
        (Policy(kind=EVENT, conflict_winner="newest"), "Conflict winner 'newest' is not one of"),
        (Policy(scope=Scope(past_days=-1)), "Scope past days"),
        (Policy(kind=custom_kind("Site_Visit__c")), "needs a custom object mapping"),
        (
            Policy(
                kind=VISIT.kind,
                custom=CustomObjectMapping("Site_Visit__c", "Name", "Visits", date_field="D__c", start_field="S__c"),
            ),
            "either one Date field",
        ),
        (Policy(kind=VISIT.kind, custom=CustomObjectMapping("Site_Visit__c", "Name", "Visits")), "is required"),
        (Policy(kind=VISIT.kind, custom=CustomObjectMapping("Site Visit", "Name", "V", date_field="D__c")), "API name"),
        (Policy(kind=VISIT.kind, custom=VISIT.__class__(**{**VISIT.__dict__, "color": 30})), "colour"),
        (Policy(kind=TASK, task=TaskOptions(category="")), "must not be empty"),
        (Policy(kind=EVENT, task=TaskOptions()), "only belong on the task policy"),
    ],
)
def test_invalid_policies_get_clear_messages(policy, fragment):
    problems = policy.problems()
    assert any(fragment in p for p in problems), problems
    with pytest.raises(PolicyError) as err:
        policy.validated()
    assert fragment in str(err.value)


def test_policy_dict_round_trip_and_unknown_settings():
    original = Policy(kind=TASK, task=TaskOptions(all_day=False, completed=CompletedTasks.REMOVE))
    assert policy_from_dict(original.to_dict()) == original
    event = Policy(direction=Direction.UPSYNC_ONLY, scope=Scope(7, 30))
    assert policy_from_dict(event.to_dict()) == event
    with pytest.raises(PolicyError, match="Unknown policy setting 'colour'"):
        policy_from_dict({"kind": "event", "colour": 3})
    with pytest.raises(PolicyError, match="one way only"):
        policy_from_dict({"kind": "task", "direction": "upsync_only"})


@pytest.mark.parametrize(
    "deletions,links,trips",
    [(5, 0, False), (6, 0, True), (5, 10, False), (6, 10, True), (20, 100, False), (21, 100, True), (0, 0, False)],
)
def test_guard_is_max_of_five_and_a_fifth(deletions, links, trips):
    assert MassDeletionGuard().trips(deletions, links) is trips


def test_policy_set_validation_collects_every_problem():
    bad = PolicySet(policies={TASK: Policy(kind=EVENT), "x": Policy(kind=TASK, direction=Direction.UPSYNC_ONLY)})
    with pytest.raises(PolicyError) as err:
        bad.validated()
    assert len(err.value.messages) == 3  # two misfiled policies, one invalid direction
