"""The sandbox org's data: records, validation like a real org, DML, the recycle bin and replication feeds.

Records are dicts keyed by canonical field names holding Python values (``datetime`` in UTC, ``date``, ...);
``schema.to_wire`` turns them into JSON. The store is not thread-safe by itself: callers hold ``lock``.

Validation follows the Object Reference and the error codes of
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm
(required fields, string lengths, restricted picklists, references, Event date/duration rules, unique
external ids). Deleted records stay in the recycle bin (``IsDeleted = true``) for ``queryAll`` and
getDeleted until they are 15 days old or the bin is purged.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from sandbox.salesforce import ids, series
from sandbox.salesforce.errors import ApiError, RecordError, entity_is_deleted, not_found
from sandbox.salesforce.schema import (
    BY_PREFIX,
    CLOSED_TASK_STATUSES,
    OBJECTS,
    TEXT_TYPES,
    Field,
    SObject,
    from_stored,
    from_wire,
    get_object,
    to_wire,
)

Record = dict[str, Any]
DAY = dt.timedelta(days=1)
MAX_EVENT_MINUTES = 14 * 24 * 60
UPDATED_WINDOW = dt.timedelta(days=30)
DELETED_WINDOW = dt.timedelta(days=15)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class MultipleMatches(Exception):
    def __init__(self, record_ids: list[str]) -> None:
        super().__init__(f"{len(record_ids)} records match")
        self.record_ids = record_ids


def _floor_minute(value: dt.datetime) -> dt.datetime:
    return value.replace(second=0, microsecond=0)


def _floor_ms(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _label(f: Field) -> str:
    return f.label


class Store:
    def __init__(self, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.clear()

    def clear(self) -> None:
        """Forget every record (the lock and the clock stay)."""
        self.tables: dict[str, dict[str, Record]] = {name: {} for name in OBJECTS}
        self.index: dict[str, tuple[str, str]] = {}  # id15 -> (object name, id18)
        # (object, external-id field) -> lower-cased value -> ids of live records holding it
        self.ext_index: dict[tuple[str, str], dict[str, set[str]]] = {
            (o.name, f.name): {} for o in OBJECTS.values() for f in o.fields.values() if f.external_id
        }
        self.counter = 0
        self.last_stamp = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        # getDeleted horizon per object: the bin was purged up to here.
        self.purged_until: dict[str, dt.datetime] = {}
        self._journal: list[tuple[str, str, Record | None]] | None = None

    # -- time and ids ---------------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return self.clock()

    def today(self) -> dt.date:
        return self.now().date()

    def stamp(self) -> dt.datetime:
        value = max(_floor_ms(self.now()), self.last_stamp)
        self.last_stamp = value
        return value

    def new_id(self, obj: SObject) -> str:
        self.counter += 1
        return ids.make_id(obj.key_prefix, self.counter)

    # -- reading ---------------------------------------------------------------------------------------------
    def rows(self, object_name: str, include_deleted: bool) -> Iterable[Record]:
        table = self.tables[object_name]
        if include_deleted:
            self.purge_expired()
            return list(table.values())
        return [r for r in table.values() if not r["IsDeleted"]]

    def locate(self, record_id: str) -> tuple[SObject, Record] | None:
        """Any record (live or in the recycle bin) by 15- or 18-character id."""
        if not ids.is_well_formed(record_id):
            return None
        hit = self.index.get(ids.canonical(record_id))
        if hit is None:
            return None
        name, id18 = hit
        return OBJECTS[name], self.tables[name][id18]

    def parent(self, record_id: str) -> tuple[SObject, Record] | None:
        found = self.locate(record_id)
        if found is None or found[1]["IsDeleted"]:
            return None
        return found

    def get(self, obj: SObject, record_id: str) -> Record:
        if not ids.is_well_formed(record_id):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {record_id}")
        found = self.locate(record_id)
        if found is None or found[0] is not obj:
            raise not_found()
        if found[1]["IsDeleted"]:
            raise entity_is_deleted()
        return found[1]

    def find_by_external_id(self, obj: SObject, f: Field, value: str) -> list[Record]:
        if f.name == "Id":
            found = self.parent(value)
            return [found[1]] if found is not None and found[0] is obj else []
        hits = self.ext_index[(obj.name, f.name)].get(value.lower(), set())
        return sorted((self.tables[obj.name][i] for i in hits), key=lambda r: r["Id"])

    def wire(
        self, obj: SObject, record: Record, fields: Iterable[Field] | None = None, version: str = "59.0"
    ) -> Record:
        out: Record = {
            "attributes": {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{record['Id']}"}
        }
        for f in fields if fields is not None else obj.fields.values():
            out[f.name] = to_wire(f, record.get(f.name))
        return out

    # -- transactions (allOrNone) -----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Undo every change made inside when the block raises (used for allOrNone collections)."""
        outer = self._journal
        self._journal = [] if outer is None else outer
        start = len(self._journal)
        try:
            yield
        except BaseException:
            for name, record_id, before in reversed(self._journal[start:]):
                current = self.tables[name].get(record_id)
                if current is not None:
                    self._unindex(OBJECTS[name], current)
                if before is None:
                    self.tables[name].pop(record_id, None)
                    self.index.pop(ids.canonical(record_id), None)
                else:
                    self.tables[name][record_id] = before
                    self._reindex(OBJECTS[name], before)
            del self._journal[start:]
            raise
        finally:
            if outer is None:
                self._journal = None

    def _remember(self, obj: SObject, record_id: str) -> None:
        if self._journal is not None:
            before = self.tables[obj.name].get(record_id)
            self._journal.append((obj.name, record_id, copy.copy(before) if before is not None else None))

    def _unindex(self, obj: SObject, record: Record) -> None:
        for (name, field_name), values in self.ext_index.items():
            if name == obj.name and record.get(field_name) is not None:
                bucket = values.get(str(record[field_name]).lower())
                if bucket is not None:
                    bucket.discard(record["Id"])
                    if not bucket:
                        del values[str(record[field_name]).lower()]

    def _reindex(self, obj: SObject, record: Record) -> None:
        self.index[ids.canonical(record["Id"])] = (obj.name, record["Id"])
        if record["IsDeleted"]:
            return
        for (name, field_name), values in self.ext_index.items():
            if name == obj.name and record.get(field_name) is not None:
                values.setdefault(str(record[field_name]).lower(), set()).add(record["Id"])

    # -- writing ---------------------------------------------------------------------------------------------
    def convert(self, obj: SObject, values: dict[str, Any], creating: bool) -> dict[str, Any]:
        """Client JSON to stored values: unknown fields and undeserializable values fail the request."""
        converted: dict[str, Any] = {}
        not_writable: list[str] = []
        for key, value in values.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                raise ApiError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}")
            if f.name == "Id" and not creating:
                continue  # updates name the record in the URL or the collection entry
            if not (f.createable if creating else f.updateable):
                not_writable.append(f.name)
                continue
            converted[f.name] = from_wire(f, value)
        if not_writable:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(not_writable)}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set.",
                not_writable,
            )
        return converted

    def create(self, obj: SObject, values: dict[str, Any], user_id: str) -> Record:
        if not obj.createable:
            raise ApiError("INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support insert")
        given = self.convert(obj, values, creating=True)
        record: Record = {name: None for name in obj.fields}
        for f in obj.fields.values():
            if f.default is not None:
                record[f.name] = f.default
            elif f.type == "boolean":
                record[f.name] = False
        record.update(given)
        if "OwnerId" in obj.fields and record.get("OwnerId") is None:
            record["OwnerId"] = user_id
        self._validate(obj, record, set(given), None)
        record_id = self.new_id(obj)
        now = self.stamp()
        record.update(
            Id=record_id,
            IsDeleted=False,
            CreatedDate=now,
            CreatedById=user_id,
            LastModifiedDate=now,
            LastModifiedById=user_id,
            SystemModstamp=now,
        )
        self._remember(obj, record_id)
        self.tables[obj.name][record_id] = record
        self._reindex(obj, record)
        self._after_write(obj, record)
        if obj.name == "Event":
            series.after_create(self, record, user_id)
        return record

    def update(self, obj: SObject, record_id: str, values: dict[str, Any], user_id: str) -> Record:
        if not obj.updateable:
            raise ApiError("INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support update")
        old = self.get(obj, record_id)
        given = self.convert(obj, values, creating=False)
        record = dict(old)
        record.update(given)
        self._validate(obj, record, set(given), old)
        now = self.stamp()
        record.update(LastModifiedDate=now, LastModifiedById=user_id, SystemModstamp=now)
        if obj.name == "Event":
            series.after_update(self, old, record, user_id)
        self._remember(obj, old["Id"])
        self._unindex(obj, old)
        self.tables[obj.name][old["Id"]] = record
        self._reindex(obj, record)
        self._after_write(obj, record)
        return record

    def delete(self, obj: SObject | None, record_id: str, user_id: str) -> Record:
        found = self.locate(record_id)
        if found is None or (obj is not None and found[0] is not obj):
            if obj is None and not ids.is_well_formed(record_id):
                raise RecordError("MALFORMED_ID", f"malformed id {record_id}")
            raise not_found()
        obj, record = found
        if not obj.deletable:
            raise ApiError("INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support delete")
        if record["IsDeleted"]:
            raise entity_is_deleted()
        self._soft_delete(obj, record, user_id)
        if obj.name == "Event":
            series.after_delete(self, record, user_id)
            for relation in list(self.tables["EventRelation"].values()):
                if relation["EventId"] == record["Id"] and not relation["IsDeleted"]:
                    self._soft_delete(OBJECTS["EventRelation"], relation, user_id)
        if obj.name == "EventRelation" and record["EventId"]:
            self._refresh_group_event(record["EventId"])
        return record

    def _soft_delete(self, obj: SObject, record: Record, user_id: str) -> None:
        self._remember(obj, record["Id"])
        self._unindex(obj, record)
        now = self.stamp()
        deleted = dict(record)
        deleted.update(IsDeleted=True, SystemModstamp=now, LastModifiedDate=now, LastModifiedById=user_id)
        deleted["_deletedDate"] = now
        self.tables[obj.name][record["Id"]] = deleted

    def upsert(self, obj: SObject, f: Field, value: str, values: dict[str, Any], user_id: str) -> tuple[Record, bool]:
        matches = self.find_by_external_id(obj, f, value)
        if len(matches) > 1:
            raise MultipleMatches([m["Id"] for m in matches])
        body_value = next((v for k, v in values.items() if k.lower() == f.name.lower()), None)
        if f.name != "Id" and body_value is not None and str(body_value).lower() != value.lower():
            raise RecordError(
                "INVALID_FIELD",
                f"The value for {f.name} in the request body ({body_value}) doesn't match the value in the URL.",
                [f.name],
            )
        if matches:
            payload = {k: v for k, v in values.items() if k.lower() != f.name.lower()}
            return self.update(obj, matches[0]["Id"], payload, user_id), False
        if f.name == "Id":
            raise not_found()
        payload = dict(values)
        payload[f.name] = value
        return self.create(obj, payload, user_id), True

    # -- series occurrences (sandbox.salesforce.series) ------------------------------------------------------
    def add_occurrence(self, values: dict[str, Any], user_id: str) -> Record:
        """An occurrence Event the org generates under a series (no validation: the series was validated)."""
        obj = OBJECTS["Event"]
        record: Record = {name: None for name in obj.fields}
        for f in obj.fields.values():
            if f.default is not None:
                record[f.name] = f.default
            elif f.type == "boolean":
                record[f.name] = False
        record.update(values)
        record_id = self.new_id(obj)
        now = self.stamp()
        record.update(Id=record_id, IsDeleted=False, CreatedDate=now, CreatedById=user_id, LastModifiedDate=now,
                      LastModifiedById=user_id, SystemModstamp=now)  # fmt: skip
        self._remember(obj, record_id)
        self.tables[obj.name][record_id] = record
        self._reindex(obj, record)
        return record

    def change_occurrence(self, record: Record, values: dict[str, Any], user_id: str) -> None:
        obj = OBJECTS["Event"]
        self._remember(obj, record["Id"])
        now = self.stamp()
        record.update(values, LastModifiedDate=now, LastModifiedById=user_id, SystemModstamp=now)

    def remove_occurrence(self, record: Record, user_id: str) -> None:
        self._soft_delete(OBJECTS["Event"], record, user_id)

    def touch(self, record_id: str) -> Record:
        """An automated update: SystemModstamp moves, LastModifiedDate and content do not."""
        found = self.parent(record_id)
        if found is None:
            raise not_found()
        obj, record = found
        self._remember(obj, record["Id"])
        record["SystemModstamp"] = self.stamp()
        return record

    # Fields of a User an admin may change in Setup (the API cannot: User is read-only in the sandbox).
    USER_ADMIN_FIELDS = frozenset({"UserRoleId", "ProfileId", "Department", "Title"})

    def set_user_fields(self, user_id: str, values: dict[str, Any]) -> Record:
        """An admin changes a User's role, profile or department in Setup: the record and its stamps move."""
        obj = OBJECTS["User"]
        record = self.get(obj, user_id)
        unknown = sorted(set(values) - self.USER_ADMIN_FIELDS)
        if unknown:
            raise ApiError("INVALID_FIELD", f"cannot set {', '.join(unknown)} on User here")
        for name in ("UserRoleId", "ProfileId"):
            if values.get(name) is not None:
                self._check_reference(obj.fields[name], values[name])
        now = self.stamp()
        record.update(values, LastModifiedDate=now, SystemModstamp=now)
        self._remember(obj, record["Id"])
        return record

    # -- validation ------------------------------------------------------------------------------------------
    def _validate(self, obj: SObject, record: Record, given: set[str], old: Record | None) -> None:
        for name in given:
            f = obj.fields[name]
            value = record[name]
            if value is None:
                continue
            if f.type in TEXT_TYPES and f.length and len(value) > f.length:
                raise RecordError(
                    "STRING_TOO_LONG",
                    f"{_label(f)}: data value too large: {value[:100]}{'...' if len(value) > 100 else ''} "
                    f"(max length={f.length})",
                    [f.name],
                )
            if f.type == "picklist" and value not in f.picklist:
                raise RecordError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{_label(f)}: bad value for restricted picklist field: {value}",
                    [f.name],
                )
            if f.type == "email" and value and not _EMAIL.match(value):
                raise RecordError("INVALID_EMAIL_ADDRESS", f"{_label(f)}: invalid email address: {value}", [f.name])
            if f.type == "int" and not -(10**9) < value < 10**9:
                raise RecordError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{_label(f)}: value outside of valid range on numeric field: {value}",
                    [f.name],
                )
            if f.type == "reference":
                record[name] = self._check_reference(f, value)
        derive = _DERIVE.get(obj.name)
        if derive is not None:
            derive(self, record, given, old)
        missing = [
            f.name
            for f in obj.fields.values()
            if f.required and (record.get(f.name) is None or record.get(f.name) == "")
        ]
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        for f in obj.fields.values():
            if f.unique and record.get(f.name) is not None:
                holders = self.ext_index[(obj.name, f.name)].get(str(record[f.name]).lower(), set())
                others = sorted(h for h in holders if old is None or h != old["Id"])
                if others:
                    raise RecordError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with id: {others[0]}",
                        [],
                    )

    def _check_reference(self, f: Field, value: str) -> str:
        if value == "":
            return value
        if not ids.is_well_formed(value):
            raise RecordError("MALFORMED_ID", f"{_label(f)}: id value of incorrect type: {value}", [f.name])
        target = BY_PREFIX.get(value[:3])
        if target is None or target.name not in f.reference_to:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION", f"{_label(f)}: id value of incorrect type: {value}", [f.name]
            )
        found = self.parent(value)
        if found is None or found[0] is not target:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
        return found[1]["Id"]

    def owner_timezone(self, record: Record) -> dt.tzinfo:
        owner = self.parent(record.get("OwnerId") or "")
        tz_name = owner[1].get("TimeZoneSidKey") if owner is not None else None
        try:
            return ZoneInfo(tz_name) if tz_name else dt.UTC
        except (KeyError, ValueError):
            return dt.UTC

    def _after_write(self, obj: SObject, record: Record) -> None:
        if obj.name == "EventRelation" and record.get("EventId"):
            self._refresh_group_event(record["EventId"])

    def _refresh_group_event(self, event_id: str) -> None:
        found = self.parent(event_id)
        if found is None:
            return
        event = found[1]
        group = any(
            r["EventId"] == event["Id"] and r["IsInvitee"] and not r["IsDeleted"]
            for r in self.tables["EventRelation"].values()
        )
        self._remember(OBJECTS["Event"], event["Id"])
        event["IsGroupEvent"] = group
        event["SystemModstamp"] = self.stamp()

    # -- recycle bin and replication --------------------------------------------------------------------------
    def purge_expired(self) -> None:
        """Empty records older than 15 days from the recycle bin (like the real org's nightly purge)."""
        cutoff = self.now() - DELETED_WINDOW
        for name, table in self.tables.items():
            expired = [i for i, r in table.items() if r["IsDeleted"] and r["_deletedDate"] < cutoff]
            for record_id in expired:
                del table[record_id]
                self.index.pop(ids.canonical(record_id), None)
            if expired:
                self.purged_until[name] = max(self.purged_until.get(name, cutoff), cutoff)

    def purge_recycle_bin(self, object_name: str | None = None) -> int:
        """Physically delete every deleted record (of one object or all); getDeleted can't go back past now."""
        now = self.stamp()
        count = 0
        for name, table in self.tables.items():
            if object_name is not None and name != object_name:
                continue
            for record_id in [i for i, r in table.items() if r["IsDeleted"]]:
                del table[record_id]
                self.index.pop(ids.canonical(record_id), None)
                count += 1
            self.purged_until[name] = now
        return count

    def _replication_window(
        self, obj: SObject, start: dt.datetime, end: dt.datetime, window: dt.timedelta
    ) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
        if not obj.replicateable:
            raise ApiError("INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support replication")
        start, end = _floor_minute(start), _floor_minute(end)
        if start >= end:
            raise ApiError("INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
        now = self.now()
        if start < _floor_minute(now - window):
            days = window.days
            raise ApiError("INVALID_REPLICATION_DATE", f"startDate cannot be more than {days} days ago")
        return start, end, min(end, _floor_minute(now))

    def get_updated(self, obj: SObject, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
        start, end, covered = self._replication_window(obj, start, end, UPDATED_WINDOW)
        found = [
            r["Id"] for r in self.tables[obj.name].values() if not r["IsDeleted"] and start <= r["SystemModstamp"] < end
        ]
        return {"ids": found, "latestDateCovered": to_wire(_DT, covered)}

    def earliest_date_available(self, obj: SObject) -> dt.datetime:
        horizon = _floor_minute(self.now() - DELETED_WINDOW)
        return max(horizon, _floor_minute(self.purged_until.get(obj.name, horizon)))

    def get_deleted(self, obj: SObject, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
        self.purge_expired()
        earliest = self.earliest_date_available(obj)
        start, end, covered = self._replication_window(obj, start, end, DELETED_WINDOW)
        if start < earliest:
            raise ApiError(
                "INVALID_REPLICATION_DATE",
                f"startDate is before earliestDateAvailable ({to_wire(_DT, earliest)}): do a full resync",
            )
        deleted = [
            {"id": r["Id"], "deletedDate": to_wire(_DT, r["_deletedDate"])}
            for r in self.tables[obj.name].values()
            if r["IsDeleted"] and start <= r["_deletedDate"] < end
        ]
        return {
            "deletedRecords": deleted,
            "earliestDateAvailable": to_wire(_DT, earliest),
            "latestDateCovered": to_wire(_DT, covered),
        }

    # -- persistence -----------------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        tables = {}
        for name, table in self.tables.items():
            obj = OBJECTS[name]
            rows = []
            for record in table.values():
                row = {f.name: to_wire(f, record.get(f.name)) for f in obj.fields.values()}
                if record["IsDeleted"]:
                    row["_deletedDate"] = to_wire(_DT, record["_deletedDate"])
                rows.append(row)
            tables[name] = rows
        return {
            "counter": self.counter,
            "last_stamp": to_wire(_DT, self.last_stamp),
            "purged_until": {k: to_wire(_DT, v) for k, v in self.purged_until.items()},
            "tables": tables,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.clear()
        self.counter = data["counter"]
        self.last_stamp = from_stored(_DT, data["last_stamp"])
        self.purged_until = {k: from_stored(_DT, v) for k, v in data.get("purged_until", {}).items()}
        for name, rows in data["tables"].items():
            obj = get_object(name)
            if obj is None:
                continue
            for row in rows:
                record = {f.name: from_stored(f, row.get(f.name)) for f in obj.fields.values()}
                if "_deletedDate" in row:
                    record["_deletedDate"] = from_stored(_DT, row["_deletedDate"])
                self.tables[obj.name][record["Id"]] = record
                self._reindex(obj, record)

    def insert_seed(self, obj: SObject, record: Record) -> Record:
        """Insert a fully formed record (seed data): system fields given, no validation."""
        full = {name: None for name in obj.fields}
        for f in obj.fields.values():
            if f.type == "boolean":
                full[f.name] = False if f.default is None else f.default
            elif f.default is not None:
                full[f.name] = f.default
        full.update(record)
        full.setdefault("IsDeleted", False)
        self.tables[obj.name][full["Id"]] = full
        self._reindex(obj, full)
        return full


_DT = Field("_stamp", "datetime", "Timestamp")


# -- per-object rules ---------------------------------------------------------------------------------------
def _given(record: Record, given: set[str], name: str) -> Any:
    return record.get(name) if name in given else None


def _derive_event(store: Store, record: Record, given: set[str], old: Record | None) -> None:
    tz = store.owner_timezone(record)
    was_all_day = bool(old and old["IsAllDayEvent"])
    if record["IsAllDayEvent"]:
        start_given = _given(record, given, "StartDateTime") or _given(record, given, "ActivityDateTime")
        if _given(record, given, "ActivityDate") is not None:
            day = record["ActivityDate"]
        elif start_given is not None:
            day = start_given.date()
        elif old is not None and old["ActivityDate"] is not None:
            day = old["ActivityDate"]
        else:
            raise RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [ActivityDate]", ["ActivityDate"])
        duration = _given(record, given, "DurationInMinutes")
        end_given = _given(record, given, "EndDateTime")
        if duration is not None:
            days = max(1, math.ceil(duration / 1440))
            if end_given is not None and (end_given.date() - day).days + 1 != days:
                raise RecordError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "EndDateTime and DurationInMinutes don't describe the same event length.",
                    ["EndDateTime", "DurationInMinutes"],
                )
        elif end_given is not None:
            days = (end_given.date() - day).days + 1
        elif was_all_day and old is not None:
            days = max(1, (old["DurationInMinutes"] or 1440) // 1440)
        else:
            days = 1
        if days < 1:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION", "End Date Time: can't be earlier than Start Date Time.", ["EndDateTime"]
            )
        if days * 1440 > MAX_EVENT_MINUTES:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION", "Event duration can't exceed 14 days.", ["DurationInMinutes"]
            )
        start = dt.datetime.combine(day, dt.time(), dt.UTC)
        last_day = day + (days - 1) * DAY
        record.update(
            StartDateTime=start,
            ActivityDateTime=start,
            ActivityDate=day,
            EndDateTime=dt.datetime.combine(last_day, dt.time(), dt.UTC),
            EndDate=last_day,
            DurationInMinutes=days * 1440,
        )
    else:
        start = _given(record, given, "StartDateTime") or _given(record, given, "ActivityDateTime")
        if start is None and old is not None:
            start = old["StartDateTime"]
        if start is None:
            raise RecordError(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [StartDateTime]", ["StartDateTime"]
            )
        end = _given(record, given, "EndDateTime")
        duration = _given(record, given, "DurationInMinutes")
        if end is not None:
            if duration is not None and start + dt.timedelta(minutes=duration) != end:
                raise RecordError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "EndDateTime and DurationInMinutes don't describe the same event length.",
                    ["EndDateTime", "DurationInMinutes"],
                )
        elif duration is not None:
            end = start + dt.timedelta(minutes=duration)
        elif old is not None and not was_all_day and old["DurationInMinutes"] is not None:
            end = start + dt.timedelta(minutes=old["DurationInMinutes"])  # moving an event keeps its length
        else:
            raise RecordError(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [DurationInMinutes]", ["DurationInMinutes"]
            )
        if end < start:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION", "End Date Time: can't be earlier than Start Date Time.", ["EndDateTime"]
            )
        minutes = int((end - start).total_seconds() // 60)
        if minutes > MAX_EVENT_MINUTES:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION", "Event duration can't exceed 14 days.", ["DurationInMinutes"]
            )
        record.update(
            StartDateTime=start,
            ActivityDateTime=start,
            EndDateTime=end,
            DurationInMinutes=minutes,
            ActivityDate=start.astimezone(tz).date(),
            EndDate=end.astimezone(tz).date(),
        )
    pattern = record.get("Recurrence2PatternText")
    if pattern:
        try:
            if not pattern.startswith("RRULE:"):
                raise ValueError(pattern)
            rrulestr(pattern, dtstart=record["StartDateTime"].replace(tzinfo=None))
        except (ValueError, TypeError):
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"Recurrence Pattern: invalid RRULE: {pattern}",
                ["Recurrence2PatternText"],
            ) from None
        series_tz = record.get("Recurrence2PatternTimeZone") or getattr(tz, "key", "GMT")
        try:
            ZoneInfo(series_tz)
        except (KeyError, ValueError):
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"Recurrence Pattern Time Zone: unknown time zone: {series_tz}",
                ["Recurrence2PatternTimeZone"],
            ) from None
        record.update(
            IsRecurrence2=True,
            Recurrence2PatternStartDate=record["StartDateTime"],
            Recurrence2PatternTimeZone=series_tz,
            Recurrence2PatternVersion="1",
        )
    else:
        record.update(
            IsRecurrence2=False,
            Recurrence2PatternStartDate=None,
            Recurrence2PatternTimeZone=None,
            Recurrence2PatternVersion=None,
        )
    _derive_account(store, record)


