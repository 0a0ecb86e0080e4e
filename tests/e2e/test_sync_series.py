"""Recurring series with exceptions through the real clients (issue 23, point 4).

Patterns tested: a daily series of 5 and a weekly series of 4 (Europe/London, America/New_York), with a moved
occurrence, an occurrence edited (subject, location) and a deleted occurrence, made in Outlook: the Salesforce
series (``Recurrence2PatternText``) holds the pattern, and its occurrence Events (``RecurrenceActivityId``) the
exceptions. Salesforce occurrence Events never come down as items of their own."""

from __future__ import annotations

import datetime as dt

from exchangelib.recurrence import DailyPattern, Recurrence, WeeklyPattern

from tests.e2e.actors import at

UTC = dt.UTC


def _quiet(engine, world) -> None:
    result = engine.sync()
    assert result.writes == 0, result.to_json()
    world.assert_no_meeting_messages()


def _occurrence(outlook, master_id: str, index: int):
    occurrence = outlook.calendar.get(id=master_id).occurrence(index=index)
    occurrence.refresh()
    return occurrence


def test_moved_and_deleted_occurrences_in_outlook_reach_salesforce(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    start = at(2, 9)
    recurrence = Recurrence(pattern=DailyPattern(interval=1), start=start.date(), number=5)
    master = outlook.create("Daily stand-up", start, at(2, 9, 30), recurrence=recurrence)
    moved = _occurrence(outlook, master, 2)
    moved.start, moved.end = moved.start + dt.timedelta(hours=2), moved.end + dt.timedelta(hours=2)
    moved.save(update_fields=["start", "end"], send_meeting_invitations="SendToNone")
    _occurrence(outlook, master, 4).delete(send_meeting_cancellations="SendToNone")

    engine.sync()
    series = sf.find_event("Daily stand-up", series=True)
    assert series is not None, [h.message for h in engine.health()]
    assert "COUNT=5" in series["Recurrence2PatternText"]
    starts = [o["StartDateTime"] for o in sf.occurrences(series["Id"])]
    day = dt.timedelta(days=1)
    assert starts == [start.astimezone(UTC), (start + day + dt.timedelta(hours=2)).astimezone(UTC),
                      (start + 2 * day).astimezone(UTC), (start + 4 * day).astimezone(UTC)]  # fmt: skip
    assert engine.health() == []
    # Salesforce's occurrence Events are parts of the series, never items of their own in Outlook.
    assert [i["subject"] for i in outlook.items("Salesforce")] == ["Daily stand-up"]
    _quiet(engine, world)


def test_an_occurrence_edited_later_in_outlook_updates_its_salesforce_occurrence(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    start = at(3, 15, tz="America/New_York")
    recurrence = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[start.isoweekday()], first_day_of_week=1),
        start=start.date(), number=4,
    )  # fmt: skip
    master = outlook.create("Pipeline call", start, start + dt.timedelta(hours=1), recurrence=recurrence,
                            tz="America/New_York")  # fmt: skip
    engine.sync()
    series = sf.find_event("Pipeline call", series=True)
    assert len(sf.occurrences(series["Id"])) == 4
    _quiet(engine, world)

    third = _occurrence(outlook, master, 3)
    third.subject, third.location = "Pipeline call (with legal)", "Room 9"
    third.save(update_fields=["subject", "location"], send_meeting_invitations="SendToNone")
    result = engine.sync()
    assert result.writes >= 1, result.to_json()
    rows = sf.occurrences(series["Id"])
    assert [(r["Subject"], r["Location"]) for r in rows] == [
        ("Pipeline call", None), ("Pipeline call", None), ("Pipeline call (with legal)", "Room 9"),
        ("Pipeline call", None),
    ]  # fmt: skip
    assert rows[2]["StartDateTime"] == (start + dt.timedelta(weeks=2)).astimezone(UTC)
    assert sf.get("Event", series["Id"])["Subject"] == "Pipeline call"
    _quiet(engine, world)

    # Deleting it afterwards removes that occurrence Event too (found by its original date).
    _occurrence(outlook, master, 3).delete(send_meeting_cancellations="SendToNone")
    engine.sync()
    assert [r["Subject"] for r in sf.occurrences(series["Id"])] == ["Pipeline call"] * 3
    _quiet(engine, world)


