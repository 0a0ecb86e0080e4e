"""Events: GET with extended properties, the extended-property filter, POST/PATCH/DELETE semantics, recurrence,
validation, the meeting-message log, access scope and mailbox kinds."""

import datetime as dt

import pytest

from .conftest import check_event, event_body, iso

KEY_ID = "String {3f0d1c4e-6a5b-4c1e-9d7a-0c5a1ca15c01} Name CalSyncKey"
EXPAND = {"$expand": f"singleValueExtendedProperties($filter=id eq '{KEY_ID}')"}


def _error(answer) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def test_extended_property_written_in_post_is_read_with_expand_and_found_by_filter(graph, mailboxes, window):
    user = mailboxes[0]
    body = event_body(
        window[0] + dt.timedelta(days=1), "keyed", singleValueExtendedProperties=[{"id": KEY_ID, "value": "SF-00U-AbC"}]
    )
    made = graph.post(f"/users/{user}/events", json=body).json()
    assert "singleValueExtendedProperties" not in made
    got = check_event(graph.get(f"/users/{user}/events/{made['id']}", params=EXPAND).json())
    assert got["singleValueExtendedProperties"] == [{"id": KEY_ID, "value": "SF-00U-AbC"}]
    # Without the property, the expansion is left out.
    plain = graph.post(f"/users/{user}/events", json=event_body(window[0], "plain")).json()
    assert "singleValueExtendedProperties" not in graph.get(f"/users/{user}/events/{plain['id']}", params=EXPAND).json()

    def find(prop_id, value):
        flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop_id}' and ep/value eq '{value}')"
        answer = graph.get(f"/users/{user}/events", params={"$filter": flt})
        assert answer.status_code == 200, answer.text
        return [e["id"] for e in answer.json()["value"]]

    assert find(KEY_ID, "SF-00U-AbC") == [made["id"]]
    assert find(KEY_ID, "sf-00u-abc") == [made["id"]]  # the value compares case-insensitively
    assert find(KEY_ID.replace("CalSyncKey", "calsynckey"), "SF-00U-AbC") == []  # the name does not


def test_post_is_deduplicated_by_transaction_id(graph, mailboxes, window):
    user = mailboxes[0]
    body = event_body(window[0] + dt.timedelta(days=2), "once", transactionId="tx-15-once")
    first = graph.post(f"/users/{user}/events", json=body)
    assert first.status_code == 201 and first.json()["transactionId"] == "tx-15-once"
    retry = graph.post(f"/users/{user}/calendar/events", json=body)
    assert _error(retry) == (400, "ErrorDuplicateTransactionId")
    subjects = [e["subject"] for e in graph.get(f"/users/{user}/events", params={"$top": 1000}).json()["value"]]
    assert subjects.count("once") == 1


