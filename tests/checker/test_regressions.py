"""Histories the checker found (tests/checker/test_checker.py), shrunk and kept by name: each replays the exact
history on the real session and checks every invariant after every step, as the checker does.

A history whose engine fix is not done yet is ``xfail(strict=True)`` with the reason: it fails loudly once fixed,
so the mark comes off with the fix."""

from __future__ import annotations

import pytest

from tests.checker import history

LOST_DATABASE_AFTER_DELETION = (
    "a lost database forgets the tombstone of a pair whose Outlook side was deleted: the Salesforce Event, still "
    "carrying the pair's sync key, is taken for a new record and copied back down (docs/invariants.md #3, #12); an "
    "Outlook-made item does not carry the key (it is derived from its id), so Deleted Items cannot be searched "
    "for it by key: the engine would need the key written on origin items too"
)


@pytest.mark.xfail(strict=True, reason=LOST_DATABASE_AFTER_DELETION)
def test_an_outlook_deletion_then_a_lost_database_does_not_bring_the_item_back(checker_db) -> None:
    history.run(checker_db, [("create", "exchange", False), ("sync", None), ("delete", "exchange", 0),
                             ("lose", "database", "strict")])  # fmt: skip


@pytest.mark.parametrize("origin", ["exchange", "salesforce"])
@pytest.mark.parametrize("deletion", ["keep", "delete_salesforce_created", "delete"])
def test_a_salesforce_deletion_then_a_lost_database_does_not_bring_the_event_back(checker_db, origin, deletion):
    """Fixed in `sync.planner.rules.plan`: the deleted record (listed by queryAll with its sync key) is adopted with
    the Outlook item and planned as the deletion it is, under each ``salesforce_deletion``."""
    world = history.run(checker_db, [("create", origin, False), ("sync", None), ("delete", "salesforce", 0),
                                     ("lose", "database", "strict")], salesforce_deletion=deletion)  # fmt: skip
    [m] = world.meetings
    assert world.items_of(m)["salesforce"] == []
    outlook = world.items_of(m)["exchange"]
    removed = deletion == "delete" or (deletion == "delete_salesforce_created" and origin == "salesforce")
    if removed:
        assert outlook == []
    else:
        [item_id] = outlook
        assert world.ex_items()[item_id].get("categories") is None  # untagged, as a normal run leaves it


@pytest.mark.parametrize("origin", ["exchange", "salesforce"])
def test_an_unshared_item_then_a_lost_database_gets_no_second_outlook_copy(checker_db, origin) -> None:
    """Found by the checker (#6, #12): an Outlook item unshared under keep_salesforce, then a lost database: the
    Event (carrying the pair's key, derived from the Outlook item's id) looked new and was copied down next to the
    untagged original. Fixed: `sync.feeds.unshared_counterparts` reports the untagged item (by the key it carries,
    or the one derived from its id) as unshared and the planner keeps the pair's tombstone, so a later edit of the
    Event is not copied down either."""
    world = history.run(checker_db, [("create", origin, False), ("sync", None), ("unshare", 0),
                                     ("lose", "database", "strict"), ("sync", None),
                                     ("edit", "salesforce", 0, "subject", 1)])  # fmt: skip
    [m] = world.meetings
    assert len(world.items_of(m)["exchange"]) == 1 and len(world.items_of(m)["salesforce"]) == 1


def test_a_private_item_skipped_after_a_lost_database_gets_no_second_outlook_copy(checker_db) -> None:
    """Found by bench/checker.py (#6, #12): a private Outlook item synced under ``full``, a lost database, then
    ``skip``: the adopted pair was left unlinked, so its Event looked new at the next reading (the watermark's
    overlap, or any later edit) and was copied down beside the private item. Fixed in `sync.planner.rules`: an
    adopted pair that the skip rule leaves alone is saved linked, as it was before the loss."""
    world = history.run(checker_db, [("create", "exchange", True), ("sync", None), ("lose", "database"),
                                     ("create", "salesforce", False), ("policy", "private_items", "skip"),
                                     ("sync", None), ("edit", "salesforce", 0, "location", 1)])  # fmt: skip
    assert len(world.items_of(world.meetings[0])["exchange"]) == 1


