"""The checker's faulty sides against the connector contract (the suite the real connectors pass against the
sandboxes, tests/e2e/test_connector_contract.py): with paged or reversed feeds they still pass it whole (a
sandbox's SyncFolderItems pages, and nothing promises an order across items); duplicated and replayed feeds break
its exact feed assertions by design, so their own tests below say what they give instead."""

from __future__ import annotations

import pytest

from sync.connectors.base import CREATE, DELETE, ItemChange, NewItem
from tests.checker.faults import Faults, FaultyCalendar, FaultyOrg
from tests.connectors.contract import ExchangeCalendarContract, SalesforceOrgContract


@pytest.mark.parametrize("feed", (None, "page", "reorder"))
class TestFaultyCalendar(ExchangeCalendarContract):
    @pytest.fixture
    def calendar(self, feed):
        return FaultyCalendar(faults=Faults(feed=feed))


@pytest.mark.parametrize("feed", (None, "reorder"))
class TestFaultyOrg(SalesforceOrgContract):
    @pytest.fixture
    def org(self, feed):
        return FaultyOrg(faults=Faults(feed=feed))

    @pytest.fixture
    def owner_id(self):
        return "005000000000000001"


def test_a_paged_feed_shows_an_item_changed_in_two_pages_twice_and_ends_at_its_last_state() -> None:
    calendar = FaultyCalendar(faults=Faults(feed="page"))
    start = calendar.changes(None).cursor
    made = calendar.create([NewItem({"subject": f"item {n}"}) for n in range(3)])
    calendar.update([ItemChange(made[0].item_id, None, {"subject": "edited"})])
    calendar.delete([made[1].item_id])
    feed = calendar.changes(start)
    seen = [(c.change, c.item_id) for c in feed.changes]
    assert seen == [(CREATE, made[0].item_id), (DELETE, made[1].item_id), (CREATE, made[2].item_id),
                    ("update", made[0].item_id), (DELETE, made[1].item_id)], seen  # fmt: skip
    assert not feed.full and feed.cursor == calendar.changes(feed.cursor).cursor


def test_a_duplicated_feed_repeats_every_entry_and_rows() -> None:
    calendar, org = FaultyCalendar(faults=Faults(feed="duplicate")), FaultyOrg(faults=Faults(feed="duplicate"))
    [made] = calendar.create([NewItem({"subject": "a"})])
    assert [c.item_id for c in calendar.changes(None).changes] == [made.item_id, made.item_id]
    [row] = org.create("Event", [{"Subject": "a", "OwnerId": "005000000000000001"}])
    rows = org.changed_records("Event", ["Subject"], owner_id="005000000000000001", since=None)
    assert [r["Id"] for r in rows] == [row.id, row.id]


def test_a_replayed_feed_lists_the_changes_since_an_older_cursor_again() -> None:
    calendar = FaultyCalendar()
    first = calendar.changes(None).cursor
    calendar.create([NewItem({"subject": "a"})])
    second = calendar.changes(first).cursor
    [b] = calendar.create([NewItem({"subject": "b"})])
    latest = calendar.changes(second).cursor
    assert calendar.changes(latest).changes == []
    calendar.faults.feed = "replay"  # the saved cursor is taken back to an older one the feed handed out
    replayed = calendar.changes(latest)
    assert [c.item_id for c in replayed.changes] == [b.item_id] and replayed.cursor == latest
