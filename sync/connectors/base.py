"""The connector interfaces the engine sees: an Exchange calendar and a Salesforce org, as `typing.Protocol`s.

The engine (feeds, planner, apply, session) holds only these protocols and the plain data below; exchangelib's
and simple-salesforce's types stay inside their connectors (`sync.connectors.ews`, `sync.connectors.salesforce`),
and an import-linter contract in pyproject.toml keeps it so. A Microsoft Graph connector implements
`ExchangeCalendar` the same way: its delta link is the opaque ``cursor``, its ``$batch`` answers are the
per-item `WriteResult`\\ s, an ``@removed`` entry is a ``removed`` change (to be confirmed by a direct fetch).
One contract suite (``tests/connectors/contract.py``) holds the behaviour every implementation shares; the EWS
and Salesforce connectors run it against the sandboxes, the in-memory stand-ins of the engine tests too.

Exchange items cross the boundary as `ExchangeItem`: ids, flags, and ``fields``, the item as plain data keyed
by the field names `sync.mapping.exchange` documents (text, dates, e-mail dicts, `ExchangePattern`), which
that module maps to and from the neutral `Entry`. Salesforce records are already plain JSON dicts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sync.attendees import Relation
from sync.connectors.errors import ConnectorError

# -- Exchange ---------------------------------------------------------------------------------------------

CREATE, UPDATE, DELETE, REMOVED = "create", "update", "delete", "removed"


@dataclass(frozen=True)
class FeedChange:
    """One entry of the calendar's change feed.

    ``change``: ``create``/``update`` (the item is in the calendar), ``delete`` (a *confirmed* deletion or a
    move out of the calendar: EWS SyncFolderItems Delete, a Graph ``@removed`` whose GET answered 404) or
    ``removed`` (the item left the feed's view without a known deletion, e.g. a Graph ``@removed`` for an item
    moved outside the window: the engine confirms by a direct fetch, docs/invariants.md #4). ``categories`` and
    ``sync_key`` are read cheaply with the feed, to skip untagged items.
    """

    change: str
    item_id: str
    change_key: str | None = None
    categories: tuple[str, ...] = ()
    sync_key: str | None = None


@dataclass
class ItemFeed:
    """What ``changes(cursor)`` returns: the changes and the cursor to continue from next time.

    ``cursor`` is opaque to the engine (EWS SyncState, Graph deltaLink). ``full``: the cursor was missing or no
    longer valid and every item was listed again; absence from a full listing proves nothing (docs/invariants.md #4).
    """

    changes: list[FeedChange] = field(default_factory=list)
    cursor: str | None = None
    full: bool = False


@dataclass(frozen=True)
class ExchangeItem:
    """A calendar item as read: ids, what the engine needs to know about it, and its fields as plain data."""

    item_id: str
    change_key: str | None
    fields: Mapping[str, Any]  # see `sync.mapping.exchange` (subject, start, end, body, attendees, ...)
    sync_key: str | None = None  # our extended property / open extension
    modified_at: dt.datetime | None = None
    is_meeting: bool = False
    is_organizer: bool = True  # False: a meeting the mailbox attends but does not organise (read-only)
    is_cancelled: bool = False
    uid: str | None = None  # iCalUId, the same in every attendee's copy
    is_calendar_item: bool = True  # False: the id names a message or another kind of item

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.fields.get("categories") or ())


@dataclass(frozen=True)
class NewItem:
    """An item to create: its fields (`sync.mapping.exchange.entry_to_exchange`), ``sync_key`` included."""

    fields: Mapping[str, Any]


@dataclass(frozen=True)
class ItemChange:
    """Set these fields (and only these) on an existing item; ``change_key`` guards against a lost update."""

    item_id: str
    change_key: str | None
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class OccurrenceChange:
    """Set these fields on one occurrence of a series, making it a modified occurrence (issue 23, point 4).

    ``index``: the occurrence's 1-based position in the pattern (EWS ``InstanceIndex``, deleted occurrences
    counted); ``original_start``: where the pattern puts it (UTC; Graph finds its instance by it). ``fields``:
    any of ``subject``, ``location`` (``None`` clears it), ``start`` and ``end`` (aware datetimes, both or
    neither); other fields stay as the series has them.
    """

    index: int
    original_start: dt.datetime
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one item of a batched write, in the order of the request."""

    item_id: str | None
    change_key: str | None
    error: ConnectorError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ExchangeUsage:
    calls: int = 0  # HTTP requests (an EWS POST, a Graph request; a Graph ``$batch`` is one)
    backoff_ms: int = 0  # time waited because the server asked (Graph Retry-After; EWS waits inside exchangelib)


@runtime_checkable
class ExchangeCalendar(Protocol):
    """One mailbox's calendar for one sync session.

    ``notifies_attendees``: whether writes to a meeting with attendees e-mail them (Graph has no ``SendToNone``).
    False (EWS): no write sends meeting invitations, updates or cancellations. True: the planner holds back the
    writes that would (`sync.planner.notify`)."""

    service: str
    mailbox_email: str
    usage: ExchangeUsage
    notifies_attendees: bool

    def changes(self, cursor: str | None) -> ItemFeed:
        """Item changes since ``cursor`` (``None``: list everything, ``full=True``; an invalid cursor too)."""
        ...

    def fetch(self, item_ids: Sequence[str], fields: Iterable[str] | None = None) -> list[ExchangeItem | None]:
        """Items by id, in order; ``None`` where the item no longer exists (a confirmed deletion). ``fields``:
        only these item fields (plus ids and flags), for a cheaper read."""
        ...

    def outside_calendar(self, item_ids: Sequence[str]) -> set[str]:
        """Of these items, those that exist but no longer sit in the calendar (moved to Deleted Items)."""
        ...

    def find_by_sync_key(self, sync_keys: Iterable[str], *, deleted_items: bool = False) -> dict[str, str]:
        """Sync key → item id of items carrying one of these keys, in the calendar or in Deleted Items."""
        ...

    def create(self, items: Sequence[NewItem]) -> list[WriteResult]: ...

    def update(self, changes: Sequence[ItemChange]) -> list[WriteResult]:
        """One stale item fails alone (its result), never the whole batch."""
        ...

    def delete(self, item_ids: Sequence[str]) -> list[WriteResult]:
        """Move to Deleted Items (recoverable); an item already gone counts as deleted."""
        ...

    def delete_occurrences(self, master_id: str, instance_indexes: Sequence[int]) -> int:
        """Delete single occurrences of a series (1-based instance indexes), never notifying attendees; one
        already gone counts as done. Returns the number of requests it made."""
        ...

    def update_occurrences(self, master_id: str, changes: Sequence[OccurrenceChange]) -> list[WriteResult]:
        """Change single occurrences of a series (EWS: UpdateItem on an OccurrenceItemId; Graph: PATCH of the
        instance), never notifying attendees and never touching the master's pattern or its other
        exceptions. One result per change, in order (``item_id``: the occurrence's id); an occurrence that is
        deleted or outside the pattern fails alone (``ErrorCalendarOccurrenceIsDeletedFromRecurrence``,
        ``ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange``). The master's change key changes."""
        ...

    def master_categories(self) -> dict[str, int]:
        """Category name → Outlook colour preset number."""
        ...

    def ensure_categories(self, wanted: dict[str, int]) -> list[str]:
        """Add the missing categories to the mailbox's master list; returns the names added."""
        ...

    def close(self) -> None: ...


# -- Salesforce -------------------------------------------------------------------------------------------

# errorCodes that mean "try again later" rather than "this record is wrong".
TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"}


@dataclass(frozen=True)
class RecordResult:
    """The outcome of one record in a collection call."""

    id: str | None
    success: bool
    created: bool = False
    errors: tuple[dict[str, Any], ...] = ()

    @property
    def error_code(self) -> str:
        return self.errors[0].get("statusCode", "") if self.errors else ""

    @property
    def message(self) -> str:
        return "; ".join(e.get("message", "") for e in self.errors)

    @property
    def transient(self) -> bool:
        return any(e.get("statusCode") in TRANSIENT_CODES for e in self.errors)


@dataclass
class ApiUsage:
    """API calls made by this connector, and the org's daily usage as the last answer reported it."""

    calls: int = 0
    org_used: int | None = None
    org_max: int | None = None
    by_resource: dict[str, int] = field(default_factory=dict)
    server_time: dt.datetime | None = None  # the org's clock, from the last answer's Date header
    reauthentications: int = 0  # sessions renewed after INVALID_SESSION_ID


@dataclass(frozen=True)
class ChangeQuery:
    """One query of the org-wide change scan: rows of ``owner_ids`` (None: every owner) changed since ``since``."""

    sobject: str
    fields: tuple[str, ...]
    owner_ids: tuple[str, ...] | None
    since: dt.datetime


@runtime_checkable
class SalesforceOrg(Protocol):
    """The org, through its REST API, as one integration user. Records are JSON dicts as the API returns them."""

    service: str
    usage: ApiUsage

    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]: ...

    def changed_records(
        self, sobject: str, fields: Iterable[str], *, owner_id: str, since: dt.datetime | None, where: str = ""
    ) -> list[dict[str, Any]]:
        """Rows of ``owner_id`` modified at or after ``since``, deleted ones included (``IsDeleted``)."""
        ...

    def owners_changed_records(
        self, sobject: str, fields: Iterable[str], *, owner_ids: Sequence[str] | None, since: dt.datetime
    ) -> list[dict[str, Any]]:
        """Rows of any of ``owner_ids`` (``None``: every owner) modified at or after ``since``, deleted ones
        included, with ``OwnerId`` and ``LastModifiedById`` (the org-wide change scan)."""
        ...

    def owners_changed_batch(
        self, queries: Sequence[ChangeQuery], *, composite: bool = True
    ) -> list[list[dict[str, Any]]]:
        """`owners_changed_records` for each query, in order; ``composite``: several in one API call."""
        ...

    def get_records(self, sobject: str, ids: Sequence[str], fields: Iterable[str]) -> list[dict[str, Any] | None]:
        """Records by id, in order; ``None`` where the record does not exist (a confirmed deletion)."""
        ...

    def create(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]: ...

    def upsert(self, sobject: str, external_id_field: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]:
        """Create or update by external id (the sync key): a retried create finds its record."""
        ...

    def update(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]: ...

    def delete(self, ids: Sequence[str]) -> list[RecordResult]:
        """A record already deleted counts as deleted."""
        ...

    def describe(self, sobject: str | None = None) -> dict[str, Any]: ...

    def active_user_id(self, email: str) -> str | None:
        """The id of the active User with this e-mail address (the value escaped as SOQL needs), or None."""
        ...

    def people_by_email(self, emails: Iterable[str]) -> dict[str, tuple[str, str]]: ...

    def event_invitees(self, event_ids: Iterable[str]) -> dict[str, list[Relation]]: ...

    def limits(self) -> dict[str, Any]: ...
