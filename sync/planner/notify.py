"""The never-notify rule: what sync may write to Exchange through a connector that e-mails attendees.

EWS writes with ``SendToNone``, so no write of ours ever sends a meeting message. Microsoft Graph has no such
option: creating an item with attendees sends invitations, and any PATCH or DELETE of a meeting the mailbox
organises that has attendees sends updates or cancellations. With such a connector
(``ExchangeCalendar.notifies_attendees``, passed to ``plan()``), the planner keeps to this (docs/policies.md
#never-notify):

- items sync creates in Exchange never get attendees; with ``attendees_to_exchange`` the Salesforce invitees
  are listed at the end of the body instead (`invitees_in_body`);
- attendees never flow down to an existing item (that would invite them);
- a Salesforce→Exchange update, deletion or category removal of a meeting the rep organises that has
  attendees is not written: a health note ``graph_would_notify`` ("would e-mail N attendees; change it in
  Outlook") takes its place, unless the kind's policy has ``notify_attendees``. A blocked update leaves the
  Salesforce change pending (the link's Salesforce base keeps the old value), so it is noted again whenever the
  pair is planned, and settles once the rep makes the change in Outlook. A blocked deletion unlinks and leaves
  the meeting as it is; a blocked category removal unlinks and leaves the category.

An attendee's copy of a meeting is read-only anyway (`sync.planner.merge`); items without attendees are written
as on EWS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sync.entry import Entry, Projection, Side, project
from sync.planner.model import (
    Action,
    ChangeType,
    DeleteExchange,
    ExchangeChange,
    LinkState,
    RecordHealth,
    RemoveCategory,
    Unlink,
    UpdateLinkBase,
)
from sync.policies import Policy

WOULD_NOTIFY = "graph_would_notify"
INVITEES_HEADING = "Salesforce invitees:"


def attendee_count(p: Projection | None, mailbox: str) -> int:
    """Attendees of an item other than the mailbox owner (whom Graph never lists, EWS sometimes does)."""
    owner = mailbox.strip().lower()
    return len([e for e in (p or {}).get("attendees") or () if e and e.lower() != owner])


def holds(notifies: bool, policy: Policy, organiser: bool, attendees: int) -> bool:
    """Whether a write to this item must be held back: it would e-mail its attendees."""
    return notifies and organiser and attendees > 0 and not policy.notify_attendees


def would_notify(key: str | None, item_id: str | None, attendees: int, what: str) -> RecordHealth:
    people = "1 attendee" if attendees == 1 else f"{attendees} attendees"
    return RecordHealth(
        sync_key=key,
        code=WOULD_NOTIFY,
        message=f"The Salesforce {what} of this meeting was not written to Outlook: it would e-mail {people}; "
        "change it in Outlook (or allow notify_attendees in the policy).",
        side=Side.EXCHANGE,
        item_id=item_id,
        severity="warning",
    )


def invitees_in_body(entry: Entry, *, listed: bool) -> Entry:
    """A new Exchange item without attendees; ``listed``: the invitees named at the end of its body."""
    if not entry.attendees:
        return entry
    body = entry.body
    if listed:
        names = ", ".join(f"{a.name} <{a.email}>" if a.name else a.email for a in entry.attendees)
        body = f"{body.rstrip()}\n\n{INVITEES_HEADING} {names}" if body.strip() else f"{INVITEES_HEADING} {names}"
    return entry.replace(attendees=(), body=body)


def exchange_now(link: LinkState, ex: ExchangeChange | None) -> tuple[bool, Projection | None]:
    """(the rep organises it, its projection) for the Exchange item of a pair: from this session's change,
    else as last synced."""
    if ex is not None and ex.type is ChangeType.CHANGED and ex.entry is not None:
        return ex.is_organizer, project(ex.entry)
    return not link.exchange_read_only, link.exchange_base


def hold_deletions(actions: Sequence[Action], link: LinkState, attendees: int) -> list[Action]:
    """A pair's actions with its Exchange deletion or category removal replaced by the note (see module doc)."""
    held = [a for a in actions if isinstance(a, DeleteExchange | RemoveCategory) and a.sync_key == link.sync_key]
    if not held:
        return list(actions)
    what = "deletion" if isinstance(held[0], DeleteExchange) else "unsharing"
    out: list[Action] = [would_notify(link.sync_key, link.exchange_id, attendees, what)]
    for a in actions:
        if any(a is h for h in held):
            continue
        if isinstance(a, Unlink):
            a = dataclasses.replace(a, exchange_deleted=False)
        elif isinstance(a, UpdateLinkBase) and a.link.exchange_id is None:
            continue  # a withdrawn record's item stays: so does the link to it
        out.append(a)
    return out
