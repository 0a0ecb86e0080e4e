"""The periodic safety net under push (pure functions of sync.schedule): table tests."""

from __future__ import annotations

import datetime as dt

import pytest

from sync.push import PushConfig
from sync.schedule import Decision, pulled_back, with_push

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
PUSH = PushConfig(safety_interval_minutes=360, fallback_interval_minutes=30)
ADAPTIVE = Decision(60, NOW + dt.timedelta(minutes=60), None, None)
BACKOFF = Decision(60, NOW + dt.timedelta(hours=2.5), NOW + dt.timedelta(hours=2.5), "budget")


@pytest.mark.parametrize(
    ("decision", "state", "status", "minutes"),
    [
        (ADAPTIVE, "up", "ok", 360),  # push healthy: the next periodic session in 6 h
        (ADAPTIVE, "down", "ok", 30),  # push down: every 30 minutes, whatever the adaptive step
        (Decision(120, NOW + dt.timedelta(minutes=120), None, None), "down", "ok", 30),
        (ADAPTIVE, "none", "ok", 60),  # never had push: the adaptive interval as before
        (ADAPTIVE, "off", "ok", 60),  # push not configured (no https public URL for Graph): likewise
        (BACKOFF, "up", "failed", None),  # an API budget back-off is kept
        (BACKOFF, "down", "failed", None),
    ],
)
def test_with_push(decision, state, status, minutes):
    result = with_push(decision, state, status=status, now=NOW, push=PUSH)
    if minutes is None:
        assert result == decision
    else:
        assert (result.interval, result.next_sync_at) == (minutes, NOW + dt.timedelta(minutes=minutes))
        assert result.backoff_until is None


@pytest.mark.parametrize("status", ["failed", "partial"])
@pytest.mark.parametrize(
    ("interval", "state", "minutes_until_next"),
    [(360, "up", 30), (360, "down", 30), (30, "down", 30), (60, "none", 60)],
)
def test_a_failed_or_partial_session_comes_back_within_the_fallback(status, interval, state, minutes_until_next):
    kept = Decision(interval, NOW + dt.timedelta(minutes=interval), None, None)  # after_session keeps the interval
    result = with_push(kept, state, status=status, now=NOW, push=PUSH)
    assert result.interval == interval  # the interval itself is the next successful session's business
    assert result.next_sync_at == NOW + dt.timedelta(minutes=minutes_until_next)


LAST = NOW - dt.timedelta(minutes=50)  # the last session ended 50 minutes ago


@pytest.mark.parametrize(
    ("interval", "state", "expected"),
    [
        (360, "up", None),  # still healthy
        (360, "down", (30, LAST + dt.timedelta(minutes=30))),  # heartbeat expired: 30 min after the last session
        (360, "none", (30, LAST + dt.timedelta(minutes=30))),  # its record is gone too (a week later)
        (120, "none", None),  # an adaptive step of a mailbox without push stays
        (120, "off", None),  # push not configured: likewise
        (360, "off", (30, LAST + dt.timedelta(minutes=30))),  # was on push, now not configured: not 6 h
        (120, "down", (30, LAST + dt.timedelta(minutes=30))),
        (30, "down", None),  # already polled every 30 minutes
    ],
)
def test_pulled_back(interval, state, expected):
    next_sync_at = LAST + dt.timedelta(minutes=interval)
    assert pulled_back(next_sync_at, interval, state, PUSH) == expected


def test_pulled_back_never_postpones():
    # An admin-moved next time sooner than interval - fallback: kept.
    soon = NOW + dt.timedelta(minutes=5)
    assert pulled_back(soon, 360, "down", PUSH) == (30, soon - dt.timedelta(minutes=330))
    assert pulled_back(None, 360, "down", PUSH) is None