def test_a_salesforce_series_comes_down_as_one_series(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    sf.create_event(
        Subject="Team sync", StartDateTime=at(1, 11), DurationInMinutes=30,
        Recurrence2PatternText="RRULE:FREQ=DAILY;INTERVAL=1;COUNT=3", Recurrence2PatternTimeZone="Europe/London",
    )  # fmt: skip
    engine.sync()
    [item] = outlook.items("Salesforce")
    assert item["subject"] == "Team sync" and item["recurrence"] is not None
    _quiet(engine, world)


def test_an_occurrence_deleted_in_salesforce_leaves_the_outlook_series(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    start = at(2, 9)
    recurrence = Recurrence(pattern=DailyPattern(interval=1), start=start.date(), number=5)
    master = outlook.create("Morning check-in", start, at(2, 9, 15), recurrence=recurrence)
    moved = _occurrence(outlook, master, 4)
    moved.start, moved.end = moved.start + dt.timedelta(hours=3), moved.end + dt.timedelta(hours=3)
    moved.save(update_fields=["start", "end"], send_meeting_invitations="SendToNone")
    engine.sync()
    series = sf.find_event("Morning check-in", series=True)
    third = sf.occurrences(series["Id"])[2]
    assert third["StartDateTime"] == (start + dt.timedelta(days=2)).astimezone(UTC)
    _quiet(engine, world)

    sf.delete("Event", third["Id"])
    result = engine.sync()
    assert result.updated["exchange"] == 1, result.to_json()
    item = outlook.get(master)
    assert [d.start for d in item["deleted_occurrences"]] == [(start + dt.timedelta(days=2)).astimezone(UTC)]
    # The occurrence moved in Outlook stays moved: only the deleted one left the series.
    assert [o.start for o in item["modified_occurrences"]] == [(start + dt.timedelta(days=3, hours=3)).astimezone(UTC)]
    assert engine.health() == []
    _quiet(engine, world)


def test_an_occurrence_edited_in_salesforce_becomes_a_modified_occurrence_in_outlook(engine, world):
    """Issue 23.4(a): time, subject and location of one occurrence Event, edited in Salesforce, reach Outlook
    as a modified occurrence (UpdateItem on an OccurrenceItemId); the master and its other exceptions stay."""
    outlook, sf = world.outlook(), world.salesforce()
    start = at(2, 10, tz="Europe/Berlin")
    sf.create_event(
        Subject="Weekly forecast", StartDateTime=start, DurationInMinutes=45, Location="Room 1",
        Recurrence2PatternText="RRULE:FREQ=DAILY;INTERVAL=1;COUNT=4", Recurrence2PatternTimeZone="Europe/Berlin",
    )  # fmt: skip
    engine.sync()
    [item] = outlook.items("Salesforce")
    master = item["id"]
    _quiet(engine, world)

    series = sf.find_event("Weekly forecast", series=True)
    occurrences = sf.occurrences(series["Id"])
    second, fourth = occurrences[1], occurrences[3]
    moved = second["StartDateTime"] + dt.timedelta(hours=3)
    sf.update("Event", second["Id"], StartDateTime=moved, EndDateTime=moved + dt.timedelta(minutes=45))
    sf.update("Event", fourth["Id"], Subject="Weekly forecast (board)", Location="Board room")
    result = engine.sync()
    assert result.updated["exchange"] >= 1, result.to_json()
    assert engine.health() == [], [h.message for h in engine.health()]

    got = outlook.get(master)
    assert got["recurrence"] is not None and got["subject"] == "Weekly forecast"
    assert got["deleted_occurrences"] in (None, [])
    assert sorted(o.start for o in got["modified_occurrences"]) == sorted(
        [moved, fourth["StartDateTime"]]
    )  # fmt: skip
    board = _occurrence(outlook, master, 4)
    assert (board.subject, board.location) == ("Weekly forecast (board)", "Board room")
    late = _occurrence(outlook, master, 2)
    assert (late.subject, late.location, late.start) == ("Weekly forecast", "Room 1", moved)
    world.assert_no_meeting_messages()
    # Nothing comes back to Salesforce: both sides agree.
    _quiet(engine, world)
    assert [r["Subject"] for r in sf.occurrences(series["Id"])] == ["Weekly forecast"] * 3 + ["Weekly forecast (board)"]

    # Editing the same occurrence again moves it again; deleting another still deletes only that one.
    sf.update("Event", second["Id"], Location="Room 7")
    sf.delete("Event", occurrences[2]["Id"])
    engine.sync()
    got = outlook.get(master)
    assert [d.start for d in got["deleted_occurrences"]] == [occurrences[2]["StartDateTime"]]
    assert _occurrence(outlook, master, 2).location == "Room 7"
    assert _occurrence(outlook, master, 4).subject == "Weekly forecast (board)"
    assert engine.health() == []
    _quiet(engine, world)


def _weekly_with_exceptions(engine, world, subject: str, tz: str = "Europe/Berlin"):
    """An Outlook weekly series of 5 (Berlin) with occurrence 2 moved by two hours and occurrence 4 deleted,
    synced: (master id, first start, Salesforce series row)."""
    outlook, sf = world.outlook(), world.salesforce()
    start = at(1, 10, tz=tz)
    recurrence = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[start.isoweekday()], first_day_of_week=1),
        start=start.date(), number=5,
    )  # fmt: skip
    master = outlook.create(subject, start, start + dt.timedelta(hours=1), recurrence=recurrence, tz=tz)
    moved = _occurrence(outlook, master, 2)
    moved.start, moved.end = moved.start + dt.timedelta(hours=2), moved.end + dt.timedelta(hours=2)
    moved.save(update_fields=["start", "end"], send_meeting_invitations="SendToNone")
    _occurrence(outlook, master, 4).delete(send_meeting_cancellations="SendToNone")
    engine.sync()
    series = sf.find_event(subject, series=True)
    assert series is not None and len(sf.occurrences(series["Id"])) == 4, [h.message for h in engine.health()]
    _quiet(engine, world)
    return master, start, series


