"""Failing examples the simulation found, replayed step by step as named tests (each failed before its fix).

They drive the same `SyncMachine` as the simulation, so the invariants checked are the same ones."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.simulation.machine import SIM_NOW, SyncMachine


@pytest.fixture
def machine(fresh_engine) -> SyncMachine:
    cls = type("Machine", (SyncMachine,), {"fresh_engine": staticmethod(fresh_engine)})
    m = cls()
    yield m
    m.teardown()


def _span(days: int, hour: int) -> tuple[dt.datetime, dt.datetime]:
    start = SIM_NOW.replace(hour=hour) + dt.timedelta(days=days)
    return start, start + dt.timedelta(hours=1)


def test_a_crashed_session_leaves_no_open_health_entry_once_a_session_succeeds(machine):
    """Found by the simulation: the mailbox-level ``internal_error`` entry of a session that crashed at a
    checkpoint stayed open for ever after the next sessions converged. Fixed: a session that runs to the end
    resolves the mailbox's session-failure entries."""
    machine.policies(winner="salesforce")
    machine.create_in_salesforce(words="Q&A <b>", span=_span(15, 21), location="Zoom 🎥", private=True)
    machine.create_in_outlook(words="Lunch", span=_span(34, 17), location="Café ☕", private=True)
    machine.nothing_duplicated_or_lost()
    machine.sync_and_crash(point="pending_saved")
    machine.nothing_duplicated_or_lost()
    machine.converge()  # asserts no open health entry


@pytest.mark.parametrize("fault", ["request_limit", "unavailable", "drop"])
def test_a_failed_session_leaves_no_open_health_entry_once_a_session_succeeds(machine, fault):
    """The same for sessions ended by REQUEST_LIMIT_EXCEEDED, a 503 or a dropped connection."""
    machine.policies(winner="exchange")
    machine.create_in_outlook(words="Review", span=_span(2, 10), location=None, private=False)
    machine.sync_with_fault(fault=fault, n=3)
    machine.converge()


class Draws:
    """Stands in for Hypothesis's ``data()`` in a replay: the values the failing example drew, in order."""

    def __init__(self, *values) -> None:
        self.values = list(values)

    def draw(self, _strategy):
        return self.values.pop(0)


def test_an_event_deleted_before_its_link_was_confirmed_is_not_created_again(machine):
    """Found by the deep simulation: a session crashed after creating Events in Salesforce, before their links
    were saved; the user deleted one of the Events; the next session's retried upsert created it again
    (resurrection, docs/invariants.md #3). Fixed in the planner: a deleted record carrying a pending link's sync key is
    that link's Salesforce side, deleted like any other."""
    machine.policies(winner="exchange")
    machine.create_in_outlook(words="Review", span=_span(2, 10), location=None, private=False)
    machine.converge()
    machine.create_in_outlook(words="Lunch", span=_span(5, 12), location="Room 1", private=False)
    machine.sync_and_crash(point="salesforce_created")
    machine.delete(data=Draws("T2"), side="salesforce")
    machine.nothing_duplicated_or_lost()
    machine.converge()  # T2: no Event; the Outlook item stays, without the category (salesforce_deletion keep)


def test_a_create_cut_short_after_its_pending_link_was_saved_happens_at_the_next_session(machine):
    """Found by the deep simulation: with a sync state in place, a session crashed right after saving the
    pending links; the next session skipped the new item as "our own last write" (same change key as the
    pending link) and moved the cursor past it: the item never reached Salesforce. Fixed in the Exchange feed:
    pending links are always fetched."""
    machine.policies(winner="exchange")
    machine.create_in_outlook(words="Review", span=_span(2, 10), location=None, private=False)
    machine.converge()
    machine.create_in_outlook(words="Lunch", span=_span(5, 12), location=None, private=False)
    machine.sync_and_crash(point="pending_saved")
    machine.converge()  # T2 on both sides


def test_lost_cursors_after_the_last_event_was_deleted_do_not_trip_the_guard(machine):
    """Found by the deep simulation: the user deleted their only synced Event and the cursors were lost; the
    full Salesforce listing held just the deleted row, counted as an empty side, and the mass-deletion guard
    stopped every later session. Fixed in the Salesforce feed: deleted rows count as an answer."""
    machine.policies(winner="salesforce")
    machine.create_in_salesforce(words="Demo", span=_span(3, 9), location=None, private=False)
    machine.converge()
    machine.delete(data=Draws("T1"), side="salesforce")
    machine.lose_sync_state()
    machine.converge()


