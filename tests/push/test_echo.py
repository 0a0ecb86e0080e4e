"""Echo suppression in real Redis: our own (id, version) pairs, with their TTL."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from sync.push import PushConfig, is_echo, record_writes
from sync.push.echo import writing, writing_key


def test_own_writes_are_echoes_and_other_versions_are_not(redis):
    assert record_writes(redis, 1, "exchange", [("AAMk1", "CK1"), ("AAMk2", "CK2")]) == 2
    assert is_echo(redis, 1, "exchange", "AAMk1", "CK1")
    assert is_echo(redis, 1, "exchange", "AAMk1", 'W/"CK1"')  # Graph's etag spelling of the change key
    assert not is_echo(redis, 1, "exchange", "AAMk1", "CK9")  # somebody edited it after us
    assert not is_echo(redis, 1, "exchange", "AAMk3", "CK1")
    assert not is_echo(redis, 2, "exchange", "AAMk1", "CK1")  # another mailbox
    assert not is_echo(redis, 1, "salesforce", "AAMk1", "CK1")  # the other side


def test_salesforce_modstamp_spellings_match(redis):
    record_writes(redis, 1, "salesforce", [("00U1", "2026-12-04T18:00:00.000+0000")])
    assert is_echo(redis, 1, "salesforce", "00U1", "2026-12-04T18:00:00.000Z")
    assert is_echo(redis, 1, "salesforce", "00U1", "2026-12-04T18:00:00+0000")
    assert not is_echo(redis, 1, "salesforce", "00U1", "2026-12-04T18:00:01.000+0000")


def test_an_unknown_salesforce_modstamp_covers_modifications_up_to_our_write(redis):
    wrote_at = dt.datetime(2026, 12, 4, 18, 0, 0, tzinfo=dt.UTC).timestamp()
    record_writes(redis, 1, "salesforce", [("00U1", None)], now=wrote_at)
    assert is_echo(redis, 1, "salesforce", "00U1", None)
    assert is_echo(redis, 1, "salesforce", "00U1", "2026-12-04T17:59:59.000+0000")  # our write's own modstamp
    assert is_echo(redis, 1, "salesforce", "00U1", "2026-12-04T18:00:01.000+0000")  # within the clock margin
    assert not is_echo(redis, 1, "salesforce", "00U1", "2026-12-04T18:00:02.000+0000")  # edited after us
    assert not is_echo(redis, 1, "salesforce", "00U1", "not a timestamp")


def test_an_exchange_write_without_change_key_matches_only_a_notification_without_one(redis):
    record_writes(redis, 1, "exchange", [("AAMk1", None)])  # a deletion
    assert is_echo(redis, 1, "exchange", "AAMk1", None)
    assert not is_echo(redis, 1, "exchange", "AAMk1", "CK1")


def test_is_echo_waits_for_a_write_in_flight(redis):
    def write_later():
        with writing(redis, 1, "exchange"):
            time.sleep(0.3)  # the notification arrives while the write's answer is on its way
            record_writes(redis, 1, "exchange", [("AAMk1", "CK1")])

    thread = threading.Thread(target=write_later)
    thread.start()
    time.sleep(0.05)
    assert not is_echo(redis, 1, "exchange", "AAMk1", "CK1", wait=0)  # a caller that cannot wait
    assert is_echo(redis, 1, "exchange", "AAMk1", "CK1")
    thread.join()
    assert not redis.exists(writing_key(1, "exchange"))


def test_two_writes_of_one_item_both_count(redis):
    record_writes(redis, 1, "exchange", [("AAMk1", "CK1")])
    record_writes(redis, 1, "exchange", [("AAMk1", "CK2")])
    assert is_echo(redis, 1, "exchange", "AAMk1", "CK1") and is_echo(redis, 1, "exchange", "AAMk1", "CK2")


def test_writes_are_forgotten_after_the_ttl(redis):
    record_writes(redis, 1, "exchange", [("AAMk1", "CK1")], config=PushConfig(echo_ttl=1))
    assert 0 < redis.ttl("calsync:push:echo:1:exchange:AAMk1") <= 1
    time.sleep(1.2)
    assert not is_echo(redis, 1, "exchange", "AAMk1", "CK1")


def test_bad_side_and_empty_ids(redis):
    with pytest.raises(ValueError, match="unknown side"):
        record_writes(redis, 1, "outlook", [("x", "y")])
    assert record_writes(redis, 1, "exchange", [("", "CK"), (None, "CK")]) == 0
    assert not is_echo(redis, 1, "exchange", "", "CK")


def test_a_write_goes_through_when_redis_is_gone(redis):
    """Recording is best effort: a session whose Redis went away mid-session still writes (it may make one more
    session, as its notifications are not known as echoes)."""
    from redis import Redis

    from sync.connectors.base import NewItem
    from sync.push.echo import RecordingExchange
    from tests.connectors.memory import MemoryCalendar

    calendar = MemoryCalendar()
    gone = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens on port 1
    recording = RecordingExchange(calendar, gone, 1)
    [result] = recording.create([NewItem({"subject": "Call", "sync_key": "k1"})])
    assert result.ok and result.item_id
    assert recording.recorded == 0
    assert list(calendar.items()) == [result.item_id]  # the item is in the mailbox
