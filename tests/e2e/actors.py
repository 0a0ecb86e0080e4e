"""Actors for end-to-end tests: the people on both sides of the sync, through the real clients over HTTP.

- `OutlookUser`: a mailbox owner using exchangelib the way Outlook would (Basic auth on the sandbox's http
  endpoint, ``DELEGATE`` access, explicit version: no probing, no impersonation).
- `SalesforceUser`: a rep using simple-salesforce with their own session (``trust_env = False``, the sandbox CA).
- `World`: both sandboxes, the actors, and the sandboxes' admin knobs (logs, request counters, faults, clock).

The actors never import the engine (``sync``): they are how a test makes changes "by hand" and reads the result.
Times: use `at()` / `day()`, relative to `TODAY`, fixed when this module is imported so that one run never
straddles midnight.

Meeting messages: the Exchange sandbox logs every write with its send setting and whether an invitation or
cancellation would have gone out. Writes made by actors are remembered by `World`, so
`World.assert_no_meeting_messages()` checks only everything else (the engine), even in a test where an actor
deliberately sends invitations, as Outlook does for a meeting with attendees.
"""

from __future__ import annotations

import base64
import contextlib
import copy as _copy
import datetime as dt
import re
import uuid
import xml.etree.ElementTree as ET
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    Account,
    Body,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    FailFast,
    HTMLBody,
    Version,
)
from exchangelib.errors import ErrorItemNotFound
from exchangelib.properties import Attendee, Mailbox
from exchangelib.protocol import Protocol
from exchangelib.version import VERSIONS
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from sandbox.seed import REPS, Rep

UTC = dt.UTC
SALESFORCE_CATEGORY = "Salesforce"
TODAY: dt.date = dt.date.today()
NO_SEND = frozenset({"SendToNone", "SaveOnly"})
CATEGORY_NS = "CategoryList.xsd"
ET.register_namespace("", CATEGORY_NS)  # Outlook writes the list with a default namespace


def at(day_offset: int, hour: int, minute: int = 0, tz: str = "Europe/London") -> dt.datetime:
    """An aware datetime ``day_offset`` days from `TODAY` at ``hour:minute`` wall-clock time in ``tz``."""
    return dt.datetime.combine(TODAY + dt.timedelta(days=day_offset), dt.time(hour, minute), zoneinfo.ZoneInfo(tz))


def day(day_offset: int) -> dt.date:
    """`TODAY` + ``day_offset`` days (for all-day items, Task due dates, Date fields)."""
    return TODAY + dt.timedelta(days=day_offset)


def _plain_datetime(value: Any) -> Any:
    """exchangelib's EWSDateTime/EWSDate as stdlib values (timed values in UTC)."""
    if isinstance(value, dt.datetime):
        value = dt.datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, value.tzinfo
        )
        return value.astimezone(UTC) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    return value


def _zone_key(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "key", None) or getattr(value, "ms_id", None) or str(value)


def _sync_key_registered() -> bool:
    return "calsync_key" in {f.name for f in CalendarItem.FIELDS}


