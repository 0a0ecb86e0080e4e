"""Graph only: the never-notify rule (docs/policies.md, "Never notify"); token expiry mid-session and the other
Graph-only cases are in tests/graph.

Graph cannot write a meeting without e-mailing its attendees, so the engine holds back what would. Each test
reads the sandboxes' meeting-message log (the ``engine`` fixture checks at teardown that no engine write sent a
message; the ``notify_attendees`` test expects one and checks it itself). The rep's own Outlook edits are made
through exchangelib on the shared store, and send invitations as Outlook does: the log marks them as the actors'.
"""

from __future__ import annotations

import pytest

from sandbox.seed import PEOPLE, REPS
from sync.planner.notify import WOULD_NOTIFY
from tests.e2e.actors import at

pytestmark = pytest.mark.parametrize("exchange_protocol", ["graph"])

WILE, ROAD = PEOPLE[0], PEOPLE[1]
ALICE, BOB = REPS[0], REPS[1]


def _notes(engine, code=WOULD_NOTIFY) -> list[str]:
    return [h.message for h in engine.health() if h.code == code]


def _meeting(world, subject: str, attendees: list[str]):
    """The rep organises a meeting in Outlook (invitations go out, as Outlook sends them) and shares it."""
    item_id = world.outlook().create(subject, at(3, 10), at(3, 11), attendees=attendees)
    return item_id


def test_an_organised_meeting_with_attendees_is_not_changed_or_deleted_from_salesforce(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    item_id = _meeting(world, "Steering group", [WILE.email, ROAD.email])
    engine.sync()
    event = sf.find_event("Steering group")
    assert event is not None

    sf.update("Event", event["Id"], Subject="Steering group (moved)", Location="Board room")
    held = engine.sync()
    assert held.status == "ok" and held.updated["exchange"] == 0, held.to_json()
    assert (outlook.get(item_id)["subject"], outlook.get(item_id)["location"]) == ("Steering group", None)
    [note] = _notes(engine)
    assert "would e-mail 2 attendees" in note and "change it in Outlook" in note
    assert engine.sync().writes == 0  # nothing retried blindly; the note stays open
    assert len(_notes(engine)) == 1

    # The rep makes the change in Outlook: the sides agree and the note closes.
    outlook.edit(item_id, subject="Steering group (moved)", location="Board room", send="SendToNone")
    engine.converge()
    assert _notes(engine) == []
    assert sf.get("Event", event["Id"])["Subject"] == "Steering group (moved)"

    # A Salesforce deletion under `delete` would cancel the meeting: held, unlinked, the meeting stays.
    engine.set_policy(salesforce_deletion="delete")
    sf.delete("Event", event["Id"])
    gone = engine.sync()
    assert gone.status == "ok" and gone.deleted["exchange"] == 0, gone.to_json()
    assert outlook.get(item_id) is not None
    [note] = _notes(engine)
    assert "deletion" in note and "2 attendees" in note
    assert [link.state for link in engine.links()] == ["unlinked"]
    assert engine.sync().writes == 0


def test_a_meeting_the_rep_attends_is_read_only_and_sends_nothing(engine, world):
    organiser = world.outlook(BOB.email)
    bob_item = organiser.create("Partner call", at(4, 15), at(4, 16), attendees=[ALICE.email], categories=())
    copy = world.deliver_meeting(bob_item, ALICE.email)
    world.outlook().add_category(copy, "Salesforce")
    engine.sync()
    event = world.salesforce().find_event("Partner call")
    assert event is not None
    world.salesforce().update("Event", event["Id"], Subject="Partner call (renamed)")
    result = engine.sync()
    assert result.updated["exchange"] == 0
    assert world.outlook().get(copy)["subject"] == "Partner call"
    assert _notes(engine, "exchange_read_only") and not _notes(engine)


def test_an_item_without_attendees_is_written_and_sends_nothing(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    item_id = outlook.create("Prep time", at(2, 9), at(2, 10))
    engine.sync()
    event = sf.find_event("Prep time")
    sf.update("Event", event["Id"], Subject="Prep time (longer)")
    assert engine.sync().updated["exchange"] == 1
    assert outlook.get(item_id)["subject"] == "Prep time (longer)"
    # A Salesforce Event with invitees comes down without attendees (Graph would invite them).
    created = sf.create_event(Subject="Site tour", StartDateTime=at(5, 9), EndDateTime=at(5, 10))
    sf.add_relation(created, WILE.salesforce_id)
    engine.set_policy(attendees_to_exchange=True)
    engine.sync()
    tour = outlook.find("Site tour")
    assert tour["attendees"] == [] and WILE.email in (tour["body"] or "")
    assert _notes(engine) == []


def test_notify_attendees_lets_the_write_through_and_the_log_shows_the_message(engine, world):
    engine.expect_meeting_messages = True  # this test checks the log itself
    outlook, sf = world.outlook(), world.salesforce()
    item_id = _meeting(world, "Quarterly business review", [WILE.email])
    engine.sync()
    assert world.engine_meeting_messages() == []
    engine.set_policy(notify_attendees=True)
    event = sf.find_event("Quarterly business review")
    sf.update("Event", event["Id"], Location="Acme HQ")
    assert engine.sync().updated["exchange"] == 1
    assert outlook.get(item_id)["location"] == "Acme HQ"
    [message] = world.engine_meeting_messages()
    assert (message["protocol"], message["kind"], message["recipients"]) == ("graph", "update", [WILE.email])
    assert _notes(engine) == []
