"""Attendees ⇄ WhoId and EventRelation invitees (docs/sync-model.md#mapping): the pure part.

Exchange attendees are matched by e-mail to Contacts, Leads and Users (the session asks Salesforce once per
session for the addresses of the changed meetings, `SalesforceConnector.people_by_email`). What Salesforce
can hold of a meeting's attendees is exactly the matched ones: they become EventRelation invitees, and the
Salesforce side's ``attendees`` are read back from those invitees. So the entry sent to Salesforce carries
only matched attendees, which keeps its projection equal to what the next read returns (no echo writes).

WhoId: the Who chosen in the add-in wins (docs/policies.md); otherwise a Who already on the Event stays (a rep may
have set it in Salesforce); otherwise the first matched Contact, else the first matched Lead. Users are
invitees, never the Who.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sync.entry import Entry

Person = tuple[str, str]  # (sObject, id): ("Contact", "003...")
WHO_OBJECTS = ("Contact", "Lead")


@dataclass(frozen=True)
class Relation:
    """One EventRelation invitee row as read from Salesforce."""

    id: str
    event_id: str
    relation_id: str
    email: str | None = None


def matched(entry: Entry, people: Mapping[str, Person], *, owner_email: str = "") -> Entry:
    """The entry with only the attendees Salesforce can hold (matched, and not the mailbox owner)."""
    owner = owner_email.strip().lower()
    kept = tuple(a for a in entry.attendees if a.email and a.email != owner and a.email in people)
    return entry if kept == entry.attendees else entry.replace(attendees=kept)


def auto_who(attendee_emails: Iterable[str], people: Mapping[str, Person]) -> tuple[str, ...]:
    """The Who from matching: the first Contact, else the first Lead, in attendee order (the other matched
    people are invitees already; only Whos chosen in the add-in add further Who relations)."""
    emails = [e for e in attendee_emails if e in people]
    found = [people[e][1] for obj in WHO_OBJECTS for e in emails if people[e][0] == obj]
    return tuple(found[:1])


def for_salesforce(
    entry: Entry,
    people: Mapping[str, Person],
    *,
    owner_email: str = "",
    shared_who_ids: Sequence[str] = (),
    current_who_ids: Sequence[str] | None = (),
) -> Entry:
    """What an Exchange entry becomes in Salesforce: matched invitees and the Who (see module doc).

    ``current_who_ids``: the Event's Who now; ``None`` when this session did not read the Event (the Who is
    not part of the base snapshot), and then the Who is left as it is."""
    entry = matched(entry, people, owner_email=owner_email)
    if shared_who_ids:
        who = tuple(shared_who_ids)
    elif current_who_ids is None:
        who = entry.who_ids
    elif current_who_ids:
        who = tuple(current_who_ids)
    else:
        who = auto_who((a.email for a in entry.attendees), people)
    return entry if who == entry.who_ids else entry.replace(who_ids=who)


def relation_changes(
    target_emails: Iterable[str],
    people: Mapping[str, Person],
    existing: Iterable[Relation],
    *,
    owner_user_id: str | None = None,
) -> tuple[list[str], list[str]]:
    """(RelationIds to add, EventRelation row ids to delete) so an Event's invitees are ``target_emails``.

    Invitees whose e-mail Salesforce no longer reports (a deleted Contact) are left alone: removing what we
    cannot see the reason for would be a surprise deletion."""
    wanted = {people[e][1] for e in target_emails if e in people and people[e][1] != owner_user_id}
    have = {r.relation_id: r for r in existing}
    to_add = sorted(wanted - set(have))
    to_delete = sorted(r.id for rid, r in have.items() if rid not in wanted and r.email)
    return to_add, to_delete
