"""The connector contract: what every `ExchangeCalendar` and every `SalesforceOrg` does, whatever it speaks.

One suite, one class per protocol; an implementation opts in with a small subclass that provides the fixture
(``calendar`` or ``org`` and ``owner_id``), as vdirsyncer's storage tests do:

- the EWS connector against the Exchange sandbox and the Salesforce connector against the Salesforce sandbox
  (`tests/e2e/test_connector_contract.py`, real clients over HTTPS);
- the in-memory stand-ins (`tests/connectors/memory.py`, `tests/sync/test_memory_connectors.py`).

The engine relies on exactly these behaviours (a Microsoft Graph connector will opt in the same way): writes
come back per item and in order, a feed is full without a cursor and incremental with one, a deletion shows in
the feed, a deleted item is found by its sync key in Deleted Items, a retried create finds its record, single
occurrences of a series change and go alone (the pattern and the other exceptions stay).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from sync.connectors.base import (
    DELETE,
    ExchangeCalendar,
    ItemChange,
    NewItem,
    OccurrenceChange,
    SalesforceOrg,
)
from sync.entry import Entry, Recurrence, project
from sync.mapping.exchange import entry_from_exchange, entry_to_exchange, exchange_roundtrip
from sync.mapping.salesforce import SYNC_KEY_FIELD, event_to_salesforce

CATEGORY = "Salesforce"
START = dt.datetime(2026, 12, 10, 14, tzinfo=dt.UTC)


def _entry(subject: str, hours: int = 0) -> Entry:
    start = START + dt.timedelta(hours=hours)
    return Entry(
        subject=subject,
        start=start,
        end=start + dt.timedelta(hours=1),
        location="Room 4",
        body="Agenda",
        categories=(CATEGORY,),
        time_zone="Europe/Berlin",
    )


class ExchangeCalendarContract:
    """Subclasses provide the fixture ``calendar``: an empty calendar of one mailbox."""

    @pytest.fixture
    def calendar(self) -> ExchangeCalendar:
        raise NotImplementedError

    def _create(self, calendar: ExchangeCalendar, *entries: Entry) -> list[tuple[str, str]]:
        """Create the entries with fresh sync keys; (item id, sync key) each."""
        keys = [str(uuid.uuid4()) for _ in entries]
        items = [NewItem(entry_to_exchange(e, sync_key=k)[0]) for e, k in zip(entries, keys, strict=True)]
        results = calendar.create(items)
        assert [r.ok for r in results] == [True] * len(entries)
        assert all(r.item_id and r.change_key for r in results)
        return [(r.item_id, k) for r, k in zip(results, keys, strict=True) if r.item_id]

    def test_is_an_exchange_calendar(self, calendar):
        assert isinstance(calendar, ExchangeCalendar)

    def test_created_items_read_back_as_exchange_holds_them(self, calendar):
        first, second = _entry("Pipeline review"), _entry("Board meeting", hours=2)
        created = self._create(calendar, first, second)
        items = calendar.fetch([item_id for item_id, _ in created])
        assert [i.item_id if i else None for i in items] == [item_id for item_id, _ in created]
        for item, entry, (_, key) in zip(items, (first, second), created, strict=True):
            assert item is not None and item.is_calendar_item and item.sync_key == key and item.change_key
            assert item.categories == (CATEGORY,) and item.is_organizer
            mapped = entry_from_exchange(item.fields, default_time_zone="UTC")
            assert mapped.issues == () and project(mapped.entry) == project(exchange_roundtrip(entry))

    def test_feed_is_full_without_a_cursor_then_incremental(self, calendar):
        (item_id, key), (other_id, _) = self._create(calendar, _entry("One"), _entry("Two", hours=3))
        full = calendar.changes(None)
        assert full.full and full.cursor
        listed = {c.item_id: c for c in full.changes}
        assert set(listed) >= {item_id, other_id} and listed[item_id].sync_key == key
        assert listed[item_id].categories == (CATEGORY,)
        quiet = calendar.changes(full.cursor)
        assert not quiet.full and quiet.changes == [] and quiet.cursor

        [current] = calendar.fetch([item_id])
        assert current is not None
        [updated] = calendar.update([ItemChange(item_id, current.change_key, {"subject": "One, moved"})])
        assert updated.ok and updated.change_key and updated.change_key != current.change_key
        feed = calendar.changes(quiet.cursor)
        assert [(c.item_id, c.change_key) for c in feed.changes] == [(item_id, updated.change_key)]
        [after] = calendar.fetch([item_id])
        assert after is not None and after.fields["subject"] == "One, moved"
        assert after.fields.get("location") == "Room 4"  # only the given fields change

    def test_an_invalid_cursor_lists_everything_again(self, calendar):
        [(item_id, _)] = self._create(calendar, _entry("Listed again"))
        feed = calendar.changes("not-a-cursor-" + "A" * 20)
        assert feed.full and item_id in {c.item_id for c in feed.changes}

    def test_batched_writes_answer_per_item_in_order(self, calendar):
        created = self._create(calendar, _entry("A"), _entry("B", hours=2), _entry("C", hours=4))
        items = calendar.fetch([i for i, _ in created])
        changes = [ItemChange(i.item_id, i.change_key, {"subject": f"{i.fields['subject']}!"}) for i in items if i]
        results = calendar.update(changes)
        assert [r.ok for r in results] == [True, True, True]
        assert [i.fields["subject"] for i in calendar.fetch([i for i, _ in created]) if i] == ["A!", "B!", "C!"]

    def test_delete_shows_in_the_feed_and_leaves_the_item_findable_in_deleted_items(self, calendar):
        (gone, key), (kept, _) = self._create(calendar, _entry("Cancelled"), _entry("Kept", hours=2))
        cursor = calendar.changes(None).cursor
        results = calendar.delete([gone])
        assert [(r.item_id, r.ok) for r in results] == [(gone, True)]
        feed = calendar.changes(cursor)
        assert [(c.change, c.item_id) for c in feed.changes] == [(DELETE, gone)]
        assert calendar.find_by_sync_key([key]) == {}
        assert calendar.find_by_sync_key([key], deleted_items=True) == {key: gone}
        [moved] = calendar.fetch([gone])
        assert moved is None or calendar.outside_calendar([gone, kept]) == {gone}
        again = calendar.delete([gone])
        assert [r.ok for r in again] == [True]  # already deleted counts as done

    def test_find_by_sync_key_in_the_calendar(self, calendar):
        created = self._create(calendar, _entry("Found"), _entry("Also found", hours=2))
        found = calendar.find_by_sync_key([k for _, k in created] + [str(uuid.uuid4())])
        assert found == {k: i for i, k in created}

    def test_category_removal_is_an_update_of_the_categories_only(self, calendar):
        [(item_id, _)] = self._create(calendar, _entry("Untag me"))
        [item] = calendar.fetch([item_id], fields=("categories",))
        assert item is not None and item.categories == (CATEGORY,)
        [result] = calendar.update([ItemChange(item_id, item.change_key, {"categories": None})])
        assert result.ok
        [after] = calendar.fetch([item_id])
        assert after is not None and after.categories == () and after.fields["subject"] == "Untag me"
        feed = calendar.changes(None)
        assert next(c for c in feed.changes if c.item_id == item_id).categories == ()

    def test_single_occurrences_change_and_delete_alone(self, calendar):
        series = _entry("Daily stand-up").replace(recurrence=Recurrence("FREQ=DAILY;INTERVAL=1;COUNT=5"))
        [(master_id, _)] = self._create(calendar, series)
        day, moved = dt.timedelta(days=1), dt.timedelta(hours=2)
        second = START + day  # where the pattern puts occurrence 2 (14:00 UTC is 15:00 in Berlin all week)
        cursor = calendar.changes(None).cursor
        results = calendar.update_occurrences(
            master_id,
            [
                OccurrenceChange(2, second, {"subject": "Stand-up (late)", "location": None,
                                             "start": second + moved, "end": second + moved + dt.timedelta(hours=1)}),
                OccurrenceChange(3, START + 2 * day, {"location": "Room 9"}),
            ],
        )  # fmt: skip
        assert [r.ok for r in results] == [True, True] and all(r.item_id for r in results)
        assert calendar.delete_occurrences(master_id, [4]) >= 1
        calendar.delete_occurrences(master_id, [4])  # already deleted counts as done

        [master] = calendar.fetch([master_id])
        assert master is not None and master.fields["subject"] == "Daily stand-up"
        assert master.fields["recurrence"] is not None
        deleted = [getattr(d, "start", d) for d in master.fields["deleted_occurrences"]]
        assert deleted == [START + 3 * day]
        modified = sorted(master.fields["modified_occurrences"], key=lambda o: o["original_start"])
        third = START + 2 * day
        assert [(o["original_start"], o["start"]) for o in modified] == [(second, second + moved), (third, third)]
        occurrences = calendar.fetch([o["id"] for o in modified], fields=("subject", "location", "start", "end"))
        content = [(o.fields["subject"], o.fields.get("location")) for o in occurrences if o]
        assert content == [("Stand-up (late)", None), ("Daily stand-up", "Room 9")], content
        assert master_id in {c.item_id for c in calendar.changes(cursor).changes}

        # A deleted occurrence, or one beyond the pattern, fails alone.
        results = calendar.update_occurrences(
            master_id,
            [OccurrenceChange(4, START + 3 * day, {"subject": "Gone"}),
             OccurrenceChange(5, START + 4 * day, {"subject": "Last one"}),
             OccurrenceChange(9, START + 8 * day, {"subject": "Beyond"})],
        )  # fmt: skip
        assert [r.ok for r in results] == [False, True, False]
        codes = [r.error.code if r.error else None for r in results]
        assert codes == ["ErrorCalendarOccurrenceIsDeletedFromRecurrence", None,
                         "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"]  # fmt: skip

        # Like Exchange: an occurrence may not move to or past the day of a neighbouring one.
        onto = START + 2 * day + dt.timedelta(hours=3)
        [refused] = calendar.update_occurrences(master_id, [OccurrenceChange(2, second, {"start": onto,
                                                            "end": onto + dt.timedelta(hours=1)})])  # fmt: skip
        assert refused.error is not None and refused.error.code == "ErrorOccurrenceCrossingBoundary"

    def test_master_categories(self, calendar):
        assert calendar.ensure_categories({"SF Site Visit": 4}) == ["SF Site Visit"]
        assert calendar.ensure_categories({"SF Site Visit": 4}) == []
        assert calendar.master_categories()["SF Site Visit"] == 4

    def test_calls_are_counted(self, calendar):
        before = calendar.usage.calls
        calendar.changes(None)
        assert calendar.usage.calls > before
        assert calendar.fetch([]) == [] and calendar.create([]) == []


class SalesforceOrgContract:
    """Subclasses provide the fixtures ``org`` and ``owner_id`` (a user of that org)."""

    @pytest.fixture
    def org(self) -> SalesforceOrg:
        raise NotImplementedError

    @pytest.fixture
    def owner_id(self) -> str:
        raise NotImplementedError

    def _event(self, owner_id: str, subject: str, key: str | None = None) -> dict:
        fields, issues = event_to_salesforce(_entry(subject).replace(categories=()))
        assert not issues
        return {**fields, "OwnerId": owner_id, SYNC_KEY_FIELD: key or str(uuid.uuid4())}

    def test_is_a_salesforce_org(self, org):
        assert isinstance(org, SalesforceOrg)

    def test_upsert_by_sync_key_creates_once(self, org, owner_id):
        key = str(uuid.uuid4())
        [first] = org.upsert("Event", SYNC_KEY_FIELD, [self._event(owner_id, "Retried create", key)])
        [retry] = org.upsert("Event", SYNC_KEY_FIELD, [self._event(owner_id, "Retried create, again", key)])
        assert first.success and first.created and first.id
        assert retry.success and not retry.created and retry.id == first.id
        [row] = org.get_records("Event", [first.id], ["Subject", SYNC_KEY_FIELD])
        assert row is not None and row["Subject"] == "Retried create, again" and row[SYNC_KEY_FIELD] == key

    def test_writes_answer_per_record_in_order(self, org, owner_id):
        results = org.create("Event", [self._event(owner_id, f"Event {n}") for n in range(3)])
        assert [r.success for r in results] == [True, True, True]
        ids = [r.id for r in results]
        assert len(set(ids)) == 3
        updated = org.update("Event", [{"Id": i, "Subject": f"Renamed {n}"} for n, i in enumerate(ids)])
        assert [(r.id, r.success) for r in updated] == [(i, True) for i in ids]
        rows = org.get_records("Event", ids, ["Subject"])
        assert [r["Subject"] if r else None for r in rows] == ["Renamed 0", "Renamed 1", "Renamed 2"]

    def test_changed_records_include_deletions(self, org, owner_id):
        [made] = org.create("Event", [self._event(owner_id, "Soon deleted")])
        rows = org.changed_records("Event", ["Subject"], owner_id=owner_id, since=None)
        assert any(r["Id"] == made.id and not r["IsDeleted"] for r in rows)
        [deleted] = org.delete([made.id])
        assert deleted.success
        rows = org.changed_records("Event", ["Subject"], owner_id=owner_id, since=None)
        assert any(r["Id"] == made.id and r["IsDeleted"] for r in rows)
        assert org.get_records("Event", [made.id], ["Subject"]) == [None]
        [again] = org.delete([made.id])
        assert again.success  # already deleted counts as done

    def test_calls_are_counted(self, org, owner_id):
        before = org.usage.calls
        org.changed_records("Event", ["Subject"], owner_id=owner_id, since=None)
        assert org.usage.calls > before
