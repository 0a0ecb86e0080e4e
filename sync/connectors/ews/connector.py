"""Exchange connector on exchangelib (EWS): change feed, batched reads and writes, master categories.

An `ExchangeCalendar` (`sync.connectors.base`): it speaks `ExchangeItem`, `NewItem` and `ItemChange` to the
engine and exchangelib's ``CalendarItem`` only inside (`sync.connectors.ews.mapping` converts).

It never sends meeting invitations or cancellations (``SendToNone`` on every write), updates only the fields it
is asked to, honours ``BackOffMilliseconds`` (exchangelib's FaultTolerance policy) and counts its requests.
EWS references: https://learn.microsoft.com/exchange/client-developer/web-service-reference/ews-operations-in-exchange
(SyncFolderItems, GetItem, CreateItem, UpdateItem, DeleteItem, FindItem, Get/UpdateUserConfiguration).

EWS in Exchange Online is being switched off (NOTES.md); this class is one implementation of the connector
protocol the session uses, so a Microsoft Graph connector can sit beside it.
"""

from __future__ import annotations

import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    OAUTH2,
    Account,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    FaultTolerance,
    OAuth2AuthorizationCodeCredentials,
    Version,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorImpersonateUserDenied,
    ErrorInvalidSyncStateData,
    ErrorItemNotFound,
    ErrorServerBusy,
    EWSError,
    RateLimitError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.folders import Calendar, DeletedItems, Root
from exchangelib.items.base import ID_ONLY
from exchangelib.properties import (
    DistinguishedFolderId,
    Mailbox,
    OccurrenceItemId,
    UserConfiguration,
    UserConfigurationName,
    UserConfigurationNameMNS,
)
from exchangelib.protocol import BaseProtocol
from exchangelib.services import CreateUserConfiguration, GetItem, GetUserConfiguration, UpdateUserConfiguration
from exchangelib.services.get_user_configuration import ALL as USER_CONFIG_ALL
from exchangelib.util import TNS
from exchangelib.version import Build

from sync.connectors.base import (
    ExchangeItem,
    ExchangeUsage,
    FeedChange,
    ItemChange,
    ItemFeed,
    NewItem,
    OccurrenceChange,
    WriteResult,
)
from sync.connectors.errors import AuthError, ConnectorError, TransientError
from sync.connectors.ews.mapping import dict_to_calendar_item, exchange_item, register_sync_key_property
from sync.mapping.exchange import ITEM_FIELDS as MAPPED_FIELDS

SEND_TO_NONE = "SendToNone"
# Answers about one occurrence (not the mailbox or the connection): that occurrence fails alone.
OCCURRENCE_ERRORS = frozenset({
    "ErrorCalendarOccurrenceIsDeletedFromRecurrence", "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
    "ErrorItemNotFound", "ErrorCalendarEndDateIsEarlierThanStartDate", "ErrorIrresolvableConflict",
    "ErrorCalendarCannotUseIdForOccurrenceId", "ErrorCalendarOccurrenceIsOutOfRange", "ErrorOccurrenceCrossingBoundary",
})  # fmt: skip
CATEGORY_LIST = "CategoryList"
CATEGORY_NS = "CategoryList.xsd"
# Outlook's preset colours: preset0 (red) .. preset24; -1 means "no colour".
DEFAULT_CATEGORY_COLOR = 7


register_sync_key_property()

# Fields the engine reads; everything else stays untouched on the server.
ITEM_FIELDS: tuple[str, ...] = (
    # exchangelib's field names for the zones are private ("_start_timezone"); the mapping says "start_timezone".
    *(f for f in MAPPED_FIELDS if f != "start_timezone"),
    "_start_timezone", "_end_timezone",
    "organizer", "is_cancelled", "uid", "type", "my_response_type", "is_meeting", "last_modified_time",
    "modified_occurrences", "deleted_occurrences", "calsync_key",
)  # fmt: skip
# Cheap fields asked for in the change feed, to tell tagged items from the rest without a GetItem.
FEED_FIELDS: tuple[str, ...] = ("categories", "calsync_key", "last_modified_time")


