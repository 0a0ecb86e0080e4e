"""$batch (≤ 20 requests, dependsOn and 424, per-item status and 429) and Outlook's throttling: 4 requests in
flight per app and mailbox, a request budget, injected 429/503/504 with Retry-After."""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .conftest import event_body


def _batch(graph, requests_):
    answer = graph.post("/$batch", json={"requests": requests_})
    return answer, ({r["id"]: r for r in answer.json().get("responses", [])} if answer.status_code == 200 else {})


def test_batch_runs_items_and_a_failed_dependency_is_424(graph, mailboxes, window):
    user = mailboxes[0]
    json_headers = {"Content-Type": "application/json"}
    answer, by_id = _batch(
        graph,
        [
            {
                "id": "1",
                "method": "POST",
                "url": f"/users/{user}/events",
                "headers": json_headers,
                "body": event_body(window[0] + dt.timedelta(days=1), "batched"),
            },
            {"id": "2", "method": "GET", "url": f"/users/{user}/events/not-an-id"},
            {"id": "3", "method": "GET", "url": f"/users/{user}/events", "dependsOn": ["2"]},
            {"id": "4", "method": "GET", "url": f"/users/{user}/outlook/masterCategories", "dependsOn": ["1"]},
            {"id": "5", "method": "GET", "url": f"/users/{info_on_prem(graph)}/events"},
        ],
    )
    assert answer.status_code == 200
    assert by_id["1"]["status"] == 201 and by_id["1"]["body"]["subject"] == "batched"
    assert by_id["2"]["status"] == 400 and by_id["2"]["body"]["error"]["code"] == "ErrorInvalidIdMalformed"
    assert by_id["3"]["status"] == 424
    assert by_id["4"]["status"] == 200
    assert by_id["5"]["status"] == 404 and by_id["5"]["body"]["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    made = graph.get(f"/users/{user}/events/{by_id['1']['body']['id']}")
    assert made.status_code == 200


def info_on_prem(graph) -> str:
    return graph.info["on_premises"][0]


def test_batch_payload_rules(graph, mailboxes):
    user = mailboxes[0]
    get = {"method": "GET", "url": f"/users/{user}/events"}
    too_many, _ = _batch(graph, [{"id": str(i), **get} for i in range(21)])
    assert too_many.status_code == 400
    duplicate, _ = _batch(graph, [{"id": "a", **get}, {"id": "A", **get}])
    assert duplicate.status_code == 400
    absolute, _ = _batch(graph, [{"id": "1", "method": "GET", "url": graph.base + f"/users/{user}/events"}])
    assert absolute.status_code == 400
    unknown_dependency, _ = _batch(graph, [{"id": "1", "dependsOn": ["9"], **get}])
    assert unknown_dependency.status_code == 400
    _, by_id = _batch(graph, [{"id": "1", "method": "POST", "url": f"/users/{user}/events", "body": {"subject": "x"}}])
    assert by_id["1"]["status"] == 400  # a body needs a Content-Type header
    ok, by_id = _batch(graph, [{"id": str(i), **get} for i in range(20)])
    assert ok.status_code == 200 and sorted(by_id, key=int) == [str(i) for i in range(20)]


def test_batch_items_are_throttled_one_by_one(graph, mailboxes):
    user = mailboxes[0]
    graph.control("PUT", "/faults", {"batch_item_429_next": 2, "retry_after": 3})
    _, by_id = _batch(graph, [{"id": str(i), "method": "GET", "url": f"/users/{user}/events"} for i in range(5)])
    throttled = [r for r in by_id.values() if r["status"] == 429]
    assert len(throttled) == 2
    assert all(r["headers"]["Retry-After"] == "3" for r in throttled)
    assert sum(r["status"] == 200 for r in by_id.values()) == 3


def test_at_most_four_requests_in_flight_per_app_and_mailbox(graph, mailboxes):
    user, other = mailboxes[0], mailboxes[1]
    graph.control("PUT", "/faults", {"latency_ms": 1500})
    urls = [f"/users/{user}/events"] * 6 + [f"/users/{other}/events"] * 2
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(graph.get, urls))
    mine, theirs = answers[:6], answers[6:]
    assert sorted(a.status_code for a in mine) == [200] * 4 + [429] * 2
    refused = next(a for a in mine if a.status_code == 429)
    assert refused.json()["error"] == {
        **refused.json()["error"],
        "code": "ApplicationThrottled",
        "message": "Application is over its MailboxConcurrency limit.",
    }
    assert int(refused.headers["Retry-After"]) >= 1
    assert [a.status_code for a in theirs] == [200, 200]  # another mailbox has its own limit
    assert graph.control("GET", "/limits")["max_in_flight"] == 4


def test_request_budget_and_injected_faults(graph, mailboxes):
    user = mailboxes[2]
    graph.control("PUT", "/limits", {"budget": 3})
    try:
        statuses = [graph.get(f"/users/{user}/events").status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
    finally:
        graph.control("PUT", "/limits", {"budget": 10_000})
    for kind, status in (("http_429_next", 429), ("http_503_next", 503), ("http_504_next", 504)):
        graph.control("PUT", "/faults", {kind: 1, "retry_after": 2})
        answer = graph.get(f"/users/{mailboxes[0]}/events")
        assert answer.status_code == status and answer.headers["Retry-After"] == "2"
        assert graph.get(f"/users/{mailboxes[0]}/events").status_code == 200


def test_request_log_and_counters(graph, mailboxes, info):
    graph.get(f"/users/{mailboxes[0]}/events")
    graph.get(
        f"/users/{mailboxes[0]}/calendarView/delta",
        params={"startDateTime": "2031-01-01T00:00:00Z", "endDateTime": "2031-01-02T00:00:00Z"},
    )
    log = graph.control("GET", "/log")
    assert log["requests"]["events.list"] == 1 and log["requests"]["calendarView.delta"] == 1
    assert log["requests_by_mailbox"][f"{info['client_id']} {mailboxes[0]}"] == 2
    assert [c["operation"] for c in log["calls"]] == ["events.list", "calendarView.delta"]


def test_a_dropped_connection_answers_nothing_and_changes_nothing(graph, mailboxes):
    user = mailboxes[0]
    graph.control("PUT", "/faults", {"drop_next": 1})
    with pytest.raises(requests.ConnectionError):
        graph.post(f"/users/{user}/events", json={"subject": "Dropped", "start": {"dateTime": "2031-01-01T09:00:00",
                   "timeZone": "UTC"}, "end": {"dateTime": "2031-01-01T10:00:00", "timeZone": "UTC"}})  # fmt: skip
    assert graph.control("GET", "/faults")["injected"]["drop"] == 1
    listed = graph.get(f"/users/{user}/events").json()["value"]
    assert "Dropped" not in [e["subject"] for e in listed]  # the request was never carried out