# -- Outlook --------------------------------------------------------------------------------------------------
class OutlookUser:
    """A mailbox owner working in Outlook (exchangelib with the owner's own credentials, ``DELEGATE`` access).

    Field names accepted by `create` and `edit`: ``subject``, ``start``, ``end``, ``all_day``, ``tz``,
    ``location``, ``body`` (plain text; pass an ``exchangelib.HTMLBody`` for HTML), ``categories``, ``private``
    (Sensitivity Private/Normal), ``show_as`` (LegacyFreeBusyStatus: Free/Tentative/Busy/OOF/...),
    ``attendees`` / ``optional_attendees`` (e-mail strings or exchangelib ``Attendee``), ``recurrence``
    (exchangelib ``Recurrence``); any other exchangelib CalendarItem field name is passed through as is (e.g.
    ``calsync_key`` once the engine registered it, ``reminder_is_set``).

    Timed items take aware datetimes (naive ones are read in ``tz``). All-day items take dates with an
    **inclusive** end (exchangelib's convention: ``start=day(3), end=day(3)`` is one day), and `get` returns
    them the same way.

    Like Outlook, writes to a meeting with attendees send invitations/updates/cancellations unless ``send=`` says
    otherwise; appointments without attendees never send anything.
    """

    READ_FIELDS = (
        "subject", "start", "end", "is_all_day", "location", "body", "text_body", "categories", "sensitivity",
        "legacy_free_busy_status", "required_attendees", "optional_attendees", "recurrence", "_start_timezone",
        "_end_timezone", "organizer", "is_cancelled", "uid", "type", "my_response_type", "is_meeting",
        "modified_occurrences", "deleted_occurrences", "last_modified_time", "parent_folder_id",
    )  # fmt: skip

    def __init__(
        self,
        info: dict[str, Any],
        email: str,
        *,
        journal: Callable[[], contextlib.AbstractContextManager] | None = None,
    ) -> None:
        ex = info["exchange"]
        mailbox = next((m for m in ex["mailboxes"] if m["email"].lower() == email.lower()), None)
        if mailbox is None:
            raise LookupError(f"no Exchange sandbox mailbox {email!r}")
        self.email = mailbox["email"]
        self.tz = next((r.timezone for r in REPS if r.email == self.email.lower()), "UTC")
        api_version = ex.get("version") or "Exchange2013_SP1"
        build = next(b for b, api, _ in VERSIONS if api == api_version)
        config = Configuration(
            service_endpoint=ex["http_endpoint"],
            credentials=Credentials(mailbox["username"], mailbox["password"]),
            auth_type=BASIC,
            version=Version(build=build, api_version=api_version),
            retry_policy=FailFast(),
            max_connections=2,
        )
        # exchangelib caches one Protocol per (endpoint, credentials): take a fresh one and leave none behind, so
        # the engine never inherits the actor's session pool or retry policy (or the other way round).
        with contextlib.suppress(KeyError):
            del Protocol[config]
        self.account = Account(
            self.email,
            config=config,
            autodiscover=False,
            access_type=DELEGATE,
            default_timezone=EWSTimeZone(self.tz),
        )
        with contextlib.suppress(KeyError):
            del Protocol[config]
        self._journal = journal or contextlib.nullcontext
        self._calendar = None

    @property
    def calendar(self):
        if self._calendar is None:
            self._calendar = self.account.calendar
        return self._calendar

    def close(self) -> None:
        self.account.protocol.close()

    # -- writes ---------------------------------------------------------------------------------------------
    def create(
        self,
        subject: str,
        start: dt.datetime | dt.date,
        end: dt.datetime | dt.date,
        *,
        categories: Sequence[str] = (SALESFORCE_CATEGORY,),
        location: str | None = None,
        body: str | Body | HTMLBody | None = None,
        all_day: bool = False,
        tz: str = "Europe/London",
        private: bool = False,
        attendees: Iterable[str | Attendee] = (),
        recurrence: Any = None,
        send: str | None = None,
        **extra: Any,
    ) -> str:
        """Create a calendar item; returns its item id."""
        fields: dict[str, Any] = {"subject": subject, "categories": list(categories) or None, "all_day": all_day}
        fields.update(start=start, end=end, tz=tz, location=location, body=body, private=private)
        fields.update(attendees=attendees, recurrence=recurrence, **extra)
        values = self._item_values(fields, tz)
        item = CalendarItem(account=self.account, folder=self.calendar, **values)
        if send is None:
            send = "SendToAllAndSaveCopy" if item.required_attendees or item.optional_attendees else "SendToNone"
        with self._journal():
            item.save(send_meeting_invitations=send)
        return item.id

    def edit(self, item_id: str, *, send: str | None = None, **fields: Any) -> None:
        """Change the given fields only (see the class docstring for names)."""
        item = self._fetch(item_id)
        if item is None:
            raise LookupError(f"no calendar item {item_id}")
        tz = fields.pop("tz", None)
        if tz is None and ("start" in fields or "end" in fields or "all_day" in fields):
            tz = _zone_key(item._start_timezone) or self.tz
        values = self._item_values(fields, tz)
        for name, value in values.items():
            setattr(item, name, value)
        if tz is not None:
            item._start_timezone = item._end_timezone = EWSTimeZone(tz)
            values.setdefault("_start_timezone", None)
            values.setdefault("_end_timezone", None)
        if send is None:
            send = "SendToAllAndSaveCopy" if self._organises_meeting(item) else "SendToNone"
        with self._journal():
            item.save(update_fields=list(values), send_meeting_invitations=send)

    def delete(self, item_id: str, *, hard: bool = False, send: str = "SendToNone") -> None:
        """Delete as Outlook does (to Deleted Items; ``hard=True`` removes it for good). No cancellation is sent:
        use `cancel` for an organizer cancelling a meeting."""
        item = self._fetch(item_id, ("subject",))
        if item is None:
            raise LookupError(f"no calendar item {item_id}")
        with self._journal():
            if hard:
                item.delete(send_meeting_cancellations=send)
            else:
                item.move_to_trash(send_meeting_cancellations=send)

    def cancel(self, item_id: str) -> None:
        """The organizer cancels a meeting: cancellations go to the attendees and the item leaves the calendar.

        What Outlook does in one step: DeleteItem (to Deleted Items) with ``SendToAllAndSaveCopy`` (the sandbox
        also takes EWS's CancelCalendarItem, ``item.cancel()``; this actor keeps the DeleteItem path)."""
        self.delete(item_id, send="SendToAllAndSaveCopy")

    def add_category(self, item_id: str, name: str) -> None:
        item = self._fetch(item_id, ("categories",))
        if item is None:
            raise LookupError(f"no calendar item {item_id}")
        if name not in (item.categories or []):
            self.edit(item_id, categories=[*(item.categories or []), name], send="SendToNone")

    def remove_category(self, item_id: str, name: str = SALESFORCE_CATEGORY) -> None:
        item = self._fetch(item_id, ("categories",))
        if item is None:
            raise LookupError(f"no calendar item {item_id}")
        remaining = [c for c in item.categories or [] if c != name]
        self.edit(item_id, categories=remaining, send="SendToNone")

    # -- reads ----------------------------------------------------------------------------------------------
    def get(self, item_id: str) -> dict[str, Any] | None:
        """The item's fields (see `item_dict`), or None when it is gone or no longer in the calendar."""
        item = self._fetch(item_id)
        if item is None:
            return None
        return item_dict(item)

    def all_day_bounds(self, item_id: str) -> tuple[dt.datetime, dt.datetime]:
        """The item's Start and End as the server holds them (UTC instants; for an all-day item its local
        midnights, end exclusive). exchangelib's own all-day dates take End minus 24 hours, which is the day
        before on a 23-hour day, so a test of such days reads the instants instead (a GetItem, as Outlook)."""
        from exchangelib.items.base import ID_ONLY
        from exchangelib.properties import FieldPath
        from exchangelib.services import GetItem
        from exchangelib.util import TNS

        bounds: dict[str, dt.datetime] = {}

        class _RawGetItem(GetItem):
            def _elem_to_obj(self, elem):
                for tag in ("Start", "End"):  # before parsing: exchangelib clears the element afterwards
                    text = elem.findtext(f"{{{TNS}}}{tag}")
                    if text:
                        bounds[tag] = _plain_datetime(EWSDateTime.from_string(text))
                return super()._elem_to_obj(elem)

        fields = {FieldPath(field=CalendarItem.get_field_by_fieldname(n)) for n in ("start", "end", "is_all_day")}
        results = list(_RawGetItem(account=self.account).call(items=[(item_id, None)], additional_fields=fields,
                                                              shape=ID_ONLY))  # fmt: skip
        if not results or isinstance(results[0], Exception):
            raise LookupError(f"no calendar item {item_id}")
        return bounds["Start"], bounds["End"]

    def items(self, category: str | None = None) -> list[dict[str, Any]]:
        """Every item in the calendar (recurring masters, not expanded), optionally only those with a category."""
        fields = self._read_fields()
        out = [item_dict(i) for i in self.calendar.all().only(*fields) if not isinstance(i, Exception)]
        if category is not None:
            out = [i for i in out if category in i["categories"]]
        return sorted(out, key=lambda i: (i["start"].isoformat() if i["start"] else "", i["subject"] or ""))

    def find(self, subject: str) -> dict[str, Any] | None:
        """The one item with this subject (None if there is none; an error if there are several)."""
        found = [i for i in self.items() if i["subject"] == subject]
        if len(found) > 1:
            raise AssertionError(f"{len(found)} items with subject {subject!r} in {self.email}")
        return found[0] if found else None

    # -- master category list -------------------------------------------------------------------------------
    def master_categories(self) -> dict[str, int]:
        """Name -> colour (Outlook preset number, -1 for none) of the mailbox's master category list."""
        root = self._category_list()
        if root is None:
            return {}
        return {c.get("name"): int(c.get("color", "-1")) for c in root if c.tag.endswith("category")}

    def delete_category(self, name: str) -> None:
        """Remove a category from the master list, as a user does in Outlook's category dialog."""
        root = self._category_list()
        if root is None:
            return
        for c in list(root):
            if c.tag.endswith("category") and c.get("name") == name:
                root.remove(c)
        data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        with self._journal():
            self.calendar.update_user_configuration(name="CategoryList", xml_data=data)

    def add_master_category(self, name: str, color: int = 7) -> None:
        """Add (or recolour) a category in the master list, creating the list if the mailbox has none yet."""
        root = self._category_list()
        create = root is None
        if root is None:
            root = ET.Element(f"{{{CATEGORY_NS}}}categories", {"default": name})
        for c in list(root):
            if c.tag.endswith("category") and c.get("name") == name:
                root.remove(c)
        ET.SubElement(
            root,
            f"{{{CATEGORY_NS}}}category",
            {"name": name, "color": str(color), "keyboardShortcut": "0", "guid": "{" + str(uuid.uuid4()).upper() + "}"},
        )
        data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        with self._journal():
            if create:
                self.calendar.create_user_configuration(name="CategoryList", xml_data=data)
            else:
                self.calendar.update_user_configuration(name="CategoryList", xml_data=data)

    def _category_list(self) -> ET.Element | None:
        try:
            config = self.calendar.get_user_configuration(name="CategoryList", properties="XmlData")
        except ErrorItemNotFound:
            return None
        if not config or not config.xml_data:
            return None
        raw = config.xml_data
        if isinstance(raw, str):
            raw = base64.b64decode(raw)
        return ET.fromstring(raw)

    # -- helpers --------------------------------------------------------------------------------------------
    def _read_fields(self) -> tuple[str, ...]:
        return self.READ_FIELDS + (("calsync_key",) if _sync_key_registered() else ())

    def _fetch(self, item_id: str, fields: Sequence[str] | None = None) -> CalendarItem | None:
        only = tuple(fields or self._read_fields())
        if "parent_folder_id" not in only:
            only += ("parent_folder_id",)
        results = list(self.account.fetch(ids=[(item_id, None)], folder=self.calendar, only_fields=list(only)))
        item = results[0] if results else None
        if item is None or isinstance(item, ErrorItemNotFound):
            return None
        if isinstance(item, Exception):
            raise item
        if item.parent_folder_id is not None and item.parent_folder_id.id != self.calendar.id:
            return None  # in Deleted Items: gone from the calendar
        return item

    def _organises_meeting(self, item: CalendarItem) -> bool:
        has_attendees = bool(item.required_attendees or item.optional_attendees)
        organizer = (item.organizer.email_address if item.organizer else self.email) or ""
        return has_attendees and organizer.lower() == self.email.lower()

    def _item_values(self, fields: dict[str, Any], tz: str | None) -> dict[str, Any]:
        """Our field names -> exchangelib CalendarItem attribute values."""
        fields = dict(fields)
        out: dict[str, Any] = {}
        ews_tz = EWSTimeZone(tz) if tz else None
        all_day = fields.pop("all_day", None)
        if all_day is not None:
            out["is_all_day"] = bool(all_day)
        fields.pop("tz", None)
        for name in ("start", "end"):
            if name in fields:
                out[name] = _ews_time(fields.pop(name), ews_tz)
        if ews_tz is not None and ("start" in out or "end" in out or "is_all_day" in out):
            out["_start_timezone"] = ews_tz
            out["_end_timezone"] = ews_tz
        if "body" in fields:
            body = fields.pop("body")
            out["body"] = None if body is None else body if isinstance(body, Body | HTMLBody) else Body(body)
        if "private" in fields:
            out["sensitivity"] = "Private" if fields.pop("private") else "Normal"
        if "show_as" in fields:
            out["legacy_free_busy_status"] = fields.pop("show_as")
        if "attendees" in fields:
            out["required_attendees"] = _attendees(fields.pop("attendees")) or None
        if "optional_attendees" in fields:
            out["optional_attendees"] = _attendees(fields.pop("optional_attendees")) or None
        if "categories" in fields:
            cats = fields.pop("categories")
            out["categories"] = list(cats) if cats else None
        for name, value in fields.items():
            if name == "location" or name in {f.name for f in CalendarItem.FIELDS}:
                out[name] = value
            else:
                raise TypeError(f"unknown calendar item field {name!r}")
        return out


