"""exchangelib ``CalendarItem`` ⇄ the plain item fields of `sync.mapping.exchange` and `ExchangeItem`.

The only place where exchangelib's value types (``Body``/``HTMLBody``, ``Attendee``, ``Recurrence``,
``EWSDateTime``, ``EWSTimeZone``) meet the engine's plain data; the mapping rules themselves (fields ⇄ `Entry`,
limits, round trips) live in `sync.mapping.exchange`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from exchangelib import Body, EWSDate, EWSDateTime, EWSTimeZone, HTMLBody
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.items import CalendarItem
from exchangelib.properties import Attendee as EwsAttendee
from exchangelib.properties import Mailbox
from exchangelib.recurrence import Recurrence as EwsRecurrence

from sync.connectors.base import ExchangeItem
from sync.connectors.ews.recurrence import pattern_from_ews, pattern_to_ews
from sync.entry import Attendee, to_utc
from sync.mapping.exchange import ITEM_FIELDS, SYNC_KEY_ATTR
from sync.mapping.recurrence import ExchangePattern
from sync.mapping.timezones import canonical_time_zone


class SyncKeyProperty(ExtendedProperty):
    """The sync key on an Exchange item (a named string property in our own property set)."""

    property_set_id = "3f0d1c4e-6a5b-4c1e-9d7a-0c5a1ca15c01"
    property_name = "CalSyncKey"
    property_type = "String"


def register_sync_key_property() -> None:
    """Register `SyncKeyProperty` on CalendarItem as ``calsync_key`` (idempotent; the connector calls it)."""
    if SYNC_KEY_ATTR not in {f.name for f in CalendarItem.FIELDS}:
        CalendarItem.register(SYNC_KEY_ATTR, SyncKeyProperty)


# -- reading ----------------------------------------------------------------------------------------------


def _plain_value(name: str, value: Any) -> Any:
    """One exchangelib field value as plain data (see `sync.mapping.exchange`)."""
    if value is None:
        return None
    if name == "body":
        return str(value)
    if name in ("required_attendees", "optional_attendees"):
        return [_plain_attendee(a) for a in value]
    if name == "recurrence" and isinstance(value, EwsRecurrence):
        return pattern_from_ews(value)
    if name == "start_timezone":
        return getattr(value, "key", None) or getattr(value, "ms_id", None) or str(value)
    if name == "deleted_occurrences":
        return [_plain_value("start", getattr(occ, "start", occ)) for occ in value]
    if name == "modified_occurrences":  # ids and times; `sync.series.read_modified_occurrences` adds content
        return [
            {
                "id": getattr(occ, "id", None),
                "original_start": _plain_value("start", getattr(occ, "original_start", None)),
                "start": _plain_value("start", getattr(occ, "start", None)),
                "end": _plain_value("end", getattr(occ, "end", None)),
            }
            for occ in value
        ]
    if isinstance(value, EWSDateTime):
        return to_utc(value)
    if isinstance(value, EWSDate):
        return date(value.year, value.month, value.day)
    if name == "categories":
        return list(value)
    return value


def _plain_attendee(value: Any) -> Any:
    if isinstance(value, str | Mapping):
        return value
    mailbox = getattr(value, "mailbox", None)
    return {
        "email": getattr(mailbox, "email_address", "") or "",
        "name": getattr(mailbox, "name", "") or "",
        "response": getattr(value, "response_type", "Unknown") or "Unknown",
    }


def plain_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A dict of exchangelib field values (as `calendar_item_to_dict` reads them) as plain data."""
    out = {name: _plain_value(name, value) for name, value in raw.items()}
    if isinstance(raw.get("body"), HTMLBody):
        out["body_type"] = "HTML"
    return out


