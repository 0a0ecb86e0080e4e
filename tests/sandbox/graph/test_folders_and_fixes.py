"""Sandbox behaviour the Graph connector relies on (added with it, issue 16): percent-encoded ``$batch`` item
urls, all-day events where a zone skips midnight, and the Deleted Items lookup through ``mailFolders``."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from .conftest import event_body

KEY_ID = "String {3f0d1c4e-6a5b-4c1e-9d7a-0c5a1ca15c01} Name CalSyncKey"


def test_batch_item_urls_are_percent_decoded(graph, mailboxes, window):
    user = mailboxes[0]
    answer = graph.post("/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": f"/users/{quote(user)}/calendarView?startDateTime="
         f"{window[0]:%Y-%m-%dT%H:%M:%SZ}&endDateTime={window[1]:%Y-%m-%dT%H:%M:%SZ}"},
    ]})  # fmt: skip
    assert answer.status_code == 200
    [item] = answer.json()["responses"]
    assert item["status"] == 200, item


def test_an_all_day_event_starts_at_the_first_instant_of_a_day_without_midnight(graph, mailboxes):
    # America/Santiago springs forward at 00:00 on 2027-09-05: that day starts at 01:00 (04:00 UTC).
    body = {
        "subject": "Santiago offsite",
        "isAllDay": True,
        "start": {"dateTime": "2027-09-05T00:00:00", "timeZone": "Pacific SA Standard Time"},
        "end": {"dateTime": "2027-09-06T00:00:00", "timeZone": "Pacific SA Standard Time"},
    }
    made = graph.post(f"/users/{mailboxes[0]}/events", json=body)
    assert made.status_code == 201, made.text
    event = made.json()
    assert event["start"]["dateTime"].startswith("2027-09-05T04:00:00")
    assert event["end"]["dateTime"].startswith("2027-09-06T03:00:00")
    # An instant that is not a day's start is still refused.
    body["start"] = {"dateTime": "2027-09-05T02:00:00", "timeZone": "Pacific SA Standard Time"}
    refused = graph.post(f"/users/{mailboxes[0]}/events", json=body)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "ErrorInvalidRequest"


def test_deleted_events_are_found_by_their_key_in_deleted_items(graph, mailboxes, window):
    user = mailboxes[0]
    key = str(uuid.uuid4())
    body = event_body(window[0], "To be deleted", singleValueExtendedProperties=[{"id": KEY_ID, "value": key}])
    headers = {"Prefer": 'IdType="ImmutableId"'}
    event = graph.post(f"/users/{user}/events", json=body, headers=headers).json()
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{KEY_ID}' and ep/value eq '{key}')"
    folder = f"/users/{user}/mailFolders/deleteditems/messages"
    assert graph.get(folder, params={"$filter": flt}, headers=headers).json()["value"] == []
    assert graph.delete(f"/users/{user}/events/{event['id']}").status_code == 204
    found = graph.get(folder, params={"$filter": flt, "$select": "id,subject"}, headers=headers).json()["value"]
    assert [(m["id"], m["subject"], m["@odata.type"]) for m in found] == [
        (event["id"], "To be deleted", "#microsoft.graph.message")
    ]
    assert graph.get(f"/users/{user}/events", params={"$filter": flt}).json()["value"] == []
    missing = graph.get(f"/users/{user}/mailFolders/nosuchfolder/messages")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorFolderNotFound"