# -- transport: trust a private CA per host, count requests per connector -----------------------------------
_counter = threading.local()


class _CalsyncAdapter(requests.adapters.HTTPAdapter):
    """exchangelib's HTTP adapter (one class per process): a CA file per host and a request counter.

    exchangelib builds its own sessions, which honour REQUESTS_CA_BUNDLE; a registered host gets its CA file
    instead, so the sandbox's CA is trusted for it and for nothing else."""

    ca_files: ClassVar[dict[str, str]] = {}

    @classmethod
    def _ca_for(cls, url: str) -> str | None:
        parts = urlsplit(url)
        return cls.ca_files.get(f"{parts.hostname}:{parts.port or 443}")

    def cert_verify(self, conn, url, verify, cert):
        super().cert_verify(conn, url, self._ca_for(url) or verify, cert)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        return super().get_connection_with_tls_context(request, self._ca_for(request.url) or verify, proxies, cert)

    def send(self, request, *args, **kwargs):
        usage = getattr(_counter, "usage", None)
        if usage is not None:
            usage.calls += 1
        return super().send(request, *args, **kwargs)


BaseProtocol.HTTP_ADAPTER_CLS = _CalsyncAdapter


class _GetItemKeepingAllDayBounds(GetItem):
    """GetItem, except that all-day items keep EWS's own Start and End (UTC instants of local midnights).

    exchangelib turns all-day bounds into dates by subtracting 24 hours from End and converting to the item's
    zone: on a 23-hour day (spring forward) that lands on the day before, and the item ends before it starts.
    The exact instants let the mapping derive the dates from local midnights in the item's own zone."""

    def _elem_to_obj(self, elem):
        # Read before parsing: exchangelib clears the element once it has built the item.
        raw = {name: elem.findtext(f"{{{TNS}}}{tag}") for name, tag in (("start", "Start"), ("end", "End"))}
        item = super()._elem_to_obj(elem)
        if isinstance(item, CalendarItem) and item.is_all_day:
            for name, text in raw.items():
                if text:
                    setattr(item, name, EWSDateTime.from_string(text))
        return item


@dataclass(frozen=True)
class ExchangeConfig:
    endpoint: str
    username: str = ""
    password: str = ""
    access_token: str = ""  # bearer token instead of a password (auth_type "oauth")
    auth_type: str = "basic"
    version: str = "Exchange2013_SP1"
    ca_file: str = ""
    impersonation: bool = True  # the service account acts for each mailbox
    max_backoff_seconds: int = 120  # longest server-requested back-off we wait out inside one session


class _RetryPolicy(FaultTolerance):
    """exchangelib's FaultTolerance (waits out ErrorServerBusy with BackOffMilliseconds, 503s, dropped
    connections) except that a 401 is a login failure: FaultTolerance reads it as throttling and retries it
    for minutes, which hides a wrong password behind a long wait."""

    def raise_response_errors(self, response):
        if response.status_code == 401:
            raise UnauthorizedError(f"Invalid credentials for {response.url}")
        return super().raise_response_errors(response)


_VERSIONS = {"Exchange2013_SP1": Build(15, 0, 847, 31), "Exchange2013": Build(15, 0, 516, 32),
             "Exchange2016": Build(15, 1), "Exchange2019": Build(15, 2)}  # fmt: skip


def _classify(exc: Exception) -> ConnectorError:
    name = type(exc).__name__
    if isinstance(exc, UnauthorizedError | ErrorImpersonateUserDenied | ErrorAccessDenied):
        return AuthError(str(exc), code=name, service="exchange")
    if isinstance(exc, ErrorServerBusy | RateLimitError | TransportError | requests.RequestException):
        return TransientError(str(exc) or name, code=name, service="exchange")
    if name in {"ErrorInternalServerTransientError", "ErrorTimeoutExpired", "ErrorMailboxStoreUnavailable"}:
        return TransientError(str(exc), code=name, service="exchange")
    return ConnectorError(str(exc) or name, code=name, service="exchange")


