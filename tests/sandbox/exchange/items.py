"""Calendar items the Exchange sandbox tests make through exchangelib: one set-up, so each test says only what
differs (its subject, start, length, series, attendees, fields)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from exchangelib import Account, Attendee, CalendarItem, EWSDateTime, Mailbox
from exchangelib.recurrence import DailyPattern, Recurrence


def attendee(email: str) -> Attendee:
    """An attendee who has not answered yet (how a new meeting lists them)."""
    return Attendee(mailbox=Mailbox(email_address=email), response_type="Unknown")


def saved_item(
    account: Account,
    subject: str,
    start: EWSDateTime,
    minutes: int = 60,
    *,
    daily: tuple[int, int] | None = None,
    send: str = "SendToNone",
    **fields: Any,
) -> CalendarItem:
    """A calendar item saved in ``account``'s Calendar, ``minutes`` long; ``daily=(interval, number)`` makes it a
    daily series of ``number`` occurrences every ``interval`` days; ``send`` is the meeting-invitation choice
    (SendToNone, what sync uses, unless a test is about meeting messages)."""
    if daily is not None:
        interval, number = daily
        fields["recurrence"] = Recurrence(pattern=DailyPattern(interval=interval), start=start.date(), number=number)
    item = CalendarItem(
        account=account, folder=account.calendar, subject=subject, start=start,
        end=start + dt.timedelta(minutes=minutes), **fields,
    )  # fmt: skip
    item.save(send_meeting_invitations=send)
    return item
