"""MimeContent of calendar items: an iCalendar (RFC 5545) VEVENT inside a MIME message, both ways.

Exchange builds a calendar item from the MimeContent a client gives to CreateItem (properties the request sets
explicitly win over the MIME's), and answers MimeContent for a calendar item when a client asks for it
(``item:MimeContent`` or ``IncludeMimeContent``): a MIME message whose ``text/calendar`` part is the item as a
VEVENT, generated from the item's current fields (the client's MIME is not kept). Exchange's own MIME (TNEF,
X-MS-OLK-* lines, VTIMEZONE blocks in the item's zone) is richer; the sandbox's VEVENT has SUMMARY, DTSTART,
DTEND (UTC, or dates for all-day items), LOCATION, DESCRIPTION, UID, CLASS, CATEGORIES, ORGANIZER and ATTENDEE lines.
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/mimecontent
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.policy

import icalendar

from .errors import EwsError
from .xml import Element, child_text, el, fmt_datetime, parse_bool, parse_datetime, t

_CLASS = {"PUBLIC": "Normal", "PRIVATE": "Private", "CONFIDENTIAL": "Confidential"}
_CLASS_BACK = {v: k for k, v in _CLASS.items()}


def _calendar_text(raw: bytes) -> bytes:
    """The iCalendar in a MIME message (or the raw iCalendar itself)."""
    if raw.lstrip().upper().startswith(b"BEGIN:VCALENDAR"):
        return raw
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            return part.get_payload(decode=True) or b""
    raise EwsError("ErrorMimeContentConversionFailed", "The MIME content holds no text/calendar part.")


def fields_from_mime(mime: Element) -> dict[str, Element]:
    """Calendar item fields from a client's MimeContent element."""
    try:
        raw = base64.b64decode(mime.text or "", validate=True)
    except (binascii.Error, ValueError):
        raise EwsError("ErrorMimeContentInvalidBase", "MimeContent is not base64.") from None
    try:
        cal = icalendar.Calendar.from_ical(_calendar_text(raw))
    except ValueError as e:
        raise EwsError("ErrorMimeContentConversionFailed", f"The iCalendar cannot be read: {e}") from None
    events = [c for c in cal.walk("VEVENT")]
    if not events:
        raise EwsError("ErrorMimeContentConversionFailed", "The iCalendar holds no VEVENT.")
    ev = events[0]
    out: dict[str, Element] = {}

    def when(name: str) -> tuple[dt.datetime, bool] | None:
        prop = ev.get(name)
        if prop is None:
            return None
        value = prop.dt
        if isinstance(value, dt.datetime):
            return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)), False
        return dt.datetime.combine(value, dt.time(0, 0), tzinfo=dt.UTC), True

    start, end = when("DTSTART"), when("DTEND")
    if start is not None:
        out["Start"] = el(t("Start"), fmt_datetime(start[0]))
        out["IsAllDayEvent"] = el(t("IsAllDayEvent"), "true" if start[1] else "false")
        if end is None and ev.get("DURATION") is not None:
            end = (start[0] + ev["DURATION"].dt, start[1])
        end = end or (start[0], start[1])
        out["End"] = el(t("End"), fmt_datetime(end[0]))
    for prop, name in (("SUMMARY", "Subject"), ("LOCATION", "Location"), ("UID", "UID")):
        if ev.get(prop) is not None:
            out[name] = el(t(name), str(ev[prop]))
    if ev.get("DESCRIPTION") is not None:
        out["Body"] = el(t("Body"), str(ev["DESCRIPTION"]), {"BodyType": "Text"})
    if ev.get("CLASS") is not None and str(ev["CLASS"]).upper() in _CLASS:
        out["Sensitivity"] = el(t("Sensitivity"), _CLASS[str(ev["CLASS"]).upper()])
    if ev.get("CATEGORIES") is not None:
        cats = ev["CATEGORIES"]
        values = [str(c) for item in (cats if isinstance(cats, list) else [cats]) for c in item.cats]
        out["Categories"] = el(t("Categories"), children=[el(t("String"), c) for c in values])
    return out


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """RFC 5545 line folding: lines of at most 75 octets, continuation lines start with a space."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line
    parts, current = [], b""
    for ch in line:
        b = ch.encode("utf-8")
        if len(current) + len(b) > (75 if not parts else 74):
            parts.append(current.decode("utf-8"))
            current = b""
        current += b
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)


def _ical_time(value: dt.datetime, all_day: bool) -> str:
    if all_day:
        return ";VALUE=DATE:" + value.strftime("%Y%m%d")
    return ":" + value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def mime_of(fields: dict[str, Element], mailbox_email: str) -> Element:
    """The MimeContent Exchange would answer for a calendar item with these (full) fields. Written by hand (no
    email/icalendar objects): GetItem asks for it for every item exchangelib fetches."""
    lines = ["BEGIN:VCALENDAR", "PRODID:-//calsync sandbox//EWS//EN", "VERSION:2.0", "METHOD:PUBLISH", "BEGIN:VEVENT"]
    text = {n: (fields[n].text or "") for n in ("Subject", "Location", "UID") if n in fields}
    if "Subject" in text:
        lines.append("SUMMARY:" + _escape(text["Subject"]))
    all_day = "IsAllDayEvent" in fields and parse_bool(fields["IsAllDayEvent"].text)
    for prop, name in (("DTSTART", "Start"), ("DTEND", "End")):
        if name in fields and fields[name].text:
            lines.append(prop + _ical_time(parse_datetime(fields[name].text), all_day))
    if "Location" in text:
        lines.append("LOCATION:" + _escape(text["Location"]))
    if "UID" in text:
        lines.append("UID:" + _escape(text["UID"]))
    body = fields.get("TextBody")
    if body is not None and body.text:
        lines.append("DESCRIPTION:" + _escape(body.text))
    sensitivity = child_text(fields.get("Sensitivity"), ".", "Normal")
    lines.append("CLASS:" + _CLASS_BACK.get(sensitivity or "Normal", "PUBLIC"))
    categories = fields.get("Categories")
    if categories is not None and len(categories):
        lines.append("CATEGORIES:" + ",".join(_escape(c.text or "") for c in categories))
    organizer = child_text(fields.get("Organizer"), f"{t('Mailbox')}/{t('EmailAddress')}", mailbox_email)
    lines.append(f"ORGANIZER:mailto:{organizer}")
    for name in ("RequiredAttendees", "OptionalAttendees", "Resources"):
        e = fields.get(name)
        for a in e.iter(t("Attendee")) if e is not None else ():
            address = a.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
            if address:
                lines.append(f"ATTENDEE:mailto:{address}")
    lines.append("DTSTAMP" + _ical_time(dt.datetime.now(dt.UTC), False))
    lines += ["END:VEVENT", "END:VCALENDAR"]
    ics = "\r\n".join(_fold(line) for line in lines) + "\r\n"
    subject = text.get("Subject", "")
    subject_header = (
        subject
        if subject.isascii() and "\n" not in subject
        else "=?utf-8?b?" + base64.b64encode(subject.encode("utf-8")).decode("ascii") + "?="
    )
    head = (
        f"From: {organizer}\r\nSubject: {subject_header}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/calendar; charset="utf-8"; method=PUBLISH\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
    )
    raw = (head + ics).encode("utf-8")
    return el(t("MimeContent"), base64.b64encode(raw).decode("ascii"), {"CharacterSet": "UTF-8"})