def test_lost_state_after_a_deletion_in_outlook_still_deletes_the_event(machine):
    """Found by the deep simulation: an item deleted in Outlook (moved to Deleted Items), then the sync state
    lost: the full listing no longer held the item, the direct fetch still found it (in Deleted Items), so the
    Event stayed for ever (docs/invariants.md #12: lost state must end like a normal run). Fixed in the Exchange
    feed: an absent item found outside the calendar is a deletion."""
    machine.policies(winner="exchange")
    machine.create_in_salesforce(words="Review", span=_span(-5, 21), location=None, private=False)
    machine.create_in_salesforce(words="Kick-off", span=_span(28, 15), location=None, private=True)
    machine.converge()
    machine.delete(data=Draws("T1"), side="exchange")
    machine.lose_sync_state()
    machine.converge()  # T1 gone on both sides


def test_lost_state_after_unsharing_the_only_item_does_not_trip_the_guard(machine):
    """Found by the deep simulation: the only shared item unshared in Outlook, then the sync state lost: the
    full listing held no tagged item and the guard took the mailbox for an empty one, stopping every session.
    Fixed in the Exchange feed: linked items present without the tag count as an answer."""
    machine.policies(winner="exchange")
    machine.create_in_salesforce(words="Review", span=_span(-5, 21), location=None, private=False)
    machine.converge()
    machine.create_in_salesforce(words="会议", span=_span(28, 14), location="Zoom 🎥", private=False)
    machine.lose_sync_state()
    machine.unshare(data=Draws("T1"))
    machine.converge()


def test_lost_state_after_deleting_every_item_in_outlook_does_not_trip_the_guard(machine):
    """The same with the last item deleted in Outlook: found in Deleted Items, it is a confirmed deletion, not
    an empty mailbox (a mass deletion still trips the guard on its own rule)."""
    machine.policies(winner="exchange")
    machine.create_in_salesforce(words="Review", span=_span(3, 9), location=None, private=False)
    machine.converge()
    machine.delete(data=Draws("T1"), side="exchange")
    machine.lose_sync_state()
    machine.converge()


def test_an_item_deleted_in_outlook_before_its_link_was_confirmed_is_not_created_again(machine):
    """The Exchange side of the first regression above, found while checking it: a session crashed after
    creating the item in Exchange, before its link was saved; the user deleted the item; the retried create
    found no item with its key in the calendar and made it again. Fixed in the Exchange feed: pending creates'
    keys are looked up in Deleted Items, and a hit is that link's deletion."""
    machine.policies(winner="exchange")
    machine.create_in_salesforce(words="Review", span=_span(2, 10), location=None, private=False)
    machine.converge()
    machine.create_in_salesforce(words="Lunch", span=_span(5, 12), location=None, private=False)
    machine.sync_and_crash(point="exchange_created")
    machine.delete(data=Draws("T2"), side="exchange")
    machine.converge()  # T2 gone on both sides (exchange_deletion = delete)


def test_an_item_sync_created_and_the_user_deleted_before_the_next_session_deletes_the_event(machine):
    """Found by the deep simulation: the session that created an item in Exchange kept its cursor from before
    the create; the user deleted the item before the next session, and the server folded the create and the
    delete the client never saw into nothing: the Event lived on. Fixed in the session: after its own writes,
    the cursor moves past them when nothing else changed meanwhile."""
    machine.policies(winner="exchange")
    machine.create_in_salesforce(words="Review", span=_span(2, 10), location=None, private=False)
    machine.converge()
    machine.create_in_salesforce(words="Démo", span=_span(-10, 7), location="Zoom 🎥", private=True)
    machine.sync()
    machine.delete(data=Draws("T2"), side="exchange")
    machine.converge()  # T2 gone on both sides


def _new_item_across_crashed_sessions(machine, origin: str, private: bool, crashes: tuple[str, ...]) -> None:
    """T1 synced (so a cursor is saved), then a new T2 whose sessions crash before the cursor moves past it."""
    machine.policies(winner="exchange")
    machine.create_in_salesforce(words="Review", span=_span(2, 10), location=None, private=False)
    machine.converge()
    create = machine.create_in_salesforce if origin == "salesforce" else machine.create_in_outlook
    create(words="Lunch", span=_span(-4, 13), location=None, private=private)
    for point in crashes:
        machine.sync_and_crash(point=point)


