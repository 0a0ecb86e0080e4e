"""The e2e harness itself: actors do what they say against the sandboxes, the ``world`` fixture isolates tests,
and the logs and counters that engine tests assert on can see a violation."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import HTMLBody
from exchangelib.errors import ErrorServerBusy
from exchangelib.recurrence import Recurrence, WeeklyPattern
from simple_salesforce.exceptions import SalesforceError

from calsync.settings import Settings
from sandbox.seed import PEOPLE, REPS
from tests.e2e.actors import SALESFORCE_CATEGORY, OutlookUser, at, day

BOB = REPS[1]
CONTACT = PEOPLE[0]


def test_outlook_user_creates_edits_and_deletes(world):
    alice = world.outlook()
    item_id = alice.create(
        "Discovery call",
        at(2, 10),
        at(2, 11),
        location="Room 1",
        body="Agenda",
        private=True,
        show_as="Tentative",
    )
    item = alice.get(item_id)
    assert item["subject"] == "Discovery call"
    assert (item["start"], item["end"]) == (at(2, 10), at(2, 11))
    assert item["timezone"] == "Europe/London"
    assert (item["location"], item["body"], item["categories"]) == ("Room 1", "Agenda", [SALESFORCE_CATEGORY])
    assert (item["sensitivity"], item["legacy_free_busy_status"]) == ("Private", "Tentative")
    assert item["organizer"] == world.rep.email and not item["is_all_day"]

    alice.edit(item_id, subject="Discovery call (moved)", start=at(3, 14, tz="America/New_York"),
               end=at(3, 15, tz="America/New_York"), tz="America/New_York", location=None)  # fmt: skip
    item = alice.get(item_id)
    assert item["subject"] == "Discovery call (moved)"
    assert item["start"] == at(3, 14, tz="America/New_York") and item["timezone"] == "America/New_York"
    assert item["location"] is None and item["body"] == "Agenda"  # untouched fields stay

    alice.remove_category(item_id, SALESFORCE_CATEGORY)
    assert alice.get(item_id)["categories"] == []
    assert alice.items(category=SALESFORCE_CATEGORY) == []
    alice.add_category(item_id, SALESFORCE_CATEGORY)
    assert [i["id"] for i in alice.items(category=SALESFORCE_CATEGORY)] == [item_id]

    alice.delete(item_id)
    assert alice.get(item_id) is None
    assert alice.items() == []


def test_outlook_all_day_recurring_and_html_items(world):
    alice = world.outlook()
    all_day = alice.create("Offsite", day(5), day(6), all_day=True, tz="Europe/Berlin")
    item = alice.get(all_day)
    assert item["is_all_day"] and (item["start"], item["end"]) == (day(5), day(6))  # inclusive end
    assert item["timezone"] == "Europe/Berlin"

    pattern = WeeklyPattern(interval=1, weekdays=[at(7, 9).isoweekday()])
    series = alice.create(
        "Weekly sync", at(7, 9), at(7, 10), recurrence=Recurrence(pattern=pattern, start=day(7), number=4)
    )
    item = alice.get(series)
    assert item["type"] == "RecurringMaster" and item["recurrence"].boundary.number == 4

    html = alice.create("Notes", at(1, 8), at(1, 9), body=HTMLBody("<html><body><p>Hello <b>you</b></p></body></html>"))
    assert alice.get(html)["body"] == "Hello you" and alice.get(html)["body_type"] == "HTML"
    assert [i["subject"] for i in alice.items()] == ["Notes", "Offsite", "Weekly sync"]


def test_master_category_list(world):
    alice = world.outlook()
    assert alice.master_categories() == {}  # the empty seed has no list: the engine must create it
    alice.add_master_category(SALESFORCE_CATEGORY, 7)
    alice.add_master_category("Customer", 4)
    assert alice.master_categories() == {SALESFORCE_CATEGORY: 7, "Customer": 4}
    alice.delete_category(SALESFORCE_CATEGORY)
    assert alice.master_categories() == {"Customer": 4}


def test_salesforce_user_events_tasks_and_custom_objects(world):
    alice = world.salesforce()
    event_id = alice.create_event(
        Subject="Demo", StartDateTime=at(1, 10), EndDateTime=at(1, 11), Location="Acme HQ", WhoId=CONTACT.salesforce_id
    )
    event = alice.get("Event", event_id)
    assert (event["Subject"], event["StartDateTime"], event["EndDateTime"]) == ("Demo", at(1, 10), at(1, 11))
    assert event["OwnerId"] == world.rep.salesforce_user_id and event["Location"] == "Acme HQ"
    alice.update("Event", event_id, Subject="Demo v2", Description="Bring slides")
    assert [(e["Subject"], e["Description"]) for e in alice.events()] == [("Demo v2", "Bring slides")]

    relation_id = alice.add_relation(event_id, PEOPLE[4].salesforce_id)
    assert [(r["Id"], r["RelationId"]) for r in alice.relations(event_id)] == [(relation_id, PEOPLE[4].salesforce_id)]

    task_id = alice.create_task(Subject="Send quote", ActivityDate=day(2))
    assert alice.get("Task", task_id)["ActivityDate"] == day(2)
    visit_id = alice.create_record("Site_Visit__c", Name="Plant tour", Visit_Start__c=at(4, 9), Visit_End__c=at(4, 12))
    renewal_id = alice.create_record("Renewal__c", Name="Acme 2027", Renewal_Date__c=day(30), Amount__c=1200.5)
    assert [r["Id"] for r in alice.records("Site_Visit__c")] == [visit_id]
    assert alice.get("Renewal__c", renewal_id)["Renewal_Date__c"] == day(30)

    # Records of other reps are not "mine".
    bob = world.salesforce(BOB.email)
    bob.create_event(Subject="Bob's", StartDateTime=at(1, 12), EndDateTime=at(1, 13))
    assert [e["Subject"] for e in alice.events()] == ["Demo v2"]

    alice.delete("Event", event_id)
    assert alice.get("Event", event_id) is None
    assert alice.events() == []
    deleted = alice.events(include_deleted=True)
    assert [(e["Id"], e["IsDeleted"]) for e in deleted] == [(event_id, True)]
    assert [r["Id"] for r in world.salesforce_records("Event") if r["IsDeleted"]] == [event_id]


def test_exchange_log_tells_actor_messages_from_everything_else(world):
    alice = world.outlook()
    meeting = alice.create("Kick-off", at(2, 15), at(2, 16), attendees=[CONTACT.email, BOB.email])
    log = world.exchange_log()
    assert [(c["subject"], c["recipients"], c["actor"]) for c in log["invitations"]] == [
        ("Kick-off", [CONTACT.email, BOB.email], True)
    ]
    world.assert_no_meeting_messages()  # an actor's invitation is not the engine's

    # A write from anything but an actor (the engine, in real tests) that sends is caught ...
    other = OutlookUser(world.info, world.rep.email)
    try:
        other.edit(meeting, subject="Kick-off (agenda)", send="SendToNone")
        world.assert_no_meeting_messages()
        other.edit(meeting, location="Teams", send="SendToAllAndSaveCopy")
        with pytest.raises(AssertionError, match="meeting messages sent"):
            world.assert_no_meeting_messages()
        assert [c["subject"] for c in world.engine_meeting_messages()] == ["Kick-off (agenda)"]
    finally:
        other.close()

    # ... and so is a cancellation; the organizer's own cancel is recorded as the actor's.
    alice.cancel(meeting)
    assert alice.get(meeting) is None
    cancellations = world.exchange_log()["cancellations"]
    assert [(c["item_id"], c["actor"]) for c in cancellations] == [(meeting, True)]


def test_strict_check_flags_writes_that_could_send(world):
    other = OutlookUser(world.info, world.rep.email)  # not an actor of the world
    try:
        other.create("Solo", at(1, 9), at(1, 10), send="SendOnlyToAll")  # no attendees: nothing is sent ...
        world.assert_no_meeting_messages(strict=False)
        with pytest.raises(AssertionError, match="without SendToNone"):  # ... but the setting is wrong
            world.assert_no_meeting_messages()
    finally:
        other.close()


def test_request_counters_move(world):
    alice_ex, alice_sf = world.outlook(), world.salesforce()
    alice_ex.items()  # warm up: folder lookups
    alice_sf.events()  # warm up: describe
    ex_before, sf_before = world.exchange_requests(), world.salesforce_requests()
    alice_ex.create("Counted", at(1, 9), at(1, 10))
    alice_sf.create_event(Subject="Counted", StartDateTime=at(1, 9), EndDateTime=at(1, 10))
    alice_sf.events()
    assert world.exchange_requests() - ex_before == {"CreateItem": 1}
    assert world.salesforce_requests() - sf_before == {"sobject_create": 1, "query": 1}
    assert world.salesforce_stats()["writes"] >= 1


def test_faults_are_injected_and_the_clock_moves(world):
    alice_ex, alice_sf = world.outlook(), world.salesforce()
    alice_ex.items()
    world.set_exchange_faults(server_busy_next=1)
    with pytest.raises(ErrorServerBusy):
        alice_ex.create("Busy", at(1, 9), at(1, 10))
    assert alice_ex.create("Fine", at(1, 9), at(1, 10))

    world.set_salesforce_faults(fail_next_requests=1)
    with pytest.raises(SalesforceError):
        alice_sf.create_event(Subject="Unavailable", StartDateTime=at(1, 9), EndDateTime=at(1, 10))
    world.set_salesforce_faults(daily_budget=world.salesforce_stats()["api_usage"]["used"])
    with pytest.raises(SalesforceError, match="REQUEST_LIMIT_EXCEEDED"):
        alice_sf.events()
    world.set_salesforce_faults(daily_budget=100_000)

    now = world.advance_salesforce_clock(days=2)
    assert now - dt.datetime.now(dt.UTC) > dt.timedelta(days=1, hours=23)
    event_id = alice_sf.create_event(Subject="Later", StartDateTime=at(1, 9), EndDateTime=at(1, 10))
    assert alice_sf.get("Event", event_id)["SystemModstamp"] > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def test_reset_restores_the_empty_seed_and_defaults(world, sandboxes):
    world.outlook().create("Leftover", at(1, 9), at(1, 10))
    world.outlook().add_master_category("Leftover", 1)
    world.salesforce().create_event(Subject="Leftover", StartDateTime=at(1, 9), EndDateTime=at(1, 10))
    world.set_exchange_faults(latency_ms=5)
    world.set_salesforce_faults(latency_ms=5, api_used=99_000, daily_budget=99_500)
    world.advance_salesforce_clock(days=3)
    world.expire_salesforce_session(world.info["salesforce"]["users"][0]["session_id"])
    world.close()

    world.reset()
    assert world.outlook().items() == [] and world.outlook().master_categories() == {}
    assert world.salesforce().events() == []  # the expired fixed session works again
    assert world.exchange_log()["calls"] == []
    assert world.set_exchange_faults()["latency_ms"] == 0
    faults = world.set_salesforce_faults()
    assert (faults["latency_ms"], faults["daily_budget"]) == (0, 100_000) and faults["api_used"] < 10
    assert sandboxes.salesforce.clock_offset == dt.timedelta(0)


_LEAK: dict[str, str] = {}


def test_isolation_part_1_leaves_data_and_faults_behind(world):
    _LEAK["exchange"] = world.outlook().create("Leak", at(1, 9), at(1, 10))
    _LEAK["salesforce"] = world.salesforce().create_event(Subject="Leak", StartDateTime=at(1, 9), EndDateTime=at(1, 10))
    world.set_exchange_faults(http_503_next=5)
    world.set_salesforce_faults(fail_next_requests=5)


def test_isolation_part_2_sees_none_of_it(world):
    if not _LEAK:
        pytest.skip("runs after part 1 only")
    assert world.outlook().get(_LEAK["exchange"]) is None and world.outlook().items() == []
    assert world.salesforce().get("Event", _LEAK["salesforce"]) is None and world.salesforce().events() == []
    assert world.exchange_log()["calls"] == []


def test_meetings_delivered_to_an_attendee(world):
    alice, bob = world.outlook(), world.outlook(BOB.email)
    meeting = alice.create("QBR", at(3, 14), at(3, 15), attendees=[BOB.email], categories=())
    copy_id = world.deliver_meeting(meeting, BOB.email)
    copy = bob.get(copy_id)
    assert (copy["subject"], copy["organizer"], copy["my_response_type"]) == ("QBR", world.rep.email, "Accept")
    assert copy["uid"] == alice.get(meeting)["uid"] and copy["categories"] == []
    bob.add_category(copy_id, SALESFORCE_CATEGORY)  # the attendee shares it

    alice.edit(meeting, subject="QBR (moved)", start=at(4, 14), end=at(4, 15))
    assert world.deliver_meeting(meeting, BOB.email) == copy_id
    copy = bob.get(copy_id)
    assert (copy["subject"], copy["start"], copy["categories"]) == ("QBR (moved)", at(4, 14), [SALESFORCE_CATEGORY])

    alice.cancel(meeting)
    world.deliver_cancellation(copy_id)
    copy = bob.get(copy_id)
    assert copy["is_cancelled"] and copy["subject"] == "Canceled: QBR (moved)"


def test_sandbox_info_file_configures_the_settings(sandbox_settings, sandboxes):
    info = sandboxes.info
    assert sandbox_settings.salesforce_instance_url == info["salesforce"]["instance_url"]
    assert sandbox_settings.exchange_endpoint == info["exchange"]["endpoint"]
    assert sandbox_settings.exchange_username == info["exchange"]["service_account"]["username"]
    assert Settings.from_env(
        {"CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": sandbox_settings.sandbox_info}
    ).exchange_ca_file


def test_resets_keep_one_of_each_store_observer(world):
    """A reseeded store carries its observers over once: they doubled at every reset when two fixes of the same
    loss met (after 20 resets, a million observers per write)."""
    before = len(world.sandboxes.exchange.store.observers)
    for _ in range(3):
        world.reset()
    assert len(world.sandboxes.exchange.store.observers) == before
