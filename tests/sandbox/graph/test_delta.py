"""calendarView/delta: full and incremental rounds, paging, the fixed window, @removed for deletions and for
changes outside the window, series as instances, and the feed's faults."""

import datetime as dt

from .conftest import check_event, event_body, iso

MAX = {"Prefer": "odata.maxpagesize=2"}


def _round(graph, url, params=None, headers=MAX):
    """Follow one round to its deltaLink; return (entries, deltaLink, pages)."""
    entries, pages = [], 0
    answer = graph.get(url, params=params, headers=headers)
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages += 1
        entries += [check_event(e) for e in body["value"]]
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"], pages
        assert "@odata.nextLink" in body and body["@odata.nextLink"].startswith("https://")
        answer = graph.get(body["@odata.nextLink"], headers=headers)


def _first(graph, user, window):
    return _round(
        graph, f"/users/{user}/calendarView/delta", {"startDateTime": iso(window[0]), "endDateTime": iso(window[1])}
    )


def test_a_delta_round_sees_creates_edits_deletions_and_out_of_window_moves(graph, mailboxes, window):
    user = mailboxes[0]
    start = window[0] + dt.timedelta(days=1, hours=9)
    made = [
        graph.post(f"/users/{user}/events", json=event_body(start + dt.timedelta(days=i), f"d{i}")).json()
        for i in range(5)
    ]
    entries, delta_link, pages = _first(graph, user, window)
    assert {e["id"] for e in entries} == {m["id"] for m in made}
    assert pages >= 3  # five events, two a page
    assert all("singleValueExtendedProperties" not in e for e in entries)
    assert entries[0]["start"]["timeZone"] == "UTC" and entries[0]["type"] == "singleInstance"

    # Nothing changed: the next round is empty.
    assert _round(graph, delta_link)[0] == []

    edited, deleted, moved = made[0], made[1], made[2]
    graph.patch(f"/users/{user}/events/{edited['id']}", json={"subject": "edited"}).raise_for_status()
    assert graph.delete(f"/users/{user}/events/{deleted['id']}").status_code == 204
    outside = window[1] + dt.timedelta(days=3)
    graph.patch(f"/users/{user}/events/{moved['id']}", json=event_body(outside, "moved out")).raise_for_status()
    created = graph.post(f"/users/{user}/events", json=event_body(start + dt.timedelta(days=6), "new")).json()
    far = graph.post(f"/users/{user}/events", json=event_body(outside, "born outside")).json()

    entries, delta_link, _ = _round(graph, delta_link)
    changed = {e["id"]: e for e in entries if "@removed" not in e}
    removed = {e["id"] for e in entries if "@removed" in e}
    assert changed[edited["id"]]["subject"] == "edited"
    assert changed[edited["id"]]["changeKey"] != edited["changeKey"]
    assert created["id"] in changed
    assert {deleted["id"], moved["id"]} <= removed
    # Changes outside the window are reported under @removed too (clients filter them by date).
    assert far["id"] in removed
    assert all(e["@removed"] == {"reason": "deleted"} for e in entries if "@removed" in e)
    assert _round(graph, delta_link)[0] == []


def test_series_arrive_as_occurrences_and_exceptions_with_their_master(graph, mailboxes, window):
    user = mailboxes[1]
    start = window[0] + dt.timedelta(days=2, hours=10)
    body = event_body(
        start,
        "series",
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": start.date().isoformat(), "numberOfOccurrences": 4},
        },
    )
    master = graph.post(f"/users/{user}/events", json=body)
    assert master.status_code == 201, master.text
    master = master.json()
    assert master["type"] == "seriesMaster" and master["recurrence"]["pattern"]["type"] == "daily"
    entries, delta_link, _ = _first(graph, user, window)
    assert [e["type"] for e in entries] == ["occurrence"] * 4
    assert {e["seriesMasterId"] for e in entries} == {master["id"]}
    assert len({e["iCalUId"] for e in entries}) == 4
    second = entries[1]
    graph.patch(f"/users/{user}/events/{second['id']}", json={"subject": "moved one"}).raise_for_status()
    assert graph.delete(f"/users/{user}/events/{entries[2]['id']}").status_code == 204
    entries, _, _ = _round(graph, delta_link)
    by_id = {e["id"]: e for e in entries}
    assert by_id[second["id"]]["type"] == "exception" and by_id[second["id"]]["subject"] == "moved one"
    assert by_id[_removed_id(entries)]["@removed"] == {"reason": "deleted"}
    instances = graph.get(
        f"/users/{user}/events/{master['id']}/instances",
        params={"startDateTime": iso(window[0]), "endDateTime": iso(window[1])},
    ).json()["value"]
    assert [i["type"] for i in instances] == ["occurrence", "exception", "occurrence"]


