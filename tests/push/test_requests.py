"""Push requests in real Redis: coalescing, the request taken by a starting session, one more after it."""

from __future__ import annotations

import pytest

from sync.push import PushConfig, request_sync, take_request
from sync.push.requests import due_requests, last_requests, pending_requests

CONFIG = PushConfig(coalesce_seconds=5)


def test_a_burst_is_one_request_kept_at_its_first_time(redis):
    for i in range(50):
        request_sync(redis, 7, source="graph", now=1000 + i * 0.04)  # 50 in 2 s
    assert pending_requests(redis) == {7: 1000.0}
    assert due_requests(redis, now=1004.9, config=CONFIG) == []  # still inside the coalescing window
    assert due_requests(redis, now=1005.0, config=CONFIG) == [7]
    assert last_requests(redis, 7) == {"graph": pytest.approx(1001.96)}


def test_a_steady_stream_cannot_postpone_the_session(redis):
    for i in range(20):
        request_sync(redis, 7, source="ews", now=1000 + i)  # one a second, for 20 s
    assert due_requests(redis, now=1005, config=CONFIG) == [7]


def test_the_starting_session_takes_the_request_and_a_later_one_stays(redis):
    request_sync(redis, 3, source="salesforce", now=1000)
    assert take_request(redis, 3, started=1006).requested
    assert pending_requests(redis) == {}
    request_sync(redis, 3, source="graph", now=1010)  # while the session runs
    request_sync(redis, 3, source="ews", now=1011)
    assert pending_requests(redis) == {3: 1010.0}  # exactly one more session
    assert not take_request(redis, 3, started=1009).requested  # a session that started before it does not take it
    assert take_request(redis, 3, started=1020).requested


def test_full_is_taken_with_the_request(redis):
    request_sync(redis, 4, source="graph", now=1000)
    request_sync(redis, 4, source="graph", full=True, now=1001)
    taken = take_request(redis, 4, started=1006)
    assert taken.requested and taken.full
    request_sync(redis, 4, source="graph", now=1010)
    assert take_request(redis, 4, started=1020).full is False


def test_full_asked_during_a_session_is_left_for_the_next(redis):
    request_sync(redis, 4, source="graph", full=True, now=1010)
    assert take_request(redis, 4, started=1005) == take_request(redis, 4, started=1005)  # nothing taken
    assert take_request(redis, 4, started=1011).full


def test_mailboxes_are_apart_and_oldest_first(redis):
    request_sync(redis, 2, source="graph", now=1003)
    request_sync(redis, 1, source="graph", now=1001)
    assert due_requests(redis, now=1010, config=CONFIG) == [1, 2]
    take_request(redis, 1, started=1010)
    assert due_requests(redis, now=1010, config=CONFIG) == [2]


def test_an_unknown_source_is_refused(redis):
    with pytest.raises(ValueError, match="unknown push source"):
        request_sync(redis, 1, source="carrier-pigeon")
    assert pending_requests(redis) == {}


def test_org_scan_requests_are_due_at_once_and_pull_a_waiting_request_forward(redis):
    request_sync(redis, 8, source="salesforce", now=1000, config=CONFIG)
    assert due_requests(redis, now=1000, config=CONFIG) == [8]
    request_sync(redis, 9, source="ews", now=1000, config=CONFIG)
    request_sync(redis, 9, source="salesforce", now=1001, config=CONFIG)
    assert due_requests(redis, now=1001, config=CONFIG) == [8, 9]
    assert not take_request(redis, 9, started=990).requested  # still never before the request itself