def _ews_time(value: Any, tz: EWSTimeZone | None) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zoneinfo.ZoneInfo(tz.key if tz else "UTC"))
        value = EWSDateTime.from_datetime(value.astimezone(UTC))
        return value.astimezone(tz) if tz else value
    if isinstance(value, dt.date):
        return EWSDate.from_date(value)
    return value


def _attendees(values: Iterable[str | Attendee] | None) -> list[Attendee]:
    out = []
    for v in values or ():
        if isinstance(v, Attendee):
            out.append(v)
        else:
            out.append(Attendee(mailbox=Mailbox(email_address=v), response_type="Unknown"))
    return out


def item_dict(item: CalendarItem) -> dict[str, Any]:
    """An exchangelib CalendarItem as a plain dict of the fields the engine maps (and a few it looks at).

    ``start``/``end``: UTC datetimes, or dates (inclusive end) for all-day items; ``body``: the text body (None
    when empty); ``attendees``: [{"email", "response", "optional"}]; ``recurrence``: exchangelib's Recurrence."""

    def people(values, optional):
        return [
            {
                "email": (a.mailbox.email_address or "").lower(),
                "name": a.mailbox.name,
                "response": a.response_type,
                "optional": optional,
            }
            for a in values or ()
        ]

    text = getattr(item, "text_body", None)
    if text is None and item.body is not None:
        text = str(item.body)
    out = {
        "id": item.id,
        "changekey": item.changekey,
        "subject": item.subject,
        "start": _plain_datetime(item.start),
        "end": _plain_datetime(item.end),
        "is_all_day": bool(item.is_all_day),
        "timezone": _zone_key(getattr(item, "_start_timezone", None)),
        "location": item.location,
        "body": text or None,
        "body_type": getattr(item.body, "body_type", None) if item.body is not None else None,
        "categories": list(item.categories or []),
        "sensitivity": item.sensitivity,
        "legacy_free_busy_status": item.legacy_free_busy_status,
        "attendees": people(item.required_attendees, False) + people(item.optional_attendees, True),
        "recurrence": item.recurrence,
        "modified_occurrences": list(item.modified_occurrences or []),
        "deleted_occurrences": list(item.deleted_occurrences or []),
        "organizer": (item.organizer.email_address or "").lower() if item.organizer else None,
        "is_cancelled": bool(item.is_cancelled),
        "is_meeting": bool(getattr(item, "is_meeting", False)),
        "my_response_type": getattr(item, "my_response_type", None),
        "uid": item.uid,
        "type": item.type,
        "last_modified_time": _plain_datetime(getattr(item, "last_modified_time", None)),
        "calsync_key": getattr(item, "calsync_key", None),
    }
    return out