def test_a_copy_brought_back_then_unshared_and_a_second_lost_database_gets_no_third_copy(checker_db) -> None:
    """Found by ``make check`` (#6): the copy the open LOST_DATABASE_AFTER_DELETION bug brings back carries the
    pair's key; unshared, then a second lost database, it was not recognised by its derived key alone."""
    steps = [("create", "exchange", False), ("sync", None), ("lose", "database"), ("delete", "exchange", 0),
             ("sync", None), ("unshare", 0), ("lose", "database")]  # fmt: skip
    history.run(checker_db, steps)


EDIT_WHILE_DATABASE_LOST = (
    "with no link row, the adopted pair has no base: every differing field is a conflict and goes to the conflict "
    "winner, so an edit on the losing side since the last session is lost (docs/invariants.md #1, #12); the "
    "engine could compare modification times instead (a design choice for the lead)"
)


@pytest.mark.xfail(strict=True, reason=EDIT_WHILE_DATABASE_LOST)
def test_a_salesforce_edit_survives_a_lost_database(checker_db) -> None:
    """("lose", "database", "strict"): the model still expects the edit to win, as after a normal run."""
    history.run(checker_db, [("create", "exchange", False), ("sync", None), ("edit", "salesforce", 0, "subject", 0),
                             ("lose", "database", "strict")])  # fmt: skip


def test_the_same_edit_on_both_sides_then_another_edit_is_synced(checker_db) -> None:
    """A checker bug found by the checker: the second edit's write is not an echo of the twin edit."""
    history.run(checker_db, [("create", "exchange", False), ("sync", None), ("twin", 0, "subject", 0),
                             ("edit", "exchange", 0, "subject", 0)])  # fmt: skip


def test_a_bad_location_replaced_by_an_edit_syncs(checker_db) -> None:
    """A checker bug found by bench/checker.py (#11): an edit of the bad location fixes the item like ``fix``."""
    history.run(checker_db, [("create", "exchange", True), ("sync", None), ("bad", 0),
                             ("edit", "exchange", 0, "location", 0)])  # fmt: skip


def test_the_same_edit_on_both_sides_after_a_policy_switch_is_not_taken_for_an_echo(checker_db) -> None:
    """A checker bug found by the fast tier (#2): under a kind switched off, the next session deletes the Outlook
    copy of a Salesforce meeting; a twin edit made between the switch and that session is not what it writes."""
    history.run(checker_db, [("create", "salesforce", True), ("sync", None), ("policy", "direction", "off"),
                             ("twin", 0, "location", 2)])  # fmt: skip


def test_an_edit_back_to_the_synced_value_leaves_the_other_sides_edit_to_win(checker_db) -> None:
    """A checker bug found by the fast tier (#1): Outlook's subject edited away from the synced value and back
    is no change since the base, so Salesforce's edit of it is the one that syncs (not a conflict Outlook wins)."""
    world = history.run(checker_db, [("create", "exchange", False), ("sync", None),
                                     ("edit", "exchange", 0, "subject", 1), ("sync", None), ("twin", 0, "subject", 0),
                                     ("edit", "exchange", 0, "subject", 1)])  # fmt: skip
    [m] = world.meetings
    assert world.projection("exchange", world.items_of(m)["exchange"][0])["subject"] == "T1 s0"


def test_a_create_cut_short_is_not_retried_in_salesforce_under_downsync_only(checker_db) -> None:
    """Found by the fast tier (#8), fixed in `sync.planner.rules._missing_side`: an Outlook item's upsert failed
    (Salesforce busy), the kind switched to downsync_only, and the next session retried the create in Salesforce,
    a side the direction makes read-only. The pending create now waits; back under two_way it goes up."""
    world = history.run(checker_db, [("create", "exchange", False), ("sync", ("busy", 1)),
                                     ("policy", "direction", "downsync_only"), ("sync", None)])  # fmt: skip
    [m] = world.meetings
    assert world.items_of(m)["salesforce"] == []
    history.apply_step(world, ("policy", "direction", "two_way"))
    history.apply_step(world, ("converge",))
    assert len(world.items_of(m)["salesforce"]) == 1


def test_a_bad_location_set_while_the_database_was_lost_may_be_replaced_by_the_conflict_winner(checker_db) -> None:
    """A checker bug found by the fast tier (#11): with no base, Salesforce's location wins the adopted pair's
    conflict (EDIT_WHILE_DATABASE_LOST) and replaces the value it cannot hold: the item is fixed, not stuck."""
    for loss_first in (True, False):
        bad_and_loss = [("lose", "database"), ("bad", 0)] if loss_first else [("bad", 0), ("lose", "database")]
        world = history.run(checker_db, [("create", "exchange", False), ("sync", None), *bad_and_loss,
                                         ("policy", "conflict_winner", "salesforce")])  # fmt: skip
        [m] = world.meetings
        assert not m.bad and world.open_health() == []


