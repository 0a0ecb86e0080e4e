"""In-memory stand-ins for the connector protocols: `MemoryCalendar` (an `ExchangeCalendar`) and `MemoryOrg`
(a `SalesforceOrg`, without SOQL). They pass the same contract suite as the real connectors against the
sandboxes (`tests.connectors.contract`), so an engine test that uses them sees what a sandbox would do.

The calendar keeps items in a calendar and a Deleted Items folder, a change log for the feed (the cursor is a
log position; collapsed per item, like SyncFolderItems) and a master category list. A recurring master keeps
its deleted occurrences (original starts) and modified occurrences (dicts with ``id``, ``original_start``,
``start``, ``end``, as EWS lists them; the occurrence's id reads its ``subject`` and ``location`` too).
The org keeps records per sObject with an ``IsDeleted`` flag and a ``SystemModstamp`` from its own clock.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.attendees import Relation
from sync.connectors.base import (
    CREATE,
    DELETE,
    UPDATE,
    ApiUsage,
    ExchangeItem,
    ExchangeUsage,
    FeedChange,
    ItemChange,
    ItemFeed,
    NewItem,
    OccurrenceChange,
    RecordResult,
    WriteResult,
)
from sync.connectors.errors import ConnectorError
from sync.entry import Recurrence
from sync.mapping.exchange import SYNC_KEY_ATTR
from sync.mapping.recurrence import ExchangePattern, from_exchange_pattern
from sync.mapping.timezones import zone
from sync.series import pattern_occurrences

CALENDAR, DELETED_ITEMS = "calendar", "deleteditems"


@dataclass
class _Item:
    fields: dict[str, Any]
    change_key: str
    folder: str = CALENDAR


@dataclass
class MemoryCalendar:
    """One mailbox's calendar in memory."""

    mailbox_email: str = "rep@example.com"
    service: str = "exchange"
    usage: ExchangeUsage = field(default_factory=ExchangeUsage)
    # True: stands in for a connector whose writes e-mail attendees (Graph); the engine must hold them back.
    notifies_attendees: bool = False
    _items: dict[str, _Item] = field(default_factory=dict)
    _log: list[tuple[str, str]] = field(default_factory=list)  # (item id, create|update|delete)
    _categories: dict[str, int] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # -- feed ------------------------------------------------------------------------------------------------
    def changes(self, cursor: str | None, *, page_size: int = 512) -> ItemFeed:
        self.usage.calls += 1
        position = int(cursor) if cursor and cursor.isdigit() and int(cursor) <= len(self._log) else None
        if position is None:
            changes = [self._change(CREATE, i) for i, item in sorted(self._items.items()) if item.folder == CALENDAR]
            return ItemFeed(changes=changes, cursor=str(len(self._log)), full=True)
        seen: dict[str, str] = {}
        for item_id, what in self._log[position:]:
            first = seen.get(item_id)
            seen[item_id] = CREATE if first == CREATE and what == UPDATE else what
        changes = []
        for item_id, what in seen.items():
            in_calendar = item_id in self._items and self._items[item_id].folder == CALENDAR
            if what == DELETE or not in_calendar:
                changes.append(FeedChange(DELETE, item_id))
            else:
                changes.append(self._change(what, item_id))
        return ItemFeed(changes=changes, cursor=str(len(self._log)), full=False)

    def _change(self, what: str, item_id: str) -> FeedChange:
        item = self._items[item_id]
        categories = tuple(item.fields.get("categories") or ())
        return FeedChange(what, item_id, item.change_key, categories, item.fields.get(SYNC_KEY_ATTR))

    # -- reads -----------------------------------------------------------------------------------------------
    def fetch(self, item_ids: Sequence[str], fields: Iterable[str] | None = None) -> list[ExchangeItem | None]:
        if not item_ids:
            return []
        self.usage.calls += 1
        out: list[ExchangeItem | None] = []
        for item_id in item_ids:
            item = self._items.get(item_id)
            occurrence = self._occurrence(item_id) if item is None else None
            if occurrence is not None:
                master, occ = occurrence
                values = {k: v for k, v in occ.items() if k != "id"}
                out.append(ExchangeItem(item_id, master.change_key, values))
                continue
            if item is None:
                out.append(None)
                continue
            values = dict(item.fields) if fields is None else {f: item.fields.get(f) for f in fields}
            out.append(ExchangeItem(item_id, item.change_key, values, sync_key=item.fields.get(SYNC_KEY_ATTR)))
        return out

    def outside_calendar(self, item_ids: Sequence[str]) -> set[str]:
        if not item_ids:
            return set()
        self.usage.calls += 1
        return {i for i in item_ids if i in self._items and self._items[i].folder != CALENDAR}

    def find_by_sync_key(self, sync_keys: Iterable[str], *, deleted_items: bool = False) -> dict[str, str]:
        keys = set(sync_keys)
        if not keys:
            return {}
        self.usage.calls += 1
        folder = DELETED_ITEMS if deleted_items else CALENDAR
        return {
            item.fields[SYNC_KEY_ATTR]: item_id
            for item_id, item in sorted(self._items.items())
            if item.folder == folder and item.fields.get(SYNC_KEY_ATTR) in keys
        }

    # -- writes ----------------------------------------------------------------------------------------------
    def create(self, items: Sequence[NewItem]) -> list[WriteResult]:
        if not items:
            return []
        self.usage.calls += 1
        results = []
        for new in items:
            item_id = f"AAMkMemory{next(self._ids):08d}"
            self._items[item_id] = _Item({k: v for k, v in new.fields.items() if v is not None}, self._key())
            self._log.append((item_id, CREATE))
            results.append(WriteResult(item_id, self._items[item_id].change_key))
        return results

    def update(self, changes: Sequence[ItemChange]) -> list[WriteResult]:
        if not changes:
            return []
        self.usage.calls += 1
        results = []
        for change in changes:
            item = self._items.get(change.item_id)
            if item is None or item.folder != CALENDAR:
                error = ConnectorError("The item was not found.", code="ErrorItemNotFound", service=self.service)
                results.append(WriteResult(None, None, error))
                continue
            if change.change_key and change.change_key != item.change_key:
                error = ConnectorError("The item changed.", code="ErrorIrresolvableConflict", service=self.service)
                results.append(WriteResult(None, None, error))
                continue
            for name, value in change.fields.items():
                if value is None:
                    item.fields.pop(name, None)
                else:
                    item.fields[name] = value
            item.change_key = self._key()
            self._log.append((change.item_id, UPDATE))
            results.append(WriteResult(change.item_id, item.change_key))
        return results

    def delete(self, item_ids: Sequence[str]) -> list[WriteResult]:
        if not item_ids:
            return []
        self.usage.calls += 1
        for item_id in item_ids:
            item = self._items.get(item_id)
            if item is not None and item.folder == CALENDAR:
                item.folder = DELETED_ITEMS
                self._log.append((item_id, DELETE))
        return [WriteResult(i, None) for i in item_ids]

    def delete_occurrences(self, master_id: str, instance_indexes: Sequence[int]) -> int:
        item = self._items.get(master_id)
        if item is None or item.fields.get("recurrence") is None:
            return len(instance_indexes)  # gone already counts as done, as on EWS
        starts = self._original_starts(item, max(instance_indexes, default=0))
        for index in instance_indexes:
            self.usage.calls += 1
            if not 1 <= index <= len(starts):
                continue
            original = starts[index - 1]
            deleted = list(item.fields.get("deleted_occurrences") or ())
            if original in deleted:
                continue
            item.fields["deleted_occurrences"] = sorted([*deleted, original])
            modified = [o for o in item.fields.get("modified_occurrences") or () if o["original_start"] != original]
            item.fields["modified_occurrences"] = modified or None
            self._touch(master_id, item)
        return len(instance_indexes)

    def update_occurrences(self, master_id: str, changes: Sequence[OccurrenceChange]) -> list[WriteResult]:
        if not changes:
            return []
        self.usage.calls += 1
        item = self._items.get(master_id)
        if item is None or item.folder != CALENDAR or item.fields.get("recurrence") is None:
            error = ConnectorError("The item was not found.", code="ErrorItemNotFound", service=self.service)
            return [WriteResult(None, None, error) for _ in changes]
        starts = self._original_starts(item, max(c.index for c in changes) + 1)  # + the next neighbour
        length = _as_instant(item.fields["end"], item, end=True) - _as_instant(item.fields["start"], item)
        results = []
        for change in changes:
            if not 1 <= change.index <= len(starts):
                code = "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"
                error = ConnectorError("Out of range.", code=code, service=self.service)
                results.append(WriteResult(None, None, error))
                continue
            original = starts[change.index - 1]
            if original in (item.fields.get("deleted_occurrences") or ()):
                code = "ErrorCalendarOccurrenceIsDeletedFromRecurrence"
                results.append(WriteResult(None, None, ConnectorError("Deleted.", code=code, service=self.service)))
                continue
            modified = {o["original_start"]: o for o in item.fields.get("modified_occurrences") or ()}
            occ = modified.get(original) or {
                "id": f"{master_id}.occ{change.index}", "original_start": original, "start": original,
                "end": original + length, "subject": item.fields.get("subject"),
                "location": item.fields.get("location"),
            }  # fmt: skip
            occ = dict(occ)
            for name in ("subject", "location", "start", "end"):
                if name in change.fields:
                    value = change.fields[name]
                    occ[name] = value.astimezone(dt.UTC) if isinstance(value, dt.datetime) else value
            if self._crosses(item, starts, modified, original, occ["start"]):
                code = "ErrorOccurrenceCrossingBoundary"
                error = ConnectorError("Crossing an adjacent occurrence.", code=code, service=self.service)
                results.append(WriteResult(None, None, error))
                continue
            modified[original] = occ
            item.fields["modified_occurrences"] = [modified[k] for k in sorted(modified)]
            self._touch(master_id, item)
            results.append(WriteResult(occ["id"], item.change_key))
        return results

    def _crosses(self, item: _Item, starts, modified, original: dt.datetime, new_start: dt.datetime) -> bool:
        """Like Exchange: an occurrence may not move to or past the local day of a neighbouring one."""
        tz = zone(str(item.fields.get("start_timezone") or "UTC"))
        gone = set(item.fields.get("deleted_occurrences") or ())
        live = [s for s in starts if s not in gone]
        if original not in live:
            return False
        at = live.index(original)

        def day(s: dt.datetime) -> dt.date:
            return (modified[s]["start"] if s in modified else s).astimezone(tz).date()

        new_day = new_start.astimezone(tz).date()
        return (at > 0 and new_day <= day(live[at - 1])) or (at + 1 < len(live) and new_day >= day(live[at + 1]))

    def _touch(self, item_id: str, item: _Item) -> None:
        item.change_key = self._key()
        self._log.append((item_id, UPDATE))

    def _original_starts(self, item: _Item, count: int) -> list[dt.datetime]:
        """Original starts (UTC) of a master's first ``count`` occurrences, as EWS numbers them."""
        rec = item.fields["recurrence"]
        neutral = from_exchange_pattern(rec)[0] if isinstance(rec, ExchangePattern) else rec
        assert isinstance(neutral, Recurrence)
        tz = str(item.fields.get("start_timezone") or "UTC")
        first = _as_instant(item.fields["start"], item)
        return [start for _, _, start in pattern_occurrences(neutral, first, tz, limit=count)]

    def _occurrence(self, item_id: str) -> tuple[_Item, dict[str, Any]] | None:
        master_id, _, _ = item_id.partition(".occ")
        master = self._items.get(master_id)
        for occ in (master.fields.get("modified_occurrences") or ()) if master is not None else ():
            if occ["id"] == item_id:
                return master, occ
        return None

    def master_categories(self) -> dict[str, int]:
        self.usage.calls += 1
        return dict(self._categories)

    def ensure_categories(self, wanted: dict[str, int]) -> list[str]:
        self.usage.calls += 1
        present = {name.lower() for name in self._categories}
        added = [name for name in wanted if name.lower() not in present]
        self._categories.update({name: wanted[name] for name in added})
        return added

    def close(self) -> None:
        """Nothing to release."""

    def items(self) -> dict[str, _Item]:
        """The store itself (calendar and Deleted Items), for tests that look at the whole mailbox at once."""
        return self._items

    def _key(self) -> str:
        return f"CQAAAB{next(self._ids):08d}"