def test_a_longer_pattern_in_salesforce_keeps_outlook_exceptions_on_both_sides(engine, world):
    """Issue 23.4(b): COUNT 5 → 8 in Salesforce. Every exception's original date is still in the pattern:
    Outlook's moved and deleted occurrences stay (re-applied after the master's rewrite), and the org's
    re-created occurrence Events get them back."""
    outlook, sf = world.outlook(), world.salesforce()
    master, start, series = _weekly_with_exceptions(engine, world, "Account review")
    pattern = series["Recurrence2PatternText"]
    sf.update("Event", series["Id"], Recurrence2PatternText=pattern.replace("COUNT=5", "COUNT=8"))
    engine.sync()
    assert engine.health() == [], [h.message for h in engine.health()]
    week = dt.timedelta(weeks=1)
    got = outlook.get(master)
    assert got["recurrence"].boundary.number == 8
    assert [d.start for d in got["deleted_occurrences"]] == [(start + 3 * week).astimezone(UTC)]
    assert [o.start for o in got["modified_occurrences"]] == [(start + week + dt.timedelta(hours=2)).astimezone(UTC)]
    rows = sf.occurrences(series["Id"])
    expected = [start, start + week + dt.timedelta(hours=2), start + 2 * week, *(start + n * week for n in range(4, 8))]
    assert [r["StartDateTime"] for r in rows] == [s.astimezone(UTC) for s in expected]
    world.assert_no_meeting_messages()
    _quiet(engine, world)


