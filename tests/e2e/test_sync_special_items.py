"""Private items, recurring series, meetings the rep only attends, and time zones, end to end."""

import datetime as dt

from exchangelib.recurrence import Recurrence, WeeklyPattern

from sandbox.seed import REPS
from tests.e2e.actors import at, day

UTC = dt.UTC


def test_private_items_are_skipped_by_default(engine, world):
    world.outlook().create("Doctor (private)", at(1, 10), at(1, 11), private=True)
    engine.sync()
    assert world.salesforce().events() == []
    assert "private_item_skipped" in [h.code for h in engine.health()]


def test_private_items_masked_hide_subject_and_body(engine, world):
    engine.set_policy(private_items="masked")
    world.outlook().create("Interview with competitor", at(1, 10), at(1, 11), private=True, body="secret")
    engine.sync()
    [event] = world.salesforce().events()
    assert event["Subject"] == "Private appointment"
    assert not event["Description"] and event["IsPrivate"] is True
    assert engine.sync().writes == 0


def test_private_items_full_are_synced_as_private(engine, world):
    engine.set_policy(private_items="full")
    world.outlook().create("Salary talk", at(1, 10), at(1, 11), private=True)
    engine.sync()
    [event] = world.salesforce().events()
    assert event["Subject"] == "Salary talk" and event["IsPrivate"] is True


def test_weekly_series_goes_up_as_a_recurrence_rule(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    start = at(1, 9)
    recurrence = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[start.isoweekday()], first_day_of_week=1),
        start=start.date(),
        number=6,
    )
    outlook.create("Weekly pipeline review", start, at(1, 9, 30), recurrence=recurrence)
    engine.sync()
    event = sf.find_event("Weekly pipeline review", series=True)
    assert event is not None, [h.message for h in engine.health()]
    assert "FREQ=WEEKLY" in event["Recurrence2PatternText"]
    assert "COUNT=6" in event["Recurrence2PatternText"]
    assert engine.sync().writes == 0


def test_meeting_the_rep_only_attends_is_read_only_on_exchange(engine, world):
    organizer = world.outlook(REPS[1].email)
    meeting = organizer.create("Partner meeting", at(2, 15), at(2, 16), attendees=[world.rep.email], categories=())
    attendee_copy = world.deliver_meeting(meeting, world.rep.email)
    world.outlook().add_category(attendee_copy, "Salesforce")
    engine.sync()
    event = world.salesforce().find_event("Partner meeting")
    assert event is not None
    world.salesforce().update("Event", event["Id"], Subject="Renamed in Salesforce")
    engine.sync()
    assert world.outlook().get(attendee_copy)["subject"] == "Partner meeting"  # never written down
    assert "exchange_read_only" in [h.code for h in engine.health()]
    world.assert_no_meeting_messages()


def test_all_day_event_from_salesforce_lands_on_the_same_day_in_the_reps_zone(engine, world):
    # Alice is in Europe/London; 29 March is a DST change day there in 2026.
    target = dt.date(2026, 3, 29) if day(0) < dt.date(2026, 3, 20) else day(7)
    world.salesforce().create_event(
        Subject="Offsite", IsAllDayEvent=True, ActivityDate=target, StartDateTime=dt.datetime.combine(
            target, dt.time(0), UTC), DurationInMinutes=1440,
    )  # fmt: skip
    engine.sync()
    item = world.outlook().find("Offsite")
    assert item["is_all_day"] and item["start"] == target and item["end"] == target
    assert engine.sync().writes == 0


def test_timed_item_in_another_zone_keeps_its_instant(engine, world):
    start = at(3, 9, tz="America/New_York")
    world.outlook().create("NY call", start, start + dt.timedelta(hours=1), tz="America/New_York")
    engine.sync()
    event = world.salesforce().find_event("NY call")
    assert event["StartDateTime"] == start.astimezone(UTC)
    assert engine.sync().writes == 0
