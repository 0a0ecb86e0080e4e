"""Finding 7: lookups, linked names and shares are limited to the records the rep's own Salesforce user may
read (UserRecordAccess), not the integration user's view of the whole org."""

from __future__ import annotations

import pytest

from backend.globals import runtime_of
from sandbox.seed import ACCOUNTS, PEOPLE, REPS
from tests.backend.addin_fixtures import *  # noqa: F403
from tests.backend.addin_fixtures import add_mailbox
from tests.e2e.actors import at

ALICE, BOB = REPS[0], REPS[1]
WILE, ROAD = PEOPLE[0], PEOPLE[1]  # Contacts owned by Alice and by Bob (Contacts are private)
PETER, JOANNA = PEOPLE[4], PEOPLE[5]  # Leads owned by Alice and by Bob (Leads are private)
GLOBEX = ACCOUNTS[1][0]  # owned by Bob; Accounts are public read


def _auth(token_for, rep):
    return {"Authorization": f"Bearer {token_for(rep.email)}"}


def _names(answer) -> set[str]:
    assert answer.status_code == 200, answer.get_json()
    return {r["name"] for r in answer.get_json()["results"]}


@pytest.fixture
def bob(api_app):
    add_mailbox(runtime_of(api_app).settings, BOB.email, BOB.salesforce_user_id, BOB.timezone)
    return BOB


def _sees(api_client, token_for, rep) -> set[str]:
    found: set[str] = set()
    for text in ("coyote", "runner", "gibbons", "smith", "globex"):
        found |= _names(api_client.get(f"/api/v1/salesforce/lookup?q={text}", headers=_auth(token_for, rep)))
    return found


def test_lookups_list_only_what_each_rep_may_see(api_client, token_for, bob):
    assert _sees(api_client, token_for, ALICE) == {"Wile Coyote", "Peter Gibbons", "Globex Ltd"}
    # Bob's own Contact and Lead; the public-read Account for both.
    assert _sees(api_client, token_for, bob) == {"Road Runner", "Joanna Smith", "Globex Ltd"}


def test_a_share_naming_a_record_the_rep_cannot_see_is_refused(api_client, token_for, world):
    item_id = world.outlook().create("Pipeline review", at(2, 10), at(2, 11), categories=())
    auth = _auth(token_for, ALICE)
    for body in ({"whoIds": [JOANNA.salesforce_id]}, {"whoIds": [WILE.salesforce_id, ROAD.salesforce_id]},
                 {"whoIds": [PETER.salesforce_id], "whatId": None}):  # fmt: skip
        answer = api_client.put(f"/api/v1/items/{item_id}/share", json=body, headers=auth)
        if body["whoIds"] == [PETER.salesforce_id]:
            assert answer.status_code == 202, answer.get_json()  # her own Lead
            continue
        assert answer.status_code == 422, answer.get_json()
        assert answer.get_json()["error"]["code"] == "unknown_record"
    shown = api_client.get(f"/api/v1/items/{item_id}", headers=auth).get_json()
    assert [w["id"] for w in shown["who"]] == [PETER.salesforce_id]


def test_names_of_linked_records_the_rep_cannot_see_are_not_shown(api_client, token_for, world, engine):
    start = at(3, 10)
    world.salesforce().create_event(Subject="Linked in Salesforce", StartDateTime=start, EndDateTime=at(3, 11),
                                    OwnerId=ALICE.salesforce_user_id, WhoId=ROAD.salesforce_id,
                                    WhatId=GLOBEX)  # fmt: skip
    engine.sync()  # the Event comes down to Alice's calendar
    item = world.outlook().find("Linked in Salesforce")
    body = api_client.get(f"/api/v1/items/{item['id']}", headers=_auth(token_for, ALICE)).get_json()
    assert body["who"] == [{"id": ROAD.salesforce_id, "type": "Contact", "name": None, "detail": None}]
    assert body["what"]["name"] == "Globex Ltd"  # public read
