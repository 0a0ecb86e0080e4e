"""The neutral model of a calendar entry and its projection π.

An `Entry` is what both sides are mapped to: a Salesforce Event / Task / custom-object record on one side,
an Exchange calendar item on the other. It knows nothing about either wire format.

The **projection** π(entry) is a canonical, JSON-serialisable dict of the *mapped* fields after
normalisation, so that things users would call equal compare equal (line endings and blank lines in
bodies, e-mail case, subject whitespace, sub-minute precision, attendee order, ...). Its hash is how the
engine recognises echoes of its own writes (docs/sync-model.md), and per-field comparison of projections against the
link's base snapshot is how the planner decides what changed (docs/sync-model.md "merge field by field").

Projection fields (`PROJECTION_FIELDS`), each one merge unit:

- ``subject``, ``location``, ``body`` -- normalised text;
- ``when`` -- the timing as one unit (start and end never merge separately, which could produce an end
  before the start): ``{"all_day": false, "start": "2024-03-10T09:00Z", "end": ...}`` in UTC to the minute,
  or ``{"all_day": true, "start": "2024-03-10", "end": "2024-03-11"}`` (dates, end exclusive). The time zone
  of a timed, non-recurring entry is not part of it: Salesforce stores instants only;
- ``show_as``, ``is_private``;
- ``attendees`` -- sorted, lower-cased e-mail addresses (responses are informational, not synced);
- ``recurrence`` -- ``None`` or ``{"rrule": ..., "exdates": [...], "time_zone": ...}``.

Not projected: ``who_ids``/``what_id`` (Salesforce-only relations, chosen in the add-in or by matching) and
``categories`` (the Exchange-side share marker, managed by the apply layer).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any

Projection = dict[str, Any]

PROJECTION_VERSION = 1
PROJECTION_FIELDS: tuple[str, ...] = (
    "subject",
    "when",
    "location",
    "body",
    "show_as",
    "is_private",
    "attendees",
    "recurrence",
)

EVENT = "event"
TASK = "task"
CUSTOM_PREFIX = "custom:"


def custom_kind(object_api_name: str) -> str:
    """The kind string of a custom object, e.g. ``custom:Site_Visit__c``."""
    return f"{CUSTOM_PREFIX}{object_api_name}"


def is_custom_kind(kind: str) -> bool:
    return kind.startswith(CUSTOM_PREFIX) and len(kind) > len(CUSTOM_PREFIX)


def is_valid_kind(kind: str) -> bool:
    return kind in (EVENT, TASK) or is_custom_kind(kind)


class Side(StrEnum):
    EXCHANGE = "exchange"
    SALESFORCE = "salesforce"

    @property
    def other(self) -> Side:
        return Side.SALESFORCE if self is Side.EXCHANGE else Side.EXCHANGE


class ShowAs(StrEnum):
    BUSY = "busy"
    FREE = "free"
    TENTATIVE = "tentative"
    OUT_OF_OFFICE = "out_of_office"


class Response(StrEnum):
    UNKNOWN = "unknown"
    ORGANIZER = "organizer"
    ACCEPTED = "accepted"
    TENTATIVE = "tentative"
    DECLINED = "declined"
    NO_RESPONSE = "no_response"


@dataclass(frozen=True, order=True)
class Attendee:
    email: str
    response: Response = Response.UNKNOWN
    optional: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalize_email(self.email))
        object.__setattr__(self, "response", Response(self.response))


@dataclass(frozen=True)
class Recurrence:
    """A recurring series: an RFC 5545 RRULE (without the ``RRULE:`` prefix) anchored at the entry's start,
    in the entry's time zone, with deleted occurrences as local dates (``exdates``).

    Modified occurrences (exceptions with other content) are not representable here on purpose: mappings
    report them as a `MappingIssue` rather than sync half a series.
    """

    rrule: str
    exdates: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "rrule", normalize_rrule(self.rrule))
        object.__setattr__(self, "exdates", tuple(sorted(set(self.exdates))))


@dataclass(frozen=True)
class Entry:
    """A calendar entry on neither side.

    Timed entries have ``start``/``end`` as aware datetimes (stored in UTC). All-day entries have
    ``is_all_day`` and ``start_date``/``end_date`` (end exclusive: a one-day entry on 10 March has
    ``end_date`` 11 March), meaning midnight to midnight in ``time_zone`` on the Exchange side.
    ``time_zone`` is an IANA name; mappings canonicalise it.
    ``kind`` is ``event``, ``task`` or ``custom:<ObjectApiName>``.
    """

    kind: str = EVENT
    subject: str = ""
    start: datetime | None = None
    end: datetime | None = None
    is_all_day: bool = False
    start_date: date | None = None
    end_date: date | None = None
    time_zone: str = "UTC"
    location: str = ""
    body: str = ""
    show_as: ShowAs = ShowAs.BUSY
    is_private: bool = False
    attendees: tuple[Attendee, ...] = ()
    who_ids: tuple[str, ...] = ()
    what_id: str | None = None
    recurrence: Recurrence | None = None
    categories: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                if value.tzinfo is None or value.utcoffset() is None:
                    raise ValueError(f"Entry.{name} must be timezone-aware, got {value!r}")
                object.__setattr__(self, name, to_utc(value))
        for name in ("start_date", "end_date"):
            value = getattr(self, name)
            if isinstance(value, datetime):  # a datetime is a date; keep only the date part
                object.__setattr__(self, name, value.date())
        object.__setattr__(self, "show_as", ShowAs(self.show_as))
        object.__setattr__(self, "attendees", tuple(self.attendees))
        object.__setattr__(self, "who_ids", tuple(self.who_ids))
        object.__setattr__(self, "categories", tuple(sorted(set(self.categories))))

    @property
    def is_recurring(self) -> bool:
        return self.recurrence is not None

    def replace(self, **changes: Any) -> Entry:
        return dataclasses.replace(self, **changes)


def to_utc(value: datetime) -> datetime:
    """A plain UTC datetime from any aware datetime (exchangelib's EWSDateTime refuses non-EWS zones)."""
    if type(value) is not datetime:
        offset = value.utcoffset()
        assert offset is not None
        naive = datetime(*value.timetuple()[:6], value.microsecond) - offset
        return naive.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --- normalisation -----------------------------------------------------------------------------------

_WS_RUN = re.compile(r"\s+")
# Characters XML 1.0 cannot carry (exchangelib replaces them with "?" on the way to Exchange): dropped in every
# projection, so a Salesforce value holding one maps to what Exchange can store and compares equal to it.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufdd0-\ufddf\ufffe\uffff]")


def normalize_subject(text: str | None) -> str:
    """Trim, NFC, and collapse whitespace runs (including newlines) to one space."""
    if text is None or text == "":
        return ""
    return _WS_RUN.sub(" ", _NOT_XML.sub("", unicodedata.normalize("NFC", str(text)))).strip()


normalize_location = normalize_subject


def normalize_email(address: str | None) -> str:
    if not address:
        return ""
    address = unicodedata.normalize("NFC", str(address)).strip()
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:") :]
    return address.strip().lower()


def normalize_body(text: str | None) -> str:
    """Plain-text body in canonical form.

    Line endings become LF, non-breaking spaces plain spaces, trailing spaces per line go, runs of blank
    lines become one blank line, and leading/trailing blank lines go: both Exchange's HTML→text rendering and
    Salesforce's textarea differ from the original in exactly these ways.
    """
    if text is None or text == "":
        return ""
    text = _NOT_XML.sub("", unicodedata.normalize("NFC", str(text)))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    lines: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip()
        if line == "" and (not lines or lines[-1] == ""):
            continue
        lines.append(line)
    return "\n".join(lines).strip("\n")


_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "section", "article", "header", "footer",
}  # fmt: skip
_SKIP_TAGS = {"script", "style", "head", "title", "template", "noscript"}