def _removed_id(entries):
    return next(e["id"] for e in entries if "@removed" in e)


def test_the_window_is_fixed_by_the_first_request_and_links_replay_verbatim(graph, mailboxes, window):
    user = mailboxes[2]
    inside = graph.post(f"/users/{user}/events", json=event_body(window[0] + dt.timedelta(days=3), "in")).json()
    answer = graph.get(
        f"/users/{user}/calendarView/delta", params={"startDateTime": iso(window[0]), "endDateTime": iso(window[1])}
    ).json()
    delta_link = answer["@odata.deltaLink"]
    assert "startDateTime" not in delta_link
    assert [e["id"] for e in answer["value"]] == [inside["id"]]
    # The window travels in the token: a later round still sees only that window.
    graph.patch(f"/users/{user}/events/{inside['id']}", json={"subject": "in, edited"}).raise_for_status()
    again = graph.get(delta_link).json()
    assert [e["subject"] for e in again["value"]] == ["in, edited"]


def test_delta_refuses_query_options_and_needs_a_window(graph, mailboxes):
    user = mailboxes[0]
    for option in ("$select", "$expand", "$filter", "$orderby"):
        answer = graph.get(
            f"/users/{user}/calendarView/delta",
            params={option: "subject", "startDateTime": "2031-01-01T00:00:00Z", "endDateTime": "2031-02-01T00:00:00Z"},
        )
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "ErrorInvalidUrlQuery"
    missing = graph.get(f"/users/{user}/calendarView/delta")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "ErrorInvalidParameter"


def test_delta_faults_gone_sync_state_not_found_empty_pages_and_replays(graph, mailboxes, window):
    user = mailboxes[0]
    for i in range(3):
        graph.post(f"/users/{user}/events", json=event_body(window[0] + dt.timedelta(days=i + 1), f"f{i}"))
    params = {"startDateTime": iso(window[0]), "endDateTime": iso(window[1])}
    _, delta_link, _ = _first(graph, user, window)

    graph.control("PUT", "/faults", {"delta_gone_next": 1})
    gone = graph.get(delta_link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "resyncRequired"
    restarted = _round(graph, gone.headers["Location"])[0]
    assert len(restarted) == 3  # a full round of the same window

    graph.control("PUT", "/faults", {"delta_sync_state_not_found_next": 1})
    expired = graph.get(delta_link)
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "syncStateNotFound"
    graph.control("POST", "/delta/expire")
    assert graph.get(delta_link).json()["error"]["code"] == "syncStateNotFound"

    graph.control("PUT", "/faults", {"delta_empty_page_next": 1, "delta_replay_next": 1})
    first = graph.get(f"/users/{user}/calendarView/delta", params=params, headers=MAX).json()
    assert first["value"] == [] and "@odata.nextLink" in first
    entries, _, _ = _round(graph, first["@odata.nextLink"])
    ids = [e["id"] for e in entries]
    assert len(ids) > len(set(ids)) == 3  # one page replayed an entry


def test_prefer_time_zone_and_immutable_ids(graph, mailboxes, window):
    user = mailboxes[0]
    made = graph.post(f"/users/{user}/events", json=event_body(window[0] + dt.timedelta(hours=15), "tz")).json()
    params = {"startDateTime": iso(window[0]), "endDateTime": iso(window[1])}
    answer = graph.get(
        f"/users/{user}/calendarView/delta",
        params=params,
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time", IdType="ImmutableId"'},
    )
    assert "outlook.timezone" in answer.headers["Preference-Applied"]
    event = answer.json()["value"][0]
    assert event["start"] == {
        "dateTime": (window[0] + dt.timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
        "timeZone": "Pacific Standard Time",
    }
    assert event["id"] != made["id"]
    assert graph.get(f"/users/{user}/events/{event['id']}").json()["subject"] == "tz"
