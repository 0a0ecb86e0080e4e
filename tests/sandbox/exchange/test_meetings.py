"""Meeting messages and responses through unmodified exchangelib: a meeting sent to sandbox mailboxes puts
MeetingRequests in their Inboxes with tentative calendar items; accept / tentatively accept / decline (on the
request or on the calendar item) and cancel work as on Exchange, update the organiser's attendee responses and
are all in the meeting-message log; SendToNone (what sync uses) sends and delivers nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.errors import (
    ErrorCalendarIsCancelledForAccept,
    ErrorCalendarIsNotOrganizer,
    ErrorCalendarIsOrganizerForAccept,
)
from exchangelib.items import MeetingCancellation, MeetingRequest, MeetingResponse

from .conftest import ALICE, BOB, CAROL
from .items import attendee, saved_item

LONDON = EWSTimeZone("Europe/London")
START = EWSDateTime(2026, 11, 10, 10, 0, tzinfo=LONDON)
EXTERNAL = "wile.coyote@acme.test"


def _meeting(alice, subject="Pipeline review", send="SendToAllAndSaveCopy", **kw) -> CalendarItem:
    return saved_item(
        alice, subject, START, 60, send=send, location="Room 1",
        required_attendees=[attendee(BOB.email), attendee(EXTERNAL)], optional_attendees=[attendee(CAROL.email)],
        **kw,
    )  # fmt: skip


def _responses_of(item: CalendarItem) -> dict[str, str]:
    attendees = (item.required_attendees or []) + (item.optional_attendees or [])
    return {a.mailbox.email_address: a.response_type for a in attendees}


@pytest.fixture
def bob(env):
    return env.account(BOB)


@pytest.fixture
def carol(env):
    return env.account(CAROL)


def test_a_sent_meeting_puts_requests_and_tentative_items_in_attendee_mailboxes(env, alice, bob, carol):
    meeting = _meeting(alice)
    requests = list(bob.inbox.all())
    assert len(requests) == 1 and isinstance(requests[0], MeetingRequest)
    request = requests[0]
    assert request.subject == "Pipeline review" and request.item_class == "IPM.Schedule.Meeting.Request"
    assert request.meeting_request_type == "NewMeetingRequest"
    assert request.organizer.email_address == ALICE.email and request.sender.email_address == ALICE.email
    assert (request.start, request.end, request.location) == (meeting.start, meeting.end, "Room 1")
    assert request.is_read is False and request.is_out_of_date is False
    assert request.intended_free_busy_status == "Busy"
    assert [m.email_address for m in request.to_recipients] == [BOB.email, EXTERNAL]
    # The associated calendar item: tentative, in the attendee's calendar, not yet answered.
    tentative = bob.calendar.get(id=request.associated_calendar_item_id.id)
    assert tentative.uid == alice.calendar.get(id=meeting.id).uid
    assert tentative.my_response_type == "NoResponseReceived" and tentative.legacy_free_busy_status == "Tentative"
    assert tentative.is_meeting and tentative.appointment_state == ("Meeting", "Received")
    assert tentative.organizer.email_address == ALICE.email and tentative.is_cancelled is False
    assert [i.id for i in bob.calendar.all()] == [tentative.id]
    # The optional attendee gets one too; the organiser keeps a copy in Sent Items.
    assert [type(i) for i in carol.inbox.all()] == [MeetingRequest]
    assert [type(i) for i in alice.sent.all()] == [MeetingRequest]
    assert alice.calendar.get(id=meeting.id).meeting_request_was_sent is True
    log = env.log()
    assert [(i["subject"], sorted(i["recipients"])) for i in log["invitations"]] == [
        ("Pipeline review", sorted([BOB.email, CAROL.email, EXTERNAL]))
    ]
    assert sorted(log["invitations"][0]["delivered"]) == sorted([BOB.email, CAROL.email])


def test_send_only_to_all_keeps_no_copy(alice, bob):
    _meeting(alice, send="SendOnlyToAll")
    assert len(list(bob.inbox.all())) == 1
    assert list(alice.sent.all()) == []


def test_accepting_the_request_updates_both_sides(env, alice, bob):
    meeting = _meeting(alice)
    request = next(iter(bob.inbox.all()))
    request.accept()
    mine = bob.calendar.get(id=request.associated_calendar_item_id.id)
    assert mine.my_response_type == "Accept" and mine.legacy_free_busy_status == "Busy"
    assert mine.appointment_reply_time is not None
    # The request leaves the Inbox (Exchange moves it to Deleted Items), a copy of the answer is in Sent Items.
    assert list(bob.inbox.all()) == []
    assert [type(i) for i in bob.trash.all()] == [MeetingRequest]
    assert [type(i) for i in bob.sent.all()] == [MeetingResponse]
    # The organiser's copy shows the answer, and the organiser has the response message.
    theirs = alice.calendar.get(id=meeting.id)
    assert _responses_of(theirs)[BOB.email] == "Accept"
    accepted = next(a for a in theirs.required_attendees if a.mailbox.email_address == BOB.email)
    assert accepted.last_response_time is not None
    responses = list(alice.inbox.all())
    assert len(responses) == 1 and isinstance(responses[0], MeetingResponse)
    assert responses[0].subject == "Accepted: Pipeline review" and responses[0].response_type == "Accept"
    assert responses[0].item_class == "IPM.Schedule.Meeting.Resp.Pos"
    assert responses[0].sender.email_address == BOB.email
    assert alice.calendar.get(id=responses[0].associated_calendar_item_id.id).id == meeting.id
    log = env.log()
    assert [(r["kind"], r["mailbox"], r["recipients"]) for r in log["responses"]] == [
        ("response", BOB.email, [ALICE.email])
    ]


def test_tentative_then_decline_from_the_calendar_item(env, alice, carol):
    meeting = _meeting(alice)
    item = next(iter(carol.calendar.all()))
    item.tentatively_accept()
    assert carol.calendar.get(id=item.id).my_response_type == "Tentative"
    assert _responses_of(alice.calendar.get(id=meeting.id))[CAROL.email] == "Tentative"
    item = carol.calendar.get(id=item.id)
    item.decline()
    # A declined meeting leaves the attendee's calendar.
    assert list(carol.calendar.all()) == []
    assert _responses_of(alice.calendar.get(id=meeting.id))[CAROL.email] == "Decline"
    subjects = sorted(r.subject for r in alice.inbox.all())
    assert subjects == ["Declined: Pipeline review", "Tentative: Pipeline review"]
    assert len(env.log()["responses"]) == 2


def test_responses_the_server_refuses(alice, bob):
    meeting = _meeting(alice)
    with pytest.raises(ErrorCalendarIsOrganizerForAccept):
        alice.calendar.get(id=meeting.id).accept()
    with pytest.raises(ErrorCalendarIsNotOrganizer):
        next(iter(bob.calendar.all())).cancel()


def test_cancel_sends_cancellations_and_marks_attendee_copies(env, alice, bob):
    meeting = _meeting(alice)
    request = next(iter(bob.inbox.all()))
    alice.calendar.get(id=meeting.id).cancel()
    # Exchange moves the organiser's cancelled meeting to Deleted Items.
    assert list(alice.calendar.all()) == []
    assert [i.subject for i in alice.trash.all()] == ["Pipeline review"]
    cancellations = [i for i in bob.inbox.all() if isinstance(i, MeetingCancellation)]
    assert [c.subject for c in cancellations] == ["Canceled: Pipeline review"]
    assert cancellations[0].item_class == "IPM.Schedule.Meeting.Canceled"
    mine = bob.calendar.get(id=cancellations[0].associated_calendar_item_id.id)
    assert mine.is_cancelled is True and mine.subject == "Canceled: Pipeline review"
    assert "Canceled" in mine.appointment_state
    with pytest.raises(ErrorCalendarIsCancelledForAccept):
        bob.calendar.get(id=mine.id).accept()
    assert bob.inbox.get(id=request.id).is_out_of_date is True
    assert [c["subject"] for c in env.log()["cancellations"]] == ["Pipeline review"]


def test_updates_and_deletes_with_sending_reach_attendees(env, alice, bob):
    meeting = _meeting(alice)
    next(iter(bob.inbox.all())).accept()
    # A location change keeps the answer (informational update) ...
    meeting.location = "Room 2"
    meeting.save(update_fields=["location"], send_meeting_invitations="SendToAllAndSaveCopy")
    mine = next(iter(bob.calendar.all()))
    assert (mine.location, mine.my_response_type) == ("Room 2", "Accept")
    # ... a new time asks again (full update), and makes the older request out of date.
    meeting.start, meeting.end = START + dt.timedelta(hours=2), START + dt.timedelta(hours=3)
    meeting.save(update_fields=["start", "end"], send_meeting_invitations="SendToAllAndSaveCopy")
    mine = next(iter(bob.calendar.all()))
    assert mine.start == START + dt.timedelta(hours=2) and mine.my_response_type == "NoResponseReceived"
    assert mine.appointment_sequence_number == 2
    requests = {r.meeting_request_type: r.is_out_of_date for r in bob.inbox.all()}
    assert requests == {"InformationalUpdate": True, "FullUpdate": False}
    assert _responses_of(alice.calendar.get(id=meeting.id))[BOB.email] == "Unknown"
    # Deleting with cancellations sent.
    alice.calendar.get(id=meeting.id).delete(send_meeting_cancellations="SendToAllAndSaveCopy")
    assert [type(i) for i in bob.inbox.all() if isinstance(i, MeetingCancellation)] == [MeetingCancellation]
    assert next(iter(bob.calendar.all())).is_cancelled is True
    assert len(env.log()["invitations"]) == 3 and len(env.log()["cancellations"]) == 1


def test_send_to_none_delivers_nothing_and_save_only_answers_stay_in_drafts(env, alice, bob):
    quiet = _meeting(alice, subject="Quiet", send="SendToNone")
    quiet.location = "Elsewhere"
    quiet.save(update_fields=["location"], send_meeting_invitations="SendToNone")
    assert list(bob.inbox.all()) == [] and list(bob.calendar.all()) == []
    alice.calendar.get(id=quiet.id).delete(send_meeting_cancellations="SendToNone")
    assert list(bob.inbox.all()) == [] and list(alice.sent.all()) == []
    sent = _meeting(alice, subject="Loud")
    request = next(iter(bob.inbox.all()))
    request.accept(message_disposition="SaveOnly", folder=bob.drafts)
    assert [type(i) for i in bob.drafts.all()] == [MeetingResponse]
    assert list(alice.inbox.all()) == []  # not sent: the organiser sees nothing
    assert _responses_of(alice.calendar.get(id=sent.id))[BOB.email] == "Unknown"
    assert bob.calendar.get(id=request.associated_calendar_item_id.id).my_response_type == "Accept"
    log = env.log()
    assert [i["subject"] for i in log["invitations"]] == ["Loud"]
    assert log["cancellations"] == [] and log["responses"] == []


def test_recurring_meeting_and_an_occurrence_cancelled(alice, bob):
    saved_item(alice, "Daily stand-up", START, 15, daily=(1, 5), send="SendToAllAndSaveCopy",
               required_attendees=[attendee(BOB.email)])  # fmt: skip
    request = next(iter(bob.inbox.all()))
    assert request.type == "RecurringMaster" and request.recurrence is not None
    master = bob.calendar.get(id=request.associated_calendar_item_id.id)
    assert master.type == "RecurringMaster" and master.is_recurring is True  # an attendee's master is
    view = list(bob.calendar.view(start=START, end=START + dt.timedelta(days=5)))
    assert len(view) == 5
    third = list(alice.calendar.view(start=START, end=START + dt.timedelta(days=5)))[2]
    third.delete(send_meeting_cancellations="SendToAllAndSaveCopy")
    view = list(bob.calendar.view(start=START, end=START + dt.timedelta(days=5)))
    assert len(view) == 4 and START + dt.timedelta(days=2) not in [o.start for o in view]
    cancellation = next(i for i in bob.inbox.all() if isinstance(i, MeetingCancellation))
    assert cancellation.subject == "Canceled: Daily stand-up"
    assert bob.calendar.get(id=cancellation.associated_calendar_item_id.id).id == master.id


def test_meeting_messages_can_be_marked_read_but_their_transport_fields_are_fixed(alice, bob):
    from exchangelib.errors import ErrorInvalidPropertyUpdateSentMessage

    _meeting(alice)
    request = next(iter(bob.inbox.all()))
    request.is_read = True
    request.save(update_fields=["is_read"])
    assert bob.inbox.get(id=request.id).is_read is True
    request = bob.inbox.get(id=request.id)
    request.to_recipients = [Mailbox(email_address=CAROL.email)]
    with pytest.raises(ErrorInvalidPropertyUpdateSentMessage):
        request.save(update_fields=["to_recipients"])
    assert [m.email_address for m in bob.inbox.get(id=request.id).to_recipients] == [BOB.email, EXTERNAL]


def test_removing_an_attendee_with_an_update_cancels_for_them(env, alice, bob, carol):
    meeting = _meeting(alice)
    meeting.optional_attendees = None
    meeting.save(update_fields=["optional_attendees"], send_meeting_invitations="SendToAllAndSaveCopy")
    assert [type(i) for i in carol.inbox.all() if isinstance(i, MeetingCancellation)] == [MeetingCancellation]
    assert next(iter(carol.calendar.all())).is_cancelled is True
    assert not any(isinstance(i, MeetingCancellation) for i in bob.inbox.all())
    assert [c["recipients"] for c in env.log()["cancellations"]] == [[CAROL.email]]


def test_response_objects_say_what_each_side_can_answer(alice, bob):
    meeting = _meeting(alice)
    theirs = alice.calendar.get(id=meeting.id)
    assert theirs.response_objects.cancel_calendar_item is not None and theirs.response_objects.accept_item is None
    mine = next(iter(bob.calendar.all()))
    assert mine.response_objects.accept_item is not None and mine.response_objects.cancel_calendar_item is None
    request = next(iter(bob.inbox.all()))
    assert request.response_objects.decline_item is not None


def test_remove_item_takes_a_cancelled_meeting_out_of_the_calendar(alice, bob):
    from exchangelib.errors import ErrorInvalidReferenceItem
    from exchangelib.services import CreateItem
    from exchangelib.util import create_element

    def remove(ref):
        payload = create_element("m:CreateItem", attrs={"MessageDisposition": "SendAndSaveCopy"})
        items = create_element("m:Items")
        remove_item = create_element("t:RemoveItem")
        remove_item.append(create_element("t:ReferenceItemId", attrs={"Id": ref.id, "ChangeKey": ref.changekey}))
        items.append(remove_item)
        payload.append(items)
        return list(CreateItem(account=bob)._get_elements(payload=payload))

    meeting = _meeting(alice)
    with pytest.raises(ErrorInvalidReferenceItem):  # not cancelled
        remove(next(iter(bob.calendar.all())))
    alice.calendar.get(id=meeting.id).cancel()
    cancellation = next(i for i in bob.inbox.all() if isinstance(i, MeetingCancellation))
    assert cancellation.response_objects.remove_item is not None
    remove(cancellation)
    assert list(bob.calendar.all()) == []
    assert not any(isinstance(i, MeetingCancellation) for i in bob.inbox.all())


def test_cancelling_twice_and_answering_nothing(alice):
    from exchangelib.errors import ErrorItemNotFound, ErrorMissingInformationReferenceItemId
    from exchangelib.items import AcceptItem, BulkCreateResult

    meeting = _meeting(alice)
    assert isinstance(meeting.cancel(), BulkCreateResult)
    with pytest.raises(ErrorItemNotFound):  # it went to Deleted Items under a new id
        meeting.cancel()
    with pytest.raises(ErrorMissingInformationReferenceItemId):
        AcceptItem(account=alice).send()


def test_answers_to_single_occurrences_of_a_series(alice, bob):
    saved_item(alice, "Weekly sync", START, 30, daily=(7, 3), send="SendToAllAndSaveCopy",
               required_attendees=[attendee(BOB.email)])  # fmt: skip
    next(iter(bob.inbox.all())).accept()
    window = (START, START + dt.timedelta(days=15))
    second, third = list(bob.calendar.view(*window))[1:]
    second.decline()
    third.tentatively_accept()
    mine = list(bob.calendar.view(*window))
    assert [(o.start, o.my_response_type) for o in mine] == [
        (START, "Accept"),
        (START + dt.timedelta(days=14), "Tentative"),
    ]
    assert mine[1].type == "Exception"
    theirs = list(alice.calendar.view(*window))
    assert [_responses_of(o)[BOB.email] for o in theirs] == ["Accept", "Decline", "Tentative"]
    assert sorted(r.subject for r in alice.inbox.all()) == [
        "Accepted: Weekly sync",
        "Declined: Weekly sync",
        "Tentative: Weekly sync",
    ]


def test_a_request_counts_its_conflicts_in_the_attendee_calendar(alice, bob):
    saved_item(bob, "Dentist", START, 30)
    _meeting(alice)
    request = bob.inbox.get(id=next(iter(bob.inbox.all())).id)
    assert request.conflicting_meeting_count == 1 and request.adjacent_meeting_count == 0


def test_an_occurrence_moved_with_an_update_moves_in_the_attendee_series(alice, bob):
    saved_item(alice, "Daily", START, 15, daily=(1, 3), send="SendToAllAndSaveCopy",
               required_attendees=[attendee(BOB.email)])  # fmt: skip
    window = (START, START + dt.timedelta(days=3))
    second = list(alice.calendar.view(*window))[1]
    second.start, second.end = second.start + dt.timedelta(hours=3), second.end + dt.timedelta(hours=3)
    second.save(update_fields=["start", "end"], send_meeting_invitations="SendToAllAndSaveCopy")
    mine = list(bob.calendar.view(*window))
    assert [o.start for o in mine] == [
        START,
        START + dt.timedelta(days=1, hours=3),
        START + dt.timedelta(days=2),
    ]
    assert mine[1].type == "Exception"
    requests = [r for r in bob.inbox.all() if isinstance(r, MeetingRequest)]
    assert sorted((r.meeting_request_type, r.is_out_of_date) for r in requests) == [
        ("FullUpdate", False),
        ("NewMeetingRequest", False),  # an occurrence's update leaves the series' request current
    ]
