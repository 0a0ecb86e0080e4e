"""What a general EWS client (exchangelib's own real-server tests, issue 17) expects of Exchange beyond what
calsync uses: FindFolder restrictions, the root folder's name, a CalendarView that takes no restriction, and
calendar folders made, renamed and deleted by the client. All through unmodified exchangelib."""

from __future__ import annotations

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, Q
from exchangelib.errors import ErrorInvalidOperation
from exchangelib.folders import FolderCollection

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
