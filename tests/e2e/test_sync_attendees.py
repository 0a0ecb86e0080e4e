"""Attendees ⇄ WhoId and EventRelation invitees, and one meeting, one Event across reps (docs/policies.md,
docs/sync-model.md#mapping)."""

from sandbox.seed import PEOPLE, REPS
from tests.e2e.actors import at
from tests.e2e.engine import Engine

WILE, ROAD, _, _, PETER, JOANNA = PEOPLE  # Contacts Wile and Road, Leads Peter and Joanna
ALICE, BOB = REPS[0], REPS[1]
STRANGER = "stranger@nowhere.test"


def _invitees(sf, event_id):
    return sorted(r["RelationId"] for r in sf.relations(event_id) if r["IsInvitee"])


def _org_events(world, subject):
    return [e for e in world.salesforce_records("Event") if e["Subject"] == subject and not e["IsDeleted"]]


def test_matched_attendees_become_the_who_and_invitees_and_strangers_stay_in_outlook(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    meeting = outlook.create(
        "Acme review", at(2, 10), at(2, 11), attendees=[STRANGER, PETER.email, WILE.email, BOB.email]
    )
    first = engine.sync()
    event = sf.find_event("Acme review")
    assert event["WhoId"] == WILE.salesforce_id  # a Contact wins over a Lead
    assert _invitees(sf, event["Id"]) == sorted([WILE.salesforce_id, PETER.salesforce_id, BOB.salesforce_user_id])
    assert first.writes == 2  # one Event upsert, one invitee collection
    assert STRANGER in [a["email"].lower() for a in outlook.get(meeting)["attendees"]]
    assert engine.sync().writes == 0  # docs/invariants.md #9: what Salesforce holds of the attendees is no change
    world.assert_no_meeting_messages()


def test_attendee_changes_in_outlook_add_and_remove_invitees(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    meeting = outlook.create("Pipeline call", at(3, 9), at(3, 10), attendees=[PETER.email, ROAD.email])
    engine.sync()
    event_id = sf.find_event("Pipeline call")["Id"]
    assert _invitees(sf, event_id) == sorted([PETER.salesforce_id, ROAD.salesforce_id])
    outlook.edit(meeting, attendees=[ROAD.email, JOANNA.email], send="SendToNone")
    result = engine.sync()
    assert result.status == "ok"
    assert _invitees(sf, event_id) == sorted([ROAD.salesforce_id, JOANNA.salesforce_id])
    assert sf.get("Event", event_id)["WhoId"] == ROAD.salesforce_id  # the Who already on the Event stays
    assert engine.converge().writes == 0


def test_a_who_set_in_salesforce_is_kept_when_attendees_change(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    meeting = outlook.create("Internal sync", at(4, 9), at(4, 10), attendees=[STRANGER])
    engine.sync()
    event_id = sf.find_event("Internal sync")["Id"]
    assert sf.get("Event", event_id)["WhoId"] is None and _invitees(sf, event_id) == []
    sf.update("Event", event_id, WhoId=JOANNA.salesforce_id)
    engine.sync()
    outlook.edit(meeting, attendees=[STRANGER, WILE.email], send="SendToNone")
    engine.sync()
    assert sf.get("Event", event_id)["WhoId"] == JOANNA.salesforce_id
    assert _invitees(sf, event_id) == [WILE.salesforce_id]


def test_one_meeting_shared_by_two_reps_is_one_event_with_the_other_rep_invited(engine, world, sandbox_settings):
    bob_engine = Engine(sandbox_settings, world, BOB.email, protocol=engine.protocol)
    organizer = world.outlook()
    meeting = organizer.create("Joint pitch", at(5, 14), at(5, 15), attendees=[BOB.email, WILE.email])
    engine.sync()
    (event,) = _org_events(world, "Joint pitch")
    assert event["OwnerId"] == ALICE.salesforce_user_id

    bob_copy = world.deliver_meeting(meeting, BOB.email)
    world.outlook(BOB.email).add_category(bob_copy, "Salesforce")
    joined = bob_engine.sync()
    assert joined.status == "ok"
    assert [e["Id"] for e in _org_events(world, "Joint pitch")] == [event["Id"]]  # no second Event
    sf = world.salesforce()
    assert BOB.salesforce_user_id in _invitees(sf, event["Id"])
    assert bob_engine.sync().writes == 0 and engine.converge().writes == 0

    # Bob drops the meeting from his calendar: Alice's Event stays, only Bob's invitation goes.
    world.outlook(BOB.email).delete(bob_copy)
    bob_engine.sync()
    assert [e["Id"] for e in _org_events(world, "Joint pitch")] == [event["Id"]]
    assert _invitees(sf, event["Id"]) == [WILE.salesforce_id]
    world.assert_no_meeting_messages()


def test_an_attendee_copy_shared_first_makes_the_event_and_the_organizer_joins_it(engine, world, sandbox_settings):
    bob_engine = Engine(sandbox_settings, world, BOB.email, protocol=engine.protocol)
    meeting = world.outlook().create("Kick-off", at(6, 9), at(6, 10), attendees=[BOB.email], categories=())
    bob_copy = world.deliver_meeting(meeting, BOB.email)
    world.outlook(BOB.email).add_category(bob_copy, "Salesforce")
    bob_engine.sync()
    (event,) = _org_events(world, "Kick-off")
    assert event["OwnerId"] == BOB.salesforce_user_id  # the first sharer owns it

    world.outlook().add_category(meeting, "Salesforce")
    engine.sync()
    assert [e["Id"] for e in _org_events(world, "Kick-off")] == [event["Id"]]
    assert ALICE.salesforce_user_id in _invitees(world.salesforce(), event["Id"])


def test_salesforce_invitees_are_added_to_the_meeting_only_when_the_policy_says_so(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    meeting = outlook.create("Demo day", at(7, 10), at(7, 11), attendees=[WILE.email])
    engine.sync()
    event_id = sf.find_event("Demo day")["Id"]
    sf.add_relation(event_id, JOANNA.salesforce_id)
    engine.sync()
    assert sorted(a["email"] for a in outlook.get(meeting)["attendees"]) == [WILE.email]  # off by default

    engine.set_policy(attendees_to_exchange=True)
    sf.add_relation(event_id, ROAD.salesforce_id)
    engine.sync()
    # The Event's invitees come down with its next change: added, never removed, no invitation sent. Through
    # Graph, adding them would invite them: they never come down (docs/policies.md, "Never notify").
    expected = sorted([WILE.email, JOANNA.email, ROAD.email]) if engine.protocol == "ews" else [WILE.email]
    assert sorted(a["email"] for a in outlook.get(meeting)["attendees"]) == expected
    assert engine.converge().writes == 0
    world.assert_no_meeting_messages()
