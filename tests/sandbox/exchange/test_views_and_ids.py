"""Calendar views as Exchange computes them (boundaries, MaxEntriesReturned, the range and count limits,
recurring expansion with modified and deleted occurrences) and ids: every id the sandbox hands out is accepted
back by every operation that takes one. All through exchangelib."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorCalendarViewRangeTooBig, ErrorExceededFindCountLimit
from exchangelib.folders import Folder
from exchangelib.properties import EWS_ID, AlternateId
from exchangelib.recurrence import Recurrence, WeeklyPattern
from exchangelib.services import GetFolder

from .conftest import ALICE

UTC = EWSTimeZone("UTC")
LONDON = EWSTimeZone("Europe/London")


def _at(day: int, hour: int, minute: int = 0) -> EWSDateTime:
    return EWSDateTime(2026, 6, day, hour, minute, tzinfo=UTC)


def _item(account, subject, start, end, **kw) -> CalendarItem:
    item = CalendarItem(account=account, folder=account.calendar, subject=subject, start=start, end=end, **kw)
    item.save(send_meeting_invitations="SendToNone")
    return item


def _subjects(account, start, end, **kw) -> list[str]:
    return [i.subject for i in account.calendar.view(start=start, end=end, **kw).only("subject")]


def test_view_boundaries_are_exchanges(alice):
    start, end = _at(10, 9), _at(10, 17)
    _item(alice, "ends at the view start", _at(10, 8), start)
    _item(alice, "starts at the view end", end, _at(10, 18))
    _item(alice, "zero length at the start", start, start)
    _item(alice, "zero length at the end", end, end)
    _item(alice, "inside", _at(10, 10), _at(10, 11))
    _item(alice, "spans the view", _at(10, 7), _at(10, 19))
    _item(alice, "before", _at(10, 6), _at(10, 7))
    # CalendarView StartDate: "all calendar items that have an end time that is before StartDate will not be
    # returned"; EndDate: "... a start time that is on or after EndDate will not be returned".
    assert sorted(_subjects(alice, start, end)) == sorted(
        ["ends at the view start", "zero length at the start", "inside", "spans the view"]
    )
    # EndDate may equal StartDate: what is on at that instant or ends then (what starts then starts "on EndDate").
    assert sorted(_subjects(alice, start, start)) == sorted(["ends at the view start", "spans the view"])


def test_an_occurrence_ending_at_the_view_start_is_expanded(alice):
    weekly = Recurrence(pattern=WeeklyPattern(interval=1, weekdays=["Monday"]), start=EWSDate(2026, 6, 1), number=3)
    _item(alice, "weekly", _at(1, 8), _at(1, 9), recurrence=weekly)
    assert _subjects(alice, _at(8, 9), _at(8, 12)) == ["weekly"]  # the 8 June occurrence ends at 9:00
    assert _subjects(alice, _at(8, 9, 1), _at(8, 12)) == []


def test_max_entries_returned_truncates_to_the_earliest(alice):
    for hour in (15, 9, 12, 10, 16, 11, 13, 14):
        _item(alice, f"{hour}:00", _at(11, hour), _at(11, hour, 30))
    got = _subjects(alice, _at(11, 0), _at(12, 0), max_items=5)
    assert got == ["9:00", "10:00", "11:00", "12:00", "13:00"]


def test_a_view_longer_than_two_years_is_refused(alice):
    with pytest.raises(ErrorCalendarViewRangeTooBig):
        _subjects(alice, _at(1, 0), _at(1, 0) + dt.timedelta(days=2 * 365 + 2))
    assert _subjects(alice, _at(1, 0), _at(1, 0) + dt.timedelta(days=2 * 365)) == []


def test_more_than_the_find_count_limit_needs_max_entries(alice):
    base = _at(1, 0)
    items = [
        CalendarItem(
            account=alice,
            folder=alice.calendar,
            subject=f"n{i}",
            start=base + dt.timedelta(hours=i),
            end=base + dt.timedelta(hours=i, minutes=30),
        )
        for i in range(1001)
    ]
    alice.bulk_create(folder=alice.calendar, items=items, send_meeting_invitations="SendToNone")
    window = (base, base + dt.timedelta(days=60))
    with pytest.raises(ErrorExceededFindCountLimit):
        _subjects(alice, *window)
    assert len(_subjects(alice, *window, max_items=1000)) == 1000


# -- ids ----------------------------------------------------------------------------------------------------------
def _series(alice):
    weekly = Recurrence(pattern=WeeklyPattern(interval=1, weekdays=["Monday"]), start=EWSDate(2026, 6, 1), number=4)
    master = _item(alice, "series", _at(1, 9), _at(1, 10), recurrence=weekly)
    second = master.occurrence(index=2)
    second.refresh()
    second.subject = "series (changed)"
    second.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    third = master.occurrence(index=3)
    third.refresh()
    third.delete(send_meeting_cancellations="SendToNone")
    return master


def test_occurrence_and_master_ids_work_everywhere(alice):
    master = _series(alice)
    view = list(alice.calendar.view(start=_at(1, 0), end=_at(30, 0)))
    assert [(i.type, i.subject) for i in view] == [
        ("Occurrence", "series"),
        ("Exception", "series (changed)"),
        ("Occurrence", "series"),
    ]
    for occurrence in view:
        # GetItem by the id the view gave, and the master from an occurrence (RecurringMasterItemId).
        (again,) = alice.fetch(ids=[(occurrence.id, occurrence.changekey)])
        assert again.subject == occurrence.subject
        parent = occurrence.recurring_master()
        parent.refresh()
        assert parent.id == master.id and parent.type == "RecurringMaster"
    # Occurrence by index and master from that occurrence.
    fourth = master.occurrence(index=4)
    fourth.refresh()
    assert fourth.start == _at(22, 9)
    master_again = fourth.recurring_master()
    master_again.refresh()
    assert master_again.subject == "series"
    # Update and delete by the view's occurrence id.
    last = view[-1]
    last.location = "room 4"
    last.save(update_fields=["location"], send_meeting_invitations="SendToNone")
    (changed,) = alice.fetch(ids=[(last.id, None)])
    assert changed.location == "room 4"
    last.delete(send_meeting_cancellations="SendToNone")
    assert [i.subject for i in alice.calendar.view(start=_at(1, 0), end=_at(30, 0))] == [
        "series",
        "series (changed)",
    ]


def test_converted_ids_and_folder_ids_are_accepted_back(alice):
    master = _series(alice)
    occurrence = next(iter(alice.calendar.view(start=_at(8, 0), end=_at(9, 0))))
    for item_id in (master.id, occurrence.id):
        for fmt in ("EntryId", "HexEntryId", "EwsLegacyId", "StoreId", "OwaId"):
            (other,) = alice.protocol.convert_ids([AlternateId(id=item_id, format=EWS_ID, mailbox=ALICE.email)], fmt)
            (back,) = alice.protocol.convert_ids([AlternateId(id=other.id, format=fmt, mailbox=ALICE.email)], EWS_ID)
            assert back.id == item_id, fmt
            (fetched,) = alice.fetch(ids=[(back.id, None)])
            assert fetched.subject.startswith("series")
    # Folder ids from FindFolder, SyncFolderHierarchy and notifications reach GetFolder and Subscribe.
    folder_ids = {f.id for f in alice.msg_folder_root.children}
    folder_ids |= {f.id for _, f in alice.msg_folder_root.sync_hierarchy()}
    wanted = [Folder(root=alice.root, id=i) for i in folder_ids]
    got = list(GetFolder(account=alice).call(folders=wanted, additional_fields=[], shape="IdOnly"))
    assert {f.id for f in got} == folder_ids
    sub_id, watermark = alice.calendar.subscribe_to_pull()
    copied_id, _ = master.copy(alice.trash)
    events = [e for n in alice.calendar.get_events(sub_id, watermark) for e in n.events]
    for e in events:
        if e.event_type == "item":
            (fetched,) = alice.fetch(ids=[(e.item_id.id, None)])
            assert fetched.id == e.item_id.id
    assert copied_id in {e.item_id.id for e in events}
