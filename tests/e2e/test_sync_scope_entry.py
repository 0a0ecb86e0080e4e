"""Items that enter the scope sync at the next session, both sides, through the real clients (issue 23, point 3).

An item enters the scope when an admin widens it (the policy's scope) or when the calendar moves on (the
session's ``now``). Leaving the scope still never deletes anything (docs/invariants.md #4)."""

from __future__ import annotations

import datetime as dt

from sync.policies import Scope
from tests.e2e.actors import at, day

UTC = dt.UTC
LATER = dt.timedelta(days=15)


def _quiet(engine, world, now=None) -> None:
    result = engine.sync(now=now)
    assert result.writes == 0, result.to_json()
    world.assert_no_meeting_messages()


def test_outlook_item_enters_the_scope_when_the_admin_widens_it(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    outlook.create("Far kick-off", at(100, 10), at(100, 11))
    assert engine.sync().created["salesforce"] == 0
    _quiet(engine, world)
    engine.set_policy(scope=Scope(past_days=14, future_days=150))
    assert engine.sync().created["salesforce"] == 1
    assert sf.find_event("Far kick-off")["StartDateTime"] == at(100, 10).astimezone(UTC)
    _quiet(engine, world)


def test_outlook_items_enter_the_scope_as_the_calendar_moves_on(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    outlook.create("Renewal call", at(70, 9), at(70, 10))
    outlook.create("Summit", day(68), day(69), all_day=True)
    outlook.create("Still far", at(90, 9), at(90, 10))
    assert engine.sync().created["salesforce"] == 0
    now = dt.datetime.now(UTC) + LATER
    assert engine.sync(now=now).created["salesforce"] == 2
    assert sf.find_event("Renewal call") is not None and sf.find_event("Summit") is not None
    assert sf.find_event("Still far") is None
    _quiet(engine, world, now)


def test_salesforce_event_enters_the_scope_when_widened_and_as_time_passes(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    sf.create_event(Subject="Far QBR", StartDateTime=at(100, 14), EndDateTime=at(100, 15))
    sf.create_event(Subject="Soon QBR", StartDateTime=at(70, 14), EndDateTime=at(70, 15))
    # A record made later moves the feed's watermark past its overlap: later sessions do not read the two
    # far ones again by themselves.
    world.advance_salesforce_clock(minutes=10)
    sf.create_event(Subject="Near call", StartDateTime=at(2, 14), EndDateTime=at(2, 15))
    assert engine.sync().created["exchange"] == 1
    world.advance_salesforce_clock(days=LATER.days)
    now = dt.datetime.now(UTC) + LATER
    assert engine.sync(now=now).created["exchange"] == 1
    assert outlook.find("Soon QBR") is not None and outlook.find("Far QBR") is None
    engine.set_policy(scope=Scope(past_days=14, future_days=150))
    assert engine.sync(now=now).created["exchange"] == 1
    assert outlook.find("Far QBR")["start"] == at(100, 14).astimezone(UTC)
    _quiet(engine, world, now)


def test_a_linked_item_moved_out_of_scope_syncs_its_move_once_it_is_back_in(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    item_id = outlook.create("Planning", at(5, 10), at(5, 11))
    engine.sync()
    event = sf.find_event("Planning")
    outlook.edit(item_id, start=at(80, 10), end=at(80, 11))
    assert engine.sync().writes == 0  # out of scope: nothing, and nothing deleted
    assert sf.get("Event", event["Id"])["StartDateTime"] == at(5, 10).astimezone(UTC)
    engine.set_policy(scope=Scope(past_days=14, future_days=100))
    assert engine.sync().updated["salesforce"] == 1
    assert sf.get("Event", event["Id"])["StartDateTime"] == at(80, 10).astimezone(UTC)
    _quiet(engine, world)


def test_leaving_the_scope_still_deletes_nothing(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    outlook.create("Near meeting", at(10, 10), at(10, 11))
    sf.create_event(Subject="Near call", StartDateTime=at(12, 9), EndDateTime=at(12, 10))
    engine.sync()
    engine.set_policy(scope=Scope(past_days=1, future_days=2))
    _quiet(engine, world)
    _quiet(engine, world, dt.datetime.now(UTC) + dt.timedelta(days=40))
    assert sf.find_event("Near meeting") is not None and outlook.find("Near call") is not None


def test_remembering_out_of_scope_items_costs_a_quiet_session_no_request(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    for n in range(5):
        outlook.create(f"Far {n}", at(90 + n, 10), at(90 + n, 11))
        sf.create_event(Subject=f"Far SF {n}", StartDateTime=at(95 + n, 9), EndDateTime=at(95 + n, 10))
    outlook.create("Near", at(1, 10), at(1, 11))
    engine.sync()
    engine.sync()
    world.advance_salesforce_clock(minutes=10)
    quiet = engine.sync()
    assert quiet.writes == 0 and quiet.api_calls == {"exchange": 1, "salesforce": 2}  # as without them
    # The day they enter costs one GetItem and one Salesforce read for all of them.
    entering = engine.sync(now=dt.datetime.now(UTC) + dt.timedelta(days=40))
    assert entering.created == {"salesforce": 5, "exchange": 5}