CRASHES = [("links_saved",), ("pending_saved", "links_saved")]


@pytest.mark.parametrize("crashes", CRASHES)
@pytest.mark.parametrize("private", [True, False])
@pytest.mark.parametrize("cancel", [False, True])
def test_an_outlook_deletion_after_a_crash_before_the_cursor_moved_deletes_the_event(machine, cancel, private, crashes):
    """Issue 21, found by the deep simulation: a session created a Salesforce Event's copy in Exchange, saved the
    link as active and crashed before it saved the Exchange cursor; the user deleted the copy; the cursor, older
    than the item, let the server fold its create and delete into nothing, and the Event lived on (invariants 1,
    3). Fixed in the link mechanism: a link stays pending until the session saves a cursor that covers its item
    (`sync.links.confirm`), and the Exchange feed checks pending links' items directly."""
    _new_item_across_crashed_sessions(machine, "salesforce", private, crashes)
    machine.delete(data=Draws("T2"), side="exchange", cancel=cancel)
    machine.converge()  # T2 gone on both sides (exchange_deletion = delete)


@pytest.mark.parametrize("private", [True, False])
@pytest.mark.parametrize("cancel", [False, True])
def test_an_outlook_deletion_of_an_outlook_item_after_a_crash_before_the_cursor_moved_deletes_the_event(
    machine, cancel, private
):
    """The same hole for an item the user made in Outlook: the cursor saved before the user's create does not
    cover it either, so the crashed session's link must stay pending."""
    _new_item_across_crashed_sessions(machine, "exchange", private, ("pending_saved", "links_saved"))
    machine.delete(data=Draws("T2"), side="exchange", cancel=cancel)
    machine.converge()


@pytest.mark.parametrize("private", [True, False])
@pytest.mark.parametrize("origin", ["salesforce", "exchange"])
def test_a_salesforce_deletion_after_a_crash_before_the_cursor_moved_reaches_outlook(machine, origin, private):
    """Checked with issue 21 (it passed before the fix too: queryAll reports deleted rows whatever the
    watermark): the Event deleted after the same crashes loses its category in Outlook (salesforce_deletion
    keep), also while its link is still pending."""
    _new_item_across_crashed_sessions(machine, origin, private, ("pending_saved", "links_saved"))
    machine.delete(data=Draws("T2"), side="salesforce")
    machine.converge()


@pytest.mark.parametrize("private", [True, False])
@pytest.mark.parametrize("origin", ["salesforce", "exchange"])
def test_an_unshare_after_a_crash_before_the_cursor_moved_unlinks(machine, origin, private):
    """Checked with issue 21 (it passed before the fix too: the unshared item is still in the calendar, so the
    feed reports it): unshared after the same crashes, both sides stay and are unlinked."""
    _new_item_across_crashed_sessions(machine, origin, private, ("pending_saved", "links_saved"))
    machine.unshare(data=Draws("T2"))
    machine.converge()


@pytest.mark.parametrize("private", [True, False])
def test_an_outlook_deletion_after_a_session_that_kept_its_cursor_deletes_the_event(machine, private):
    """The same hole without a crash, found while checking issue 21: a session that creates an item in Exchange
    but fails another item's write keeps its old cursor (so the failed item comes back); the link it saved as
    active never heard of the user deleting the new item. Fixed by the same pending-until-covered rule."""
    machine.policies(winner="exchange")
    machine.create_in_outlook(words="Review", span=_span(2, 10), location=None, private=False)
    machine.converge()
    machine.edit(data=Draws("T1", "Hall ✨"), side="exchange", what="location")  # fails in Salesforce below
    machine.create_in_salesforce(words="Lunch", span=_span(-4, 13), location=None, private=private)
    machine.sync_with_fault(fault="lock_row", n=1)
    machine.delete(data=Draws("T2"), side="exchange")
    machine.converge()


