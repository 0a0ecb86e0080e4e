"""Push health in real Redis: heartbeats expire, down is told apart from never, the pure rules."""

from __future__ import annotations

import pytest

from sync.push import PushConfig, exchange_push_state, record_channel, record_notification
from sync.push.health import (
    channel_key,
    channel_state,
    channels_of,
    combined_state,
    events,
    exchange_push_states,
    record_event,
    record_status,
    statuses,
)


@pytest.mark.parametrize(
    ("fields", "now", "state"),
    [
        ({}, 100, "none"),
        ({"state": "up", "expires": "200"}, 100, "up"),
        ({"state": "up", "expires": "200"}, 200, "down"),  # heartbeat expired
        ({"state": "down", "expires": "0"}, 100, "down"),
        ({"last_notification": "90"}, 100, "none"),  # notified but never reported up or down
    ],
)
def test_channel_state(fields, now, state):
    assert channel_state(fields, now) == state


@pytest.mark.parametrize(
    ("states", "combined"),
    [([], "none"), (["none"], "none"), (["down", "none"], "down"), (["down", "up"], "up"), (["up"], "up")],
)
def test_combined_state(states, combined):
    assert combined_state(states) == combined


def test_heartbeat_up_expires_into_down(redis):
    record_channel(redis, 5, "ews-streaming", "up", "sub 1", ttl=60, now=1000)
    assert exchange_push_state(redis, 5, now=1059) == "up"
    assert exchange_push_state(redis, 5, now=1060) == "down"
    record_channel(redis, 5, "ews-streaming", "up", ttl=60, now=1050)  # refreshed in time
    assert exchange_push_state(redis, 5, now=1100) == "up"
    assert channels_of(redis, 5)["ews-streaming"]["since"] == "1000"  # still the same up period
    assert exchange_push_state(redis, 6, now=1000) == "none"


def test_the_default_ttl_is_the_heartbeat_setting_and_the_record_outlives_it(redis):
    record_channel(redis, 5, "graph-webhook", "up", now=1000, config=PushConfig(heartbeat_ttl=30))
    assert channels_of(redis, 5)["graph-webhook"]["expires"] == "1030"
    assert redis.ttl(channel_key(5, "graph-webhook")) > 24 * 3600


def test_down_is_down_and_any_exchange_channel_up_is_enough(redis):
    record_channel(redis, 5, "ews-streaming", "down", "connection refused", now=1000)
    assert exchange_push_state(redis, 5, now=1001) == "down"
    record_channel(redis, 5, "ews-pull", "up", now=1002)
    assert exchange_push_state(redis, 5, now=1003) == "up"
    record_channel(redis, 7, "salesforce-scan", "up", now=1000)  # not an Exchange channel
    assert exchange_push_state(redis, 7, now=1001) == "none"
    assert exchange_push_states(redis, [5, 7, 8], now=1003) == {5: "up", 7: "none", 8: "none"}


def test_notifications_are_counted(redis):
    record_notification(redis, 5, "graph-webhook", now=1000)
    record_notification(redis, 5, "graph-webhook", now=1001)
    fields = channels_of(redis, 5)["graph-webhook"]
    assert (fields["notifications"], fields["last_notification"]) == ("2", "1001")
    assert exchange_push_state(redis, 5, now=1002) == "none"  # a notification is not a heartbeat


def test_bad_channel_or_state(redis):
    with pytest.raises(ValueError, match="unknown push channel"):
        record_channel(redis, 5, "smoke-signals", "up")
    with pytest.raises(ValueError, match="up, down or off"):
        record_channel(redis, 5, "ews-pull", "sideways")


def test_statuses_expire_with_their_process(redis):
    record_status(redis, "listener", "host-1", {"shard": "0/2", "subscriptions": 40}, ttl=60)
    record_status(redis, "listener", "host-2", {"shard": "1/2"}, ttl=60)
    redis.delete("calsync:push:status:listener:host-2")  # as if its TTL ran out
    found = statuses(redis)
    assert [s["name"] for s in found["listener"]] == ["host-1"]
    assert found["listener"][0]["subscriptions"] == 40


def test_events_count_per_day(redis):
    day = 86400 * 20000
    record_event(redis, "renewal", mailbox_id=3, now=day - 10)  # yesterday
    record_event(redis, "renewal", mailbox_id=1, channel="graph-webhook", now=day + 10)
    record_event(redis, "renewal", mailbox_id=2, channel="graph-webhook", now=day + 20)
    today = events(redis, now=day + 30)
    assert today["renewal"]["count"] == 2
    assert today["renewal"]["last"] == {"at": day + 20, "mailbox_id": 2, "channel": "graph-webhook"}
    assert events(redis, now=day + 30, days=2)["renewal"]["count"] == 3