class ExchangeConnector:
    """One mailbox's calendar, for one sync session."""

    service = "exchange"
    notifies_attendees = False  # every write says SendToNone

    def __init__(self, config: ExchangeConfig, mailbox_email: str) -> None:
        self.config = config
        self.mailbox_email = mailbox_email
        self.usage = ExchangeUsage()
        BaseProtocol.HTTP_ADAPTER_CLS = _CalsyncAdapter  # again: tests and other code may have swapped it
        if config.ca_file:
            parts = urlsplit(config.endpoint)
            _CalsyncAdapter.ca_files[f"{parts.hostname}:{parts.port or 443}"] = config.ca_file
        if config.auth_type == "oauth":
            credentials = OAuth2AuthorizationCodeCredentials(access_token={"access_token": config.access_token,
                                                                             "token_type": "Bearer"})  # fmt: skip
            auth_type = OAUTH2
        else:
            credentials = Credentials(config.username, config.password)
            auth_type = BASIC
        build = _VERSIONS.get(config.version)
        if build is None:
            raise ConnectorError(f"unknown Exchange version {config.version!r}", code="config", service="exchange")
        self._configuration = Configuration(
            service_endpoint=config.endpoint,
            credentials=credentials,
            auth_type=auth_type,
            version=Version(build=build, api_version=config.version),
            retry_policy=_RetryPolicy(max_wait=config.max_backoff_seconds),
        )
        self.account = Account(
            primary_smtp_address=mailbox_email,
            config=self._configuration,
            autodiscover=False,
            access_type=IMPERSONATION if config.impersonation else DELEGATE,
        )
        # Folders addressed by distinguished id: no GetFolder round trips (NOTES: fetching costs two).
        mailbox = Mailbox(email_address=mailbox_email)
        self._root = Root(account=self.account, _distinguished_id=DistinguishedFolderId(id="root", mailbox=mailbox))
        self.calendar = Calendar(
            root=self._root, _distinguished_id=DistinguishedFolderId(id="calendar", mailbox=mailbox)
        )
        self._calendar_id: str | None = None  # the calendar's real folder id, looked up only when needed

    def _run(self, func, *args, **kwargs):
        _counter.usage = self.usage
        try:
            return func(*args, **kwargs)
        except ConnectorError:
            raise
        except (EWSError, TransportError, requests.RequestException, RateLimitError) as exc:
            raise _classify(exc) from exc
        finally:
            _counter.usage = None

    # -- change feed (SyncFolderItems) ----------------------------------------------------------------------
    def changes(self, cursor: str | None, *, page_size: int = 512) -> ItemFeed:
        """Item changes in the calendar since ``cursor`` (the SyncState; changes collapsed by the server).

        A missing or invalid state lists every item again (``full=True``); callers must not read deletions
        from absence in that case (docs/invariants.md #4)."""
        try:
            return self._run(self._changes, cursor, page_size)
        except ConnectorError as exc:
            if cursor and exc.code == ErrorInvalidSyncStateData.__name__:
                return self._run(self._changes, None, page_size)
            raise

    def _changes(self, sync_state: str | None, page_size: int) -> ItemFeed:
        feed = ItemFeed(full=not sync_state)
        self.calendar.item_sync_state = sync_state
        for change_type, item in self.calendar.sync_items(
            sync_state=sync_state, only_fields=list(FEED_FIELDS), max_changes_returned=page_size
        ):
            if change_type == "delete":
                feed.changes.append(FeedChange("delete", item.id))
            elif change_type in {"create", "update"}:
                if isinstance(item, Exception):
                    continue
                feed.changes.append(
                    FeedChange(
                        change_type,
                        item.id,
                        item.changekey,
                        tuple(getattr(item, "categories", None) or ()),
                        getattr(item, "calsync_key", None),
                    )
                )
        feed.cursor = self.calendar.item_sync_state
        return feed

    # -- reads ---------------------------------------------------------------------------------------------
    def fetch(self, item_ids: Sequence[str], fields: Iterable[str] | None = None) -> list[ExchangeItem | None]:
        """Items by id (GetItem, batched); ``None`` where the item no longer exists. ``fields``: exchangelib
        field names to read instead of all the mapped ones."""
        if not item_ids:
            return []
        only = ITEM_FIELDS if fields is None else tuple(fields)
        results = self._run(lambda: self._get_items(item_ids, only))
        items: list[ExchangeItem | None] = []
        for result in results:
            if isinstance(result, ErrorItemNotFound):
                items.append(None)
            elif isinstance(result, Exception):
                raise _classify(result)
            else:
                items.append(exchange_item(result, self.mailbox_email))
        return items

    def _get_items(self, item_ids: Sequence[str], fields: Iterable[str]) -> list[Any]:
        """``Account.fetch`` through `_GetItemKeepingAllDayBounds` (same validation, same single GetItem)."""
        only = list(fields)
        for name in only:
            self.calendar.validate_item_field(field=name, version=self.account.version)
        additional = {f for f in self.calendar.normalize_fields(fields=only) if not f.field.is_attribute}
        service = _GetItemKeepingAllDayBounds(account=self.account)
        return list(service.call(items=[(i, None) for i in item_ids], additional_fields=additional, shape=ID_ONLY))

    def outside_calendar(self, item_ids: Sequence[str]) -> set[str]:
        """Of these items, those that exist but no longer sit in the calendar (moved to Deleted Items or another
        folder: gone from the calendar, as far as sync goes). Costs a GetFolder (once) and a GetItem."""
        if not item_ids:
            return set()
        if self._calendar_id is None:
            self._calendar_id = self._run(lambda: Calendar.resolve(account=self.account, folder=self.calendar).id)
        results = self._run(
            lambda: list(
                self.account.fetch(
                    ids=[(i, None) for i in item_ids], folder=self.calendar, only_fields=["parent_folder_id"]
                )
            )  # fmt: skip
        )
        out: set[str] = set()
        for item_id, result in zip(item_ids, results, strict=True):
            parent = getattr(result, "parent_folder_id", None) if not isinstance(result, Exception) else None
            if parent is not None and parent.id != self._calendar_id:
                out.add(item_id)
        return out

    def find_by_sync_key(self, sync_keys: Iterable[str], *, deleted_items: bool = False) -> dict[str, str]:
        """Sync key → item id for items already carrying one of these keys (FindItem with a restriction), in the
        calendar or, with ``deleted_items``, in Deleted Items (where Outlook puts what the user deletes)."""
        keys = list(dict.fromkeys(sync_keys))
        found: dict[str, str] = {}
        folder = self.calendar
        if deleted_items:
            mailbox = Mailbox(email_address=self.account.primary_smtp_address)
            folder = DeletedItems(
                root=self._root, _distinguished_id=DistinguishedFolderId(id="deleteditems", mailbox=mailbox)
            )
        for start in range(0, len(keys), 50):
            chunk = keys[start : start + 50]
            query = folder.filter(calsync_key__in=chunk).only("calsync_key")
            for item in self._run(lambda q=query: list(q)):
                if not isinstance(item, Exception) and item.calsync_key:
                    found[item.calsync_key] = item.id
        return found

    # -- writes --------------------------------------------------------------------------------------------
    def create(self, new_items: Sequence[NewItem]) -> list[WriteResult]:
        """CreateItem in the calendar, never sending invitations."""
        if not new_items:
            return []
        items = [dict_to_calendar_item({k: v for k, v in new.fields.items() if v is not None})[0] for new in new_items]
        for item in items:
            item.folder = self.calendar
            item.account = self.account
        results = self._run(
            self.account.bulk_create, folder=self.calendar, items=list(items), send_meeting_invitations=SEND_TO_NONE
        )
        return [self._write_result(r) for r in results]

    def update(self, item_changes: Sequence[ItemChange]) -> list[WriteResult]:
        """UpdateItem of only the given fields, never sending updates to attendees.

        A stale change key makes the server refuse the whole call (NOTES), so a failed batch is retried item by
        item and only the item that changed under us fails."""
        if not item_changes:
            return []
        changes = [_calendar_item_update(change) for change in item_changes]
        for item, _ in changes:
            item.account = self.account
            item.folder = self.calendar
        try:
            results = self._run(self._bulk_update, list(changes))
        except ConnectorError as exc:
            if len(changes) == 1 or exc.retryable:
                raise
            results = []
            for one in changes:
                try:
                    results.extend(self._run(self._bulk_update, [one]))
                except ConnectorError as single:
                    if single.retryable:
                        raise
                    results.append(single)
        return [self._write_result(r) for r in results]

    def _bulk_update(self, changes):
        return list(
            self.account.bulk_update(
                items=[(item, list(fields)) for item, fields in changes],
                conflict_resolution="AutoResolve",
                send_meeting_invitations_or_cancellations=SEND_TO_NONE,
            )
        )

    def delete(self, item_ids: Sequence[str]) -> list[WriteResult]:
        """DeleteItem to Deleted Items (recoverable), never sending cancellations; a missing item counts as done."""
        if not item_ids:
            return []
        results = self._run(
            self.account.bulk_delete,
            ids=[(i, None) for i in item_ids],
            delete_type="MoveToDeletedItems",
            send_meeting_cancellations=SEND_TO_NONE,
        )
        out: list[WriteResult] = []
        for item_id, result in zip(item_ids, results, strict=True):
            if result is True or isinstance(result, ErrorItemNotFound):
                out.append(WriteResult(item_id, None))
            else:
                out.append(WriteResult(item_id, None, _classify(result)))
        return out

    def delete_occurrences(self, master_id: str, instance_indexes: Sequence[int]) -> int:
        """Delete single occurrences of a series (DeleteItem on OccurrenceItemId: master id + instance index),
        never sending cancellations; one already gone counts as done. Returns the number of requests."""
        master = CalendarItem(account=self.account, folder=self.calendar, id=master_id)
        for index in instance_indexes:
            occurrence = master.occurrence(index=index)
            try:
                self._run(occurrence.delete, send_meeting_cancellations=SEND_TO_NONE)
            except ConnectorError as exc:
                if exc.code not in {"ErrorItemNotFound", "ErrorCalendarOccurrenceIsDeletedFromRecurrence"}:
                    raise
        return len(instance_indexes)

    def update_occurrences(self, master_id: str, changes: Sequence[OccurrenceChange]) -> list[WriteResult]:
        """Change single occurrences of a series: one UpdateItem whose ItemChanges address each occurrence by
        OccurrenceItemId (master id + instance index), never sending updates. No change key is sent: the
        master's moves with every occurrence written, and only the given fields are set (AutoResolve)."""
        if not changes:
            return []
        items = [_occurrence_update(self.account, self.calendar, master_id, change) for change in changes]
        try:
            results = self._run(self._bulk_update, items)
        except ConnectorError as exc:
            if exc.code not in OCCURRENCE_ERRORS:
                raise
            results = []
            for one in items:  # exchangelib raises the first refused occurrence: each one fails alone
                try:
                    results.extend(self._run(self._bulk_update, [one]))
                except ConnectorError as single:
                    if single.code not in OCCURRENCE_ERRORS:
                        raise
                    results.append(ConnectorError(str(single), code=single.code, service=self.service))
        return [self._write_result(r) for r in results]

    @staticmethod
    def _write_result(result) -> WriteResult:
        if isinstance(result, ConnectorError):
            return WriteResult(None, None, result)
        if isinstance(result, Exception):
            return WriteResult(None, None, _classify(result))
        if isinstance(result, tuple):
            return WriteResult(result[0], result[1])
        return WriteResult(result.id, result.changekey)

    # -- master category list (Get/UpdateUserConfiguration "CategoryList" on the calendar) --------------------
    def master_categories(self) -> dict[str, int]:
        """Category name → Outlook colour preset number, from the mailbox's master category list."""
        xml = self._read_category_xml()
        if not xml:
            return {}
        root = ET.fromstring(xml)
        return {
            c.get("name", ""): int(c.get("color", "-1"))
            for c in root.iter()
            if c.tag.rsplit("}", 1)[-1] == "category" and c.get("name")
        }

    def ensure_categories(self, wanted: dict[str, int]) -> list[str]:
        """Make sure each category exists (putting back any a user deleted); returns the names added."""
        xml = self._read_category_xml()
        if xml:
            root = ET.fromstring(xml)
        else:
            root = ET.Element(f"{{{CATEGORY_NS}}}categories", {"default": "", "lastSavedSession": "0"})
        present = {c.get("name", "").lower() for c in root.iter() if c.tag.rsplit("}", 1)[-1] == "category"}
        added = [name for name in wanted if name.lower() not in present]
        if not added:
            return []
        ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
        for name in added:
            ET.SubElement(
                root,
                f"{{{ns}}}category" if ns else "category",
                {"name": name, "color": str(wanted[name]), "keyboardShortcut": "0", "usageCount": "0",
                 "guid": "{" + str(uuid.uuid4()).upper() + "}", "renameOnFirstUse": "0"},
            )  # fmt: skip
        if ns:
            ET.register_namespace("", ns)
        data = b'<?xml version="1.0"?>' + ET.tostring(root)
        service = UpdateUserConfiguration if xml is not None else CreateUserConfiguration
        self._run(
            service(account=self.account).get,
            user_configuration=UserConfiguration(
                user_configuration_name=UserConfigurationName(name=CATEGORY_LIST, folder=self.calendar),
                xml_data=data,
            ),
        )
        return added

    def _read_category_xml(self) -> bytes | None:
        try:
            config = self._run(
                GetUserConfiguration(account=self.account).get,
                user_configuration_name=UserConfigurationNameMNS(name=CATEGORY_LIST, folder=self.calendar),
                properties=USER_CONFIG_ALL,
            )
        except ConnectorError as exc:
            if exc.code in {"ErrorItemNotFound", "ErrorObjectNotFound"}:
                return None
            raise
        return getattr(config, "xml_data", None)

    def close(self) -> None:
        """Nothing to release per connector: exchangelib shares one protocol (and its sessions) per endpoint."""

    def __repr__(self) -> str:
        return f"ExchangeConnector({self.mailbox_email!r} at {self.config.endpoint!r})"


def _calendar_item_update(change: ItemChange) -> tuple[CalendarItem, list[str]]:
    """The CalendarItem and ``update_fields`` for one change (exchangelib updates start and end together with
    their time zones: the list is kept unique)."""
    existing = CalendarItem(id=change.item_id, changekey=change.change_key)
    item, update_fields = dict_to_calendar_item(change.fields, existing)
    return item, list(dict.fromkeys(update_fields))


def _occurrence_update(account: Account, folder: Calendar, master_id: str, change: OccurrenceChange):
    """The CalendarItem (addressed by OccurrenceItemId) and ``update_fields`` for one occurrence change. Its
    start and end keep the zone they are given in (the series' own, so Outlook shows the occurrence in it)."""
    fields = {k: v for k, v in change.fields.items() if k in ("subject", "location", "start", "end")}
    occurrence = CalendarItem(
        account=account, folder=folder, _id=OccurrenceItemId(id=master_id, instance_index=change.index)
    )
    item, update_fields = dict_to_calendar_item(fields, occurrence)
    zone = getattr(getattr(fields.get("start"), "tzinfo", None), "key", None)
    if zone:
        item._start_timezone = item._end_timezone = EWSTimeZone(zone)
    return item, list(dict.fromkeys(update_fields))
