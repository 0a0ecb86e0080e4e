"""Events through the real engine, clients and sandboxes: every direction policy, both sides, both ways.

Each test ends with the invariants that apply: no meeting message sent by sync, and a session after a
converged one makes zero writes (docs/invariants.md #9)."""

import datetime as dt

import pytest

from tests.e2e.actors import at, day

UTC = dt.UTC


def _quiet(engine, world):
    result = engine.sync()
    assert result.writes == 0, result.to_json()
    world.assert_no_meeting_messages()
    return result


# -- two_way (the default) -------------------------------------------------------------------------------------
def test_outlook_item_goes_up_with_its_fields_and_back_down_edits(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    item_id = outlook.create("Pricing review", at(2, 10), at(2, 11, 30), location="Room 4", body="Agenda:\n- price")
    first = engine.sync()
    assert first.created["salesforce"] == 1
    event = sf.find_event("Pricing review")
    assert event["StartDateTime"] == at(2, 10).astimezone(UTC)
    assert event["EndDateTime"] == at(2, 11, 30).astimezone(UTC)
    assert event["Location"] == "Room 4"
    assert "Agenda:" in event["Description"]
    assert event["CalSync_Key__c"]
    _quiet(engine, world)

    outlook.edit(item_id, subject="Pricing review (moved)", start=at(3, 14), end=at(3, 15))
    result = engine.sync()
    assert result.updated["salesforce"] == 1
    event = sf.get("Event", event["Id"])
    assert event["Subject"] == "Pricing review (moved)"
    assert event["StartDateTime"] == at(3, 14).astimezone(UTC)

    sf.update("Event", event["Id"], Location="Acme HQ")
    result = engine.sync()
    assert result.updated["exchange"] == 1
    assert outlook.get(item_id)["location"] == "Acme HQ"
    _quiet(engine, world)


def test_salesforce_event_comes_down_with_the_category(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    event_id = sf.create_event(Subject="Call with Globex", StartDateTime=at(1, 9), EndDateTime=at(1, 9, 30),
                               Location="Phone")  # fmt: skip
    result = engine.sync()
    assert result.created["exchange"] == 1
    item = outlook.find("Call with Globex")
    assert item["categories"] == ["Salesforce"]
    assert item["start"] == at(1, 9).astimezone(UTC) and item["location"] == "Phone"
    assert "Salesforce" in outlook.master_categories()
    _quiet(engine, world)
    sf.update("Event", event_id, Subject="Call with Globex (confirmed)")
    engine.sync()
    assert outlook.get(item["id"])["subject"] == "Call with Globex (confirmed)"


def test_untagged_items_stay_private_to_outlook(engine, world):
    world.outlook().create("Dentist", at(1, 8), at(1, 9), categories=())
    result = engine.sync()
    assert result.created == {"salesforce": 0, "exchange": 0}
    assert world.salesforce().events() == []


def test_all_day_item_keeps_its_day(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    outlook.create("Trade fair", day(5), day(6), all_day=True)
    engine.sync()
    event = sf.find_event("Trade fair")
    assert event["IsAllDayEvent"] is True
    assert event["ActivityDate"] == day(5)
    assert event["DurationInMinutes"] == 2 * 1440
    _quiet(engine, world)


def test_conflicting_edits_merge_field_by_field_and_exchange_wins_a_shared_field(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    item_id = outlook.create("Quarterly review", at(4, 10), at(4, 11), location="Room 1")
    engine.sync()
    event = sf.find_event("Quarterly review")
    outlook.edit(item_id, subject="Quarterly review (Outlook)")
    sf.update("Event", event["Id"], Subject="Quarterly review (Salesforce)", Location="Boardroom")
    engine.sync()
    item, event = outlook.get(item_id), sf.get("Event", event["Id"])
    assert item["subject"] == event["Subject"] == "Quarterly review (Outlook)"  # both changed: winner
    assert item["location"] == event["Location"] == "Boardroom"  # one side changed: taken
    _quiet(engine, world)


@pytest.mark.parametrize("winner, expected", [("salesforce", "from Salesforce"), ("exchange", "from Outlook")])
def test_conflict_winner_policy(engine, world, winner, expected):
    engine.set_policy(conflict_winner=winner)
    outlook, sf = world.outlook(), world.salesforce()
    item_id = outlook.create("Budget", at(4, 10), at(4, 11))
    engine.sync()
    event = sf.find_event("Budget")
    outlook.edit(item_id, subject="Budget from Outlook")
    sf.update("Event", event["Id"], Subject="Budget from Salesforce")
    engine.sync()
    assert outlook.get(item_id)["subject"] == sf.get("Event", event["Id"])["Subject"] == f"Budget {expected}"


def test_equal_changes_on_both_sides_cost_no_write(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    item_id = outlook.create("Sync-up", at(2, 16), at(2, 17))
    engine.sync()
    event = sf.find_event("Sync-up")
    outlook.edit(item_id, location="Cafe")
    sf.update("Event", event["Id"], Location="Cafe")
    result = engine.sync()
    assert result.writes == 0, result.to_json()


def test_deleting_in_outlook_deletes_the_event_and_salesforce_deletion_keeps_the_item(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    gone = outlook.create("Will be deleted", at(1, 10), at(1, 11))
    kept = outlook.create("Record will be deleted", at(1, 12), at(1, 13))
    engine.sync()
    kept_event = sf.find_event("Record will be deleted")
    outlook.delete(gone)
    sf.delete("Event", kept_event["Id"])
    result = engine.sync()
    assert result.deleted == {"salesforce": 1, "exchange": 0}
    assert sf.find_event("Will be deleted") is None
    item = outlook.get(kept)
    assert item is not None and "Salesforce" not in item["categories"]  # keep: untagged and unlinked
    _quiet(engine, world)
    assert sf.find_event("Record will be deleted") is None  # no resurrection


def test_salesforce_deletion_delete_removes_the_item_without_cancellations(engine, world):
    engine.set_policy(salesforce_deletion="delete")
    outlook, sf = world.outlook(), world.salesforce()
    sf.create_event(Subject="Demo", StartDateTime=at(2, 10), EndDateTime=at(2, 11))
    engine.sync()
    item = outlook.find("Demo")
    sf.delete("Event", sf.find_event("Demo")["Id"])
    result = engine.sync()
    assert result.deleted["exchange"] == 1
    assert outlook.get(item["id"]) is None
    world.assert_no_meeting_messages()


def test_unsharing_keeps_the_record_by_default(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    item_id = outlook.create("Shared then not", at(3, 10), at(3, 11))
    engine.sync()
    outlook.remove_category(item_id)
    engine.sync()
    assert sf.find_event("Shared then not") is not None
    outlook.edit(item_id, subject="Edited after unsharing")
    _quiet(engine, world)
    assert sf.find_event("Shared then not") is not None


def test_unsharing_with_delete_salesforce_deletes_the_record(engine, world):
    engine.set_policy(on_unshare="delete_salesforce")
    outlook, sf = world.outlook(), world.salesforce()
    item_id = outlook.create("Temporary", at(3, 10), at(3, 11))
    engine.sync()
    outlook.remove_category(item_id)
    engine.sync()
    assert sf.find_event("Temporary") is None
    assert outlook.get(item_id) is not None


# -- upsync_only ------------------------------------------------------------------------------------------------
def test_upsync_only_reverts_salesforce_edits_and_recreates_deleted_records(engine, world):
    engine.set_policy(direction="upsync_only")
    outlook, sf = world.outlook(), world.salesforce()
    item_id = outlook.create("Mine to own", at(2, 9), at(2, 10))
    engine.sync()
    event = sf.find_event("Mine to own")
    sf.update("Event", event["Id"], Subject="Changed in Salesforce")
    result = engine.sync()
    assert result.reverted["salesforce"] == 1
    assert sf.get("Event", event["Id"])["Subject"] == "Mine to own"
    assert outlook.get(item_id)["subject"] == "Mine to own"
    sf.delete("Event", event["Id"])
    engine.sync()
    engine.sync()
    recreated = sf.find_event("Mine to own")
    assert recreated is not None and recreated["Id"] != event["Id"]
    _quiet(engine, world)


def test_upsync_only_still_brings_salesforce_created_events_down_once(engine, world):
    engine.set_policy(direction="upsync_only")
    world.salesforce().create_event(Subject="Made in SF", StartDateTime=at(1, 15), EndDateTime=at(1, 16))
    engine.sync()
    assert world.outlook().find("Made in SF") is not None


# -- downsync_only ---------------------------------------------------------------------------------------------
def test_downsync_only_reverts_outlook_edits_recreates_deleted_items_and_keeps_outlook_items_local(engine, world):
    engine.set_policy(direction="downsync_only")
    outlook, sf = world.outlook(), world.salesforce()
    sf.create_event(Subject="Board meeting", StartDateTime=at(5, 10), EndDateTime=at(5, 12))
    local = outlook.create("Outlook only", at(5, 14), at(5, 15))
    engine.sync()
    item = outlook.find("Board meeting")
    assert sf.find_event("Outlook only") is None
    assert any(h.code == "not_sent_up" for h in engine.health())
    outlook.edit(item["id"], subject="Board meeting (edited in Outlook)")
    result = engine.sync()
    assert result.reverted["exchange"] == 1
    assert outlook.get(item["id"])["subject"] == "Board meeting"
    outlook.delete(item["id"])
    engine.sync()
    engine.sync()
    assert outlook.find("Board meeting") is not None
    assert outlook.get(local) is not None
    _quiet(engine, world)


# -- off -------------------------------------------------------------------------------------------------------
def test_switching_events_off_removes_only_items_sync_created(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    sf.create_event(Subject="From SF", StartDateTime=at(2, 10), EndDateTime=at(2, 11))
    mine = outlook.create("From Outlook", at(2, 12), at(2, 13))
    engine.sync()
    engine.set_policy(direction="off")
    engine.sync()
    assert outlook.find("From SF") is None
    assert outlook.get(mine) is not None
    assert sf.find_event("From Outlook") is not None and sf.find_event("From SF") is not None
    world.assert_no_meeting_messages()


# -- categories and costs --------------------------------------------------------------------------------------
def test_master_categories_are_put_back_after_a_user_deletes_them(engine, world):
    outlook = world.outlook()
    engine.sync()
    assert outlook.master_categories().get("Salesforce") == 7
    assert "SF Task" in outlook.master_categories()
    outlook.delete_category("Salesforce")
    engine.sync(force_category_check=True)
    assert "Salesforce" in outlook.master_categories()


def test_a_quiet_session_costs_one_exchange_request_and_one_salesforce_request_per_kind(engine, world):
    world.outlook().create("Anything", at(1, 10), at(1, 11))
    engine.sync()
    engine.sync()
    quiet = _quiet(engine, world)
    assert quiet.api_calls == {"exchange": 1, "salesforce": 2}  # events and tasks
