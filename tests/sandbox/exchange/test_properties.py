"""Every CalendarItem property through unmodified exchangelib: each field exchangelib may write is accepted on
create and on update and read back the way Exchange returns it, the server-computed fields are filled, and a
read-only field is refused with Exchange's response code (the table in sandbox/exchange/properties.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import (
    Attendee,
    CalendarItem,
    EWSDateTime,
    EWSTimeZone,
    HTMLBody,
    Mailbox,
)
from exchangelib.errors import (
    ErrorInvalidPropertyAppend,
    ErrorInvalidPropertyDelete,
    ErrorInvalidPropertySet,
)
from exchangelib.fields import ExtendedPropertyField
from exchangelib.recurrence import DailyPattern, Recurrence
from exchangelib.services import CreateItem, UpdateItem
from exchangelib.version import EXCHANGE_2013_SP1, Version

from sandbox.exchange.schema import calendar_field_order

from .conftest import ALICE, BOB, CAROL
from .items import attendee, saved_item

LONDON = EWSTimeZone("Europe/London")
TNS = "{http://schemas.microsoft.com/exchange/services/2006/types}"
# Writable fields with tests of their own below (attachments, MIME, recurrence), or not in Exchange 2013 SP1's
# schema version for exchangelib (MeetingTimeZone is Exchange 2007's).
NOT_IN_CREATE = {"attachments", "mime_content", "recurrence", "_meeting_timezone"}


def _writable_fields() -> set[str]:
    version = Version(build=EXCHANGE_2013_SP1)
    return {
        f.name
        for f in CalendarItem.FIELDS
        if not f.is_read_only
        and f.supports_version(version)
        and f.name not in NOT_IN_CREATE
        # Extended properties a client registered (calsync's sync key, once its EWS mapping is imported) are
        # not CalendarItem's own elements.
        and not isinstance(f, ExtendedPropertyField)
    }


def _full_item(account) -> CalendarItem:
    start = EWSDateTime(2026, 12, 1, 10, 0, tzinfo=LONDON)
    return CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Every field",
        sensitivity="Confidential",
        body=HTMLBody("<html><body><p>Agenda</p></body></html>"),
        categories=["Salesforce"],
        importance="Low",
        in_reply_to="<thread-1@example.test>",
        reminder_due_by=start - dt.timedelta(hours=1),
        reminder_is_set=True,
        reminder_minutes_before_start=60,
        culture="de-DE",
        uid="every-field-uid",
        start=start,
        end=EWSDateTime(2026, 12, 1, 14, 30, tzinfo=LONDON),
        is_all_day=False,
        legacy_free_busy_status="OOF",
        location="Room 42",
        when="Tuesday morning, London time",
        is_response_requested=False,
        required_attendees=[attendee(BOB.email)],
        optional_attendees=[Attendee(mailbox=Mailbox(email_address="wile.coyote@acme.test"), response_type="Unknown")],
        resources=[attendee(CAROL.email)],
        conference_type=2,
        allow_new_time_proposal=False,
        meeting_workspace_url="https://workspace.example.test/m/1",
        net_show_url="https://netshow.example.test/m/1",
    )


def test_a_client_that_sets_every_writable_field_succeeds_and_reads_them_back(env, alice):
    item = _full_item(alice)
    # The test covers every field exchangelib treats as writable (a new exchangelib field fails it loudly).
    set_here = {name for name in _writable_fields() if getattr(item, name) is not None}
    assert set_here == _writable_fields() - {"_start_timezone", "_end_timezone"}
    item.save(send_meeting_invitations="SendToNone")

    got = alice.calendar.get(id=item.id)
    assert got.subject == "Every field" and got.sensitivity == "Confidential"
    assert got.body == item.body and got.text_body.strip() == "Agenda"
    assert got.categories == ["Salesforce"] and got.importance == "Low"
    assert got.in_reply_to == "<thread-1@example.test>"
    assert got.reminder_due_by == item.reminder_due_by
    assert got.reminder_is_set is True and got.reminder_minutes_before_start == 60
    assert got.culture == "de-DE" and got.uid == "every-field-uid"
    assert (got.start, got.end) == (item.start, item.end)
    assert got.legacy_free_busy_status == "OOF" and got.location == "Room 42"
    assert got.when == "Tuesday morning, London time"
    assert got.is_response_requested is False and got.allow_new_time_proposal is False
    assert got.conference_type == 2
    assert got.meeting_workspace_url == "https://workspace.example.test/m/1"
    assert got.net_show_url == "https://netshow.example.test/m/1"
    assert [a.mailbox.email_address for a in got.resources] == [CAROL.email]
    assert got._start_timezone == LONDON and got._end_timezone == LONDON

    # Computed by the server, as Exchange returns them.
    assert got.duration == "PT4H30M"
    assert got.is_recurring is False and got.type == "Single"
    assert got.is_meeting is True and got.my_response_type == "Organizer"
    assert got.meeting_request_was_sent is False  # saved with SendToNone
    assert got.appointment_state == ("Meeting",)  # bit 1 only: organised here, so not "Received"
    assert got.appointment_sequence_number == 0
    assert got.size > 0 and got.has_attachments is False and got.is_associated is False
    assert got.datetime_created <= got.last_modified_time and got.datetime_received == got.datetime_created
    assert got.last_modified_name == ALICE.name
    assert got.item_class == "IPM.Appointment"
    assert got.display_to == BOB.name and got.display_cc == "Wile Coyote"
    assert got.is_draft is False and got.is_submitted is False and got.is_from_me is False
    assert got.conflicting_meeting_count == 0 and got.adjacent_meeting_count == 0
    assert got.effective_rights.modify and got.effective_rights.delete and got.effective_rights.read
    assert got.is_online_meeting is False and got.is_cancelled is False
    assert got.conversation_id is not None
    assert "owa" in got.web_client_read_form_query_string.lower()


def test_defaults_of_fields_the_client_leaves_out(alice):
    start = EWSDateTime(2026, 12, 2, 9, 0, tzinfo=LONDON)
    item = saved_item(alice, "Plain", start, 45)
    got = alice.calendar.get(id=item.id)
    # Exchange's ReminderDueBy is when the event occurs (the reminder shows ReminderMinutesBeforeStart earlier).
    assert got.reminder_due_by == start
    assert got.culture == "en-US" and got.duration == "PT45M"
    assert got.is_meeting is False and got.appointment_state == () and got.my_response_type == "Organizer"
    assert got.is_response_requested is True and got.allow_new_time_proposal is True
    assert got.display_to is None and got.display_cc is None


def test_every_writable_field_can_be_updated_and_deleted(alice):
    item = saved_item(alice, "Update me", EWSDateTime(2026, 12, 3, 9, tzinfo=LONDON))
    full = _full_item(alice)
    names = sorted(_writable_fields() - {"start", "end", "_start_timezone", "_end_timezone", "is_all_day"})
    for name in names:
        setattr(item, name, getattr(full, name))
    item.save(update_fields=names, send_meeting_invitations="SendToNone")
    got = alice.calendar.get(id=item.id)
    for name in names:
        if name == "body":
            assert got.body == full.body
        elif name in ("required_attendees", "optional_attendees", "resources"):
            assert [a.mailbox.email_address for a in getattr(got, name)] == [
                a.mailbox.email_address for a in getattr(full, name)
            ]
        else:
            assert getattr(got, name) == getattr(full, name), name
    # DeleteItemField of every optional one (exchangelib sends a delete for a field set to None).
    fields = {n: CalendarItem.get_field_by_fieldname(n) for n in names}
    optional = [n for n, f in fields.items() if not (f.is_required or f.is_required_after_save)]
    for name in optional:
        setattr(got, name, None)
    got.save(update_fields=optional, send_meeting_invitations="SendToNone")
    again = alice.calendar.get(id=item.id)
    for name in ("when", "in_reply_to", "meeting_workspace_url", "net_show_url", "location", "categories"):
        assert getattr(again, name) is None, name
    assert again.required_attendees is None and again.display_to is None


def _create_payload(account, extra_xml: str):
    """A CreateItem request made by exchangelib, with one raw element added in schema order."""
    from lxml import etree

    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Raw",
        start=EWSDateTime(2026, 12, 4, 9, tzinfo=LONDON),
        end=EWSDateTime(2026, 12, 4, 10, tzinfo=LONDON),
    )
    svc = CreateItem(account=account)
    payload = svc.get_payload(
        items=[item], folder=account.calendar, message_disposition="SaveOnly", send_meeting_invitations="SendToNone"
    )
    calendar_item = payload.find(f".//{TNS}CalendarItem")
    extra = etree.fromstring(f'<t:X xmlns:t="{TNS[1:-1]}">{extra_xml}</t:X>')[0]
    order = calendar_field_order()
    name = etree.QName(extra).localname
    for pos, child in enumerate(calendar_item):
        if order.get(etree.QName(child).localname, -1) > order[name]:
            calendar_item.insert(pos, extra)
            break
    else:
        calendar_item.append(extra)
    return svc, payload


@pytest.mark.parametrize(
    "xml",
    [
        "<t:IsCancelled>true</t:IsCancelled>",
        "<t:MyResponseType>Accept</t:MyResponseType>",
        "<t:Duration>PT1H</t:Duration>",
        "<t:DateTimeCreated>2020-01-01T00:00:00Z</t:DateTimeCreated>",
        "<t:AppointmentState>3</t:AppointmentState>",
        "<t:IsMeeting>true</t:IsMeeting>",
        "<t:Size>12</t:Size>",
    ],
)
def test_read_only_fields_are_refused_on_create_with_exchanges_code(alice, xml):
    svc, payload = _create_payload(alice, xml)
    with pytest.raises(ErrorInvalidPropertySet):
        list(svc._get_elements(payload=payload))
    assert alice.calendar.all().count() == 0  # nothing half-made


def _update(account, item, field: str, kind: str = "SetItemField", value_xml: str | None = None):
    """An UpdateItem request made by exchangelib for one field, rewritten to ``kind`` (and ``value_xml``)."""
    from lxml import etree

    svc = UpdateItem(account=account)
    payload = svc.get_payload(
        items=[(item, [field])],
        conflict_resolution="AlwaysOverwrite",
        message_disposition="SaveOnly",
        send_meeting_invitations_or_cancellations="SendToNone",
        suppress_read_receipts=True,
    )
    change = payload.find(f".//{TNS}Updates")[0]
    change.tag = TNS + kind
    if value_xml is not None:
        for c in list(change):
            if etree.QName(c).localname != "FieldURI":
                change.remove(c)
        if kind != "DeleteItemField":
            wrapper = etree.SubElement(change, TNS + "CalendarItem")
            wrapper.append(etree.fromstring(f'<t:X xmlns:t="{TNS[1:-1]}">{value_xml}</t:X>')[0])
    try:
        return list(svc._get_elements(payload=payload))
    except Exception as e:  # exchangelib raises the error of a one-item request
        return [e]


def test_update_codes_for_read_only_unappendable_and_undeletable_fields(alice):
    item = saved_item(alice, "Codes", EWSDateTime(2026, 12, 5, 9, tzinfo=LONDON), location="Here")
    # SetItemField on a computed field: ErrorInvalidPropertySet.
    uri_item = alice.calendar.get(id=item.id)
    res = _update(alice, uri_item, "subject", value_xml="<t:IsCancelled>true</t:IsCancelled>")
    assert isinstance(res[0], ErrorInvalidPropertySet)
    # AppendToItemField only works on Body and the recipient/attendee lists: ErrorInvalidPropertyAppend.
    uri_item.location = "There"
    res = _update(alice, uri_item, "location", kind="AppendToItemField")
    assert isinstance(res[0], ErrorInvalidPropertyAppend)
    # DeleteItemField of Start: ErrorInvalidPropertyDelete.
    res = _update(alice, uri_item, "start", kind="DeleteItemField", value_xml="")
    assert isinstance(res[0], ErrorInvalidPropertyDelete)
    got = alice.calendar.get(id=item.id)
    assert (got.location, got.is_cancelled, got.start) == ("Here", False, item.start)
    # Appending attendees works (and keeps the ones there).
    uri_item.required_attendees = [attendee(BOB.email)]
    uri_item.save(update_fields=["required_attendees"], send_meeting_invitations="SendToNone")
    uri_item = alice.calendar.get(id=item.id)
    uri_item.required_attendees = [attendee(CAROL.email)]
    res = _update(alice, uri_item, "required_attendees", kind="AppendToItemField")
    assert not isinstance(res[0], Exception)
    got = alice.calendar.get(id=item.id)
    assert [a.mailbox.email_address for a in got.required_attendees] == [BOB.email, CAROL.email]


def test_recurring_master_computed_fields(alice):
    start = EWSDateTime(2026, 12, 7, 9, tzinfo=LONDON)
    item = saved_item(alice, "Daily", start, 30, daily=(1, 3), reminder_due_by=start - dt.timedelta(minutes=5))
    got = alice.calendar.get(id=item.id)
    # The EWS reference's IsRecurring table: False on the organiser's master (sic), True on occurrences.
    assert got.type == "RecurringMaster" and got.is_recurring is False
    assert got.duration == "PT30M" and got.reminder_due_by == start - dt.timedelta(minutes=5)
    occurrences = list(alice.calendar.view(start=start, end=start + dt.timedelta(days=3)))
    assert [o.type for o in occurrences] == ["Occurrence"] * 3
    assert all(o.is_recurring for o in occurrences)


def test_the_property_table_covers_every_calendar_item_element_of_the_schema():
    from sandbox.exchange import properties

    schema = set(calendar_field_order()) - {"ExtendedProperty"}
    groups = [properties.WRITABLE, properties.READ_ONLY, properties.CREATE_ONLY]
    assert set().union(*groups) == schema
    assert sum(len(g) for g in groups) == len(schema)  # every element in exactly one group
    assert properties.REQUIRED <= properties.WRITABLE


def test_attachments_inline_on_create_then_attach_and_detach(alice):
    from exchangelib import FileAttachment, ItemAttachment, Message

    item = saved_item(alice, "With files", EWSDateTime(2026, 12, 8, 9, tzinfo=LONDON),
                      attachments=[FileAttachment(name="agenda.txt", content=b"1. numbers\n2. lunch\n")])  # fmt: skip
    assert item.attachments[0].attachment_id is not None
    got = alice.calendar.get(id=item.id)
    assert got.has_attachments is True
    assert [(a.name, a.size) for a in got.attachments] == [("agenda.txt", 20)]
    assert got.attachments[0].content == b"1. numbers\n2. lunch\n"  # GetAttachment
    # CreateAttachment on the saved item, inline and item attachments too.
    logo = FileAttachment(name="logo.png", content=b"\x89PNG...", is_inline=True, content_id="logo")
    got.attach(logo)
    note = ItemAttachment(name="note", item=Message(subject="Forwarded note", body="see attached"))
    got.attach(note)
    again = alice.calendar.get(id=item.id)
    assert sorted(a.name for a in again.attachments) == ["agenda.txt", "logo.png", "note"]
    assert next(a for a in again.attachments if a.name == "logo.png").is_inline is True
    assert next(a for a in again.attachments if a.name == "note").item.subject == "Forwarded note"
    # DeleteAttachment.
    again.detach(next(a for a in again.attachments if a.name == "agenda.txt"))
    again.detach(next(a for a in again.attachments if a.name == "note"))
    last = alice.calendar.get(id=item.id)
    assert [a.name for a in last.attachments] == ["logo.png"]
    assert last.has_attachments is False  # only an inline one left


def test_mime_content_creates_an_item_and_is_answered_as_icalendar(alice):
    import base64
    import email

    import icalendar

    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:mime-uid-1\r\n"
        "SUMMARY:From MIME\r\nLOCATION:Dock 7\r\nDTSTART:20261209T090000Z\r\nDTEND:20261209T093000Z\r\n"
        "DESCRIPTION:Bring the forms\r\nDTSTAMP:20261101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    mime = f"Content-Type: text/calendar; charset=utf-8\r\nSubject: x\r\n\r\n{ics}".encode()
    # The fields exchangelib always sends (start, end, ...) win over the MIME's, like on Exchange.
    item = CalendarItem(
        account=alice,
        folder=alice.calendar,
        mime_content=mime,
        start=EWSDateTime(2026, 12, 9, 9, tzinfo=EWSTimeZone("UTC")),
        end=EWSDateTime(2026, 12, 9, 10, tzinfo=EWSTimeZone("UTC")),
    )
    item.save(send_meeting_invitations="SendToNone")
    got = alice.calendar.get(id=item.id)
    assert (got.subject, got.location, got.uid) == ("From MIME", "Dock 7", "mime-uid-1")
    assert got.body == "Bring the forms" and got.end == EWSDateTime(2026, 12, 9, 10, tzinfo=EWSTimeZone("UTC"))
    # Asked for, MimeContent is the item as iCalendar.
    raw = next(iter(alice.fetch(ids=[item], folder=alice.calendar, only_fields=["mime_content"]))).mime_content
    assert raw is not None
    text = raw if isinstance(raw, bytes) else base64.b64decode(raw)
    message = email.message_from_bytes(text)
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    event = next(iter(cal.walk("VEVENT")))
    assert str(event["SUMMARY"]) == "From MIME" and str(event["UID"]) == "mime-uid-1"


def test_conflicting_and_adjacent_meeting_counts(alice):
    def at(subject, hour, minutes, length, **kw):
        return saved_item(alice, subject, EWSDateTime(2026, 12, 10, hour, minutes, tzinfo=LONDON), length, **kw)

    a = at("A", 9, 0, 60)
    at("overlaps", 9, 30, 60)
    at("right after", 10, 0, 30)
    at("free time", 9, 0, 60, legacy_free_busy_status="Free")
    start = EWSDateTime(2026, 12, 9, 8, 0, tzinfo=LONDON)
    at(
        "daily 8:00-9:00",
        8,
        0,
        60,
        recurrence=Recurrence(pattern=DailyPattern(interval=1), start=start.date(), number=3),
    )
    got = alice.calendar.get(id=a.id)
    assert (got.conflicting_meeting_count, got.adjacent_meeting_count) == (1, 2)


def _random_value(rng, field, account):
    """A random value of the right kind for one writable CalendarItem field (as a client library's own test
    suite would pick them)."""
    from exchangelib.fields import (
        AttendeesField,
        BodyField,
        BooleanField,
        CharField,
        CharListField,
        ChoiceField,
        CultureField,
        DateTimeField,
        EnumAsIntField,
        IntegerField,
        TextField,
        URIField,
    )

    def text(n):
        return "".join(rng.choice("abcdefghij klmnopqrstuvwxyzÆØÅ0123456789") for _ in range(n)).strip() or "x"

    if isinstance(field, URIField):
        return f"https://{text(8).replace(' ', '')}.example.test/{text(6).replace(' ', '')}"
    if isinstance(field, ChoiceField):
        return rng.choice(sorted(field.supported_choices(version=account.version)))
    if isinstance(field, CultureField):
        return rng.choice(["da-DK", "de-DE", "en-US", "es-ES", "fr-CA", "nl-NL", "ru-RU", "sv-SE"])
    if isinstance(field, BodyField):
        return text(400)
    if isinstance(field, CharListField):
        return [text(16) for _ in range(rng.randint(1, 4))]
    if isinstance(field, CharField):
        return text(min(field.max_length or 255, 255))
    if isinstance(field, TextField):
        return text(400)
    if isinstance(field, BooleanField):
        return rng.choice([True, False])
    if isinstance(field, EnumAsIntField):
        return rng.randint(field.min or 0, len(field.enum) - 1)
    if isinstance(field, IntegerField):
        return rng.randint(field.min or 0, field.max or 256)
    if isinstance(field, DateTimeField):
        return EWSDateTime(2026, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), tzinfo=LONDON)
    if isinstance(field, AttendeesField):
        last = EWSDateTime(2026, 1, rng.randint(1, 28), 12, tzinfo=LONDON) if rng.random() < 0.5 else None
        return [
            Attendee(
                mailbox=Mailbox(email_address=account.primary_smtp_address),
                response_type="Accept",
                last_response_time=last,
            )
        ]
    raise AssertionError(f"no random value for {field.name} ({type(field).__name__})")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_values_for_every_writable_field_round_trip_through_create_and_update(alice, seed):
    import random

    rng = random.Random(seed)
    skip = {
        "mime_content",
        "attachments",
        "resources",
        "optional_attendees",
        "start",
        "end",
        "recurrence",
        "is_all_day",
    }
    writable = [
        f
        for f in CalendarItem.FIELDS
        if not f.is_read_only
        and f.supports_version(alice.version)
        and f not in CalendarItem.timezone_fields()
        and not isinstance(f, ExtendedPropertyField)  # a client's registered properties (calsync's sync key)
    ]

    def values(previous=None):
        out = {f.name: _random_value(rng, f, alice) for f in writable if f.name not in skip}
        day = EWSDateTime(2027, rng.randint(1, 12), rng.randint(1, 28), rng.randint(6, 18), tzinfo=LONDON)
        out.update(start=day, end=day + dt.timedelta(minutes=rng.randint(15, 180)), is_all_day=False)
        out["recurrence"] = Recurrence(pattern=DailyPattern(interval=5), start=day.date(), number=7)
        if previous is not None:
            for f in writable:  # flip what a client flips: booleans, and attendees on/off
                if isinstance(previous.get(f.name), bool) and f.name != "is_all_day":
                    out[f.name] = not previous[f.name]
            out["required_attendees"] = None
            out["optional_attendees"] = _random_value(
                rng, CalendarItem.get_field_by_fieldname("optional_attendees"), alice
            )
            out["reminder_due_by"] = out["start"]
        return out

    def same(local, fresh):
        for f in CalendarItem.FIELDS:
            old, new = getattr(local, f.name), getattr(fresh, f.name)
            if (f.is_read_only and old is None) or f.name in ("mime_content", "_id", "reminder_due_by"):
                continue
            if f.is_list:
                old, new = set(old or ()), set(new or ())
            assert old == new, (f.name, old, new)

    inserted = values()
    item = CalendarItem(account=alice, folder=alice.calendar, **inserted)
    item.save()
    same(item, alice.calendar.get(id=item.id))
    for k, v in values(inserted).items():
        setattr(item, k, v)
    item.save()  # every field: SetItemField, DeleteItemField for the ones now None
    fresh = alice.calendar.get(id=item.id)
    same(item, fresh)
    assert fresh.reminder_due_by == item.start and fresh.type == "RecurringMaster"
    item_id = (item.id, item.changekey)
    item.delete()
    assert isinstance(next(iter(alice.fetch(ids=[item_id]))), Exception)


def test_subjects_and_category_names_are_cut_at_255_characters(alice, monkeypatch):
    # exchangelib checks the 255 limit itself; lift it, as exchangelib's own tests do, to see the server's cut.
    for name in ("subject", "categories"):
        monkeypatch.setattr(CalendarItem.get_field_by_fieldname(name), "max_length", 4000)
    item = saved_item(alice, "s" * 4000, EWSDateTime(2026, 12, 11, 9, tzinfo=LONDON), categories=["c" * 300],
                      location="l" * 4000)  # fmt: skip
    got = alice.calendar.get(id=item.id)
    assert len(got.subject) == 255 and [len(c) for c in got.categories] == [255]
    assert len(got.location) == 4000  # no such limit on the location


def test_a_series_field_set_on_one_occurrence_is_refused(alice):
    from exchangelib.errors import ErrorInvalidPropertyForOperation

    start = EWSDateTime(2026, 12, 14, 9, tzinfo=LONDON)
    saved_item(alice, "Series", start, 30, daily=(1, 3))
    occurrence = list(alice.calendar.view(start=start, end=start + dt.timedelta(days=3)))[1]
    svc = UpdateItem(account=alice)
    occurrence.uid = "another-uid"
    payload = svc.get_payload(
        items=[(occurrence, ["uid"])],
        conflict_resolution="AlwaysOverwrite",
        message_disposition="SaveOnly",
        send_meeting_invitations_or_cancellations="SendToNone",
        suppress_read_receipts=True,
    )
    with pytest.raises(ErrorInvalidPropertyForOperation):
        list(svc._get_elements(payload=payload))