def calendar_item_to_dict(item: CalendarItem) -> dict[str, Any]:
    """The mapped fields of an exchangelib CalendarItem as plain data (no I/O: reads attributes already
    fetched)."""
    out = {name: getattr(item, name, None) for name in ITEM_FIELDS if name != "start_timezone"}
    out["start_timezone"] = getattr(item, "_start_timezone", None) or getattr(item, "_meeting_timezone", None)
    out["deleted_occurrences"] = getattr(item, "deleted_occurrences", None)
    out["modified_occurrences"] = getattr(item, "modified_occurrences", None)
    out[SYNC_KEY_ATTR] = getattr(item, SYNC_KEY_ATTR, None)
    return plain_fields(out)


def is_organizer(item: Any, mailbox_email: str) -> bool:
    """Meetings the mailbox attends but does not organise are read-only on the Exchange side."""
    if not getattr(item, "is_meeting", False):
        return True
    response = getattr(item, "my_response_type", None)
    if response == "Organizer":
        return True
    organizer = getattr(item, "organizer", None)
    email = getattr(organizer, "email_address", None)
    if email:
        return email.lower() == mailbox_email.lower()
    return response in (None, "Unknown")


def exchange_item(item: Any, mailbox_email: str) -> ExchangeItem:
    """A fetched exchangelib item as the engine's `ExchangeItem`."""
    if not isinstance(item, CalendarItem):
        fields = {
            "subject": getattr(item, "subject", None),
            "categories": list(getattr(item, "categories", None) or ()),
        }
        return ExchangeItem(item.id, item.changekey, fields, is_calendar_item=False)
    modified = getattr(item, "last_modified_time", None)
    return ExchangeItem(
        item_id=item.id,
        change_key=item.changekey,
        fields=calendar_item_to_dict(item),
        sync_key=getattr(item, SYNC_KEY_ATTR, None),
        modified_at=to_utc(modified) if modified else None,
        is_meeting=bool(getattr(item, "is_meeting", False)),
        is_organizer=is_organizer(item, mailbox_email),
        is_cancelled=bool(getattr(item, "is_cancelled", False)),
        uid=getattr(item, "uid", None),
    )


# -- writing ----------------------------------------------------------------------------------------------


def _ews_value(name: str, value: Any) -> Any:
    """One plain field value as exchangelib wants it."""
    if value is None:
        return None
    if name == "body":
        return value if isinstance(value, Body) else Body(value)
    if name in ("required_attendees", "optional_attendees"):
        return [_ews_attendee(a) for a in value]
    if name == "recurrence" and isinstance(value, ExchangePattern):
        return pattern_to_ews(value)
    if isinstance(value, EWSDateTime | EWSDate):
        return value
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return EWSDateTime.from_datetime(datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=UTC))
    if isinstance(value, date):
        return EWSDate.from_date(value)
    return value


def _ews_attendee(value: Any) -> Any:
    if isinstance(value, EwsAttendee):
        return value
    if isinstance(value, Attendee):
        email, name = value.email, value.name
    elif isinstance(value, Mapping):
        email, name = value.get("email", ""), value.get("name", "")
    else:
        email, name = str(value), ""
    return EwsAttendee(mailbox=Mailbox(email_address=email, name=name or None))


def dict_to_calendar_item(data: Mapping[str, Any], item: CalendarItem | None = None) -> tuple[CalendarItem, list[str]]:
    """Set the plain fields on ``item`` (a new CalendarItem if None); returns it and the ``update_fields``
    for ``save(update_fields=...)``. Datetimes become EWSDateTime and zones EWSTimeZone."""
    item = item if item is not None else CalendarItem()
    update_fields: list[str] = []
    for name, value in data.items():
        if name == "start_timezone":
            tz = EWSTimeZone(canonical_time_zone(str(getattr(value, "key", value))) or "UTC")
            item._start_timezone = tz
            item._end_timezone = tz
            update_fields += ["_start_timezone", "_end_timezone"]
            continue
        setattr(item, name, _ews_value(name, value))
        update_fields.append(name)
    return item, update_fields
