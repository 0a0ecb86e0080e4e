"""Attendee matching (WhoId, invitees) and one meeting, one Event: the pure rules and the planner's use of them."""

from __future__ import annotations

import pytest

from sync.attendees import Relation, auto_who, for_salesforce, matched, relation_changes
from sync.entry import Attendee
from sync.planner import (
    CreateInSalesforce,
    JoinSalesforceEvent,
    LeaveSalesforceEvent,
    MeetingEvent,
    SharedRelations,
    Unlink,
    UpdateLinkBase,
    UpdateSalesforce,
    plan,
)
from tests.sync.factories import MAILBOX, NOW, event, ex_changed, ex_gone, link_for, policies, replace

PEOPLE = {
    "con@x.test": ("Contact", "003C"),
    "lead@x.test": ("Lead", "00QL"),
    "user@x.test": ("User", "005U"),
    MAILBOX: ("User", "005ME"),
}
MEETING = event("Pitch").replace(
    attendees=tuple(Attendee(e) for e in ("stranger@y.test", "lead@x.test", "con@x.test", "user@x.test", MAILBOX))
)


def test_only_matched_attendees_other_than_the_owner_reach_salesforce():
    kept = matched(MEETING, PEOPLE, owner_email=MAILBOX)
    assert sorted(a.email for a in kept.attendees) == ["con@x.test", "lead@x.test", "user@x.test"]


@pytest.mark.parametrize(
    ("emails", "who"),
    [
        (["lead@x.test", "con@x.test"], ("003C",)),  # a Contact before a Lead
        (["lead@x.test"], ("00QL",)),
        (["user@x.test"], ()),  # Users are invitees, never the Who
        (["nobody@x.test"], ()),
    ],
)
def test_auto_who(emails, who):
    assert auto_who(emails, PEOPLE) == who


@pytest.mark.parametrize(
    ("shared", "current", "expected"),
    [
        (("003S",), ("00QX",), ("003S",)),  # chosen in the add-in: wins
        ((), ("00QX",), ("00QX",)),  # set in Salesforce: stays
        ((), (), ("003C",)),  # nothing yet: matching
        ((), None, ()),  # the Event was not read this session: the Who is left alone
    ],
)
def test_who_precedence(shared, current, expected):
    result = for_salesforce(MEETING, PEOPLE, owner_email=MAILBOX, shared_who_ids=shared, current_who_ids=current)
    assert result.who_ids == expected


def test_relation_changes_add_missing_and_remove_dropped_invitees_only():
    existing = [
        Relation("0RE1", "00U1", "003C", "con@x.test"),
        Relation("0RE2", "00U1", "00QL", "lead@x.test"),
        Relation("0RE3", "00U1", "003GONE", None),  # Salesforce no longer reports its e-mail: left alone
    ]
    add, delete = relation_changes(["con@x.test", "user@x.test", MAILBOX], PEOPLE, existing, owner_user_id="005ME")
    assert (add, delete) == (["005U"], ["0RE2"])


def test_a_new_meeting_creates_an_event_with_matched_invitees_and_who():
    result = plan([], [ex_changed(MEETING, uid="uid-1")], [], policies(), NOW, mailbox=MAILBOX, people=PEOPLE)
    (create,) = result.of_type(CreateInSalesforce)
    assert create.entry.who_ids == ("003C",)
    assert sorted(a.email for a in create.entry.attendees) == ["con@x.test", "lead@x.test", "user@x.test"]
    assert create.link.exchange_uid == "uid-1"
    assert create.link.salesforce_base["attendees"] == ["con@x.test", "lead@x.test", "user@x.test"]


def test_a_shared_who_wins_over_matching_at_creation():
    change = ex_changed(MEETING, uid="uid-1", shared=SharedRelations(who_ids=("003S",), what_id="006W"))
    result = plan([], [change], [], policies(), NOW, mailbox=MAILBOX, people=PEOPLE)
    (create,) = result.of_type(CreateInSalesforce)
    assert (create.entry.who_ids, create.entry.what_id) == (("003S",), "006W")


def test_a_meeting_another_mailbox_already_synced_is_joined_not_created_again():
    meetings = {"uid-1": MeetingEvent("00UOTHER", owner_user_id="005BOB")}
    result = plan([], [ex_changed(MEETING, uid="uid-1")], [], policies(), NOW, mailbox=MAILBOX, meetings=meetings)
    assert result.of_type(CreateInSalesforce) == ()
    (join,) = result.of_type(JoinSalesforceEvent)
    assert (join.salesforce_id, join.owner_user_id, join.link.joined) == ("00UOTHER", "005BOB", True)


def test_a_joined_link_never_writes_the_event_and_leaves_it_when_the_copy_goes():
    link = replace(link_for(MEETING), joined=True, exchange_uid="uid-1")
    edited = plan([link], [ex_changed(MEETING.replace(subject="Renamed"))], [], policies(), NOW, mailbox=MAILBOX)
    assert edited.of_type(UpdateSalesforce) == () and len(edited.of_type(UpdateLinkBase)) == 1
    gone = plan([link], [ex_gone()], [], policies(exchange_deletion="delete"), NOW, mailbox=MAILBOX)
    assert [type(a) for a in gone.actions] == [LeaveSalesforceEvent, Unlink]


def test_attendee_edits_only_send_what_salesforce_can_hold():
    base = event("Pitch").replace(attendees=(Attendee("con@x.test"),))
    link = link_for(base)
    # A stranger added in Outlook: nothing Salesforce can hold changes, so nothing is written.
    stranger = base.replace(attendees=(*base.attendees, Attendee("stranger@y.test")))
    assert plan([link], [ex_changed(stranger)], [], policies(), NOW, mailbox=MAILBOX, people=PEOPLE).writes == ()
    lead = base.replace(attendees=(*base.attendees, Attendee("lead@x.test")))
    (update,) = plan([link], [ex_changed(lead)], [], policies(), NOW, mailbox=MAILBOX, people=PEOPLE).writes
    assert isinstance(update, UpdateSalesforce) and update.fields == ("attendees",)
