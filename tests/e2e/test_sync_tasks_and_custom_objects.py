"""Tasks and custom objects flow down only (docs/policies.md): each with its own category, Outlook edits reverted."""

import datetime as dt

from sync.policies import CustomObjectMapping
from tests.e2e.actors import at, day

UTC = dt.UTC
SITE_VISITS = CustomObjectMapping(
    object_name="Site_Visit__c", subject_field="Name", category="SF Site Visit", start_field="Visit_Start__c",
    end_field="Visit_End__c", color=5,
)  # fmt: skip
RENEWALS = CustomObjectMapping(
    object_name="Renewal__c", subject_field="Name", category="SF Renewal", date_field="Renewal_Date__c", color=9
)


def test_task_comes_down_all_day_on_its_due_date_and_completion_is_marked(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    task_id = sf.create_task(Subject="Send the quote", ActivityDate=day(3), Status="Not Started")
    result = engine.sync()
    assert result.created["exchange"] == 1
    item = outlook.find("Send the quote")
    assert item["is_all_day"] and item["start"] == day(3) and item["end"] == day(3)  # inclusive end
    assert item["categories"] == ["SF Task"]
    assert outlook.master_categories().get("SF Task") is not None
    sf.update("Task", task_id, Status="Completed")
    engine.sync()
    assert outlook.get(item["id"])["subject"] == "✓ Send the quote"
    assert engine.sync().writes == 0
    world.assert_no_meeting_messages()


def test_outlook_edits_to_a_task_item_are_reverted_and_a_deleted_one_comes_back(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    sf.create_task(Subject="Call back", ActivityDate=day(2))
    engine.sync()
    item = outlook.find("Call back")
    outlook.edit(item["id"], subject="Call back (my note)")
    result = engine.sync()
    assert result.reverted["exchange"] == 1
    assert outlook.get(item["id"])["subject"] == "Call back"
    outlook.delete(item["id"])
    engine.sync()
    engine.sync()
    assert outlook.find("Call back") is not None
    assert sf.tasks()[0]["Subject"] == "Call back"  # nothing went up


def test_deleted_task_and_task_without_due_date_leave_the_calendar(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    deleted = sf.create_task(Subject="Obsolete", ActivityDate=day(4))
    undated = sf.create_task(Subject="Someday", ActivityDate=day(5))
    engine.sync()
    assert outlook.find("Obsolete") and outlook.find("Someday")
    sf.delete("Task", deleted)
    sf.update("Task", undated, ActivityDate=None)
    engine.sync()
    assert outlook.find("Obsolete") is None
    assert outlook.find("Someday") is None
    sf.update("Task", undated, ActivityDate=day(6))
    engine.sync()
    assert outlook.find("Someday")["start"] == day(6)


def test_custom_objects_come_down_with_their_categories(engine, world):
    engine.set_policy(kind="custom:Site_Visit__c", custom=SITE_VISITS)
    engine.set_policy(kind="custom:Renewal__c", custom=RENEWALS)
    outlook, sf = world.outlook(), world.salesforce()
    visit = sf.create_record("Site_Visit__c", Name="Visit Acme plant", Visit_Start__c=at(2, 9),
                             Visit_End__c=at(2, 12), OwnerId=world.rep.salesforce_user_id)  # fmt: skip
    sf.create_record("Renewal__c", Name="Globex renewal", Renewal_Date__c=day(10), OwnerId=world.rep.salesforce_user_id)
    result = engine.sync()
    assert result.created["exchange"] == 2
    visit_item, renewal_item = outlook.find("Visit Acme plant"), outlook.find("Globex renewal")
    assert visit_item["categories"] == ["SF Site Visit"]
    assert visit_item["start"] == at(2, 9).astimezone(UTC) and visit_item["end"] == at(2, 12).astimezone(UTC)
    assert renewal_item["categories"] == ["SF Renewal"] and renewal_item["is_all_day"]
    assert renewal_item["start"] == day(10)
    masters = outlook.master_categories()
    assert masters.get("SF Site Visit") == 5 and masters.get("SF Renewal") == 9
    sf.update("Site_Visit__c", visit, Visit_Start__c=at(3, 9), Visit_End__c=at(3, 11))
    engine.sync()
    assert outlook.get(visit_item["id"])["start"] == at(3, 9).astimezone(UTC)
    assert engine.sync().writes == 0
    world.assert_no_meeting_messages()


def test_unmapped_custom_objects_are_not_synced(engine, world):
    world.salesforce().create_record("Renewal__c", Name="Not mapped", Renewal_Date__c=day(3),
                                     OwnerId=world.rep.salesforce_user_id)  # fmt: skip
    engine.sync()
    assert world.outlook().find("Not mapped") is None
