"""The add-in API end to end: the real app, sandboxes over HTTP, a real database and RQ on the real Redis (db 11).

Share an item, run the queued session with an RQ worker, and find the Salesforce Event with the chosen Who/What;
unshare under both ``on_unshare`` policies; ids in EWS and REST form; another mailbox's item; lookups that try
SOQL injection; sync now and job progress; categories.
"""

from __future__ import annotations

import pytest

from sandbox.seed import ACCOUNTS, PEOPLE, REPS
from sync.policies import OnUnshare
from tests.backend.addin_fixtures import *  # noqa: F403
from tests.backend.addin_fixtures import add_mailbox
from tests.backend.test_openapi import response_errors
from tests.e2e.actors import at

CONTACT = PEOPLE[0]  # Wile Coyote, Contact at Acme
LEAD = PEOPLE[4]  # Peter Gibbons, Lead
ACCOUNT_ID = ACCOUNTS[0][0]


def rest_id(ews_id: str) -> str:
    return ews_id.replace("/", "-").replace("+", "_")


@pytest.fixture
def auth(token_for, world):
    return {"Authorization": f"Bearer {token_for(world.rep.email)}"}


def new_item(world, subject: str = "Pipeline review", **kwargs) -> str:
    return world.outlook().create(subject, at(2, 10), at(2, 11), categories=(), **kwargs)


def check(path: str, method: str, response) -> None:
    assert response_errors(path, method, response) == [], response.get_json()


def test_share_runs_a_session_that_creates_the_event_with_who_and_what(api_client, auth, world, run_worker):
    item_id = new_item(world)
    response = api_client.get(f"/api/v1/items/{rest_id(item_id)}", headers=auth)
    check("/items/{item_id}", "get", response)
    body = response.get_json()
    assert body["state"] == "not_shared" and body["item_id"] == item_id and not body["read_only"]

    response = api_client.put(
        f"/api/v1/items/{rest_id(item_id)}/share",
        json={"whoIds": [CONTACT.salesforce_id, LEAD.salesforce_id], "whatId": ACCOUNT_ID},
        headers=auth,
    )
    check("/items/{item_id}/share", "put", response)
    assert response.status_code == 202
    answer = response.get_json()
    assert answer["item"]["state"] == "pending"
    assert [w["name"] for w in answer["item"]["who"]] == ["Wile Coyote", "Peter Gibbons"]
    assert answer["item"]["what"]["name"] == "Acme Corporation"
    assert answer["job"]["status"] == "enqueued"
    # The category went on the item server-side, through EWS.
    assert "Salesforce" in world.outlook().get(item_id)["categories"]

    assert run_worker() == 1
    event = world.salesforce().find_event("Pipeline review")
    assert event is not None
    assert event["WhoId"] == CONTACT.salesforce_id and event["WhatId"] == ACCOUNT_ID
    # WhoId holds the first Who; the further ones are EventRelation rows that are not invitees.
    relations = world.salesforce().relations(event["Id"])
    assert [(r["RelationId"], r["IsInvitee"]) for r in relations] == [(LEAD.salesforce_id, False)]

    response = api_client.get(f"/api/v1/items/{item_id}", headers=auth)
    check("/items/{item_id}", "get", response)
    body = response.get_json()
    assert body["state"] == "synced" and body["salesforce"]["id"] == event["Id"]
    assert body["salesforce"]["url"].endswith(f"/lightning/r/Event/{event['Id']}/view")
    assert body["last_sync"]["status"] == "ok"
    assert body["what"]["id"] == ACCOUNT_ID


def test_changing_who_and_what_of_a_synced_item_updates_the_event(api_client, auth, world, run_worker, engine):
    item_id = world.outlook().create("Renewal call", at(3, 9), at(3, 10))  # tagged by hand
    engine.sync()
    event = world.salesforce().find_event("Renewal call")
    assert event["WhoId"] is None
    response = api_client.put(
        f"/api/v1/items/{item_id}/share", json={"whoIds": [CONTACT.salesforce_id], "whatId": None}, headers=auth
    )
    assert response.status_code == 202
    run_worker()
    assert world.salesforce().get("Event", event["Id"])["WhoId"] == CONTACT.salesforce_id
    assert len(world.salesforce().events()) == 1