def _as_instant(value: dt.date | dt.datetime, item: _Item, *, end: bool = False) -> dt.datetime:
    """An item's start or end as an instant (all-day bounds: local midnights; the inclusive end's next one)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    day = value + dt.timedelta(days=1) if end else value
    tz = zone(str(item.fields.get("start_timezone") or "UTC"))
    return dt.datetime.combine(day, dt.time(0), tz).astimezone(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@dataclass
class MemoryOrg:
    """A Salesforce org in memory: records per sObject, upsert by external id, deletions kept for queryAll."""

    service: str = "salesforce"
    usage: ApiUsage = field(default_factory=ApiUsage)
    clock: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC))
    people: dict[str, tuple[str, str]] = field(default_factory=dict)  # e-mail → (sObject, id)
    _records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def _tick(self) -> str:
        self.usage.calls += 1
        self.clock += dt.timedelta(seconds=1)
        self.usage.server_time = self.clock
        return _iso(self.clock)

    def records(self, sobject: str) -> dict[str, dict[str, Any]]:
        """The store's rows of ``sobject`` (deleted ones too), for tests that look at the whole org at once."""
        return self._table(sobject)

    def _table(self, sobject: str) -> dict[str, dict[str, Any]]:
        return self._records.setdefault(sobject, {})

    def _find(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        for sobject, table in self._records.items():
            if record_id in table:
                return sobject, table[record_id]
        return None

    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        raise NotImplementedError("MemoryOrg holds no SOQL engine: use changed_records and get_records")

    def active_user_id(self, email: str) -> str | None:
        self._tick()
        found = self.people.get(email.lower())
        return found[1] if found and found[0] == "User" else None

    def changed_records(
        self, sobject: str, fields: Iterable[str], *, owner_id: str, since: dt.datetime | None, where: str = ""
    ) -> list[dict[str, Any]]:
        if where:
            raise NotImplementedError("MemoryOrg has no SOQL filter")
        self._tick()
        floor = _iso(since) if since is not None else ""
        rows = [
            r for r in self._table(sobject).values() if r.get("OwnerId") == owner_id and r["SystemModstamp"] >= floor
        ]
        wanted = ["Id", "IsDeleted", "SystemModstamp", *fields]
        return [
            {k: r.get(k) for k in dict.fromkeys(wanted)}
            for r in sorted(rows, key=lambda r: (r["SystemModstamp"], r["Id"]))
        ]

    def owners_changed_records(
        self, sobject: str, fields: Iterable[str], *, owner_ids: Sequence[str] | None, since: dt.datetime
    ) -> list[dict[str, Any]]:
        self._tick()
        owners = set(owner_ids) if owner_ids is not None else None
        rows = [
            r
            for r in self._table(sobject).values()
            if (owners is None or r.get("OwnerId") in owners) and r["SystemModstamp"] >= _iso(since)
        ]
        wanted = ["Id", "IsDeleted", "SystemModstamp", "OwnerId", "LastModifiedById", *fields]
        return [
            {k: r.get(k) for k in dict.fromkeys(wanted)}
            for r in sorted(rows, key=lambda r: (r["SystemModstamp"], r["Id"]))
        ]

    def owners_changed_batch(self, queries: Sequence[Any], *, composite: bool = True) -> list[list[dict[str, Any]]]:
        return [self.owners_changed_records(q.sobject, q.fields, owner_ids=q.owner_ids, since=q.since) for q in queries]

    def get_records(self, sobject: str, ids: Sequence[str], fields: Iterable[str]) -> list[dict[str, Any] | None]:
        self._tick()
        table = self._table(sobject)
        wanted = ["Id", *fields]
        return [
            {k: table[i].get(k) for k in dict.fromkeys(wanted)} if i in table and not table[i]["IsDeleted"] else None
            for i in ids
        ]

    def _insert(self, sobject: str, record: Mapping[str, Any], stamp: str) -> str:
        prefix = {"Event": "00U", "Task": "00T", "EventRelation": "0RE"}.get(sobject, "a00")
        record_id = f"{prefix}{next(self._ids):015d}"
        self._table(sobject)[record_id] = {**record, "Id": record_id, "IsDeleted": False, "SystemModstamp": stamp}
        return record_id

    def create(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]:
        stamp = self._tick()
        return [RecordResult(self._insert(sobject, r, stamp), True, created=True) for r in records]

    def upsert(self, sobject: str, external_id_field: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]:
        stamp = self._tick()
        results = []
        table = self._table(sobject)
        for record in records:
            key = record.get(external_id_field)
            found = next(
                (r for r in table.values() if key and r.get(external_id_field) == key and not r["IsDeleted"]), None
            )
            if found is None:
                results.append(RecordResult(self._insert(sobject, record, stamp), True, created=True))
            else:
                found.update(record, SystemModstamp=stamp)
                results.append(RecordResult(found["Id"], True, created=False))
        return results

    def update(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]:
        stamp = self._tick()
        results = []
        table = self._table(sobject)
        for record in records:
            found = table.get(record.get("Id", ""))
            if found is None or found["IsDeleted"]:
                error = {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted"}
                results.append(RecordResult(record.get("Id"), False, errors=(error,)))
                continue
            found.update(record, SystemModstamp=stamp)
            results.append(RecordResult(found["Id"], True))
        return results

    def delete(self, ids: Sequence[str]) -> list[RecordResult]:
        stamp = self._tick()
        for record_id in ids:
            found = self._find(record_id)
            if found is not None and not found[1]["IsDeleted"]:
                found[1].update(IsDeleted=True, SystemModstamp=stamp)
        return [RecordResult(i, True) for i in ids]

    def describe(self, sobject: str | None = None) -> dict[str, Any]:
        self._tick()
        if sobject is None:
            return {"sobjects": [{"name": name} for name in sorted({"Event", "Task", *self._records})]}
        return {"name": sobject, "fields": []}

    def people_by_email(self, emails: Iterable[str]) -> dict[str, tuple[str, str]]:
        self._tick()
        return {e.lower(): self.people[e.lower()] for e in emails if e and e.lower() in self.people}

    def event_invitees(self, event_ids: Iterable[str]) -> dict[str, list[Relation]]:
        self._tick()
        ids = sorted(set(event_ids))
        found: dict[str, list[Relation]] = {i: [] for i in ids}
        emails = {rid: email for email, (_, rid) in self.people.items()}
        for row in self._table("EventRelation").values():
            if row["EventId"] in found and not row["IsDeleted"] and row.get("IsInvitee", True):
                email = emails.get(row["RelationId"])
                found[row["EventId"]].append(Relation(row["Id"], row["EventId"], row["RelationId"], email))
        return found

    def limits(self) -> dict[str, Any]:
        self._tick()
        return {"DailyApiRequests": {"Max": 100_000, "Remaining": 100_000 - self.usage.calls}}
