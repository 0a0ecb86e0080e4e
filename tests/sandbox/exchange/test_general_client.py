"""What a general EWS client (exchangelib's own real-server tests, issue 17) expects of Exchange beyond what
calsync uses: FindFolder restrictions, the root folder's name, a CalendarView that takes no restriction, and
calendar folders made, renamed and deleted by the client. All through unmodified exchangelib."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, Message, Q
from exchangelib.errors import (
    ErrorDeleteDistinguishedFolder,
    ErrorFolderExists,
    ErrorFolderNotFound,
    ErrorInvalidItemForOperationCreateItem,
    ErrorInvalidOperation,
    ErrorInvalidSubscription,
    ErrorItemNotFound,
    ErrorMoveDistinguishedFolder,
    ErrorNewEventStreamConnectionOpened,
    ErrorObjectTypeChanged,
    ErrorSubscriptionNotFound,
)
from exchangelib.folders import Calendar, Folder, FolderCollection

from .conftest import ALICE

UTC = EWSTimeZone("UTC")


def _names(account, q) -> list[str]:
    return sorted(f.name for f in FolderCollection(account=account, folders=[account.root]).find_folders(q=q))


def test_find_folder_applies_the_restriction(alice):
    tois = alice.root.tois.name
    assert _names(alice, Q(name=tois)) == [tois]
    assert _names(alice, Q(name__startswith=tois[:6])) == [tois]
    # Contains is case-sensitive unless asked otherwise; IsEqualTo is not.
    assert _names(alice, Q(name__startswith=tois[:6].lower())) == []
    assert _names(alice, Q(name__istartswith=tois[:6].lower())) == [tois]
    assert _names(alice, Q(name="calendar")) == ["Calendar"]
    assert "Calendar" not in _names(alice, ~Q(name="Calendar"))


def test_the_mailbox_root_is_named_root(alice):
    assert alice.root.name == "root"
    assert alice.calendar.absolute == "/root/Top of Information Store/Calendar"
    assert [f.name for f in alice.calendar.parts] == ["root", "Top of Information Store", "Calendar"]


def test_a_calendar_view_takes_no_restriction(alice):
    start = EWSDateTime(2026, 6, 1, 9, tzinfo=UTC)
    end = EWSDateTime(2026, 6, 1, 10, tzinfo=UTC)
    CalendarItem(account=alice, folder=alice.calendar, subject="in view", start=start, end=end).save()
    view = alice.calendar.view(start=start, end=end)
    assert [i.subject for i in view] == ["in view"]
    with pytest.raises(ErrorInvalidOperation):
        view.filter(subject="in view").count()


def _new_calendar(account, name: str, parent=None) -> Calendar:
    return Calendar(parent=parent or account.calendar, name=name).save()


def test_a_client_creates_renames_and_deletes_a_calendar_folder(alice):
    team = _new_calendar(alice, "Team")
    assert team.id and team.changekey
    assert team.folder_class == "IPF.Appointment"
    with pytest.raises(ErrorFolderExists):
        _new_calendar(alice, "team")  # names compare case-insensitively
    assert [f.name for f in alice.calendar.children] == ["Team"]
    fetched = alice.calendar / "Team"
    assert (type(fetched), fetched.id) == (Calendar, team.id)

    old_key = team.changekey
    team.name = "Team meetings"
    team.save()
    assert team.changekey != old_key
    team.refresh()
    assert team.name == "Team meetings"
    with pytest.raises(ErrorObjectTypeChanged):
        team.folder_class = "IPF.Note"
        team.save(update_fields=["folder_class"])
    team.folder_class = "IPF.Appointment"

    # Its items are ordinary calendar items; deleting the folder deletes them.
    start = EWSDateTime(2026, 6, 2, 9, tzinfo=UTC)
    item = CalendarItem(account=alice, folder=team, subject="stand-up", start=start, end=start + dt.timedelta(hours=1))
    item.save()
    assert [i.subject for i in team.view(start=start, end=start + dt.timedelta(days=1))] == ["stand-up"]
    team_id, team_key = team.id, team.changekey
    team.delete()
    assert [f.name for f in alice.calendar.children] == []
    with pytest.raises(ErrorItemNotFound):
        alice.calendar.get(id=item.id, changekey=item.changekey)
    with pytest.raises(ErrorFolderNotFound):
        Calendar(root=alice.root, id=team_id, changekey=team_key).refresh()


def test_distinguished_folders_cannot_be_deleted(alice):
    with pytest.raises(ErrorDeleteDistinguishedFolder):
        alice.calendar.delete()


def test_empty_keeps_sub_folders_unless_asked(alice):
    parent = _new_calendar(alice, "Projects")
    _new_calendar(alice, "Apollo", parent=parent)
    start = EWSDateTime(2026, 6, 3, 9, tzinfo=UTC)
    CalendarItem(account=alice, folder=parent, subject="x", start=start, end=start + dt.timedelta(hours=1)).save()
    parent.empty()
    assert list(parent.all()) == []
    assert [f.name for f in parent.children] == ["Apollo"]
    parent.empty(delete_sub_folders=True)
    assert list(parent.children) == []


def test_move_keeps_the_id_and_changes_the_changekey(alice):
    a = _new_calendar(alice, "A")
    b = _new_calendar(alice, "B")
    a_id, a_key = a.id, a.changekey
    a.move(b)
    assert (a.id, a.parent.id) == (a_id, b.id) and a.changekey != a_key
    a.refresh()
    assert a.parent.id == b.id
    with pytest.raises(ErrorMoveDistinguishedFolder):
        alice.calendar.move(b)


def test_sync_hierarchy_reports_update_and_delete(alice):
    root = alice.msg_folder_root
    list(root.sync_hierarchy())
    state = root.folder_sync_state
    kept, dropped = _new_calendar(alice, "Kept"), _new_calendar(alice, "Dropped")
    # (exchangelib also looks up distinguished folders the sandbox makes on first use: those are creates too.)
    created = [(k, f.name) for k, f in root.sync_hierarchy(sync_state=state) if f.name in ("Kept", "Dropped")]
    assert sorted(created) == [("create", "Dropped"), ("create", "Kept")]
    state = root.folder_sync_state
    kept.name = "Kept (renamed)"
    kept.save()
    dropped_id = dropped.id
    dropped.delete()
    changes = list(root.sync_hierarchy(sync_state=state))
    assert [(k, f.name) for k, f in changes if k == "update"] == [("update", "Kept (renamed)")]
    assert [f.id for k, f in changes if k == "delete"] == [dropped_id]


def test_folder_changes_raise_notifications_on_the_parent(alice):
    sub_id, watermark = alice.calendar.subscribe_to_pull()
    team = _new_calendar(alice, "Team")
    team_id = team.id
    team.name = "Team 2"
    team.save()
    team.delete()
    events = [e for n in alice.calendar.get_events(sub_id, watermark) for e in n.events]
    # (The calendar's own ModifiedEvents, for its changed child list, are there too.)
    on_team = [type(e).__name__ for e in events if getattr(e, "folder_id", None) and e.folder_id.id == team_id]
    assert on_team == ["CreatedEvent", "ModifiedEvent", "DeletedEvent"]
    alice.calendar.unsubscribe(sub_id)


def test_a_pull_subscription_resumes_from_a_watermark(alice):
    # exchangelib sends the watermark as m:Watermark (Exchange takes it); the new subscription starts there.
    sub_id, watermark = alice.calendar.subscribe_to_pull()
    start = EWSDateTime(2026, 6, 4, 9, tzinfo=UTC)
    item = CalendarItem(account=alice, folder=alice.calendar, subject="a", start=start, end=start)
    item.save()
    alice.calendar.unsubscribe(sub_id)
    sub_id, _ = alice.calendar.subscribe_to_pull(watermark=watermark)
    events = [e for n in alice.calendar.get_events(sub_id, watermark) for e in n.events]
    assert ("CreatedEvent", item.id) in [(type(e).__name__, getattr(e.item_id, "id", None)) for e in events]
    alice.calendar.unsubscribe(sub_id)
    with pytest.raises(ErrorSubscriptionNotFound):
        alice.calendar.unsubscribe(sub_id)


def test_a_message_is_refused_with_a_schema_valid_code(alice):
    # The sandbox stores calendar items only; its answer must still be a ResponseCode Exchange can send.
    with pytest.raises(ErrorInvalidItemForOperationCreateItem):
        Message(account=alice, folder=alice.inbox, subject="mail").save()


def test_a_generic_folder_has_no_class_and_a_gone_one_is_not_found(alice):
    f = Folder(parent=alice.calendar, name="Plain").save()
    f.refresh()  # exchangelib checks it reads back the folder type it made
    assert (type(f), f.folder_class) == (Folder, None)
    with pytest.raises(ErrorFolderExists, match="Could not create folder 'plain'"):
        Folder(parent=alice.calendar, name="plain").save()
    folder_id, changekey = f.id, f.changekey
    f.delete()
    f.id, f.changekey = folder_id, changekey
    with pytest.raises(ErrorItemNotFound):
        f.save()  # UpdateFolder of a deleted folder


def test_user_configuration_dictionaries_round_trip_booleans(alice):
    dictionary = {False: "off key", 7: True, "flag": False, "list": ("a", "b")}
    alice.calendar.create_user_configuration(name="Prefs", dictionary=dictionary)
    assert alice.calendar.get_user_configuration(name="Prefs").dictionary == dictionary


def test_subscribe_sets_the_affinity_cookie(alice):
    alice.affinity_cookie = None
    sub_id = alice.calendar.subscribe_to_streaming()
    assert alice.affinity_cookie  # exchangelib sends it back on the requests that follow
    alice.calendar.unsubscribe(sub_id)


def test_streaming_names_a_malformed_subscription_id(alice):
    with pytest.raises(ErrorInvalidSubscription, match="Subscription is invalid"):
        list(alice.calendar.get_streaming_events("AAA-", connection_timeout=1, max_notifications_returned=1))


def _events(notifications, item_id) -> list[str]:
    return [
        type(e).__name__
        for n in notifications
        for e in n.events
        if getattr(e, "item_id", None) and e.item_id.id == item_id
    ]


def test_events_after_a_closed_stream_wait_for_the_next_connection(alice):
    # exchangelib hangs up after max_notifications_returned; what happens next belongs to its next connection.
    sub_id = alice.calendar.subscribe_to_streaming()
    start = EWSDateTime(2026, 6, 5, 9, tzinfo=UTC)
    item = CalendarItem(account=alice, folder=alice.calendar, subject="a", start=start, end=start)
    item.save()
    first = list(alice.calendar.get_streaming_events(sub_id, connection_timeout=1, max_notifications_returned=1))
    assert "CreatedEvent" in _events(first, item.id)
    item.subject = "b"
    item.save(update_fields=["subject"])
    second = list(alice.calendar.get_streaming_events(sub_id, connection_timeout=1, max_notifications_returned=1))
    assert _events(second, item.id)[:1] == ["ModifiedEvent"]
    alice.calendar.unsubscribe(sub_id)


def test_a_new_stream_connection_ends_the_old_one(env, alice):
    sub_id = alice.calendar.subscribe_to_streaming()
    outcome: list = []

    def listen() -> None:
        try:
            outcome.append(list(alice.calendar.get_streaming_events(sub_id, connection_timeout=1)))
        except ErrorNewEventStreamConnectionOpened as e:
            outcome.append(e)

    old = threading.Thread(target=listen)
    old.start()
    time.sleep(1)
    second = env.account(ALICE)
    start = EWSDateTime(2026, 6, 6, 9, tzinfo=UTC)
    item = CalendarItem(account=second, folder=second.calendar, subject="c", start=start, end=start)
    newer = threading.Thread(target=lambda: outcome.append(list(second.calendar.get_streaming_events(
        sub_id, connection_timeout=1, max_notifications_returned=1))))  # fmt: skip
    newer.start()
    time.sleep(1)
    item.save()
    newer.join(30)
    old.join(30)
    assert isinstance(outcome[0], ErrorNewEventStreamConnectionOpened)
    assert "CreatedEvent" in _events(outcome[1], item.id)
