"""`GraphCalendar`: one mailbox's calendar through Microsoft Graph v1.0, an `ExchangeCalendar`.

How each protocol method maps to Graph (docs/graph.md has the whole story):

- ``changes``: a ``calendarView/delta`` round (`sync.connectors.graph.feed`); occurrences fold into their
  series master; sync keys (not in the delta feed) come with one batched GET per 20 changed items, whose
  answers ``fetch`` then serves without asking again; ``@removed`` is confirmed by a GET (404 = ``delete``,
  still there = ``removed``, which the engine reads again).
- ``fetch``: batched ``GET /events/{id}?$expand=singleValueExtendedProperties(...)``; a series master also
  reads ``/instances`` over the series: missing instances are its deleted occurrences, ``exception`` instances
  its modified ones (the fields EWS gives as DeletedOccurrences/ModifiedOccurrences).
- ``create``/``update``/``delete``: batched POST (``transactionId`` from the sync key, the key as the extended
  property EWS writes), PATCH of the given fields with ``If-Match`` (412 → that item's `WriteResult` fails with
  code ``ErrorIrresolvableConflict``: the engine re-reads it next session, nothing is overwritten), DELETE
  (to Deleted Items; 404 counts as done). ``delete_occurrences`` deletes instances by their own ids.
- categories: ``outlook/masterCategories`` (colours ``preset0``..``preset24``).

Graph cannot suppress meeting messages (there is no SendToNone): ``notifies_attendees`` says so, and the
engine keeps such writes away from meetings with attendees.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests
from dateutil.rrule import rrulestr

from sync.connectors.base import (
    CREATE,
    DELETE,
    REMOVED,
    UPDATE,
    ExchangeItem,
    ExchangeUsage,
    FeedChange,
    ItemChange,
    ItemFeed,
    NewItem,
    OccurrenceChange,
    WriteResult,
)
from sync.connectors.errors import ConnectorError
from sync.connectors.graph import mapping
from sync.connectors.graph.client import SERVICE, GraphClient, SubRequest, SubResponse, error_of
from sync.connectors.graph.feed import Cursor, delta_round
from sync.connectors.graph.tokens import TokenSource
from sync.mapping.exchange import SYNC_KEY_ATTR
from sync.mapping.recurrence import from_exchange_pattern
from sync.mapping.timezones import canonical_time_zone, zone

log = logging.getLogger(__name__)
Window = tuple[dt.datetime, dt.datetime]
CONFLICT = "ErrorIrresolvableConflict"  # the code of a WriteResult whose item changed under us (HTTP 412)
DEFAULT_CATEGORY_COLOR = 7
MAX_SERIES_OCCURRENCES = 1000  # the expansion guard (EWS allows 999 numbered occurrences)
# Plain field → the Graph properties that carry it (for reads of some fields only).
_SELECT = {
    "subject": ("subject",), "location": ("location",), "body": ("body",), "is_all_day": ("isAllDay",),
    "start": ("start", "isAllDay", "originalStartTimeZone"), "end": ("end", "isAllDay"),
    "start_timezone": ("originalStartTimeZone",), "legacy_free_busy_status": ("showAs",),
    "sensitivity": ("sensitivity",), "required_attendees": ("attendees",), "optional_attendees": ("attendees",),
    "categories": ("categories",), "recurrence": ("recurrence", "originalStartTimeZone"),
}  # fmt: skip
_OCCURRENCE_FIELDS = ("subject", "location", "start", "end")  # what `OccurrenceChange` may set
_ALWAYS = ("id", "changeKey", "type", "seriesMasterId", "isOrganizer", "isCancelled", "iCalUId",
           "lastModifiedDateTime")  # fmt: skip


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def default_window(now: dt.datetime | None = None) -> Window:
    """30 days back to a year ahead: wider than the default scopes (docs/policies.md)."""
    now = now or _utcnow()
    return now - dt.timedelta(days=30), now + dt.timedelta(days=365)


class GraphCalendar:
    """One mailbox's calendar, for one sync session, over Microsoft Graph (``graph_url`` ends in ``/v1.0``).

    ``window``: the span the change feed covers (a pair of datetimes or a callable giving one; the union of
    the policies' scope windows); ``window_slack``: how much further ahead each new delta round reaches, so
    the cursor stays valid while the scope moves with the clock. The other keyword arguments tune the
    transport (`sync.connectors.graph.client.GraphClient`)."""

    service = SERVICE
    protocol = "graph"
    notifies_attendees = True  # Graph has no SendToNone: writes to meetings with attendees e-mail them

    def __init__(
        self,
        mailbox_email: str,
        *,
        graph_url: str,
        tokens: TokenSource,
        session: requests.Session | None = None,
        window: Window | Callable[[], Window] | None = None,
        window_slack: dt.timedelta = dt.timedelta(days=7),
        max_in_flight: int = 4,
        max_attempts: int = 5,
        max_wait: float = 60.0,
        max_total_wait: float = 300.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.mailbox_email = mailbox_email
        self.graph_url = graph_url.rstrip("/")
        self.usage = ExchangeUsage()
        self._window = window
        self.window_slack = window_slack
        self.client = GraphClient(
            self.graph_url, mailbox_email, tokens, self.usage, session=session, max_in_flight=max_in_flight,
            max_attempts=max_attempts, max_wait=max_wait, max_total_wait=max_total_wait, timeout=timeout,
            sleep=sleep,
        )  # fmt: skip
        self._user = f"/users/{quote(mailbox_email, safe='@')}"
        # Events the feed just read (with their sync keys): ``fetch`` serves them once instead of asking again.
        self._prefetched: dict[str, dict[str, Any]] = {}
        # Item id → (change key, sync key) of this connector's own last write of it.
        self._written: dict[str, tuple[str | None, str | None]] = {}
        self._keys: dict[str, str] = {}  # item id → sync key, as read or written

    def window(self) -> Window:
        value = self._window() if callable(self._window) else self._window
        return value or default_window()

    # -- change feed ---------------------------------------------------------------------------------------
    def changes(self, cursor: str | None, *, window: Window | None = None) -> ItemFeed:
        """Changes since ``cursor`` (a delta round); ``full=True`` when the cursor is missing, not ours, gone
        (410 / syncStateNotFound) or no longer covers the window."""
        lo, hi = window or self.window()
        wanted = (lo, hi)
        previous = Cursor.decode(cursor)
        if previous is not None and not previous.covers(*wanted):
            previous = None
        ask = wanted if previous is not None else (lo, hi + self.window_slack)
        rnd = delta_round(self.client, ask, previous)
        self._prefetched.clear()  # reads older than this round are not served

        # Item id (a series: its master) → the feed entry and the categories of all its instances. Entries may
        # repeat (Graph replays): the last one wins.
        seen: dict[str, tuple[dict[str, Any], set[str]]] = {}
        removed: list[str] = []
        for entry in rnd.entries:
            entry_id = str(entry.get("id") or "")
            if not entry_id:
                continue
            if "@removed" in entry:
                removed.append(entry_id)
                continue
            instance = entry.get("type") in ("occurrence", "exception") and entry.get("seriesMasterId")
            target = str(entry["seriesMasterId"]) if instance else entry_id
            categories = seen.pop(target, ({}, set()))[1] if instance else set()
            seen[target] = (entry if not instance else {}, categories | set(entry.get("categories") or ()))
        removed = [i for i in dict.fromkeys(removed) if i not in seen]
        # The series masters the chain has listed (kept in the cursor): a full round starts the list afresh.
        masters = set() if rnd.full or previous is None else set(previous.masters)
        masters |= {str(e["seriesMasterId"]) for e in rnd.entries if e.get("seriesMasterId") and "@removed" not in e}
        feed = ItemFeed(cursor="", full=rnd.full)

        # Sync keys are not in the delta feed: read them (batched GETs, ⌈n/20⌉ requests) for tagged items only,
        # the ones the engine reads next anyway (`fetch` then serves these answers). Untagged items need no key:
        # the engine matches them to links by id, or ignores them.
        # Our own writes of this session need no read either: the change key says nothing else changed.
        own = {i for i, (entry, _) in seen.items() if entry.get("changeKey") and
               self._written.get(i, (None, None))[0] == entry["changeKey"]}  # fmt: skip
        tagged = [i for i, (_, categories) in seen.items() if categories and i not in own]
        answers = dict(zip(tagged, self._get_events(tagged), strict=True)) if tagged else {}
        for item_id, (entry, _) in seen.items():
            kind = CREATE if rnd.full else UPDATE
            answer = answers.get(item_id)
            if answer is None:  # untagged or ours: the feed entry says enough (a series: change key unknown)
                key = self._written[item_id][1] if item_id in own else None
                feed.changes.append(
                    FeedChange(kind, item_id, entry.get("changeKey"), tuple(entry.get("categories") or ()), key)
                )
                continue
            if answer.status == 404:
                if not rnd.full:
                    feed.changes.append(FeedChange(DELETE, item_id))
                continue
            if not answer.ok:
                raise error_of(answer.status, answer.body, context="GET event")
            event = answer.body or {}
            self._prefetched[item_id] = event
            categories = tuple(event.get("categories") or ())
            feed.changes.append(
                FeedChange(kind, item_id, event.get("changeKey"), categories, mapping.sync_key_of(event))
            )
        if removed:
            if rnd.full:
                # Absence (or @removed) in a full round proves nothing (invariant 4): the engine confirms.
                feed.changes.extend(FeedChange(REMOVED, i) for i in removed)
            else:
                feed.changes.extend(self._confirm_removed(removed, seen, masters))
        feed.cursor = dataclasses.replace(rnd.cursor, masters=tuple(sorted(masters))).encode()
        return feed

    def _confirm_removed(self, removed: list[str], seen: Mapping[str, Any], masters: set[str]) -> list[FeedChange]:
        """``@removed`` ids of an incremental round as changes. ``@removed`` is a deletion *or* a change outside
        the window: only a direct GET tells (404: deleted). An instance still there counts as its master. A
        deleted series shows only as its instances, whose 404s do not name the master: then the listed masters
        with no live instance in this round are read too, and those gone are its deletions (⌈m/20⌉ requests,
        only in a round that deleted something). ``masters`` loses the masters found gone."""
        query = "$select=id,type,seriesMasterId"
        answers = self.client.batch([SubRequest("GET", f"{self._user}/events/{i}?{query}") for i in removed])
        out: list[FeedChange] = []
        unnamed = False
        for item_id, answer in zip(removed, answers, strict=True):
            if answer.status == 404:
                out.append(FeedChange(DELETE, item_id))
                masters.discard(item_id)
                unnamed = True
                continue
            master = str((answer.body or {}).get("seriesMasterId") or "") if answer.ok else ""
            if master and master not in seen:
                out.append(FeedChange(REMOVED, master))
            elif not master:
                out.append(FeedChange(REMOVED, item_id))
        suspects = sorted(m for m in masters if m not in seen and m not in removed) if unnamed else []
        if suspects:
            answers = self.client.batch([SubRequest("GET", f"{self._user}/events/{m}?$select=id") for m in suspects])
            for master, answer in zip(suspects, answers, strict=True):
                if answer.status == 404:
                    out.append(FeedChange(DELETE, master))
                    masters.discard(master)
        return list({(c.change, c.item_id): c for c in out}.values())

    # -- reads ---------------------------------------------------------------------------------------------
    def _get_events(self, item_ids: Sequence[str], select: Iterable[str] | None = None) -> list[SubResponse]:
        query = f"$expand={_enc(mapping.EXPAND_SYNC_KEY)}"
        if select is not None:
            query = f"$select={','.join(dict.fromkeys([*_ALWAYS, *select]))}&" + query
        return self.client.batch([SubRequest("GET", f"{self._user}/events/{i}?{query}") for i in item_ids])

    def fetch(self, item_ids: Sequence[str], fields: Iterable[str] | None = None) -> list[ExchangeItem | None]:
        """Items by id, in order; ``None`` where the item is gone (404). ``fields``: plain field names to read
        instead of all (a series then comes without its occurrences)."""
        if not item_ids:
            return []
        wanted = None if fields is None else tuple(fields)
        events: dict[str, dict[str, Any] | None] = {}
        missing = []
        for item_id in dict.fromkeys(item_ids):
            cached = self._prefetched.pop(item_id, None)
            if cached is not None:
                events[item_id] = cached
            else:
                missing.append(item_id)
        if missing:
            select = None
            if wanted is not None:
                select = [p for name in wanted for p in _SELECT.get(name, ())]
            for item_id, answer in zip(missing, self._get_events(missing, select), strict=True):
                if answer.status in (404,) or (answer.status == 400 and _code(answer) == "ErrorInvalidIdMalformed"):
                    events[item_id] = None
                elif not answer.ok:
                    raise error_of(answer.status, answer.body, context="GET event")
                else:
                    events[item_id] = answer.body or {}
        series = {}
        if wanted is None:
            masters = [e for e in events.values() if e and e.get("type") == "seriesMaster" and e.get("recurrence")]
            series = self._series_exceptions(masters)
        out: list[ExchangeItem | None] = []
        for item_id in item_ids:
            event = events.get(item_id)
            if event is None:
                out.append(None)
                continue
            deleted, modified = series.get(item_id, (None, None))
            key = mapping.sync_key_of(event)
            if key:
                self._keys[item_id] = key
            out.append(mapping.exchange_item(event, self.mailbox_email, deleted_occurrences=deleted,
                                             modified_occurrences=modified))  # fmt: skip
        return out

    def _series_exceptions(
        self, masters: list[dict[str, Any]]
    ) -> dict[str, tuple[list[dt.datetime], list[dict[str, Any]]]]:
        """Master id → (starts of deleted occurrences, modified occurrences) from ``/instances`` over each
        series (one batched request per 20 series)."""
        if not masters:
            return {}
        spans = {m["id"]: self._series_span(m) for m in masters}
        answers = self.client.batch(
            [
                SubRequest("GET", f"{self._user}/events/{m['id']}/instances?startDateTime={_iso(spans[m['id']][0])}"
                           f"&endDateTime={_iso(spans[m['id']][1])}&$top=1000")
                for m in masters
            ]
        )  # fmt: skip
        out = {}
        for master, answer in zip(masters, answers, strict=True):
            if not answer.ok:
                raise error_of(answer.status, answer.body, context="GET instances")
            instances = list((answer.body or {}).get("value") or [])
            link = (answer.body or {}).get("@odata.nextLink")
            while link:
                page = self.client.get_json(link)
                instances += page.get("value") or []
                link = page.get("@odata.nextLink")
            out[master["id"]] = self._occurrences(master, instances, spans[master["id"]][1])
        return out

    def _series_span(self, master: dict[str, Any]) -> Window:
        start = mapping.parse_datetime(master.get("start")) or _utcnow()
        pattern = mapping.pattern_from_graph(master["recurrence"])
        if pattern.range == "end_date" and pattern.end is not None:
            end = dt.datetime.combine(pattern.end + dt.timedelta(days=2), dt.time(0), tzinfo=dt.UTC)
        else:
            expected = self._expected_starts(master, None)
            if pattern.range == "numbered" and expected:
                end = expected[-1] + dt.timedelta(days=2)
            else:
                end = max(self.window()[1] + self.window_slack, start + dt.timedelta(days=1))
        return start - dt.timedelta(days=1), end

    def _expected_starts(self, master: dict[str, Any], until: dt.datetime | None) -> list[dt.datetime]:
        """The series' occurrence starts by its pattern (UTC), in the master's zone (local wall times)."""
        rec, _ = from_exchange_pattern(mapping.pattern_from_graph(master["recurrence"]))
        start = mapping.parse_datetime(master.get("start"))
        tz_name = canonical_time_zone(mapping.item_zone(master) or "UTC") or "UTC"
        if rec is None or start is None:
            return []
        tz = zone(tz_name)
        local = start.astimezone(tz).replace(tzinfo=None)
        out: list[dt.datetime] = []
        for occurrence in rrulestr(rec.rrule, dtstart=local):
            instant = occurrence.replace(tzinfo=tz).astimezone(dt.UTC)
            if until is not None and instant > until:
                break
            out.append(instant)
            if len(out) >= MAX_SERIES_OCCURRENCES:
                break
        return out

    def _occurrences(
        self, master: dict[str, Any], instances: list[dict[str, Any]], until: dt.datetime
    ) -> tuple[list[dt.datetime], list[dict[str, Any]]]:
        present = set()
        modified = []
        for inst in instances:
            original = mapping.parse_datetime(inst.get("originalStart"))
            if original is None:
                continue
            present.add(int(original.timestamp()))
            if inst.get("type") == "exception":
                self._prefetched[str(inst["id"])] = inst  # `sync.series` reads their content next
                modified.append({"id": inst["id"], "original_start": original,
                                 "start": mapping.parse_datetime(inst.get("start")),
                                 "end": mapping.parse_datetime(inst.get("end"))})  # fmt: skip
        deleted = [s for s in self._expected_starts(master, until) if int(s.timestamp()) not in present]
        return deleted, modified

    def outside_calendar(self, item_ids: Sequence[str]) -> set[str]:
        """Nothing to do on Graph: a GET by id answers 404 for an event moved out of the calendar (to Deleted
        Items), so `fetch` already reports it gone (⚠ the sandbox's behaviour; docs/graph.md)."""
        return set()

    def find_by_sync_key(self, sync_keys: Iterable[str], *, deleted_items: bool = False) -> dict[str, str]:
        """Sync key → item id (one ``$filter`` on the extended property per key, batched), in the calendar
        (``/events``) or in Deleted Items (``/mailFolders/deleteditems/messages``)."""
        keys = list(dict.fromkeys(sync_keys))
        if not keys:
            return {}
        collection = f"{self._user}/mailFolders/deleteditems/messages" if deleted_items else f"{self._user}/events"
        requests_ = []
        for key in keys:
            value = key.replace("'", "''")
            flt = (f"singleValueExtendedProperties/Any(ep: ep/id eq '{mapping.SYNC_KEY_PROPERTY_ID}' and "
                   f"ep/value eq '{value}')")  # fmt: skip
            requests_.append(SubRequest("GET", f"{collection}?$filter={_enc(flt)}&$select=id&$top=5"))
        found: dict[str, str] = {}
        for key, answer in zip(keys, self.client.batch(requests_), strict=True):
            if deleted_items and answer.status == 403:
                # Listing Deleted Items needs Mail.ReadBasic.All (docs/graph.md): without it this lookup (only
                # for creates a crash cut short) finds nothing rather than failing the session.
                log.warning("no access to Deleted Items of %s: %s", self.mailbox_email, _code(answer))
                return found
            if not answer.ok:
                raise error_of(answer.status, answer.body, context="find by sync key")
            value = (answer.body or {}).get("value") or []
            if value:
                found[key] = str(value[0]["id"])
        return found

    # -- writes --------------------------------------------------------------------------------------------
    def create(self, items: Sequence[NewItem]) -> list[WriteResult]:
        """POST each item (batched) with ``transactionId`` from its sync key: a retried create that already
        went through answers ErrorDuplicateTransactionId, and the event is found by its key instead."""
        if not items:
            return []
        requests_ = []
        for new in items:
            data = {k: v for k, v in new.fields.items() if v is not None}
            body = mapping.graph_body(data)
            key = data.get(SYNC_KEY_ATTR)
            if key:
                body["transactionId"] = mapping.transaction_id(str(key))
            requests_.append(SubRequest("POST", f"{self._user}/events", body))
        results = [self._write_result(a) for a in self.client.batch(requests_)]
        for new, result in zip(items, results, strict=True):
            if result.ok and result.item_id:
                self._written[result.item_id] = (result.change_key, new.fields.get(SYNC_KEY_ATTR))
                if new.fields.get(SYNC_KEY_ATTR):
                    self._keys[result.item_id] = str(new.fields[SYNC_KEY_ATTR])
        duplicates = {
            str(new.fields.get(SYNC_KEY_ATTR)): i
            for i, (new, r) in enumerate(zip(items, results, strict=True))
            if r.error is not None and r.error.code == "ErrorDuplicateTransactionId" and new.fields.get(SYNC_KEY_ATTR)
        }
        if duplicates:
            found = self.find_by_sync_key(list(duplicates))
            existing = self.fetch([found[k] for k in duplicates if k in found], fields=("categories",))
            by_id = {e.item_id: e for e in existing if e is not None}
            for key, index in duplicates.items():
                item = by_id.get(found.get(key, ""))
                if item is not None:
                    results[index] = WriteResult(item.item_id, item.change_key)
        return results

    def update(self, changes: Sequence[ItemChange]) -> list[WriteResult]:
        """PATCH only the given fields, ``If-Match`` the change key when given: a stale one fails that item
        alone (code ``ErrorIrresolvableConflict``), never the batch, and nothing is overwritten."""
        if not changes:
            return []
        zones = self._zones_for(changes)
        requests_ = []
        for change in changes:
            self._prefetched.pop(change.item_id, None)
            body = mapping.graph_body(change.fields, fallback_zone=zones.get(change.item_id))
            headers = {"If-Match": mapping.etag(change.change_key)} if change.change_key else {}
            requests_.append(SubRequest("PATCH", f"{self._user}/events/{change.item_id}", body, headers))
        results = [self._write_result(a, fallback_id=c.item_id)
                   for c, a in zip(changes, self.client.batch(requests_), strict=True)]  # fmt: skip
        for change, result in zip(changes, results, strict=True):
            if result.ok:
                key = change.fields.get(SYNC_KEY_ATTR) or self._keys.get(change.item_id)
                self._written[change.item_id] = (result.change_key, key)
        return results

    def _zones_for(self, changes: Sequence[ItemChange]) -> dict[str, str]:
        """The items' own zones, for changes that set times or a pattern without naming the zone."""
        need = [c.item_id for c in changes
                if {"start", "end", "recurrence"} & set(c.fields) and not c.fields.get("start_timezone")]  # fmt: skip
        if not need:
            return {}
        out = {}
        for item_id, answer in zip(need, self._get_events(need, ["originalStartTimeZone"]), strict=True):
            if answer.ok and answer.body:
                out[item_id] = mapping.item_zone(answer.body) or "UTC"
        return out

    def delete(self, item_ids: Sequence[str]) -> list[WriteResult]:
        """DELETE (Graph moves the event to Deleted Items); an event already gone counts as deleted."""
        if not item_ids:
            return []
        for item_id in item_ids:
            self._prefetched.pop(item_id, None)
            self._written.pop(item_id, None)
        answers = self.client.batch([SubRequest("DELETE", f"{self._user}/events/{i}") for i in item_ids])
        out = []
        for item_id, answer in zip(item_ids, answers, strict=True):
            if answer.ok or answer.status == 404:
                out.append(WriteResult(item_id, None))
            else:
                out.append(WriteResult(item_id, None, error_of(answer.status, answer.body, context="DELETE event")))
        return out

    def delete_occurrences(self, master_id: str, instance_indexes: Sequence[int]) -> int:
        """Delete single occurrences (1-based positions in the pattern): find their instance ids with one
        ``/instances`` read, then DELETE them (batched); one already gone counts as done. Returns requests."""
        if not instance_indexes:
            return 0
        before = self.usage.calls
        master = self._master(master_id)
        if master is None:
            return self.usage.calls - before
        expected = self._expected_starts(master, None)
        wanted = {int(expected[i - 1].timestamp()) for i in instance_indexes if 0 < i <= len(expected)}
        ids = [str(inst["id"]) for inst in self._instances_at(master_id, wanted).values()]
        for result in self.delete(ids):
            if result.error is not None:
                raise result.error
        return self.usage.calls - before

    def update_occurrences(self, master_id: str, changes: Sequence[OccurrenceChange]) -> list[WriteResult]:
        """Change single occurrences: read the master (its pattern and zone), find each occurrence's instance
        by its original start with one ``/instances`` read, then PATCH the given fields of each (batched).

        No ``If-Match``: like EWS (no change key on an OccurrenceItemId), every occurrence written moves the
        master's change key, so a second occurrence of the same batch would fail on the first one's write.
        An occurrence beyond the pattern fails with ``ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange``, one
        the pattern has but ``/instances`` does not with ``ErrorCalendarOccurrenceIsDeletedFromRecurrence`` (the
        EWS codes), a move to or past a neighbour's day with Graph's own ``ErrorOccurrenceCrossingBoundary``."""
        if not changes:
            return []
        master = self._master(master_id)
        if master is None or not master.get("recurrence"):
            error = ConnectorError("The series was not found.", code="ErrorItemNotFound", service=SERVICE, status=404)
            return [WriteResult(None, None, error) for _ in changes]
        expected = {int(s.timestamp()) for s in self._expected_starts(master, None)}
        count = len(expected)
        results: list[WriteResult | None] = [None] * len(changes)
        wanted: dict[int, int] = {}  # change position → its original start (epoch seconds)
        for n, change in enumerate(changes):
            at = int(change.original_start.timestamp())
            if not 1 <= change.index <= count or at not in expected:
                results[n] = WriteResult(None, None, ConnectorError(
                    f"Occurrence {change.index} is outside the series' pattern.", service=SERVICE, status=400,
                    code="ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"))  # fmt: skip
            else:
                wanted[n] = at
        found = self._instances_at(master_id, set(wanted.values())) if wanted else {}
        zone_name = mapping.item_zone(master) or "UTC"
        patches: list[tuple[int, str, SubRequest]] = []
        for n, at in wanted.items():
            inst = found.get(at)
            if inst is None:
                results[n] = WriteResult(None, None, ConnectorError(
                    f"Occurrence {changes[n].index} was deleted from the series.", service=SERVICE, status=404,
                    code="ErrorCalendarOccurrenceIsDeletedFromRecurrence"))  # fmt: skip
                continue
            inst_id = str(inst["id"])
            fields = {k: v for k, v in changes[n].fields.items() if k in _OCCURRENCE_FIELDS}
            body = mapping.graph_body(fields, fallback_zone=zone_name)
            patches.append((n, inst_id, SubRequest("PATCH", f"{self._user}/events/{inst_id}", body)))
        if patches:
            self._prefetched.pop(master_id, None)  # its change key moves
            answers = self.client.batch([request for _, _, request in patches])
            for (n, inst_id, _), answer in zip(patches, answers, strict=True):
                self._prefetched.pop(inst_id, None)
                results[n] = self._write_result(answer, fallback_id=inst_id)
        return [r for r in results if r is not None]

    def _master(self, master_id: str) -> dict[str, Any] | None:
        """The series master as Graph has it (``None``: gone)."""
        [answer] = self._get_events([master_id])
        if answer.status == 404:
            return None
        if not answer.ok:
            raise error_of(answer.status, answer.body, context="GET event")
        return answer.body or {}

    def _instances_at(self, master_id: str, starts: set[int]) -> dict[int, dict[str, Any]]:
        """Original start (epoch seconds) → the series' instance there, for these starts: one ``/instances``
        read over their span (paged); a start with no instance is a deleted occurrence."""
        if not starts:
            return {}
        lo = dt.datetime.fromtimestamp(min(starts), dt.UTC) - dt.timedelta(days=1)
        hi = dt.datetime.fromtimestamp(max(starts), dt.UTC) + dt.timedelta(days=2)
        page = self.client.get_json(
            f"{self._user}/events/{master_id}/instances",
            {"startDateTime": _iso(lo), "endDateTime": _iso(hi), "$top": "1000"},
        )
        instances = list(page.get("value") or [])
        while page.get("@odata.nextLink"):
            page = self.client.get_json(page["@odata.nextLink"])
            instances += page.get("value") or []
        out = {}
        for inst in instances:
            original = mapping.parse_datetime(inst.get("originalStart"))
            if original is not None and int(original.timestamp()) in starts:
                out[int(original.timestamp())] = inst
        return out

    def _write_result(self, answer: SubResponse, *, fallback_id: str | None = None) -> WriteResult:
        if answer.ok:
            body = answer.body or {}
            return WriteResult(str(body.get("id") or fallback_id), body.get("changeKey"))
        return WriteResult(fallback_id, None, error_of(answer.status, answer.body, context="write"))

    # -- master categories ---------------------------------------------------------------------------------
    def master_categories(self) -> dict[str, int]:
        """Category name → Outlook colour preset number (-1: none)."""
        return {c["displayName"]: _color_number(c.get("color")) for c in self._categories()}

    def _categories(self) -> list[dict[str, Any]]:
        page = self.client.get_json(f"{self._user}/outlook/masterCategories")
        values = list(page.get("value") or [])
        while page.get("@odata.nextLink"):
            page = self.client.get_json(page["@odata.nextLink"])
            values += page.get("value") or []
        return values

    def ensure_categories(self, wanted: dict[str, int]) -> list[str]:
        """Add the missing categories (putting back any a user deleted); returns the names added."""
        present = {c["displayName"].lower() for c in self._categories()}
        added = [name for name in wanted if name.lower() not in present]
        if not added:
            return []
        answers = self.client.batch(
            [SubRequest("POST", f"{self._user}/outlook/masterCategories",
                        {"displayName": n, "color": _color_name(wanted[n])}) for n in added]
        )  # fmt: skip
        for name, answer in zip(added, answers, strict=True):
            if not answer.ok and answer.status != 409:  # 409: someone added it meanwhile
                raise error_of(answer.status, answer.body, context=f"add category {name!r}")
        return added

    def close(self) -> None:
        self._prefetched.clear()
        self.client.close()

    def __repr__(self) -> str:
        return f"GraphCalendar({self.mailbox_email!r} at {self.graph_url!r})"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _enc(value: str) -> str:
    """A query value for a ``$batch`` item's relative url (Graph wants it URL-encoded, as in a request line)."""
    return quote(value, safe="$(),='")


def _code(answer: SubResponse) -> str:
    error = (answer.body or {}).get("error") if isinstance(answer.body, Mapping) else None
    return str((error or {}).get("code") or "")


def _color_number(color: Any) -> int:
    text = str(color or "none").lower()
    return int(text[len("preset") :]) if text.startswith("preset") and text[6:].isdigit() else -1


def _color_name(number: int) -> str:
    return f"preset{number}" if 0 <= number <= 24 else "none"


__all__ = ["CONFLICT", "GraphCalendar", "default_window"]
