"""Hypothesis properties of the planner (docs/invariants.md): order independence (13), no echo at quiescence (9) with
convergence (10), and no deletion without a confirmed deletion (4), on random worlds and policies."""

from __future__ import annotations

import os
import random
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.entry import EVENT, Entry, Side, project
from sync.mapping.salesforce import salesforce_roundtrip
from sync.planner import (
    DELETION_TYPES,
    ChangeType,
    DeleteExchange,
    DeleteSalesforce,
    ExchangeChange,
    LinkStatus,
    SalesforceChange,
    in_scope,
    mask_entry,
    plan,
)
from sync.policies import (
    ConflictWinner,
    DescriptionMode,
    Direction,
    ExchangeDeletion,
    OnUnshare,
    Policy,
    PolicySet,
    PrivateItems,
    SalesforceDeletion,
)
from tests.sync.factories import MAILBOX, NOW, link_for, replace
from tests.sync.memory_world import World

SUBJECTS = ["Review", "  Review ", "Lunch with ACME", "Call", "Planning\tsession", "Ünïcödé ✓"]
BODIES = ["", "Agenda:\r\n- one\r\n\r\n\r\n- two", "Notes", "<b>not html</b>"]
LOCATIONS = ["", "Room 1", "HQ  "]

# CALSYNC_DEEP=1 runs the deep profile (issue 5); the default stays within seconds.
PROFILE = settings(
    max_examples=2000 if os.environ.get("CALSYNC_DEEP") else 60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def entries(draw) -> Entry:
    day = draw(st.integers(min_value=-20, max_value=70))
    if draw(st.booleans()):
        first = (NOW + timedelta(days=day)).date()
        return Entry(
            subject=draw(st.sampled_from(SUBJECTS)),
            is_all_day=True,
            start_date=first,
            end_date=first + timedelta(days=draw(st.integers(1, 3))),
            body=draw(st.sampled_from(BODIES)),
            location=draw(st.sampled_from(LOCATIONS)),
            is_private=draw(st.booleans()),
        )
    start = NOW.replace(hour=draw(st.integers(6, 18)), minute=draw(st.sampled_from([0, 15, 30]))) + timedelta(days=day)
    return Entry(
        subject=draw(st.sampled_from(SUBJECTS)),
        start=start,
        end=start + timedelta(minutes=draw(st.sampled_from([15, 30, 60, 90]))),
        body=draw(st.sampled_from(BODIES)),
        location=draw(st.sampled_from(LOCATIONS)),
        show_as=draw(st.sampled_from(["busy", "free", "tentative"])),
        is_private=draw(st.booleans()),
    )


@st.composite
def policy_sets(draw) -> PolicySet:
    event = Policy(
        kind=EVENT,
        direction=draw(st.sampled_from(list(Direction))),
        conflict_winner=draw(st.sampled_from(list(ConflictWinner))),
        salesforce_deletion=draw(st.sampled_from(list(SalesforceDeletion))),
        exchange_deletion=draw(st.sampled_from(list(ExchangeDeletion))),
        on_unshare=draw(st.sampled_from(list(OnUnshare))),
        private_items=draw(st.sampled_from(list(PrivateItems))),
        description=draw(st.sampled_from(list(DescriptionMode))),
        attendees_to_exchange=draw(st.booleans()),
    )
    return PolicySet(policies={EVENT: event}).validated()


EX_EDITS = ("none", "none", "edit", "delete", "not_found", "unshare", "cancel")
SF_EDITS = ("none", "none", "edit", "delete")


@st.composite
def worlds(draw) -> tuple[World, PolicySet]:
    """Converged links, then user changes on both sides, queued in the feeds."""
    world = World()
    policy_set = draw(policy_sets())
    for n in range(draw(st.integers(0, 6))):
        base = draw(entries())
        origin = draw(st.sampled_from(list(Side)))
        link = link_for(base, key=f"key-{n}", origin=origin, ex_id=f"ex-{n}", sf_id=f"sf-{n}")
        world.links[link.sync_key] = link
        world.ex[f"ex-{n}"] = base
        world.sf[f"sf-{n}"] = base
        event_policy = policy_set.for_kind(EVENT)
        if origin is Side.EXCHANGE and base.is_private and event_policy.private_items is PrivateItems.MASKED:
            world.sf[f"sf-{n}"] = mask_entry(base)  # what a converged masked pair looks like
            link = replace(link, salesforce_base=project(salesforce_roundtrip(mask_entry(base))))
            world.links[link.sync_key] = link
        world.sf_kind[f"sf-{n}"] = EVENT
        ex_edit, sf_edit = draw(st.sampled_from(EX_EDITS)), draw(st.sampled_from(SF_EDITS))
        if ex_edit == "edit":
            world.ex[f"ex-{n}"] = draw(entries())
            world.echo_ex(f"ex-{n}")
        elif ex_edit in ("delete", "not_found"):
            del world.ex[f"ex-{n}"]
            kind = ChangeType.DELETED if ex_edit == "delete" else ChangeType.NOT_FOUND
            world.ex_feed.append(ExchangeChange(exchange_id=f"ex-{n}", type=kind))
        elif ex_edit == "unshare":
            world.ex_feed.append(ExchangeChange(exchange_id=f"ex-{n}", type=ChangeType.UNSHARED, entry=base))
        elif ex_edit == "cancel":
            world.ex_feed.append(ExchangeChange(exchange_id=f"ex-{n}", entry=base, is_cancelled=True))
        if sf_edit == "edit":
            world.sf[f"sf-{n}"] = draw(entries())
            world.echo_sf(f"sf-{n}")
        elif sf_edit == "delete":
            del world.sf[f"sf-{n}"]
            world.sf_feed.append(SalesforceChange(salesforce_id=f"sf-{n}", type=ChangeType.DELETED))
    for n in range(draw(st.integers(0, 2))):
        world.ex[f"new-ex-{n}"] = draw(entries())
        world.echo_ex(f"new-ex-{n}")
    for n in range(draw(st.integers(0, 2))):
        world.sf[f"new-sf-{n}"] = draw(entries())
        world.echo_sf(f"new-sf-{n}")
    return world, policy_set


def session(world: World, policy_set: PolicySet):
    ex_feed, sf_feed = world.take_feeds()
    result = plan(list(world.links.values()), ex_feed, sf_feed, policy_set, NOW, mailbox=MAILBOX)
    world.apply(result)
    return result


@PROFILE
@given(worlds(), st.randoms(use_true_random=False))
def test_order_independence(world_and_policy, rnd: random.Random):
    world, policy_set = world_and_policy
    links = list(world.links.values())
    ex_feed, sf_feed = list(world.ex_feed), list(world.sf_feed)
    reference = plan(links, ex_feed, sf_feed, policy_set, NOW, mailbox=MAILBOX)
    for _ in range(3):
        rnd.shuffle(links)
        rnd.shuffle(ex_feed)
        rnd.shuffle(sf_feed)
        # Replayed feeds (duplicates) must not change the plan either.
        replay_ex = ex_feed + ex_feed[: rnd.randint(0, len(ex_feed))]
        assert plan(links, replay_ex, sf_feed, policy_set, NOW, mailbox=MAILBOX) == reference


@PROFILE
@given(worlds())
def test_no_echo_at_quiescence_and_convergence(world_and_policy):
    world, policy_set = world_and_policy
    writes = [len(session(world, policy_set).writes)]
    # One session, two for revert policies, then only echoes remain: zero writes from there on (docs/invariants.md #9).
    for _ in range(3):
        writes.append(len(session(world, policy_set).writes))
    assert writes[-1] == 0 and writes[-2] == 0, f"writes per session: {writes}"

    # Invariant 10 on fields that flow both ways under every policy: subject and time, for active links.
    direction = policy_set.for_kind(EVENT).direction
    for link in world.links.values():
        if link.state is not LinkStatus.ACTIVE or direction is Direction.OFF:
            continue
        if link.exchange_id not in world.ex or link.salesforce_id not in world.sf:
            continue
        ex_p, sf_p = project(world.ex[link.exchange_id]), project(world.sf[link.salesforce_id])
        window = policy_set.for_kind(EVENT).scope.window(NOW)
        if not (in_scope(ex_p, window) and in_scope(sf_p, window)):
            continue  # moved out of scope: not synced, by design
        private_origin = link.origin is Side.EXCHANGE and ex_p["is_private"]
        if private_origin and policy_set.for_kind(EVENT).private_items is not PrivateItems.FULL:
            continue
        assert ex_p["when"] == sf_p["when"], link.sync_key
        assert ex_p["subject"] == sf_p["subject"], link.sync_key


@PROFILE
@given(worlds())
def test_no_deletion_without_confirmed_deletion(world_and_policy):
    world, policy_set = world_and_policy
    ex_feed, sf_feed = list(world.ex_feed), list(world.sf_feed)
    result = plan(list(world.links.values()), ex_feed, sf_feed, policy_set, NOW, mailbox=MAILBOX)
    confirmed_ex = {c.exchange_id for c in ex_feed if c.type in DELETION_TYPES or c.is_cancelled}
    unshared_ex = {c.exchange_id for c in ex_feed if c.type is ChangeType.UNSHARED}
    confirmed_sf = {c.salesforce_id for c in sf_feed if c.type in DELETION_TYPES}
    policy = policy_set.for_kind(EVENT)
    for action in result.actions:
        link = world.links.get(action.sync_key or "")
        if isinstance(action, DeleteSalesforce):
            assert link is not None
            assert link.exchange_id in confirmed_ex or (
                link.exchange_id in unshared_ex and policy.on_unshare is OnUnshare.DELETE_SALESFORCE
            )
        if isinstance(action, DeleteExchange) and not action.by_policy_off:
            assert link is not None and link.salesforce_id in confirmed_sf


@PROFILE
@given(worlds())
def test_absence_from_feeds_changes_nothing(world_and_policy):
    # Only the feeds' items may be touched; an empty feed (a short or lagging listing) plans nothing at all,
    # except winding up links of a kind switched off.
    world, policy_set = world_and_policy
    result = plan(list(world.links.values()), [], [], policy_set, NOW, mailbox=MAILBOX)
    if policy_set.for_kind(EVENT).direction is not Direction.OFF:
        assert result.actions == ()