def test_a_new_weekday_in_salesforce_keeps_the_exceptions_still_in_the_pattern_and_notes_the_others(engine, world):
    """Issue 23.4(b): weekly on one day → that day and two days later, COUNT 5. The moved occurrence (week 2)
    is still in the pattern and stays moved on both sides; the deleted one (week 4) is not: it is dropped,
    and a health entry ``recurrence_exceptions_dropped`` says so."""
    outlook, sf = world.outlook(), world.salesforce()
    master, start, series = _weekly_with_exceptions(engine, world, "Territory call")
    days = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
    first, other = days[start.weekday()], days[(start.weekday() + 2) % 7]
    rule = f"RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY={first},{other};COUNT=5;WKST=MO"
    if (start.weekday() + 2) % 7 < start.weekday():
        rule = f"RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY={other},{first};COUNT=5;WKST=MO"
    sf.update("Event", series["Id"], Recurrence2PatternText=rule)
    engine.sync()
    [note] = engine.health()
    assert note.code == "recurrence_exceptions_dropped", note.message
    assert (start + dt.timedelta(weeks=3)).date().isoformat() in note.message
    got = outlook.get(master)
    assert got["deleted_occurrences"] in (None, [])
    week = dt.timedelta(weeks=1)
    assert [o.start for o in got["modified_occurrences"]] == [(start + week + dt.timedelta(hours=2)).astimezone(UTC)]
    rows = sf.occurrences(series["Id"])
    assert len(rows) == 5
    assert (start + week + dt.timedelta(hours=2)).astimezone(UTC) in [r["StartDateTime"] for r in rows]
    assert (start + week).astimezone(UTC) not in [r["StartDateTime"] for r in rows]
    world.assert_no_meeting_messages()
    _quiet(engine, world)


def test_a_pattern_change_in_outlook_drops_the_exceptions_on_both_sides(engine, world):
    """Issue 23.4(b), the other way: Exchange itself drops a series' exceptions when its pattern changes; the
    Salesforce series takes the new pattern and re-creates plain occurrence Events (nothing silently kept)."""
    outlook, sf = world.outlook(), world.salesforce()
    master, start, series = _weekly_with_exceptions(engine, world, "Forecast call")
    item = outlook.calendar.get(id=master)
    item.recurrence = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[start.isoweekday()], first_day_of_week=1),
        start=start.date(), number=6,
    )  # fmt: skip
    item.save(update_fields=["recurrence"], send_meeting_invitations="SendToNone")
    assert outlook.get(master)["modified_occurrences"] in (None, [])
    engine.sync()
    assert engine.health() == [], [h.message for h in engine.health()]
    row = sf.get("Event", series["Id"])
    assert "COUNT=6" in row["Recurrence2PatternText"]
    week = dt.timedelta(weeks=1)
    assert [r["StartDateTime"] for r in sf.occurrences(series["Id"])] == [
        (start + n * week).astimezone(UTC) for n in range(6)
    ]
    _quiet(engine, world)


def test_a_deleted_outlook_series_comes_back_with_its_salesforce_exceptions_under_downsync_only(engine, world):
    """Issue 23.4(c): under ``downsync_only`` a series the rep deletes in Outlook is made again from Salesforce,
    with the occurrences moved, edited and deleted there (not a plain series)."""
    engine.set_policy(direction="downsync_only")
    outlook, sf = world.outlook(), world.salesforce()
    start = at(2, 8, 30, tz="America/New_York")
    series_id = sf.create_event(
        Subject="Ops stand-up", StartDateTime=start, DurationInMinutes=15, Location="Bridge",
        Recurrence2PatternText="RRULE:FREQ=DAILY;INTERVAL=1;COUNT=5", Recurrence2PatternTimeZone="America/New_York",
    )  # fmt: skip
    rows = sf.occurrences(series_id)
    moved = rows[1]["StartDateTime"] + dt.timedelta(hours=1)
    sf.update("Event", rows[1]["Id"], StartDateTime=moved, EndDateTime=moved + dt.timedelta(minutes=15))
    sf.update("Event", rows[2]["Id"], Subject="Ops stand-up (incident review)")
    sf.delete("Event", rows[3]["Id"])
    engine.sync()
    [item] = outlook.items("Salesforce")

    def exceptions(master: str) -> tuple[list, list, str]:
        got = outlook.get(master)
        return (sorted(o.start for o in got["modified_occurrences"] or ()),
                [d.start for d in got["deleted_occurrences"] or ()],
                _occurrence(outlook, master, 3).subject)  # fmt: skip

    expected = ([moved, rows[2]["StartDateTime"]], [rows[3]["StartDateTime"]], "Ops stand-up (incident review)")
    assert exceptions(item["id"]) == expected, [h.message for h in engine.health()]
    _quiet(engine, world)

    outlook.delete(item["id"])
    engine.sync()
    [again] = outlook.items("Salesforce")
    assert again["id"] != item["id"] and again["subject"] == "Ops stand-up"
    assert exceptions(again["id"]) == expected
    assert engine.health() == [], [h.message for h in engine.health()]
    world.assert_no_meeting_messages()
    _quiet(engine, world)
    assert len(sf.occurrences(series_id)) == 4  # Salesforce untouched