class _TextExtractor(HTMLParser):
    """Block boundaries become one line break (Outlook writes each line as its own <p>), <br> always one;
    an empty paragraph (``<p>&nbsp;</p>``) stays a blank line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._line_start = True

    def _boundary(self) -> None:
        if not self._line_start:
            self.parts.append("\n")
            self._line_start = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag == "br":
            self.parts.append("\n")
            self._line_start = True
        elif tag in _BLOCK_TAGS:
            self._boundary()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS and tag != "br":
            self._boundary()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        # Source whitespace (indentation, newlines) is not content; a non-breaking space is.
        if data.strip(" \t\r\n\f\v"):
            self.parts.append(re.sub(r"[ \t\r\n\f\v]+", " ", data))
            self._line_start = False
        elif not self._line_start:
            self.parts.append(" ")


def html_to_text(html: str | None) -> str:
    """HTML (an Exchange body) to plain text: scripts/styles dropped, block tags to line breaks."""
    if not html:
        return ""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return normalize_body("\n".join(line.strip() for line in text.split("\n")))


_RRULE_DEFAULTS = {"INTERVAL": "1", "WKST": "MO"}


def normalize_rrule(text: str) -> str:
    """Canonical RRULE text: no ``RRULE:`` prefix, upper case, FREQ first then parts sorted, defaults dropped.

    Only the textual form is canonicalised; whether the rule is representable on a side is the mappings'
    business.
    """
    text = text.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    parts: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part or "=" not in part:
            continue
        key, value = part.split("=", 1)
        key, value = key.strip().upper(), value.strip().upper().replace(" ", "")
        if _RRULE_DEFAULTS.get(key) == value:
            continue
        if key in ("BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS"):
            value = ",".join(sorted(value.split(","), key=_sort_token))
        parts[key] = value
    ordered = [f"FREQ={parts.pop('FREQ')}"] if "FREQ" in parts else []
    ordered += [f"{k}={parts[k]}" for k in sorted(parts)]
    return ";".join(ordered)


_DAY_ORDER = {d: i for i, d in enumerate(("MO", "TU", "WE", "TH", "FR", "SA", "SU"))}


def _sort_token(token: str) -> tuple[int, int, str]:
    # Keep "1MO,-1FR" and "1,15" in a stable, human order.
    m = re.fullmatch(r"([+-]?\d*)([A-Z]{2})?", token)
    if not m:
        return (9, 0, token)
    num, day = m.group(1), m.group(2)
    n = int(num) if num not in ("", "+", "-") else 0
    return (_DAY_ORDER.get(day or "", -1), n, token)


# --- projection --------------------------------------------------------------------------------------


def _minute(value: datetime) -> str:
    return value.astimezone(UTC).replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%MZ")


def project_when(entry: Entry) -> dict[str, Any]:
    if entry.is_all_day:
        return {
            "all_day": True,
            "start": entry.start_date.isoformat() if entry.start_date else None,
            "end": entry.end_date.isoformat() if entry.end_date else None,
        }
    return {
        "all_day": False,
        "start": _minute(entry.start) if entry.start else None,
        "end": _minute(entry.end) if entry.end else None,
    }


def project(entry: Entry) -> Projection:
    """π(entry): the canonical dict of mapped fields (see the module docstring)."""
    emails = sorted({a.email for a in entry.attendees if a.email})
    recurrence = None
    if entry.recurrence is not None:
        recurrence = {
            "rrule": entry.recurrence.rrule,
            "exdates": [d.isoformat() for d in entry.recurrence.exdates],
            "time_zone": entry.time_zone,
        }
    return {
        "subject": normalize_subject(entry.subject),
        "when": project_when(entry),
        "location": normalize_location(entry.location),
        "body": normalize_body(entry.body),
        "show_as": str(entry.show_as),
        "is_private": bool(entry.is_private),
        "attendees": emails,
        "recurrence": recurrence,
    }


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def projection_hash(projection: Mapping[str, Any] | None) -> str | None:
    """Stable hash of a projection (SHA-256 hex of its canonical JSON, versioned); ``None`` for ``None``."""
    if projection is None:
        return None
    payload = canonical_json({"v": PROJECTION_VERSION, "p": projection})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def entry_hash(entry: Entry) -> str:
    return projection_hash(project(entry))  # type: ignore[return-value]


def _parse_minute(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)


def entry_from_projection(
    projection: Mapping[str, Any],
    kind: str = EVENT,
    *,
    time_zone: str = "UTC",
    who_ids: Iterable[str] = (),
    what_id: str | None = None,
    categories: Iterable[str] = (),
) -> Entry:
    """Rebuild an `Entry` from a projection (used to re-create a deleted side from the base snapshot).

    Lossless for every projected field; the time zone of a timed, non-recurring entry is not projected and
    comes from ``time_zone``.
    """
    when = projection.get("when") or {}
    recurrence = None
    rec = projection.get("recurrence")
    if rec:
        recurrence = Recurrence(rrule=rec["rrule"], exdates=tuple(date.fromisoformat(d) for d in rec["exdates"]))
        time_zone = rec.get("time_zone") or time_zone
    common: dict[str, Any] = {
        "kind": kind,
        "subject": projection.get("subject", ""),
        "time_zone": time_zone,
        "location": projection.get("location", ""),
        "body": projection.get("body", ""),
        "show_as": ShowAs(projection.get("show_as", ShowAs.BUSY)),
        "is_private": bool(projection.get("is_private", False)),
        "attendees": tuple(Attendee(email=e) for e in projection.get("attendees", ())),
        "recurrence": recurrence,
        "who_ids": tuple(who_ids),
        "what_id": what_id,
        "categories": tuple(categories),
    }
    if when.get("all_day"):
        return Entry(
            is_all_day=True,
            start_date=date.fromisoformat(when["start"]) if when.get("start") else None,
            end_date=date.fromisoformat(when["end"]) if when.get("end") else None,
            **common,
        )
    return Entry(
        start=_parse_minute(when["start"]) if when.get("start") else None,
        end=_parse_minute(when["end"]) if when.get("end") else None,
        **common,
    )


def apply_fields(target: Entry, source: Entry, fields: Iterable[str]) -> Entry:
    """``target`` with the given projection fields taken from ``source`` (the attributes behind each)."""
    changes: dict[str, Any] = {}
    for name in fields:
        for attr in FIELD_ATTRIBUTES[name]:
            changes[attr] = getattr(source, attr)
    return dataclasses.replace(target, **changes) if changes else target


# The Entry attributes behind each projection field.
FIELD_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "subject": ("subject",),
    "when": ("is_all_day", "start", "end", "start_date", "end_date"),
    "location": ("location",),
    "body": ("body",),
    "show_as": ("show_as",),
    "is_private": ("is_private",),
    "attendees": ("attendees",),
    "recurrence": ("recurrence", "time_zone"),
}