def test_patch_changes_only_given_properties_and_checks_the_etag(graph, mailboxes, window):
    user = mailboxes[0]
    made = graph.post(
        f"/users/{user}/events",
        json=event_body(
            window[0] + dt.timedelta(days=3),
            "patch me",
            categories=["Blue category"],
            sensitivity="private",
            showAs="tentative",
            body={"contentType": "text", "content": "notes"},
        ),
    ).json()
    changed = graph.patch(
        f"/users/{user}/events/{made['id']}", json={"subject": "patched"}, headers={"If-Match": made["@odata.etag"]}
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["subject"] == "patched"
    assert (after["categories"], after["sensitivity"], after["showAs"], after["body"]["content"]) == (
        ["Blue category"],
        "private",
        "tentative",
        "notes",
    )
    assert after["start"] == made["start"] and after["@odata.etag"] != made["@odata.etag"]
    stale = graph.patch(
        f"/users/{user}/events/{made['id']}", json={"subject": "lost"}, headers={"If-Match": made["@odata.etag"]}
    )
    assert _error(stale) == (412, "ErrorIrresolvableConflict")
    assert graph.get(f"/users/{user}/events/{made['id']}").json()["subject"] == "patched"


def test_delete_then_not_found_and_malformed_ids(graph, mailboxes, window):
    user = mailboxes[0]
    made = graph.post(f"/users/{user}/events", json=event_body(window[0], "bye")).json()
    assert graph.delete(f"/users/{user}/events/{made['id']}").status_code == 204
    assert _error(graph.get(f"/users/{user}/events/{made['id']}")) == (404, "ErrorItemNotFound")
    assert _error(graph.delete(f"/users/{user}/events/{made['id']}")) == (404, "ErrorItemNotFound")
    assert _error(graph.get(f"/users/{user}/events/not-an-id")) == (400, "ErrorInvalidIdMalformed")
    other = graph.post(f"/users/{mailboxes[1]}/events", json=event_body(window[0], "elsewhere")).json()
    assert _error(graph.get(f"/users/{user}/events/{other['id']}"))[0] == 404


@pytest.mark.parametrize(
    "change, code",
    [
        ({"sensitivity": "secret"}, "RequestBodyRead"),
        ({"showAs": "away"}, "RequestBodyRead"),
        ({"colour": "red"}, "RequestBodyRead"),
        ({"start": {"dateTime": "2031-01-01T10:00:00", "timeZone": "Mars/Olympus"}}, "TimeZoneNotSupportedException"),
        ({"end": {"dateTime": "2000-01-01T00:00:00", "timeZone": "UTC"}}, "ErrorCalendarEndDateIsEarlierThanStartDate"),
        ({"isAllDay": True}, "ErrorInvalidRequest"),
    ],
)
def test_invalid_writes_are_400_and_leave_the_event_alone(graph, mailboxes, window, change, code):
    user = mailboxes[0]
    made = graph.post(f"/users/{user}/events", json=event_body(window[0] + dt.timedelta(hours=9), "valid")).json()
    answer = graph.patch(f"/users/{user}/events/{made['id']}", json=change)
    assert _error(answer) == (400, code)
    assert graph.get(f"/users/{user}/events/{made['id']}").json()["changeKey"] == made["changeKey"]


def test_all_day_events_are_midnight_to_midnight_in_one_zone(graph, mailboxes, window):
    user = mailboxes[0]
    day = window[0].date() + dt.timedelta(days=4)
    body = {
        "subject": "offsite",
        "isAllDay": True,
        "start": {"dateTime": f"{day}T00:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": f"{day + dt.timedelta(days=1)}T00:00:00", "timeZone": "W. Europe Standard Time"},
    }
    made = graph.post(f"/users/{user}/events", json=body)
    assert made.status_code == 201, made.text
    local = graph.get(
        f"/users/{user}/events/{made.json()['id']}", headers={"Prefer": 'outlook.timezone="W. Europe Standard Time"'}
    ).json()
    assert local["isAllDay"] and local["start"]["dateTime"] == f"{day}T00:00:00.0000000"
    mixed = dict(body, end={"dateTime": f"{day + dt.timedelta(days=1)}T00:00:00", "timeZone": "UTC"})
    assert _error(graph.post(f"/users/{user}/events", json=mixed)) == (400, "ErrorInvalidRequest")


def test_recurrence_patterns_round_trip_and_occurrences_cannot_cross_neighbours(graph, mailboxes, window):
    user = mailboxes[1]
    start = window[0] + dt.timedelta(days=1, hours=9)
    patterns = [
        {"type": "weekly", "interval": 1, "daysOfWeek": [start.strftime("%A").lower()], "firstDayOfWeek": "monday"},
        {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": start.day},
        {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["monday"], "index": "last", "month": 5},
    ]
    for pattern in patterns:
        rec = {
            "pattern": pattern,
            "range": {
                "type": "endDate",
                "startDate": start.date().isoformat(),
                "endDate": (start + dt.timedelta(days=800)).date().isoformat(),
            },
        }
        made = graph.post(f"/users/{user}/events", json=event_body(start, "rec", recurrence=rec))
        assert made.status_code == 201, made.text
        got = made.json()["recurrence"]
        assert {k: got["pattern"][k] for k in pattern} == pattern
        assert got["range"]["type"] == "endDate" and got["range"]["endDate"] == rec["range"]["endDate"]
    daily = {
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "numbered", "startDate": start.date().isoformat(), "numberOfOccurrences": 3},
    }
    master = graph.post(f"/users/{user}/events", json=event_body(start, "daily", recurrence=daily)).json()
    occurrences = graph.get(
        f"/users/{user}/events/{master['id']}/instances",
        params={"startDateTime": iso(window[0]), "endDateTime": iso(window[1])},
    ).json()["value"]
    middle = occurrences[1]
    crossing = graph.patch(
        f"/users/{user}/events/{middle['id']}", json=event_body(start + dt.timedelta(days=2, hours=1), "too far")
    )
    assert _error(crossing) == (400, "ErrorOccurrenceCrossingBoundary")
    # An occurrence's location cleared stays empty there (the master's does not show through), as on EWS.
    graph.patch(f"/users/{user}/events/{master['id']}", json={"location": {"displayName": "Room 4"}})
    cleared = graph.patch(f"/users/{user}/events/{middle['id']}", json={"location": {"displayName": ""}})
    assert cleared.status_code == 200, cleared.text
    assert graph.get(f"/users/{user}/events/{middle['id']}").json()["location"]["displayName"] == ""
    assert graph.get(f"/users/{user}/events/{occurrences[0]['id']}").json()["location"]["displayName"] == "Room 4"
    bad = graph.post(
        f"/users/{user}/events",
        json=event_body(
            start,
            "bad",
            recurrence={"pattern": {"type": "hourly"}, "range": {"type": "noEnd", "startDate": "2031-01-01"}},
        ),
    )
    assert _error(bad) == (400, "RequestBodyRead")
    assert _error(graph.get(f"/users/{user}/events/{master['id']}/instances")) == (400, "ErrorInvalidParameter")


def test_writes_that_notify_attendees_are_in_the_meeting_message_log(graph, mailboxes, window):
    user = mailboxes[0]
    attendees = [
        {"type": "required", "emailAddress": {"address": mailboxes[1]}},
        {"type": "optional", "emailAddress": {"address": "wile.coyote@acme.test", "name": "Wile"}},
    ]
    meeting = graph.post(
        f"/users/{user}/events", json=event_body(window[0] + dt.timedelta(days=5), "meeting", attendees=attendees)
    ).json()
    check_event(meeting)
    assert [a["type"] for a in meeting["attendees"]] == ["required", "optional"]
    assert meeting["isOrganizer"] and meeting["organizer"]["emailAddress"]["address"] == user
    alone = graph.post(f"/users/{user}/events", json=event_body(window[0], "alone")).json()
    graph.patch(f"/users/{user}/events/{meeting['id']}", json={"categories": ["Salesforce"]}).raise_for_status()
    graph.patch(f"/users/{user}/events/{alone['id']}", json={"subject": "still alone"}).raise_for_status()
    graph.delete(f"/users/{user}/events/{meeting['id']}")
    log = graph.control("GET", "/messages")
    mine = [c for c in log["calls"] if c.get("protocol") == "graph" and c["subject"] in ("meeting", "still alone")]
    sent = [(c["kind"], sorted(c["recipients"])) for c in mine if c["sent"]]
    recipients = sorted([mailboxes[1], "wile.coyote@acme.test"])
    assert sent == [("invitation", recipients), ("update", recipients), ("cancellation", recipients)]
    assert [c["sent"] for c in mine if c["subject"] == "still alone"] == [False]
    assert any(c["subject"] == "meeting" for c in log["invitations"])


def test_master_categories_share_the_ews_category_list(graph, mailboxes):
    user = mailboxes[2]
    made = graph.post(f"/users/{user}/outlook/masterCategories", json={"displayName": "Graph cat", "color": "preset3"})
    assert made.status_code == 201, made.text
    cat = made.json()
    assert cat["color"] == "preset3"
    duplicate = graph.post(f"/users/{user}/outlook/masterCategories", json={"displayName": "graph CAT"})
    assert duplicate.status_code == 409
    rename = graph.patch(f"/users/{user}/outlook/masterCategories/{cat['id']}", json={"displayName": "renamed"})
    assert rename.status_code == 400
    recolor = graph.patch(f"/users/{user}/outlook/masterCategories/{cat['id']}", json={"color": "preset9"})
    assert recolor.json()["color"] == "preset9"
    names = [c["displayName"] for c in graph.get(f"/users/{user}/outlook/masterCategories").json()["value"]]
    assert "Graph cat" in names
    assert graph.delete(f"/users/{user}/outlook/masterCategories/{cat['id']}").status_code == 204
    assert graph.get(f"/users/{user}/outlook/masterCategories/{cat['id']}").status_code == 404


def test_rbac_scope_on_premises_and_unknown_users(graph, info, mailboxes):
    allowed, denied = mailboxes[0], mailboxes[1]
    graph.control("PUT", "/scopes", {info["client_id"]: [allowed]})
    assert graph.get(f"/users/{allowed}/events").status_code == 200
    assert _error(graph.get(f"/users/{denied}/events")) == (403, "ErrorAccessDenied")
    graph.control("PUT", "/scopes", {info["client_id"]: None})
    assert graph.get(f"/users/{denied}/events").status_code == 200
    on_prem = info["on_premises"][0]
    assert _error(graph.get(f"/users/{on_prem}/events")) == (404, "MailboxNotEnabledForRESTAPI")
    assert _error(graph.get("/users/nobody@calsync.example/events")) == (404, "ErrorInvalidUser")
    by_id = graph.get(f"/users/{info['mailboxes'][0]['id']}")
    assert by_id.json()["mail"] == info["mailboxes"][0]["email"]
    assert _error(graph.get("/me/events")) == (400, "BadRequest")


def test_calendar_view_lists_instances_in_the_window(graph, mailboxes, window):
    user = mailboxes[2]
    for i in range(3):
        graph.post(f"/users/{user}/events", json=event_body(window[0] + dt.timedelta(days=i + 1), f"cv{i}"))
    answer = graph.get(
        f"/users/{user}/calendarView",
        params={"startDateTime": iso(window[0]), "endDateTime": iso(window[1]), "$top": 2},
    ).json()
    assert [e["subject"] for e in answer["value"]] == ["cv0", "cv1"]
    assert [e["subject"] for e in graph.get(answer["@odata.nextLink"]).json()["value"]] == ["cv2"]


@pytest.mark.parametrize(
    "method, path, kwargs",
    [
        ("GET", "/users/{u}/events?$top=lots", {}),
        ("GET", "/users/{u}/events?$skip=-1", {}),
        ("GET", "/users/{u}/events?$filter=subject eq 'x'", {}),
        ("GET", "/users/{u}/events?$expand=attachments", {}),
        ("GET", "/users/{u}/events?$orderby=subject", {}),
        ("GET", "/users/{u}/events/AAMk%C3%A9", {}),
        ("GET", "/users/{u}/calendarView?startDateTime=yesterday&endDateTime=today", {}),
        ("GET", "/users/{u}/calendarView/delta?$skiptoken=forged", {}),
        ("GET", "/users/{u}/calendarView/delta?$deltatoken=forged", {}),
        ("POST", "/users/{u}/events", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}),
        ("POST", "/users/{u}/events", {"json": ["a", "list"]}),
        ("POST", "/users/{u}/events", {"json": {"subject": "no times"}}),
        ("POST", "/users/{u}/events", {"json": {"start": "soon", "end": 5}}),
        ("POST", "/users/{u}/events", {"json": {"subject": 1, "attendees": [{"emailAddress": {"address": 7}}]}}),
        ("POST", "/users/{u}/events", {"json": {"recurrence": {"pattern": [], "range": 3}}}),
        ("POST", "/users/{u}/events", {"json": {"singleValueExtendedProperties": [{"id": "Nope", "value": 1}]}}),
        ("POST", "/users/{u}/outlook/masterCategories", {"json": {"displayName": "x", "color": "purple"}}),
        ("POST", "/users/{u}/translateExchangeIds", {"json": {"inputIds": "x", "sourceIdType": "ewsId"}}),
        (
            "POST",
            "/users/{u}/translateExchangeIds",
            {"json": {"inputIds": [], "sourceIdType": "nope", "targetIdType": "restId"}},
        ),
        ("POST", "/$batch", {"json": {"requests": "all"}}),
        ("PUT", "/users/{u}/events", {}),
        ("GET", "/users/{u}/contacts", {}),
    ],
)
def test_bad_requests_are_4xx_json_never_500(graph, mailboxes, method, path, kwargs):
    answer = graph.session.request(method, graph.base + path.format(u=mailboxes[0]), timeout=30, **kwargs)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.status_code == 200 or "code" in answer.json()["error"]


def test_batch_items_that_are_bad_are_4xx_inside_a_200(graph, mailboxes):
    answer = graph.post(
        "/$batch", json={"requests": [{"id": "1", "method": "PUT", "url": f"/users/{mailboxes[0]}/events"}]}
    )
    assert answer.status_code == 200
    assert answer.json()["responses"][0]["status"] == 405