@pytest.mark.parametrize("on_unshare", [OnUnshare.KEEP_SALESFORCE, OnUnshare.DELETE_SALESFORCE])
def test_unshare_follows_the_policy(api_client, auth, world, run_worker, engine, on_unshare):
    engine.set_policy(on_unshare=on_unshare)
    item_id = new_item(world, "Quarterly review")
    api_client.put(f"/api/v1/items/{item_id}/share", json={"whoIds": []}, headers=auth)
    run_worker()
    event = world.salesforce().find_event("Quarterly review")
    assert event is not None

    response = api_client.delete(f"/api/v1/items/{rest_id(item_id)}/share", headers=auth)
    check("/items/{item_id}/share", "delete", response)
    assert response.status_code == 200
    answer = response.get_json()
    assert ("stays" in answer["message"]) is (on_unshare is OnUnshare.KEEP_SALESFORCE)
    assert "Salesforce" not in (world.outlook().get(item_id)["categories"] or [])
    run_worker()
    kept = world.salesforce().get("Event", event["Id"])
    assert (kept is not None) is (on_unshare is OnUnshare.KEEP_SALESFORCE)
    body = api_client.get(f"/api/v1/items/{item_id}", headers=auth).get_json()
    assert body["state"] == "not_shared" and body["salesforce"] is None


def test_another_mailbox_item_is_forbidden(api_client, auth, world, addin_settings):
    other = REPS[1]
    add_mailbox(addin_settings, other.email, other.salesforce_user_id, other.timezone)
    theirs = world.outlook(other.email).create("Bob's 1:1", at(1, 9), at(1, 10), categories=())
    for method, path in (("get", ""), ("put", "/share"), ("delete", "/share")):
        response = api_client.open(f"/api/v1/items/{rest_id(theirs)}{path}", method=method.upper(), headers=auth,
                                   json={"whoIds": []})  # fmt: skip
        assert response.status_code == 403, (method, response.get_json())
        check("/items/{item_id}" + path, method, response)
    assert world.outlook(other.email).get(theirs)["categories"] in (None, [])


@pytest.mark.parametrize(
    ("item_id", "status"),
    [("not-an-id", 400), ("A" * 30 + "%27%3B", 400), ("AAMkADAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAB=", 404)],
)
def test_bad_item_ids_are_4xx(api_client, auth, item_id, status):
    response = api_client.get(f"/api/v1/items/{item_id}", headers=auth)
    assert response.status_code == status
    check("/items/{item_id}", "get", response)


def test_share_validates_the_body_and_the_records(api_client, auth, world):
    item_id = new_item(world)
    cases = [
        ({"whoIds": "003000000000000001"}, 400),
        ({"whoIds": [ACCOUNT_ID]}, 400),
        ({"whatId": CONTACT.salesforce_id}, 400),
        ({"who": []}, 400),
        ({"whoIds": ["003000000000000999"]}, 422),
    ]
    for body, status in cases:
        response = api_client.put(f"/api/v1/items/{item_id}/share", json=body, headers=auth)
        assert response.status_code == status, (body, response.get_json())
        check("/items/{item_id}/share", "put", response)
    assert world.outlook().get(item_id)["categories"] in (None, [])


def test_read_only_kinds_cannot_be_shared(api_client, auth, world, engine):
    engine.set_policy(direction="downsync_only")
    item_id = new_item(world)
    response = api_client.put(f"/api/v1/items/{item_id}/share", json={}, headers=auth)
    assert response.status_code == 409
    check("/items/{item_id}/share", "put", response)
    body = api_client.get(f"/api/v1/items/{item_id}", headers=auth).get_json()
    assert body["read_only"] and "Salesforce to Outlook only" in body["read_only_reason"]