# -- Salesforce -----------------------------------------------------------------------------------------------
_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")
_OBJECT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_DESCRIBE_CACHE: dict[tuple[str, str], dict[str, str]] = {}


def _soql_id(value: str) -> str:
    if not _ID.match(value or ""):
        raise ValueError(f"not a Salesforce id: {value!r}")
    return value


def _soql_object(value: str) -> str:
    if not _OBJECT.match(value or ""):
        raise ValueError(f"not an object name: {value!r}")
    return value


def sf_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("Salesforce datetimes must be aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _to_wire(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return sf_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _from_wire(kind: str | None, value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return value
    if kind == "datetime":
        text = value.replace("Z", "+00:00")
        text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)
        return dt.datetime.fromisoformat(text).astimezone(UTC)
    if kind == "date":
        return dt.date.fromisoformat(value)
    return value


class SalesforceUser:
    """A rep working in Salesforce through simple-salesforce with their own session.

    Records are plain dicts keyed by API field names, ``attributes`` dropped, datetime and date fields parsed
    (aware UTC datetimes, dates). Writes take the same: aware datetimes and dates are formatted for the wire."""

    def __init__(self, info: dict[str, Any], email: str) -> None:
        sf = info["salesforce"]
        user = next((u for u in sf["users"] if u["email"].lower() == email.lower()), None)
        if user is None:
            raise LookupError(f"no Salesforce sandbox user {email!r}")
        self.email = user["email"]
        self.user_id: str = user["user_id"]
        self.instance_url: str = sf["instance_url"]
        session = requests.Session()
        session.trust_env = False
        session.verify = sf["ca_file"]
        self.http = session
        self.sf = Salesforce(
            instance_url=sf["instance_url"],
            session_id=user["session_id"],
            session=session,
            version=sf.get("api_version", "59.0"),
        )

    def close(self) -> None:
        self.http.close()

    # -- writes ---------------------------------------------------------------------------------------------
    def create_record(self, obj: str, **fields: Any) -> str:
        result = getattr(self.sf, _soql_object(obj)).create({k: _to_wire(v) for k, v in fields.items()})
        return result["id"]

    def create_event(self, **fields: Any) -> str:
        """E.g. ``create_event(Subject="Call", StartDateTime=at(1, 10), EndDateTime=at(1, 11))``; owned by this rep
        unless ``OwnerId`` says otherwise."""
        return self.create_record("Event", **fields)

    def create_task(self, **fields: Any) -> str:
        """E.g. ``create_task(Subject="Send quote", ActivityDate=day(2))``."""
        return self.create_record("Task", **fields)

    def add_relation(self, event_id: str, relation_id: str, **fields: Any) -> str:
        """Invite a Contact, Lead or User to an Event (an EventRelation row)."""
        return self.create_record("EventRelation", EventId=event_id, RelationId=relation_id, **fields)

    def update(self, obj: str, record_id: str, **fields: Any) -> None:
        getattr(self.sf, _soql_object(obj)).update(_soql_id(record_id), {k: _to_wire(v) for k, v in fields.items()})

    def delete(self, obj: str, record_id: str) -> None:
        getattr(self.sf, _soql_object(obj)).delete(_soql_id(record_id))

    # -- reads ----------------------------------------------------------------------------------------------
    def get(self, obj: str, record_id: str) -> dict[str, Any] | None:
        """The record, or None when it does not exist (deleted ones included: they answer 404)."""
        try:
            raw = getattr(self.sf, _soql_object(obj)).get(_soql_id(record_id))
        except SalesforceResourceNotFound:
            return None
        return self._parse(obj, raw)

    def records(self, obj: str, *, include_deleted: bool = False, where: str | None = None) -> list[dict[str, Any]]:
        """Every record of ``obj`` this rep owns (``where``: extra SOQL condition, written by the test)."""
        names = ", ".join(self._types(obj))
        soql = f"SELECT {names} FROM {_soql_object(obj)} WHERE OwnerId = '{_soql_id(self.user_id)}'"
        if where:
            soql += f" AND ({where})"
        rows = self.sf.query_all(soql, include_deleted=include_deleted)["records"]
        return [self._parse(obj, r) for r in rows]

    def events(self, **kw: Any) -> list[dict[str, Any]]:
        return self.records("Event", **kw)

    def tasks(self, **kw: Any) -> list[dict[str, Any]]:
        return self.records("Task", **kw)

    def occurrences(self, series_id: str) -> list[dict[str, Any]]:
        """The live occurrence Events of a series, by start."""
        rows = self.records("Event", where=f"RecurrenceActivityId = '{_soql_id(series_id)}'")
        return sorted(rows, key=lambda r: r["StartDateTime"])

    def relations(self, event_id: str) -> list[dict[str, Any]]:
        """The Event's EventRelation rows."""
        names = ", ".join(self._types("EventRelation"))
        soql = f"SELECT {names} FROM EventRelation WHERE EventId = '{_soql_id(event_id)}'"
        return [self._parse("EventRelation", r) for r in self.sf.query_all(soql)["records"]]

    def find_event(self, subject: str, *, series: bool = False) -> dict[str, Any] | None:
        """The one Event with this subject; the occurrence Events of a series (``RecurrenceActivityId``) do
        not count, and with ``series`` only a series record does."""
        found = [e for e in self.events() if e["Subject"] == subject and not e.get("RecurrenceActivityId")]
        if series:
            found = [e for e in found if e.get("IsRecurrence2")]
        if len(found) > 1:
            raise AssertionError(f"{len(found)} Events with subject {subject!r} owned by {self.email}")
        return found[0] if found else None

    # -- helpers --------------------------------------------------------------------------------------------
    def _types(self, obj: str) -> dict[str, str]:
        key = (self.instance_url, obj)
        if key not in _DESCRIBE_CACHE:
            described = getattr(self.sf, _soql_object(obj)).describe()
            _DESCRIBE_CACHE[key] = {f["name"]: f["type"] for f in described["fields"]}
        return _DESCRIBE_CACHE[key]

    def _parse(self, obj: str, raw: dict[str, Any]) -> dict[str, Any]:
        types = self._types(obj)
        return {k: _from_wire(types.get(k), v) for k, v in raw.items() if k != "attributes"}