def _derive_account(store: Store, record: Record) -> None:
    """AccountId of an activity: the What's account, else the Who's (Contact) account."""
    account = None
    what = store.parent(record.get("WhatId") or "")
    if what is not None:
        obj, parent = what
        account = parent["Id"] if obj.name == "Account" else parent.get("AccountId") or parent.get("Account__c")
    if account is None:
        who = store.parent(record.get("WhoId") or "")
        if who is not None and who[0].name == "Contact":
            account = who[1].get("AccountId")
    record["AccountId"] = account


def _derive_task(store: Store, record: Record, given: set[str], old: Record | None) -> None:
    closed = record.get("Status") in CLOSED_TASK_STATUSES
    record["IsClosed"] = closed
    if closed and not (old and old["IsClosed"]):
        record["CompletedDateTime"] = _floor_ms(store.now())
    elif not closed:
        record["CompletedDateTime"] = None
    record["IsHighPriority"] = record.get("Priority") == "High"
    if "ReminderDateTime" in given and "IsReminderSet" not in given:
        record["IsReminderSet"] = record["ReminderDateTime"] is not None
    _derive_account(store, record)


def _derive_person(store: Store, record: Record, given: set[str], old: Record | None) -> None:
    record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)


def _derive_opportunity(store: Store, record: Record, given: set[str], old: Record | None) -> None:
    stage = record.get("StageName")
    record["IsClosed"] = stage in {"Closed Won", "Closed Lost"}
    record["IsWon"] = stage == "Closed Won"


def _derive_event_relation(store: Store, record: Record, given: set[str], old: Record | None) -> None:
    record["IsWhat"] = False
    if old is None and record.get("EventId") and record.get("RelationId"):
        for other in store.tables["EventRelation"].values():
            if (
                not other["IsDeleted"]
                and other["EventId"] == record["EventId"]
                and ids.canonical(other["RelationId"]) == ids.canonical(record["RelationId"])
            ):
                raise RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: RelationId duplicates value on record with id: {other['Id']}",
                    [],
                )


_DERIVE: dict[str, Callable[[Store, Record, set[str], Record | None], None]] = {
    "Event": _derive_event,
    "Task": _derive_task,
    "Contact": _derive_person,
    "Lead": _derive_person,
    "Opportunity": _derive_opportunity,
    "EventRelation": _derive_event_relation,
}