def test_a_bad_location_against_a_salesforce_edit_may_lose_the_conflict(checker_db) -> None:
    """A checker bug found by the fast tier (#11): both sides changed the location since the base (the same edit,
    then a value Salesforce cannot hold in Outlook); Salesforce wins the conflict, which replaces the bad value."""
    world = history.run(checker_db, [("create", "exchange", False), ("sync", None), ("twin", 0, "location", 0),
                                     ("bad", 0), ("policy", "conflict_winner", "salesforce")])  # fmt: skip
    [m] = world.meetings
    assert not m.bad and world.open_health() == []


def test_an_edit_before_the_first_sync_is_the_items_content_not_a_change_to_revert(checker_db) -> None:
    """A checker bug found by the fast tier (#1): a Salesforce meeting edited before any session, under
    upsync_only, is copied down as it is; with no pair yet there is no base, so nothing is reverted."""
    steps = [("create", "exchange", False), ("sync", None), ("create", "salesforce", False),
             ("policy", "direction", "upsync_only"), ("edit", "salesforce", 1, "subject", 0)]  # fmt: skip
    world = history.run(checker_db, steps)
    m = world.meetings[1]
    assert world.projection("exchange", world.items_of(m)["exchange"][0])["subject"] == "T2 s0s"


@pytest.mark.parametrize("delete_first", [True, False])
def test_an_item_shared_again_as_its_event_is_deleted_is_not_stuck(checker_db, delete_first) -> None:
    """Found by the fast tier (#9, #11; then #3), fixed in `sync.planner.rules._reshare`: an Outlook item edited
    and unshared (its link kept as a tombstone), its Event deleted in Salesforce and the item shared again, both
    read by one session: the revived pair updated the deleted record, which was refused at every session. The
    deletion is now planned with the revived pair, as a Salesforce deletion (a new Event would bring back one the
    user deleted after the reshare: #3)."""
    both = [("delete", "salesforce", 0), ("reshare", 0)]
    steps = [("create", "exchange", False), ("sync", None), ("twin", 0, "subject", 0), ("unshare", 0),
             ("sync", None), *(both if delete_first else both[::-1])]  # fmt: skip
    world = history.run(checker_db, steps)  # converges (#9) with no resurrection (#3)
    [m] = world.meetings
    assert world.items_of(m)["salesforce"] == [] and world.open_health() == []


@pytest.mark.parametrize("side", ["exchange", "salesforce"])
def test_an_edit_made_before_the_kind_was_switched_off_syncs_when_it_is_on_again(checker_db, side) -> None:
    """Found by the fast tier (#1, #10), fixed in `sync.session` (`sync.policy_store.switched_on`) and
    `sync.planner.rules._reshare`: a session with the kind off moved the shared Exchange cursor past an edit it did
    not sync, and the tombstones the switch left ignored a Salesforce edit; switched on again, the pair stayed
    different. The mailbox now remembers which kinds were off when its cursors moved, the first session with one
    of them on again reads Exchange from scratch, and a revived pair is planned with its record's change."""
    world = history.run(checker_db, [("create", "exchange", False), ("sync", None),
                                     ("edit", side, 0, "subject", 0), ("policy", "direction", "off"),
                                     ("sync", None), ("policy", "direction", "two_way")])  # fmt: skip
    [m] = world.meetings
    ids = world.items_of(m)
    ex = world.projection("exchange", ids["exchange"][0])
    sf = world.projection("salesforce", ids["salesforce"][0])
    assert ex["subject"] == sf["subject"] == f"T1 s0{side[0]}"


def test_an_item_made_private_before_its_first_sync_under_skip_is_not_sent(checker_db) -> None:
    """A checker bug found by the fast tier (#1 model): made private before any session, under
    ``private_items = skip``, the item is rightly never sent; the model expected its counterpart."""
    world = history.run(checker_db, [("create", "exchange", False), ("sync", None), ("policy", "private_items", "skip"),
                                     ("create", "exchange", False), ("edit", "exchange", 1, "private", 1)])  # fmt: skip
    assert world.items_of(world.meetings[1])["salesforce"] == []