@pytest.mark.parametrize(("side", "point"), [("exchange", "salesforce_created"), ("salesforce", "exchange_created")])
def test_a_series_created_before_a_crash_gets_its_exceptions_on_both_sides(machine, side, point):
    """Found by the simulation (issue 23.4): a session crashed right after creating a series with a moved and
    a deleted occurrence on the other side, before its occurrence writes; the next session confirmed the
    pending link, read the new copy's missing exceptions as a change and wrote the plain series back over
    the original. Fixed: a pending series shows the exceptions its create was to write, and the confirmed
    link writes them again (idempotent)."""
    machine.policies(winner="exchange")
    machine.create_series_with_exceptions(span=_span(9, 6), moved=1, deleted=3, side=side)
    machine.sync_and_crash(point=point)
    machine.nothing_duplicated_or_lost()
    machine.converge()  # asserts both sides hold the moved and the deleted occurrence


def test_an_event_moved_in_salesforce_while_unshared_in_outlook_converges_when_shared_again(machine):
    """Found by the deep simulation on the issue-23 branch (it failed on 0e1d3ca too; it passes since the
    merge with issue 16's engine work, on both protocols, so it stays as a regression test): an Event made in
    Salesforce and synced, moved a day later in Salesforce (across the US DST change) while the rep unshares
    it in Outlook, then shared again: every session after converging writes its time to Outlook again (an
    echo, docs/invariants.md #9). The two all-day items only give the Event its token."""
    machine.policies(winner="exchange")
    machine.create_all_day_on_a_dst_day(on=("America/New_York", dt.date(2027, 3, 14)), side="exchange")
    machine.create_all_day_on_a_dst_day(on=("America/New_York", dt.date(2027, 3, 14)), side="salesforce")
    start = dt.datetime(2027, 3, 11, 1, 30, tzinfo=dt.UTC)
    machine.create_in_salesforce(location="Zoom 🎥", private=True, span=(start, start + dt.timedelta(hours=1)),
                                 words="Lunch")  # fmt: skip
    machine.sync()
    machine.move_days(data=Draws("T3"), days=1, side="salesforce")
    machine.unshare(data=Draws("T3"))
    machine.sync()
    machine.share_again(data=Draws("T3"))


@pytest.mark.parametrize("exchange_protocol", ["graph"])
@pytest.mark.parametrize("fault", ["graph_429", "graph_503", "delta_gone", "batch_429", "stale_412", "drop"])
def test_every_graph_fault_leaves_a_session_that_converges(machine, fault):
    """Each Graph fault once, deterministically (the simulation draws them at random): edits on both sides,
    a session under the fault, then the sides converge with nothing lost, duplicated or left open."""
    machine.policies(winner="salesforce")
    machine.create_in_outlook(words="Review", span=_span(2, 10), location=None, private=False)
    machine.create_in_salesforce(words="Lunch", span=_span(3, 12), location="Room 2", private=False)
    machine.sync()
    machine.edit(data=Draws("T1", f"{fault} ex"), side="exchange", what="subject")
    machine.edit(data=Draws("T2", "Hall ✨"), side="salesforce", what="location")
    machine.create_in_salesforce(words="Démo", span=_span(4, 9), location=None, private=False)
    machine.sync_with_fault(fault=fault, n=3)
    # The fault did happen: the sandbox injected it (or, for stale_412, answered a PATCH with 412).
    graph = machine.world._graph  # noqa: SLF001
    if fault == "stale_412":
        assert graph("GET", "log")["statuses"].get("412", 0) >= 1
    else:
        kind = {"graph_429": "http_429", "graph_503": "http_503", "batch_429": "batch_item_429"}.get(fault, fault)
        assert graph("GET", "faults")["injected"][kind] >= 1
    machine.nothing_duplicated_or_lost()
    machine.converge()


@pytest.mark.parametrize("point", ["pending_saved", "salesforce_created", "exchange_created", "links_saved"])
def test_a_crash_at_each_applier_checkpoint_converges(machine, point):
    """A worker killed at each checkpoint of the Applier, on both protocols (the simulation draws them)."""
    machine.policies(winner="exchange")
    machine.create_in_outlook(words="Review", span=_span(2, 10), location=None, private=False)
    machine.create_in_salesforce(words="Lunch", span=_span(3, 12), location="Room 2", private=False)
    machine.sync_and_crash(point=point)
    machine.nothing_duplicated_or_lost()
    machine.converge()