def test_lookup_finds_records_and_is_safe_against_soql_injection(api_client, auth):
    response = api_client.get("/api/v1/salesforce/lookup?q=coy", headers=auth)
    check("/salesforce/lookup", "get", response)
    assert [r["name"] for r in response.get_json()["results"]] == ["Wile Coyote"]
    response = api_client.get("/api/v1/salesforce/lookup?q=acme&types=Account", headers=auth)
    assert [(r["type"], r["name"]) for r in response.get_json()["results"]] == [("Account", "Acme Corporation")]
    for attack in ("x' OR Name LIKE '", "%%", "__", "\\' OR Id != null OR Name = \\'"):
        response = api_client.get("/api/v1/salesforce/lookup", query_string={"q": attack}, headers=auth)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["results"] == [], attack
    for query in ({"q": "a"}, {"q": "ab", "types": "User"}, {"q": "ab", "types": "Contact,Event"}):
        response = api_client.get("/api/v1/salesforce/lookup", query_string=query, headers=auth)
        assert response.status_code == 400
        check("/salesforce/lookup", "get", response)


def test_sync_now_and_job_progress(api_client, auth, world, run_worker):
    world.outlook().create("Tagged by hand", at(1, 14), at(1, 15))
    response = api_client.post("/api/v1/sync", headers=auth)
    check("/sync", "post", response)
    job = response.get_json()
    assert response.status_code == 202 and job["status"] == "enqueued"
    assert api_client.post("/api/v1/sync", headers=auth).get_json()["status"] == "duplicate"
    response = api_client.get(f"/api/v1/jobs/{job['id']}", headers=auth)
    check("/jobs/{job_ref}", "get", response)
    assert response.get_json()["status"] == "queued" and response.get_json()["running"]
    run_worker()
    response = api_client.get(f"/api/v1/jobs/{job['id']}", headers=auth)
    check("/jobs/{job_ref}", "get", response)
    body = response.get_json()
    assert not body["running"] and body["last_session"]["status"] == "ok"
    assert world.salesforce().find_event("Tagged by hand") is not None
    assert api_client.get("/api/v1/jobs/sync-999999", headers=auth).status_code == 403
    assert api_client.get("/api/v1/jobs/whatever", headers=auth).status_code == 404


def test_a_failed_session_is_reported_in_plain_words(api_client, auth, world, run_worker, addin_settings):
    item_id = new_item(world, "Board meeting")
    job = api_client.put(f"/api/v1/items/{item_id}/share", json={}, headers=auth).get_json()["job"]
    assert world.expire_salesforce_session(addin_settings.salesforce_access_token)
    run_worker()
    response = api_client.get(f"/api/v1/jobs/{job['id']}", headers=auth)
    check("/jobs/{job_ref}", "get", response)
    assert "Ask your admin to reconnect Salesforce" in response.get_json()["error"]
    response = api_client.get(f"/api/v1/items/{item_id}", headers=auth)
    check("/items/{item_id}", "get", response)
    body = response.get_json()
    assert body["state"] == "pending" and body["last_sync"]["status"] == "failed"
    assert [h["code"] for h in body["health"]] == ["salesforce_auth_failed"]


def test_categories_follow_the_policies(api_client, auth, engine):
    response = api_client.get("/api/v1/categories", headers=auth)
    check("/categories", "get", response)
    names = {c["name"]: c for c in response.get_json()["categories"]}
    assert names["Salesforce"]["color"] == 7 and not names["Salesforce"]["read_only"]
    assert names["SF Task"]["read_only"]


def test_a_share_request_waits_for_a_session_whose_writes_land(api_client, auth, world, run_worker, engine):
    """The Who/What of a share must survive a session that could not create the Event (a locked row): the
    request is consumed only when the session's Exchange cursor moves past the item."""
    item_id = new_item(world, "Site walk")
    api_client.put(f"/api/v1/items/{item_id}/share", json={"whoIds": [LEAD.salesforce_id]}, headers=auth)
    world.set_salesforce_faults(fail_next_writes=1)
    run_worker()
    assert world.salesforce().find_event("Site walk") is None
    assert api_client.get(f"/api/v1/items/{item_id}", headers=auth).get_json()["who"][0]["id"] == LEAD.salesforce_id
    engine.sync()
    assert world.salesforce().find_event("Site walk")["WhoId"] == LEAD.salesforce_id
    body = api_client.get(f"/api/v1/items/{item_id}", headers=auth).get_json()
    assert body["state"] == "synced" and [w["name"] for w in body["who"]] == ["Peter Gibbons"]
