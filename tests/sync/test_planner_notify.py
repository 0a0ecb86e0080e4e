"""The never-notify rule (`sync.planner.notify`, docs/policies.md #never-notify) as a table.

Every row: the connector (notifies attendees or not) × the Exchange item (organised by the rep or attended;
attendees or none) × what Salesforce did (edit, delete under ``delete``, delete under ``keep``, withdraw a Task)
× the policy's ``notify_attendees``. `expected()` restates the rule in its own words; each row compares it with
the plan's action types.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from sync.entry import EVENT, TASK, Attendee, Side
from sync.planner import (
    ChangeType,
    CreateInExchange,
    DeleteExchange,
    RecordHealth,
    RemoveCategory,
    Unlink,
    UpdateExchange,
    UpdateLinkBase,
    plan,
)
from sync.planner.notify import INVITEES_HEADING, WOULD_NOTIFY
from sync.policies import Policy
from tests.sync.factories import (
    MAILBOX,
    NOW,
    entry_for_kind,
    event,
    ex_changed,
    link_for,
    policies,
    sf_changed,
    sf_gone,
)

ANN, BOB = Attendee("ann@example.com", name="Ann"), Attendee("bob@example.com")
SF_CHANGES = ("edit", "delete", "delete_keep", "withdraw")
ATTENDEES = (0, 1, 2)


def _row_plan(notifies: bool, organiser: bool, attendees: int, sf: str, allowed: bool):
    kind = TASK if sf == "withdraw" else EVENT
    people = (ANN, BOB)[:attendees]
    held = entry_for_kind(kind, "Quarterly review", attendees=people)
    link = link_for(held, origin=Side.SALESFORCE, exchange_read_only=not organiser)
    settings = {"notify_attendees": allowed}
    if sf == "delete":
        settings["salesforce_deletion"] = "delete"
    if kind == TASK:
        pset = policies(Policy(kind=TASK, notify_attendees=allowed))
    else:
        pset = policies(**settings)
    if sf == "edit":
        sf_changes = [sf_changed(held.replace(subject="Moved in Salesforce", location="Room 5"))]
    elif sf == "withdraw":
        sf_changes = [sf_gone(kind=TASK, type=ChangeType.WITHDRAWN)]
    else:
        sf_changes = [sf_gone()]
    return plan([link], [], sf_changes, pset, NOW, notifies_attendees=notifies), link


def expected(notifies: bool, organiser: bool, attendees: int, sf: str, allowed: bool) -> list[str]:
    """The rule from docs/policies.md, restated: a write that would e-mail attendees becomes a note."""
    would_mail = notifies and organiser and attendees > 0 and not allowed
    if sf == "edit":
        if not organiser:
            # An attendee's copy is read-only: one exchange_read_only note per edited field (subject, location).
            return ["RecordHealth", "RecordHealth", "UpdateLinkBase"]
        if would_mail:
            return ["RecordHealth", "UpdateLinkBase"]  # the note; bookkeeping only, nothing written
        return ["UpdateExchange", "UpdateLinkBase"]
    if sf == "withdraw":
        return ["RecordHealth"] if would_mail else ["DeleteExchange", "UpdateLinkBase"]
    first = "DeleteExchange" if sf == "delete" else "RemoveCategory"
    return ["RecordHealth", "Unlink"] if would_mail else [first, "Unlink"]


ROWS = list(itertools.product((False, True), (True, False), ATTENDEES, SF_CHANGES, (False, True)))


@pytest.mark.parametrize(("notifies", "organiser", "attendees", "sf", "allowed"), ROWS)
def test_never_notify_table(notifies, organiser, attendees, sf, allowed):
    result, link = _row_plan(notifies, organiser, attendees, sf, allowed)
    assert sorted(type(a).__name__ for a in result.actions) == sorted(expected(notifies, organiser, attendees, sf,
                                                                             allowed))  # fmt: skip
    notes = [a for a in result.health if a.code == WOULD_NOTIFY]
    if notes:
        assert notes[0].item_id == link.exchange_id
        assert f"would e-mail {attendees} attendee" in notes[0].message and "change it in Outlook" in notes[0].message
    for unlink in result.of_type(Unlink):
        # A held deletion leaves the meeting where it is: the link must not say it is gone.
        assert unlink.exchange_deleted == bool(result.of_type(DeleteExchange))


def test_held_update_keeps_the_salesforce_change_pending():
    """The Salesforce base keeps the old value of a held field: the next time the pair is planned (here an
    Outlook edit of another field) the change is held and noted again rather than dropped."""
    meeting = event(attendees=(ANN,))
    link = link_for(meeting)
    pset = policies()
    first = plan([link], [], [sf_changed(meeting.replace(subject="Moved"))], pset, NOW, notifies_attendees=True)
    (saved,) = first.of_type(UpdateLinkBase)
    assert saved.link.salesforce_base["subject"] == meeting.subject
    assert saved.link.exchange_base["subject"] == meeting.subject
    outlook = ex_changed(meeting.replace(location="Room 9"), modified_at=NOW - timedelta(minutes=1))
    sf_now = sf_changed(meeting.replace(subject="Moved"), modstamp=NOW - timedelta(minutes=2))
    second = plan([saved.link], [outlook], [sf_now], pset, NOW, notifies_attendees=True)
    assert [a.code for a in second.health] == [WOULD_NOTIFY]
    assert not second.of_type(UpdateExchange)
    # The rep makes the change in Outlook: both sides agree, nothing is held any more.
    agreed = ex_changed(meeting.replace(subject="Moved"), change_key="ck-3")
    third = plan([saved.link], [agreed], [sf_now], pset, NOW, notifies_attendees=True)
    assert third.health == () and third.writes == ()


def test_fields_of_an_item_without_attendees_and_ews_writes_go_down():
    plain = event()
    changed = [sf_changed(plain.replace(subject="Moved"))]
    assert only_types(plan([link_for(plain)], [], changed, policies(), NOW, notifies_attendees=True)) == [
        "UpdateExchange",
        "UpdateLinkBase",
    ]


def only_types(p) -> list[str]:
    return sorted(type(a).__name__ for a in p.actions)


@pytest.mark.parametrize("listed", [False, True])
def test_creates_never_carry_attendees(listed):
    """A new Salesforce Event with invitees: no attendee on the Exchange item (Graph would invite them);
    with ``attendees_to_exchange`` they are named in the body."""
    record = event(attendees=(ANN, BOB), body="Agenda")
    p = plan([], [], [sf_changed(record)], policies(attendees_to_exchange=listed), NOW, mailbox=MAILBOX,
             notifies_attendees=True)  # fmt: skip
    (create,) = p.of_type(CreateInExchange)
    assert create.entry.attendees == ()
    if listed:
        assert create.entry.body == f"Agenda\n\n{INVITEES_HEADING} Ann <ann@example.com>, bob@example.com"
    else:
        assert create.entry.body == "Agenda"
    assert create.link.exchange_base["attendees"] == [] and create.link.exchange_base["body"] == create.entry.body
    # EWS (SendToNone) writes the invitees the feed read as attendees.
    ews = plan([], [], [sf_changed(record)], policies(attendees_to_exchange=listed), NOW, mailbox=MAILBOX)
    assert [a.email for a in only_create(ews).entry.attendees] == [ANN.email, BOB.email]


def only_create(p) -> CreateInExchange:
    (create,) = p.of_type(CreateInExchange)
    return create


def test_attendees_never_flow_down_through_a_notifying_connector():
    meeting = event()
    added = sf_changed(meeting.replace(attendees=(ANN,)))
    link = link_for(meeting)
    graph = plan([link], [], [added], policies(attendees_to_exchange=True), NOW, notifies_attendees=True)
    assert not graph.of_type(UpdateExchange)
    ews = plan([link], [], [added], policies(attendees_to_exchange=True), NOW)
    assert [a.email for a in only_update(ews).entry.attendees] == [ANN.email]


def only_update(p) -> UpdateExchange:
    (update,) = p.of_type(UpdateExchange)
    return update


def test_the_mailbox_owner_is_not_counted_as_an_attendee():
    """EWS may list the organiser among the attendees; Graph never does: only other people are e-mailed."""
    meeting = event(attendees=(Attendee(MAILBOX),))
    p = plan([link_for(meeting)], [], [sf_changed(meeting.replace(subject="Moved"))], policies(), NOW,
             notifies_attendees=True)  # fmt: skip
    assert p.of_type(UpdateExchange) and not p.health


def test_off_keeps_a_meeting_with_attendees():
    meeting = event(attendees=(ANN,))
    link = link_for(meeting, origin=Side.SALESFORCE)
    p = plan([link], [], [], policies(direction="off"), NOW, notifies_attendees=True)
    assert only_types(p) == ["RecordHealth", "Unlink"]
    assert [a.code for a in p.of_type(RecordHealth)] == [WOULD_NOTIFY]
    assert not p.of_type(DeleteExchange) and not p.of_type(RemoveCategory)
