"""All-day items on daylight-saving days, both ways, through the real clients (issue 23, points 1 and 2).

A local day lasts 23 hours on a spring-forward day and 25 on a fall-back day; in America/Santiago and
Asia/Beirut the change happens at midnight, so on their spring-forward day local midnight does not exist and
the day starts at 01:00. All-day dates must come from local midnights in the item's own zone.

Zones and days tested (2027):

====================  ==========  ======  ============================================
zone                  day         hours   note
====================  ==========  ======  ============================================
America/New_York      03-14       23      spring forward at 02:00
America/New_York      11-07       25      fall back at 02:00
Europe/Berlin         03-28       23      spring forward at 02:00
Europe/Berlin         10-31       25      fall back at 03:00
America/Santiago      09-05       23      spring forward at 00:00: no local midnight
America/Santiago      04-03       25      fall back at 24:00 (23:00-24:00 twice)
Asia/Beirut           03-28       23      spring forward at 00:00: no local midnight
Asia/Beirut           10-30       25      fall back at 24:00
America/Santiago      09-04       24      ends at the skipped midnight of 09-05
Asia/Beirut           03-27       24      ends at the skipped midnight of 03-28
====================  ==========  ======  ============================================

The days lie beyond the default 60-day scope, so the tests widen it (scope entry is tested elsewhere).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from sync import mailboxes
from sync.policies import Scope

UTC = dt.UTC

DST_DAYS = [
    pytest.param("America/New_York", dt.date(2027, 3, 14), 23, id="new_york-spring"),
    pytest.param("America/New_York", dt.date(2027, 11, 7), 25, id="new_york-fall"),
    pytest.param("Europe/Berlin", dt.date(2027, 3, 28), 23, id="berlin-spring"),
    pytest.param("Europe/Berlin", dt.date(2027, 10, 31), 25, id="berlin-fall"),
    pytest.param("America/Santiago", dt.date(2027, 9, 5), 23, id="santiago-spring-no-midnight"),
    pytest.param("America/Santiago", dt.date(2027, 4, 3), 25, id="santiago-fall"),
    pytest.param("Asia/Beirut", dt.date(2027, 3, 28), 23, id="beirut-spring-no-midnight"),
    pytest.param("Asia/Beirut", dt.date(2027, 10, 30), 25, id="beirut-fall"),
    # 24-hour days that end at a skipped midnight: the day after starts at 01:00.
    pytest.param("America/Santiago", dt.date(2027, 9, 4), 24, id="santiago-ends-at-missing-midnight"),
    pytest.param("Asia/Beirut", dt.date(2027, 3, 27), 24, id="beirut-ends-at-missing-midnight"),
]


def day_start(day: dt.date, tz: str) -> dt.datetime:
    """The instant a local day begins (fold 0 of 00:00: a skipped midnight resolves to the gap's end)."""
    return dt.datetime.combine(day, dt.time(0), zoneinfo.ZoneInfo(tz)).astimezone(UTC)


@pytest.fixture
def wide_scope(engine):
    engine.set_policy(scope=Scope(past_days=14, future_days=400))
    return engine


def _set_mailbox_zone(engine, tz: str) -> None:
    with engine.factory() as db:
        mailboxes.find(db, engine.email).time_zone = tz
        db.commit()


def _quiet(engine, world) -> None:
    result = engine.sync()
    assert result.writes == 0, result.to_json()
    world.assert_no_meeting_messages()


@pytest.mark.parametrize("tz, day, hours", DST_DAYS)
def test_outlook_all_day_item_on_a_dst_day_reaches_salesforce_and_keeps_its_day(wide_scope, world, tz, day, hours):
    engine, outlook, sf = wide_scope, world.outlook(), world.salesforce()
    assert day_start(day + dt.timedelta(days=1), tz) - day_start(day, tz) == dt.timedelta(hours=hours)
    item_id = outlook.create("Offsite", day, day, all_day=True, tz=tz)
    assert outlook.all_day_bounds(item_id) == (day_start(day, tz), day_start(day + dt.timedelta(days=1), tz))

    result = engine.sync()
    assert result.created["salesforce"] == 1, [h.message for h in engine.health()]
    event = sf.find_event("Offsite")
    assert event["IsAllDayEvent"] is True
    assert event["ActivityDate"] == day
    assert event["DurationInMinutes"] == 1440
    assert not engine.health()
    _quiet(engine, world)

    # Back down: a Salesforce edit reaches the item, which keeps its local midnights.
    sf.update("Event", event["Id"], Location="Hall 3")
    assert engine.sync().updated["exchange"] == 1
    assert outlook.get(item_id)["location"] == "Hall 3"
    assert outlook.all_day_bounds(item_id) == (day_start(day, tz), day_start(day + dt.timedelta(days=1), tz))
    _quiet(engine, world)


def test_outlook_two_day_item_across_a_spring_forward_keeps_both_days(wide_scope, world):
    engine, outlook, sf = wide_scope, world.outlook(), world.salesforce()
    first = dt.date(2027, 3, 13)
    outlook.create("Trade fair", first, first + dt.timedelta(days=1), all_day=True, tz="America/New_York")
    engine.sync()
    event = sf.find_event("Trade fair")
    assert event is not None, [h.message for h in engine.health()]
    assert (event["ActivityDate"], event["DurationInMinutes"]) == (first, 2 * 1440)
    _quiet(engine, world)


@pytest.mark.parametrize("tz, day, hours", DST_DAYS)
def test_salesforce_all_day_event_on_a_dst_day_comes_down_and_an_outlook_edit_goes_back_up(
    wide_scope, world, tz, day, hours
):
    """Point 2: the Salesforce-made Event, synced down, then edited in Outlook: the edit reaches Salesforce."""
    engine, outlook, sf = wide_scope, world.outlook(), world.salesforce()
    _set_mailbox_zone(engine, tz)
    event_id = sf.create_event(
        Subject="Board day", IsAllDayEvent=True, ActivityDate=day,
        StartDateTime=dt.datetime.combine(day, dt.time(0), UTC), DurationInMinutes=1440,
    )  # fmt: skip
    first = engine.sync()
    assert first.created["exchange"] == 1, (first.to_json(), [(h.code, h.message) for h in engine.health()])
    item = outlook.find("Board day")
    assert item["is_all_day"] and item["timezone"] == tz
    assert outlook.all_day_bounds(item["id"]) == (day_start(day, tz), day_start(day + dt.timedelta(days=1), tz))
    _quiet(engine, world)

    outlook.edit(item["id"], location="Head office")
    result = engine.sync()
    assert result.updated["salesforce"] == 1, [h.message for h in engine.health()]
    event = sf.get("Event", event_id)
    assert event["Location"] == "Head office"
    assert (event["ActivityDate"], event["DurationInMinutes"], event["IsAllDayEvent"]) == (day, 1440, True)
    assert not engine.health()
    _quiet(engine, world)


# -- point 2: a health entry closes only when its item has synced -----------------------------------------
def test_a_health_entry_stays_open_until_the_item_it_is_about_has_synced(engine, world):
    """An Outlook edit Salesforce refuses (over 14 days) opens an entry. A later session that sees only the
    Salesforce side move (an automated update) has not synced that edit: the entry stays open and the edit is
    not dropped. Once the user fixes the item, it syncs and the entry closes."""
    outlook, sf = world.outlook(), world.salesforce()
    start = dt.datetime.combine(dt.date.today() + dt.timedelta(days=3), dt.time(9), UTC)
    item_id = outlook.create("Roadshow", start, start + dt.timedelta(hours=1))
    engine.sync()
    event = sf.find_event("Roadshow")

    outlook.edit(item_id, end=start + dt.timedelta(days=15))
    engine.sync()
    assert [h.code for h in engine.health()] == ["duration_over_14_days"]

    world.touch_salesforce(event["Id"])  # SystemModstamp moves, content does not
    outlook.edit(item_id, location="Booth 7")  # a second edit while the first one is refused
    engine.sync()
    assert [h.code for h in engine.health()] == ["duration_over_14_days"]
    assert sf.get("Event", event["Id"])["Location"] is None  # nothing half-synced either

    world.touch_salesforce(event["Id"])
    engine.sync()
    assert [h.code for h in engine.health()] == ["duration_over_14_days"], "closed without the item syncing"

    outlook.edit(item_id, end=start + dt.timedelta(days=2))
    engine.sync()
    assert engine.health() == []
    event = sf.get("Event", event["Id"])
    assert event["EndDateTime"] == start + dt.timedelta(days=2) and event["Location"] == "Booth 7"
    _quiet(engine, world)