def test_an_edit_after_a_twin_edit_and_a_killed_session_may_meet_the_other_side_as_a_conflict(checker_db) -> None:
    """A checker bug found by the deep profile (#1 model): the same edit on both sides, then a session killed
    before it committed the new base, then an edit in Salesforce. The engine's base is still the value before the
    twin edit, so both sides changed since it: a conflict the conflict winner (Exchange) decides. The model took the
    killed session's agreement for the base and expected the Salesforce edit."""
    steps = [("create", "exchange", False), ("sync", None), ("twin", 0, "subject", 0), ("sync", ("kill", 1, False)),
             ("edit", "salesforce", 0, "subject", 0)]  # fmt: skip
    world = history.run(checker_db, steps)
    [m] = world.meetings
    ids = world.items_of(m)
    assert world.projection("exchange", ids["exchange"][0])["subject"] == "T1 s0"  # the conflict winner's value
    assert world.projection("salesforce", ids["salesforce"][0])["subject"] == "T1 s0"


def test_a_bad_value_fixed_after_a_lost_database_goes_to_the_conflict_winner(checker_db) -> None:
    """A checker bug found by the deep profile (#1 model): a location Salesforce cannot hold, the conflict winner
    switched to Salesforce, the database lost, then the location fixed in Outlook. With no base the adopted pair's
    differing location is a conflict (EDIT_WHILE_DATABASE_LOST): Salesforce's value wins, as after any edit made
    while the database is lost; the model expected the fix."""
    steps = [("create", "exchange", False), ("sync", None), ("bad", 0), ("policy", "conflict_winner", "salesforce"),
             ("lose", "database"), ("fix", 0)]  # fmt: skip
    world = history.run(checker_db, steps)
    [m] = world.meetings
    ids = world.items_of(m)
    assert world.projection("exchange", ids["exchange"][0])["location"] == "T1 room"


def test_an_item_shared_again_under_downsync_only_is_linked_back_and_takes_salesforces_values(checker_db) -> None:
    """Fixed in `sync.planner.rules._reshare` (found by the deep profile, #10): an item unshared, edited in
    Outlook, the kind switched to `downsync_only` and the item shared again stayed unlinked, its Outlook edit kept
    against its Event for good. It is linked back now, and Salesforce's values win, as for every linked pair."""
    steps = [("create", "exchange", False), ("sync", None), ("unshare", 0), ("edit", "exchange", 0, "subject", 0),
             ("policy", "direction", "downsync_only"), ("sync", None), ("reshare", 0)]  # fmt: skip
    world = history.run(checker_db, steps)
    [m] = world.meetings
    ids = world.items_of(m)
    ex = world.projection("exchange", ids["exchange"][0])
    assert ex["subject"] == world.projection("salesforce", ids["salesforce"][0])["subject"] == "T1 new"


def test_the_same_edit_on_both_sides_then_a_lost_database_may_cost_a_write(checker_db) -> None:
    """A checker bug found by the fast tier (#2 check): after a lost database the pair is adopted without a base,
    and a masked private item's Salesforce side is written again; that is no echo of the twin edit."""
    history.run(checker_db, [("create", "exchange", True), ("sync", None), ("policy", "private_items", "masked"),
                             ("sync", None), ("twin", 0, "subject", 0), ("lose", "database")])  # fmt: skip


def test_the_same_edit_on_both_sides_after_a_reshare_costs_nothing(checker_db) -> None:
    """Found by the fast tier (#2), fixed in `sync.planner.rules._reshare` with EDITS_WHILE_OFF: an item shared
    again was planned against the Salesforce base its tombstone kept, so the same edit on both sides since then
    cost a redundant Salesforce write; the record's change in the same feed is now planned with the revived pair.
    Random histories still forgive a twin edit around a reshare (`World.reshared`): a Salesforce edit made while
    the item was unshared is behind the watermark, so it is not in the feed that revives the pair."""
    world = history.World.fresh(checker_db)
    for step in [("create", "exchange", False), ("sync", None), ("unshare", 0), ("sync", None), ("reshare", 0)]:
        history.apply_step(world, step)
    value = world.value(world.meetings[0], "", "subject", 0)
    world.edit(world.meetings[0], "exchange", "subject", value)
    world.edit(world.meetings[0], "salesforce", "subject", value)
    result, writes = world.session()
    assert result is not None and writes == []