def test_an_occurrence_moved_to_another_day_in_outlook_and_edited_later_in_salesforce(engine, world):
    """Issue 23.4(d): Outlook → Salesforce with an occurrence moved onto another day (and retitled) and one
    deleted: one Salesforce series with those exceptions, no ``recurrence_exceptions_unsupported``; then the
    moved occurrence edited in Salesforce comes back to the same Outlook occurrence (found by its original
    date through the tag, not by the day it sits on now)."""
    outlook, sf = world.outlook(), world.salesforce()
    start = at(3, 16, tz="America/New_York")
    recurrence = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[start.isoweekday()], first_day_of_week=1),
        start=start.date(), number=4,
    )  # fmt: skip
    master = outlook.create("QBR prep", start, start + dt.timedelta(minutes=30), recurrence=recurrence,
                            tz="America/New_York")  # fmt: skip
    second = _occurrence(outlook, master, 2)
    second.start, second.end = second.start + dt.timedelta(days=1), second.end + dt.timedelta(days=1)
    second.subject = "QBR prep (moved)"
    second.save(update_fields=["start", "end", "subject"], send_meeting_invitations="SendToNone")
    _occurrence(outlook, master, 3).delete(send_meeting_cancellations="SendToNone")
    engine.sync()
    assert engine.health() == [], [(h.code, h.message) for h in engine.health()]
    series = sf.find_event("QBR prep", series=True)
    week, day = dt.timedelta(weeks=1), dt.timedelta(days=1)
    rows = sf.occurrences(series["Id"])
    assert [(r["Subject"], r["StartDateTime"]) for r in rows] == [
        ("QBR prep", start.astimezone(UTC)), ("QBR prep (moved)", (start + week + day).astimezone(UTC)),
        ("QBR prep", (start + 3 * week).astimezone(UTC)),
    ]  # fmt: skip
    _quiet(engine, world)

    sf.update("Event", rows[1]["Id"], Location="Client office")
    engine.sync()
    moved = _occurrence(outlook, master, 2)
    assert (moved.subject, moved.location, moved.start) == ("QBR prep (moved)", "Client office",
                                                            (start + week + day).astimezone(UTC))  # fmt: skip
    assert [d.start for d in outlook.get(master)["deleted_occurrences"]] == [(start + 2 * week).astimezone(UTC)]
    assert engine.health() == []
    _quiet(engine, world)


def test_an_occurrence_moved_past_its_neighbour_in_salesforce_is_refused_by_outlook_and_said(engine, world):
    """Salesforce lets a rep move an occurrence Event onto the day of the next one; Exchange refuses to move an
    occurrence to or past a neighbouring occurrence's day (``ErrorOccurrenceCrossingBoundary``). The pair
    fails with a health entry that says so, nothing is reverted on either side, and moving it back within
    its own day syncs and closes the entry."""
    outlook, sf = world.outlook(), world.salesforce()
    start = at(2, 9, tz="Asia/Tokyo")
    series_id = sf.create_event(
        Subject="APAC sync", StartDateTime=start, DurationInMinutes=30,
        Recurrence2PatternText="RRULE:FREQ=DAILY;INTERVAL=1;COUNT=3", Recurrence2PatternTimeZone="Asia/Tokyo",
    )  # fmt: skip
    engine.sync()
    [item] = outlook.items("Salesforce")
    _quiet(engine, world)
    second = sf.occurrences(series_id)[1]
    onto = second["StartDateTime"] + dt.timedelta(days=1, hours=4)  # day 3, after the third occurrence
    sf.update("Event", second["Id"], StartDateTime=onto, EndDateTime=onto + dt.timedelta(minutes=30))
    engine.sync()
    [entry] = engine.health()
    assert entry.code == "exchange_rejected" and "neighbouring occurrence" in entry.message, entry.message
    assert _occurrence(outlook, item["id"], 2).start == second["StartDateTime"]
    assert onto in [r["StartDateTime"] for r in sf.occurrences(series_id)]  # the rep's move stays
    world.assert_no_meeting_messages()

    later = second["StartDateTime"] + dt.timedelta(hours=8)  # the same day in Tokyo
    sf.update("Event", second["Id"], StartDateTime=later, EndDateTime=later + dt.timedelta(minutes=30))
    engine.sync()
    assert engine.health() == [], [h.message for h in engine.health()]
    assert _occurrence(outlook, item["id"], 2).start == later
    _quiet(engine, world)