# -- World ----------------------------------------------------------------------------------------------------
class World:
    """Both sandboxes as one test sees them: actors, admin endpoints, logs and counters.

    ``world.outlook()`` / ``world.salesforce()`` are the default rep's actors (`rep`, REPS[0]); pass an e-mail
    for another rep. Actors are cached per e-mail for the test and closed at its end."""

    def __init__(self, sandboxes: Any, rep: Rep = REPS[0], *, salesforce_daily_budget: int = 100_000) -> None:
        self.sandboxes = sandboxes
        self.info: dict[str, Any] = sandboxes.info
        self.rep = rep
        self.salesforce_daily_budget = salesforce_daily_budget
        self._outlook: dict[str, OutlookUser] = {}
        self._salesforce: dict[str, SalesforceUser] = {}
        self._actor_ranges: list[tuple[int, int]] = []
        self._sf_admin = requests.Session()
        self._sf_admin.trust_env = False
        self._sf_admin.verify = self.info["salesforce"]["ca_file"]
        self._ex_admin = requests.Session()
        self._ex_admin.trust_env = False
        self._ex_admin.verify = self.info["exchange"]["ca_file"]
        self._clock_offset = 0.0
        self._errors_at_start = (0, 0)

    # -- actors ---------------------------------------------------------------------------------------------
    def outlook(self, email: str | None = None) -> OutlookUser:
        email = (email or self.rep.email).lower()
        if email not in self._outlook:
            self._outlook[email] = OutlookUser(self.info, email, journal=self._actor_writes)
        return self._outlook[email]

    def salesforce(self, email: str | None = None) -> SalesforceUser:
        email = (email or self.rep.email).lower()
        if email not in self._salesforce:
            self._salesforce[email] = SalesforceUser(self.info, email)
        return self._salesforce[email]

    @contextlib.contextmanager
    def _actor_writes(self) -> Iterator[None]:
        calls = self.sandboxes.exchange.calls
        start = len(calls)
        try:
            yield
        finally:
            self._actor_ranges.append((start, len(self.sandboxes.exchange.calls)))

    # -- reset (the ``world`` fixture calls it before each test) ---------------------------------------------
    def reset(self) -> None:
        """Both sandboxes back to the empty seed: data, faults, Salesforce budget and clock, logs, counters."""
        sf = self.sandboxes.salesforce
        self._sf("POST", "reset", {"seed": "empty"})
        self._sf("DELETE", "faults")
        self._sf("PUT", "faults", {"daily_budget": self.salesforce_daily_budget, "api_used": 0})
        self._sf("PUT", "clock", {"offset_seconds": 0})
        self._sf("DELETE", "stats")
        self._sf("PUT", "sessions", {"timeout_seconds": 7200, "rotate_refresh_tokens": False})
        with sf.lock:  # a test may have expired a rep's fixed session (no admin endpoint restores them)
            sf.oauth.add_fixed_sessions()
        self._clock_offset = 0.0
        ex = self.sandboxes.exchange
        # The Exchange admin reset clears the log and the faults only: the data are reset in process.
        with ex.store.lock:
            # The reseeded store keeps the old one's observers (the EWS notification journal and the Graph sandbox
            # watch every write through them): `_seeded_store` carries them over.
            ex._seeded_store()  # noqa: SLF001 - no admin endpoint for it
            ex.persist()
        self._ex("POST", "reset")
        self._actor_ranges.clear()
        self._errors_at_start = (len(ex.schema_errors), len(ex.internal_errors))

    def close(self) -> None:
        for actor in [*self._outlook.values(), *self._salesforce.values()]:
            actor.close()
        self._outlook.clear()
        self._salesforce.clear()
        self._sf_admin.close()
        self._ex_admin.close()

    def new_exchange_errors(self) -> tuple[list[str], list[str]]:
        """Schema violations and internal errors the Exchange sandbox recorded since the last reset."""
        ex = self.sandboxes.exchange
        return ex.schema_errors[self._errors_at_start[0] :], ex.internal_errors[self._errors_at_start[1] :]

    # -- Exchange admin ---------------------------------------------------------------------------------------
    def exchange_log(self) -> dict[str, Any]:
        """The EWS sandbox's log: ``calls`` (every CreateItem/UpdateItem/DeleteItem with its send setting and
        whether a message would have gone out), ``invitations``, ``cancellations``, ``requests``. Each call is
        marked ``"actor": True`` when an actor made it; ``engine_calls`` lists the others."""
        log = self._ex("GET", "log")
        for index, call in enumerate(log["calls"]):
            call["actor"] = any(a <= index < b for a, b in self._actor_ranges)
        # The same selections as the sandbox's log_snapshot(), on the marked calls.
        log["invitations"] = [c for c in log["calls"] if c["sent"] and c["kind"] in ("invitation", "update")]
        log["cancellations"] = [c for c in log["calls"] if c["sent"] and c["kind"] == "cancellation"]
        log["engine_calls"] = [c for c in log["calls"] if not c["actor"]]
        return log

    def engine_meeting_messages(self) -> list[dict[str, Any]]:
        """Invitations, updates and cancellations that writes not made by actors would have sent."""
        return [c for c in self.exchange_log()["engine_calls"] if c["sent"]]

    def assert_no_meeting_messages(self, *, strict: bool = True) -> None:
        """No write other than the actors' sent an invitation or cancellation (through EWS or Graph); with
        ``strict``, every such EWS write also asked for ``SendToNone`` (so a meeting without attendees yet would not
        send either). Graph writes have no send setting: the log says whether each one e-mailed anyone."""
        calls = self.exchange_log()["engine_calls"]
        sent = [c for c in calls if c["sent"]]
        assert not sent, f"meeting messages sent: {sent}"
        if strict:
            loose = [c for c in calls if c.get("protocol") != "graph" and c["setting"] not in NO_SEND]
            assert not loose, f"writes without SendToNone: {loose}"

    def exchange_requests(self) -> Counter[str]:
        """EWS requests per operation since the last reset (actors' included: take differences)."""
        return Counter(self._ex("GET", "log")["requests"])

    def set_graph_faults(self, **settings: Any) -> dict[str, Any]:
        """Keys of ``sandbox.graph.faults.FaultSettings`` (http_429_next, delta_gone_next, drop_next, ...)."""
        return self._graph("PUT", "faults", settings)

    def reset_graph(self) -> None:
        """The Graph sandbox's log, faults, limits and delta tokens back to their start (its data are the
        Exchange store's, which `reset` resets)."""
        self._graph("POST", "reset")
        self._graph("POST", "delta/expire")

    def touch_exchange(self, email: str | None = None) -> int:
        """Every item of a mailbox gets a new change key without a content change, as a server-side process
        (a response arriving, a retention tag) does: a write holding the old change key is refused (EWS
        ErrorIrresolvableConflict, Graph 412). Returns how many items were touched."""
        ex = self.sandboxes.exchange
        with ex.store.lock:
            mb = ex.store.mailbox(email or self.rep.email)
            items = list(mb.items.values())
            for item in items:
                ex.store.touch(item)
            ex.persist()
        return len(items)

    def set_exchange_faults(self, **settings: Any) -> dict[str, Any]:
        """Keys of ``sandbox.exchange.faults.FaultSettings`` (server_busy_next, http_503_rate, drop_next, ...)."""
        return self._ex("PUT", "faults", settings)

    def deliver_meeting(self, organizer_item_id: str, attendee_email: str, response: str = "Accept") -> str:
        """Put (or refresh) the attendee's copy of a meeting, as Exchange transport does when an invitation or
        update arrives: same fields and UID, organizer kept, no categories or extended properties of the
        organizer's. The sandbox delivers by itself when the organizer's write sends (sandbox/exchange/meetings.py);
        this puts or refreshes the copy whatever the write said (SendToNone included). Returns the attendee's
        item id."""
        from sandbox.exchange import calendar
        from sandbox.exchange.xml import el, t

        ex = self.sandboxes.exchange
        with ex.store.lock:
            source, source_mb = self._store_item(organizer_item_id)
            mb = ex.store.mailbox(attendee_email)
            if mb is None:
                raise LookupError(f"no mailbox {attendee_email}")
            uid = source.fields["UID"].text
            target = next(
                (
                    i
                    for i in mb.items.values()
                    if i.element == "CalendarItem" and i.fields.get("UID") is not None and i.fields["UID"].text == uid
                ),
                None,
            )
            if target is None:
                target = ex.store.new_item(mb, mb.folder("calendar"))
                kept = {}
            else:
                kept = {k: v for k, v in target.fields.items() if k in ("Categories",)}
                ex.store.touch(target)
            target.fields = {k: calendar.copy(v) for k, v in source.fields.items() if k != "Categories"}
            target.fields.update(kept)
            target.fields["MyResponseType"] = el(t("MyResponseType"), response)
            target.exceptions = _copy.deepcopy(source.exceptions)
            target.deleted_occurrences = set(source.deleted_occurrences)
            ex.persist()
            return target.id

    def deliver_cancellation(self, attendee_item_id: str) -> None:
        """The organizer cancelled: the attendee's copy becomes IsCancelled with a "Canceled: " subject (it stays
        in the calendar until the attendee removes it), as Exchange does on a cancellation's arrival."""
        from sandbox.exchange.xml import el, t

        ex = self.sandboxes.exchange
        with ex.store.lock:
            item, _ = self._store_item(attendee_item_id)
            item.fields["IsCancelled"] = el(t("IsCancelled"), "true")
            subject = item.fields.get("Subject")
            text = subject.text if subject is not None else ""
            if not text.startswith("Canceled: "):  # the sandbox may have delivered it already (meetings.py)
                item.fields["Subject"] = el(t("Subject"), f"Canceled: {text}")
            ex.store.touch(item)
            ex.persist()

    def _store_item(self, item_id: str):
        for mb in self.sandboxes.exchange.store.mailboxes.values():
            if item_id in mb.items:
                return mb.items[item_id], mb
        raise LookupError(f"no item {item_id}")

    # -- Salesforce admin -------------------------------------------------------------------------------------
    def salesforce_stats(self) -> dict[str, Any]:
        """``requests`` per endpoint, ``total_requests``, record ``writes``, ``api_usage``."""
        return self._sf("GET", "stats")

    def salesforce_requests(self) -> Counter[str]:
        """Salesforce API requests per endpoint since the last reset (actors' included: take differences)."""
        return Counter(self.salesforce_stats()["requests"])

    def set_salesforce_faults(self, **settings: Any) -> dict[str, Any]:
        """Keys of ``sandbox.salesforce.faults`` (fail_next_writes, fail_next_requests, lock_row_rate,
        unavailable_rate, latency_ms, page_size, daily_budget, api_used, rng_seed)."""
        return self._sf("PUT", "faults", settings)

    def advance_salesforce_clock(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> dt.datetime:
        """Move the Salesforce sandbox clock forward (cumulative); returns its new "now"."""
        self._clock_offset += dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds).total_seconds()
        answer = self._sf("PUT", "clock", {"offset_seconds": self._clock_offset})
        return dt.datetime.fromisoformat(answer["now"])

    def salesforce_records(self, obj: str) -> list[dict[str, Any]]:
        """Every record of ``obj`` in the org, any owner, deleted ones included (``IsDeleted``), unparsed."""
        return self._sf("GET", f"records/{_soql_object(obj)}")

    def touch_salesforce(self, *ids: str) -> None:
        """Move SystemModstamp as an automated process (workflow, trigger) would, without changing content."""
        self._sf("POST", "touch", {"ids": list(ids)})

    def set_salesforce_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """Change a User's ``UserRoleId``, ``ProfileId``, ``Department`` or ``Title``, as an admin does in Setup."""
        return self._sf("PUT", f"users/{user_id}", fields)

    def purge_salesforce_recycle_bin(self, obj: str | None = None) -> int:
        return self._sf("POST", "purge-recycle-bin", {"object": obj} if obj else {})["purged"]

    def expire_salesforce_session(self, token: str) -> bool:
        answer = self._sf_admin.post(self._sf_url("sessions/expire"), json={"token": token}, timeout=10)
        return answer.status_code == 200

    def expire_salesforce_sessions(self) -> int:
        """End every session the Salesforce token endpoint issued (as the org's session timeout would)."""
        return self._sf("POST", "sessions/expire", {})["expired"]

    def set_salesforce_sessions(self, **settings: Any) -> dict[str, Any]:
        """``timeout_seconds`` (the org's session timeout), ``rotate_refresh_tokens``."""
        return self._sf("PUT", "sessions", settings)

    # -- HTTP plumbing ----------------------------------------------------------------------------------------
    def _sf_url(self, path: str) -> str:
        return f"{self.info['salesforce']['admin_url']}/{path}"

    def _sf(self, method: str, path: str, body: Any = None) -> Any:
        answer = self._sf_admin.request(method, self._sf_url(path), json=body, timeout=30)
        assert answer.status_code == 200, f"Salesforce sandbox {method} {path}: {answer.status_code} {answer.text}"
        return answer.json()

    def _graph(self, method: str, path: str, body: Any = None) -> Any:
        graph = self.info["graph"]
        answer = requests.request(method, f"{graph['admin_url']}/{path}", json=body, verify=graph["ca_file"],
                                  timeout=30)  # fmt: skip
        assert answer.status_code == 200, f"Graph sandbox {method} {path}: {answer.status_code} {answer.text}"
        return answer.json()

    def _ex(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.info['exchange']['admin_url']}/{path}"
        answer = self._ex_admin.request(method, url, json=body, timeout=30)
        assert answer.status_code == 200, f"Exchange sandbox {method} {path}: {answer.status_code} {answer.text}"
        return answer.json()
