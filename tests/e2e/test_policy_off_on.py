"""A kind switched ``off`` and on again loses no edit (docs/policies.md "Switching a kind off and on again"),
through the real engine, clients and sandboxes.

While the kind is off, its sessions do not query it in Salesforce (its watermark stays) but the calendar cursor,
shared by every kind, moves past its Outlook edits; the first session with the kind on again reads Exchange from
scratch and plans against the links' bases, so an Outlook edit and a Salesforce edit made meanwhile both sync
(and the panel's preview of the switch says so, reading from scratch too).
"""

from __future__ import annotations

from collections import Counter

from sync import preview, preview_jobs, profiles
from sync.mailboxes import find
from sync.models import utcnow
from sync.policies import Direction, Policy
from tests.e2e.actors import at

QUERIES = ("query", "queryAll", "query_more")


def _queries(requests: Counter[str]) -> int:
    return sum(requests[name] for name in QUERIES)


def test_edits_made_while_the_kind_was_off_sync_when_it_is_on_again(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    edited_in_outlook = outlook.create("Edited in Outlook", at(2, 10), at(2, 11))
    edited_in_salesforce = outlook.create("Edited in Salesforce", at(3, 10), at(3, 11))
    engine.converge()
    event_id = sf.find_event("Edited in Salesforce")["Id"]
    assert sf.find_event("Edited in Outlook") is not None

    before = world.salesforce_requests()
    assert engine.sync().writes == 0  # a quiet session with the kind on: its cost, to compare with
    quiet = world.salesforce_requests() - before

    engine.set_policy(direction="off")
    before = world.salesforce_requests()
    assert engine.sync().writes == 0  # unlinks both pairs (sync made neither item): no remote write
    outlook.edit(edited_in_outlook, subject="Edited in Outlook (while off)")
    sf.update("Event", event_id, Subject="Edited in Salesforce (while off)")
    assert engine.sync().writes == 0  # reads the calendar past the Outlook edit, syncs nothing
    off = world.salesforce_requests() - before
    # Two sessions with Events off: not one Event feed query between them (Tasks, still on, are queried).
    assert _queries(off) == 2 * (_queries(quiet) - 1), (quiet, off)
    with engine.factory() as db:
        mailbox = find(db, engine.email)
        assert mailbox.kinds_off == ["event"] and "event" in mailbox.salesforce_watermarks

    # The panel's preview of switching Events on again reads as the session will: from scratch.
    with engine.factory() as db:
        mailbox = find(db, engine.email)
        change = preview_jobs.Change("policy", profiles.default_profile(db).id,
                                     policy=Policy(kind="event", direction=Direction.TWO_WAY).to_dict())  # fmt: skip
        policies, _ = preview_jobs.proposed_policies(db, mailbox, change)
        connectors = engine.connectors()
        planned = preview.preview_mailbox(db, mailbox, connectors["salesforce"], connectors["exchange"], policies,
                                          utcnow())  # fmt: skip
    assert planned.counts["updated"] == {"salesforce": 1, "exchange": 1}, planned.to_json()

    engine.set_policy(direction="two_way")
    result = engine.sync()
    assert (result.updated["salesforce"], result.updated["exchange"]) == (1, 1), result.to_json()
    assert planned.counts["created"] == result.created and planned.counts["deleted"] == result.deleted
    assert sf.get("Event", sf.find_event("Edited in Outlook (while off)")["Id"]) is not None
    assert sf.find_event("Edited in Outlook") is None
    assert outlook.get(edited_in_salesforce)["subject"] == "Edited in Salesforce (while off)"
    with engine.factory() as db:
        assert find(db, engine.email).kinds_off == []
    states = {link.sync_key: link.state for link in engine.links()}
    assert sorted(states.values()) == ["active", "active"], states  # linked again: later edits sync too

    outlook.edit(edited_in_salesforce, location="Room 4")
    assert engine.sync().updated["salesforce"] == 1
    assert sf.get("Event", event_id)["Location"] == "Room 4"
    assert engine.sync().writes == 0