def test_a_series_moved_to_a_later_hour_in_salesforce_keeps_its_exceptions(engine, world):
    """Issue 23.4(b): the series' start moves an hour later in Salesforce (the org re-creates its occurrence
    Events, Exchange drops a rewritten master's exceptions). The retitled occurrence follows the series to the
    new hour; the moved one stays where it was moved to; the deleted one stays deleted; on both sides."""
    outlook, sf = world.outlook(), world.salesforce()
    master, start, series = _weekly_with_exceptions(engine, world, "Pricing call")
    third = _occurrence(outlook, master, 3)
    third.subject = "Pricing call (CFO)"
    third.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    engine.sync()
    _quiet(engine, world)
    hour, week = dt.timedelta(hours=1), dt.timedelta(weeks=1)
    sf.update("Event", series["Id"], StartDateTime=start + hour, EndDateTime=start + 2 * hour)
    engine.sync()
    assert engine.health() == [], [h.message for h in engine.health()]
    later = start + hour
    expected = [(later, "Pricing call"), (start + week + 2 * hour, "Pricing call"),
                (later + 2 * week, "Pricing call (CFO)"), (later + 4 * week, "Pricing call")]  # fmt: skip
    rows = sf.occurrences(series["Id"])
    assert [(r["StartDateTime"], r["Subject"]) for r in rows] == [(s.astimezone(UTC), t) for s, t in expected]
    got = outlook.get(master)
    assert got["start"] == later.astimezone(UTC)
    assert [d.start for d in got["deleted_occurrences"]] == [(later + 3 * week).astimezone(UTC)]
    occurrences = [_occurrence(outlook, master, i) for i in (1, 2, 3, 5)]
    assert [(o.start, o.subject) for o in occurrences] == [(s.astimezone(UTC), t) for s, t in expected]
    world.assert_no_meeting_messages()
    _quiet(engine, world)


def test_an_all_day_series_with_a_retitled_and_a_deleted_day_reaches_salesforce(engine, world):
    """An all-day daily series of 4 (America/New_York) made in Outlook, one day retitled and one deleted: one
    Salesforce all-day series whose occurrence Events hold those exceptions; a later retitle in Salesforce comes
    back to that Outlook day."""
    from tests.e2e.actors import day

    outlook, sf = world.outlook(), world.salesforce()
    first = day(3)
    recurrence = Recurrence(pattern=DailyPattern(interval=1), start=first, number=4)
    master = outlook.create("Trade show", first, first, all_day=True, tz="America/New_York", recurrence=recurrence)
    second = _occurrence(outlook, master, 2)
    second.subject = "Trade show (setup)"
    second.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    _occurrence(outlook, master, 4).delete(send_meeting_cancellations="SendToNone")
    engine.sync()
    assert engine.health() == [], [(h.code, h.message) for h in engine.health()]
    series = sf.find_event("Trade show", series=True)
    assert series["IsAllDayEvent"]
    rows = sf.occurrences(series["Id"])
    assert [(r["ActivityDate"], r["Subject"]) for r in rows] == [
        (first, "Trade show"), (first + dt.timedelta(days=1), "Trade show (setup)"),
        (first + dt.timedelta(days=2), "Trade show"),
    ]  # fmt: skip
    _quiet(engine, world)

    sf.update("Event", rows[2]["Id"], Subject="Trade show (teardown)")
    engine.sync()
    assert _occurrence(outlook, master, 3).subject == "Trade show (teardown)"
    assert engine.health() == [], [(h.code, h.message) for h in engine.health()]
    _quiet(engine, world)
