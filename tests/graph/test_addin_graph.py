"""The add-in API for a mailbox on Microsoft Graph: ``/api/v1/items/{id}`` with the ids Office.js gives (EWS or
REST form) or immutable ids, ownership checked by reading through Graph as the caller's mailbox (403 for
another mailbox's item), share and unshare putting the category on through Graph, and the queued session
running over Graph. The real app, sandboxes over HTTPS, RQ on the real Redis (db 11)."""

from __future__ import annotations

import pytest

from sandbox.seed import PEOPLE, REPS
from sync import mailboxes
from sync.runtime import Runtime
from tests.backend.addin_fixtures import *  # noqa: F403
from tests.backend.addin_fixtures import add_mailbox
from tests.backend.test_openapi import response_errors
from tests.e2e.actors import at

CONTACT = PEOPLE[0]


def rest_id(ews_id: str) -> str:
    return ews_id.replace("/", "-").replace("+", "_")


def on_graph(settings, *emails: str) -> None:
    runtime = Runtime.build(settings)
    with runtime.session_factory() as db:
        for email in emails:
            mailboxes.find(db, email).backend = "graph"
        db.commit()
    runtime.close()


def immutable_id(settings, email: str, ews_id: str) -> str:
    runtime = Runtime.build(settings)
    ids = runtime.graph_ids(email, settings)
    try:
        return ids.translate([ews_id], "ewsId", "restImmutableEntryId").ids[ews_id]
    finally:
        ids.close()
        runtime.close()


@pytest.fixture
def auth(token_for, world, addin_settings, engine):  # noqa: F811
    on_graph(addin_settings, world.rep.email)
    return {"Authorization": f"Bearer {token_for(world.rep.email)}"}


def check(path: str, method: str, response) -> None:
    assert response_errors(path, method, response) == [], response.get_json()


def test_an_item_is_found_by_any_id_form_and_keyed_on_its_immutable_id(api_client, auth, world, addin_settings):
    ews_id = world.outlook().create("Graph pipeline review", at(2, 10), at(2, 11), categories=())
    immutable = immutable_id(addin_settings, world.rep.email, ews_id)
    for given in (ews_id, rest_id(ews_id), immutable):
        response = api_client.get(f"/api/v1/items/{given}", headers=auth)
        check("/items/{item_id}", "get", response)
        body = response.get_json()
        assert response.status_code == 200, body
        assert body["item_id"] == immutable and body["subject"] == "Graph pipeline review"
        assert body["state"] == "not_shared"


def test_share_and_unshare_through_graph(api_client, auth, world, run_worker, addin_settings):
    ews_id = world.outlook().create("Graph renewal", at(3, 9), at(3, 10), categories=())
    response = api_client.put(f"/api/v1/items/{rest_id(ews_id)}/share", json={"whoIds": [CONTACT.salesforce_id]},
                              headers=auth)  # fmt: skip
    check("/items/{item_id}/share", "put", response)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["item"]["state"] == "pending"
    assert "Salesforce" in world.outlook().get(ews_id)["categories"]  # written through Graph, same store
    assert run_worker() == 1  # the session runs over Graph (the mailbox's backend)
    event = world.salesforce().find_event("Graph renewal")
    assert event is not None and event["WhoId"] == CONTACT.salesforce_id
    body = api_client.get(f"/api/v1/items/{ews_id}", headers=auth).get_json()
    assert body["state"] == "synced" and body["salesforce"]["id"] == event["Id"]

    response = api_client.delete(f"/api/v1/items/{rest_id(ews_id)}/share", headers=auth)
    check("/items/{item_id}/share", "delete", response)
    assert response.status_code == 200
    assert "Salesforce" not in (world.outlook().get(ews_id)["categories"] or [])
    run_worker()
    assert api_client.get(f"/api/v1/items/{ews_id}", headers=auth).get_json()["state"] == "not_shared"
    world.assert_no_meeting_messages(strict=False)


def test_another_mailbox_item_is_forbidden_through_graph(api_client, auth, world, addin_settings):
    other = REPS[1]
    add_mailbox(addin_settings, other.email, other.salesforce_user_id, other.timezone)
    on_graph(addin_settings, other.email)
    theirs = world.outlook(other.email).create("Bob's Graph 1:1", at(1, 9), at(1, 10), categories=())
    for given in (rest_id(theirs), immutable_id(addin_settings, other.email, theirs)):
        for method, path in (("get", ""), ("put", "/share"), ("delete", "/share")):
            response = api_client.open(f"/api/v1/items/{given}{path}", method=method.upper(), headers=auth,
                                       json={"whoIds": []})  # fmt: skip
            assert response.status_code == 403, (method, response.get_json())
            assert response.get_json()["error"]["code"] == "not_your_item"
            check("/items/{item_id}" + path, method, response)
    assert world.outlook(other.email).get(theirs)["categories"] in (None, [])


def test_a_gone_item_is_404_and_a_mailbox_outside_the_app_scope_is_503(api_client, auth, world, addin_settings):
    ews_id = world.outlook().create("Soon gone", at(1, 9), at(1, 10), categories=())
    world.outlook().delete(ews_id, hard=True)
    response = api_client.get(f"/api/v1/items/{rest_id(ews_id)}", headers=auth)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "item_not_found"
    check("/items/{item_id}", "get", response)
    kept = world.outlook().create("Out of scope", at(1, 11), at(1, 12), categories=())
    import requests

    graph = world.info["graph"]
    admin = requests.put(graph["admin_url"] + "/scopes", json={graph["client_id"]: [REPS[1].email]},
                         verify=graph["ca_file"], timeout=30)  # fmt: skip
    admin.raise_for_status()
    try:
        response = api_client.get(f"/api/v1/items/{rest_id(kept)}", headers=auth)
        assert response.status_code == 503, response.get_json()
        assert response.get_json()["error"]["code"] == "graph_mailbox_not_in_scope"
        check("/items/{item_id}", "get", response)
    finally:
        requests.put(graph["admin_url"] + "/scopes", json={graph["client_id"]: None}, verify=graph["ca_file"],
                     timeout=30)  # fmt: skip
