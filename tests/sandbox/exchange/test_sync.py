"""SyncFolderItems through exchangelib: collapsed changes since a state, paging with MaxChangesReturned, invalid
states, and a 10,000-item calendar paged 512 changes at a time."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorInvalidSyncStateData
from exchangelib.services import SyncFolderItems

from sandbox.exchange.xml import el, fmt_datetime, t

from .conftest import ALICE

LONDON = EWSTimeZone("Europe/London")


def _new(account, subject, day=0):
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime(2026, 11, 2, 9, tzinfo=LONDON) + dt.timedelta(days=day),
        end=EWSDateTime(2026, 11, 2, 10, tzinfo=LONDON) + dt.timedelta(days=day),
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


def sync(folder, **kw):
    changes = [(kind, item.id, getattr(item, "subject", None)) for kind, item in folder.sync_items(**kw)]
    return changes, folder.item_sync_state


def test_changes_are_collapsed_since_the_state(alice):
    kept, changed, doomed = _new(alice, "kept"), _new(alice, "changed"), _new(alice, "doomed")
    first, state = sync(alice.calendar, only_fields=["subject"])
    assert sorted((k, s) for k, _, s in first) == [("create", "changed"), ("create", "doomed"), ("create", "kept")]

    born = _new(alice, "born")
    born.subject = "born and edited"
    born.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    fleeting = _new(alice, "fleeting")
    fleeting.delete(send_meeting_cancellations="SendToNone")
    changed.subject = "changed twice"
    changed.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    changed.location = "somewhere"
    changed.save(update_fields=["location"], send_meeting_invitations="SendToNone")
    doomed_id = doomed.id
    doomed.subject = "edited then deleted"
    doomed.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    doomed.delete(send_meeting_cancellations="SendToNone")

    second, state2 = sync(alice.calendar, sync_state=state, only_fields=["subject"])
    assert sorted((k, s) for k, _, s in second) == [
        ("create", "born and edited"),  # created and updated since: one Create
        ("delete", None),  # updated then deleted: Delete
        ("update", "changed twice"),  # updated twice: one Update
    ]
    assert [i for k, i, _ in second if k == "delete"] == [doomed_id]
    assert kept.id not in [i for _, i, _ in second]
    # Nothing since: an empty answer and a state that still works.
    third, state3 = sync(alice.calendar, sync_state=state2)
    assert third == [] and state3


def test_invalid_sync_states_are_refused(alice):
    _new(alice, "x")
    _, state = sync(alice.calendar)
    bad = [state[:-4] + "AAAA", "not base64!", "djE6eHg6eXk6MToy"]  # tampered, garbage, well-formed but foreign
    for value in bad:
        with pytest.raises(ErrorInvalidSyncStateData):
            list(alice.calendar.sync_items(sync_state=value))
    # A state of one folder is not valid for another.
    with pytest.raises(ErrorInvalidSyncStateData):
        list(alice.trash.sync_items(sync_state=state))


def test_error_answer_keeps_state_and_last_item_flag(alice):
    svc = SyncFolderItems(account=alice, chunk_size=None)
    payload = svc.get_payload(
        folder=alice.calendar,
        shape="IdOnly",
        additional_fields=None,
        sync_state="garbage",
        ignore=None,
        max_changes_returned=10,
        sync_scope=None,
    )
    message = svc._get_response_xml(payload=payload)[0]
    m = "{http://schemas.microsoft.com/exchange/services/2006/messages}"
    assert message.findtext(f"{m}ResponseCode") == "ErrorInvalidSyncStateData"
    assert message.find(f"{m}SyncState") is not None and message.findtext(f"{m}IncludesLastItemInRange") == "true"


def test_changes_made_while_paging_are_not_lost(alice):
    items = [_new(alice, f"item {n}", n) for n in range(7)]
    svc = SyncFolderItems(account=alice, chunk_size=None)
    page1 = list(
        svc.call(
            folder=alice.calendar,
            shape="IdOnly",
            additional_fields=None,
            sync_state=None,
            ignore=None,
            max_changes_returned=3,
            sync_scope=None,
        )
    )
    assert len(page1) == 3 and svc.includes_last_item_in_range is False
    state = svc.sync_state
    # While paging: an already listed item is deleted, an unlisted one edited, a new one created.
    listed_id = page1[0][1].id
    unlisted = next(i for i in items if i.id not in {c[1].id for c in page1})
    next(i for i in items if i.id == listed_id).delete(send_meeting_cancellations="SendToNone")
    unlisted.subject = "edited while paging"
    unlisted.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    _new(alice, "new while paging")
    rest = list(alice.calendar.sync_items(sync_state=state, only_fields=["subject"], max_changes_returned=3))
    kinds = sorted((k, getattr(i, "subject", None)) for k, i in rest)
    assert ("delete", None) in kinds
    assert ("create", "edited while paging") in kinds  # never listed before, so still a Create
    assert ("create", "new while paging") in kinds
    seen = {c[1].id for c in page1} | {i.id for k, i in rest if k == "create"}
    assert len(seen) == 8


def _seed_directly(env, count):
    """Put ``count`` items straight into Alice's calendar (far faster than CreateItem)."""
    store = env.sandbox.store
    with store.lock:
        mb = store.mailbox(ALICE.email)
        folder = mb.folder("calendar")
        base = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
        for n in range(count):
            item = store.new_item(mb, folder)
            start = base + dt.timedelta(hours=n)
            item.fields = {
                "Subject": el(t("Subject"), f"bulk {n}"),
                "Start": el(t("Start"), fmt_datetime(start)),
                "End": el(t("End"), fmt_datetime(start + dt.timedelta(minutes=30))),
                "IsAllDayEvent": el(t("IsAllDayEvent"), "false"),
                "UID": el(t("UID"), f"uid-{n}"),
            }
    return mb


@pytest.mark.slow
def test_sync_state_across_ten_thousand_items(env, alice):
    mb = _seed_directly(env, 10_000)
    svc = SyncFolderItems(account=alice, chunk_size=None)
    state, seen, pages = None, set(), 0
    started = time.monotonic()
    while True:
        changes = list(
            svc.call(
                folder=alice.calendar,
                shape="IdOnly",
                additional_fields=None,
                sync_state=state,
                ignore=None,
                max_changes_returned=512,
                sync_scope=None,
            )
        )
        pages += 1
        assert len(changes) <= 512
        assert all(kind == "create" for kind, _ in changes)
        seen.update(item.id for _, item in changes)
        state = svc.sync_state
        if svc.includes_last_item_in_range:
            break
    elapsed = time.monotonic() - started
    assert len(seen) == 10_000 and pages == 20  # 19 full pages and one of 272
    assert elapsed < 60

    # Collapsing across the big folder: delete 600 (more than a page), edit 300, then page again.
    ids = sorted(seen)
    store = env.sandbox.store
    with store.lock:
        for item_id in ids[:600]:
            store.remove_item(mb, mb.items[item_id])
        for item_id in ids[600:900]:
            store.touch(mb.items[item_id])
    kinds = {}
    while True:
        changes = list(
            svc.call(
                folder=alice.calendar,
                shape="IdOnly",
                additional_fields=None,
                sync_state=state,
                ignore=None,
                max_changes_returned=512,
                sync_scope=None,
            )
        )
        for kind, item in changes:
            kinds[item.id] = kind
        state = svc.sync_state
        if svc.includes_last_item_in_range:
            break
    assert sorted(kinds.values()).count("delete") == 600 and sorted(kinds.values()).count("update") == 300
    assert len(kinds) == 900
