"""A catalogue of malformed and hostile items on each side, through the real engine, clients and sandboxes.

Every case states its outcome: the item syncs and its content is checked on the other side (nothing cut or
changed silently), or it gets an open health entry with a stable code and a message, and no counterpart. In
every case the session does not fail, the two bystanders (one normal item made on each side) sync untouched,
a later session writes nothing (docs/invariants.md #9) and no meeting message goes out.

Most items are made through the clients, the way a user or an integration could. A few values no client can
produce (an end before the start, which both servers refuse) are put straight into the sandbox's store, as data
left by an older server or a bulk load would be.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from exchangelib import HTMLBody
from exchangelib.recurrence import DailyPattern, Recurrence

from sandbox.seed import PEOPLE
from tests.e2e.actors import UTC, at, day

LONG = "x" * 300
EMOJI_RTL = "Q3 review 🚀📅 — مراجعة الربع الثالث — סקירה 👩🏽‍💼"
INJECTION = "O'Brien\\'s call'; DELETE FROM Event WHERE Id != '' -- ]]><x/>&amp; %s {0}"
CONTACT = next(p for p in PEOPLE if p.kind == "Contact")
LEAD = next(p for p in PEOPLE if p.kind == "Lead")


@dataclass
class Ctx:
    """What a case needs: the world, the engine, the two actors, and ids it wants to remember."""

    world: Any
    engine: Any
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def outlook(self):
        return self.world.outlook()

    @property
    def sf(self):
        return self.world.salesforce()

    def codes(self) -> list[str]:
        return sorted(h.code for h in self.engine.health())


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[Ctx], None]
    expect: Callable[[Ctx], None]
    sessions_before: int = 0  # sessions run between a preparation step (make_first) and make
    make_first: Callable[[Ctx], None] | None = None


# -- expectations -----------------------------------------------------------------------------------------------
def in_salesforce(subject: str, **fields: Any) -> Callable[[Ctx], None]:
    """One Event with this subject, with these field values exactly, and no open health entry."""

    def check(ctx: Ctx) -> None:
        found = [e for e in ctx.sf.events() if e["Subject"] == subject]
        assert len(found) == 1, f"{len(found)} Events {subject!r}: {[e['Subject'] for e in ctx.sf.events()]}"
        for name, value in fields.items():
            got = found[0][name]
            assert got == value, f"{name}: {got!r:.200} != {value!r:.200}"
        assert ctx.codes() == [], ctx.codes()

    return check


def in_exchange(subject: str, **fields: Any) -> Callable[[Ctx], None]:
    """One item with this subject, with these `item_dict` values exactly, and no open health entry."""

    def check(ctx: Ctx) -> None:
        found = [i for i in ctx.outlook.items() if i["subject"] == subject]
        assert len(found) == 1, f"{len(found)} items {subject!r}: {[i['subject'] for i in ctx.outlook.items()]}"
        for name, value in fields.items():
            got = found[0][name]
            assert got == value, f"{name}: {got!r:.200} != {value!r:.200}"
        assert ctx.codes() == [], ctx.codes()

    return check


def health(code: str, *, absent_sf: str | None = None, absent_ex: str | None = None) -> Callable[[Ctx], None]:
    """One open health entry with ``code`` and a message; the item has no counterpart on the other side."""

    def check(ctx: Ctx) -> None:
        entries = ctx.engine.health()
        assert [h.code for h in entries] == [code], [(h.code, h.message) for h in entries]
        assert len(entries[0].message) > 20, entries[0].message
        if absent_sf is not None:
            assert not [e for e in ctx.sf.events() if (e["Subject"] or "").startswith(absent_sf)]
        if absent_ex is not None:
            assert not [i for i in ctx.outlook.items() if (i["subject"] or "").startswith(absent_ex)]

    return check


def nothing(subject: str) -> Callable[[Ctx], None]:
    """Not synced and nothing to report (out of scope, not ours)."""

    def check(ctx: Ctx) -> None:
        assert ctx.codes() == []
        assert [e for e in ctx.sf.events() if e["Subject"] == subject] == [] or [
            i for i in ctx.outlook.items() if i["subject"] == subject
        ] == []

    return check


def both(*checks: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    def check(ctx: Ctx) -> None:
        for c in checks:
            c(ctx)

    return check


# -- making items -----------------------------------------------------------------------------------------------
def ex(subject: str, start: Any = None, end: Any = None, **kw: Any) -> Callable[[Ctx], None]:
    def make(ctx: Ctx) -> None:
        ctx.ids["item"] = ctx.outlook.create(subject, start or at(2, 10), end or at(2, 11), **kw)

    return make


def sf(subject: str | None, start: Any = None, end: Any = None, **kw: Any) -> Callable[[Ctx], None]:
    def make(ctx: Ctx) -> None:
        fields = {"StartDateTime": start or at(2, 10), "EndDateTime": end or at(2, 11), **kw}
        if subject is not None:
            fields["Subject"] = subject
        ctx.ids["event"] = ctx.sf.create_event(**fields)

    return make


def ex_store(subject: str, **texts: str) -> Callable[[Ctx], None]:
    """An item holding values no client could write (the server and exchangelib refuse them): EWS field
    name → text, put straight into the sandbox's store."""

    def make(ctx: Ctx) -> None:
        ctx.ids["item"] = ctx.outlook.create(subject, at(2, 10), at(2, 11))
        _ex_store_write(ctx, ctx.ids["item"], texts)

    return make


def _ex_store_write(ctx: Ctx, item_id: str, texts: dict[str, str]) -> None:
    from sandbox.exchange.xml import el, t

    box = ctx.world.sandboxes.exchange
    with box.store.lock:
        item, _ = ctx.world._store_item(item_id)  # noqa: SLF001 - no client can write these values
        for name, text in texts.items():
            item.fields[name] = el(t(name), text)
        box.store.touch(item)
        box.persist()


def _utc_text(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sf_store(subject: str, **values: Any) -> Callable[[Ctx], None]:
    """An Event whose stored values the API would refuse today (legacy or bulk-loaded data)."""

    def make(ctx: Ctx) -> None:
        event_id = ctx.sf.create_event(Subject=subject, StartDateTime=at(2, 10), EndDateTime=at(2, 11))
        box = ctx.world.sandboxes.salesforce
        with box.lock:
            record = box.store.tables["Event"][event_id]
            record.update(values)
            record["SystemModstamp"] = record["LastModifiedDate"] = box.store.stamp()
        ctx.ids["event"] = event_id

    return make


def html(subject: str, markup: str, **kw: Any) -> Callable[[Ctx], None]:
    return ex(subject, body=HTMLBody(markup), **kw)


def attendees(n: int) -> list[str]:
    return [f"guest{i}@example.test" for i in range(n)]


# -- Exchange side ----------------------------------------------------------------------------------------------
def _dup_key_first(ctx: Ctx) -> None:
    ctx.ids["event"] = ctx.sf.create_event(Subject="Original with key", StartDateTime=at(4, 10),
                                           EndDateTime=at(4, 11), Description="original")  # fmt: skip


def _dup_key_copy(ctx: Ctx) -> None:
    # Outlook's copy of an item keeps its extended properties: the copy carries the original's sync key.
    original = next(i for i in ctx.outlook.items() if i["subject"] == "Original with key")
    key = original["calsync_key"]
    assert key, "the engine wrote no sync key on the item it created"
    ctx.outlook.create("Copy with same key", at(5, 10), at(5, 11), calsync_key=key, body="copy")


def _dup_key_expect(ctx: Ctx) -> None:
    in_salesforce("Original with key", Description="original", StartDateTime=at(4, 10).astimezone(UTC))(ctx)
    in_exchange("Original with key", body="original", start=at(4, 10).astimezone(UTC))(ctx)
    in_salesforce("Copy with same key", Description="copy", StartDateTime=at(5, 10).astimezone(UTC))(ctx)


def _fixed_later(ctx: Ctx) -> None:
    ex_store("Too long for now", Subject="y" * 300)(ctx)


def _fix_it(ctx: Ctx) -> None:
    ctx.outlook.edit(ctx.ids["item"], subject="Subject fixed")


def _recurring_with_deleted_occurrence(ctx: Ctx) -> None:
    start = at(1, 9)
    rec = Recurrence(pattern=DailyPattern(interval=1), start=start.date(), number=5)
    item_id = ctx.outlook.create("Daily with a gap", start, at(1, 10), recurrence=rec)
    item = ctx.outlook.account.calendar.get(id=item_id)
    occurrence = item.occurrence(2)
    occurrence.delete(send_meeting_cancellations="SendToNone")
    ctx.ids["item"] = item_id


EXCHANGE_CASES: list[Case] = [
    Case("ex-subject-300-legacy", ex_store("Long subject", Subject=LONG), health("subject_too_long", absent_sf="xxx")),
    Case("ex-subject-255", ex("s" * 255), in_salesforce("s" * 255)),
    Case("ex-subject-empty", ex(""), in_salesforce(None, StartDateTime=at(2, 10).astimezone(UTC))),
    Case("ex-subject-whitespace-runs", ex("  Tabs\tand\nnewlines   inside  "),
         in_salesforce("Tabs and newlines inside")),
    Case("ex-end-before-start", ex_store("Backwards", Start=_utc_text(at(2, 11)), End=_utc_text(at(2, 10))),
         health("end_before_start", absent_sf="Backwards")),
    Case("ex-zero-length", ex("Zero length", at(2, 10), at(2, 10)),
         in_salesforce("Zero length", StartDateTime=at(2, 10).astimezone(UTC), EndDateTime=at(2, 10).astimezone(UTC))),
    Case("ex-20-days", ex("Twenty days", at(1, 9), at(21, 9)), health("duration_over_14_days", absent_sf="Twenty")),
    Case("ex-14-days", ex("Fourteen days", at(1, 9), at(15, 9)),
         in_salesforce("Fourteen days", EndDateTime=at(15, 9).astimezone(UTC))),
    Case("ex-all-day-20-days", ex("All-day marathon", day(1), day(20), all_day=True),
         health("duration_over_14_days", absent_sf="All-day")),
    Case("ex-all-day-3-days", ex("Offsite", day(3), day(5), all_day=True),
         in_salesforce("Offsite", IsAllDayEvent=True, ActivityDate=day(3), DurationInMinutes=3 * 1440)),
    Case("ex-html-script", html("HTML with script", "<html><head><script>alert('x')</script></head><body>"
         "<p>Agenda</p><script>document.cookie</script><p>Bring &lt;laptops&gt; &amp; coffee</p></body></html>"),
         in_salesforce("HTML with script", Description="Agenda\nBring <laptops> & coffee")),
    Case("ex-html-style-and-comments", html("Styled", "<style>p{color:red}</style><!-- secret --><div>Visible"
         "</div><img src='data:image/png;base64," + "A" * 50_000 + "'>"),
         in_salesforce("Styled", Description="Visible")),
    Case("ex-body-1mb", ex("Huge body", body="lorem ipsum " * 90_000),
         health("description_too_long", absent_sf="Huge")),
    Case("ex-body-32000", ex("Body at the limit", body="b" * 32_000), in_salesforce("Body at the limit",
         Description="b" * 32_000)),
    Case("ex-body-32001", ex("Body over the limit", body="b" * 32_001),
         health("description_too_long", absent_sf="Body over")),
    Case("ex-location-300", ex("Long location", location="L" * 300),
         health("location_too_long", absent_sf="Long location")),
    Case("ex-emoji-rtl", ex(EMOJI_RTL, location="קפה 🍵", body="שלום\nمرحبا 👋"),
         in_salesforce(EMOJI_RTL, Location="קפה 🍵", Description="שלום\nمرحبا 👋")),
    Case("ex-injection-text", ex(INJECTION, location="<b>'\"", body="</Body><t:Subject>x</t:Subject>"),
         in_salesforce(INJECTION, Location="<b>'\"", Description="</Body><t:Subject>x</t:Subject>")),
    Case("ex-zero-width-and-bom", ex("\ufeffZero\u200bwidth\u200d join"),
         in_salesforce("\ufeffZero\u200bwidth\u200d join")),
    Case("ex-decomposed-unicode", ex("Cafe\u0301 meeting"), in_salesforce("Caf\u00e9 meeting")),
    Case("ex-2000-attendees", ex("Town hall", attendees=attendees(2000) + [CONTACT.email], send="SendToNone"),
         in_salesforce("Town hall")),
    Case("ex-duplicate-attendees", ex("Twice invited", attendees=[CONTACT.email, CONTACT.email.upper()],
         send="SendToNone"), in_salesforce("Twice invited")),
    Case("ex-invalid-attendee-address", ex("Odd address", attendees=["not-an-address", "@@", "a@b"],
         send="SendToNone"), in_salesforce("Odd address")),
    Case("ex-private-default-skip", ex("Doctor", private=True), health("private_item_skipped", absent_sf="Doctor")),
    Case("ex-far-past", ex("Long ago", at(-400, 10), at(-400, 11)), nothing("Long ago")),
    Case("ex-far-future", ex("Far ahead", at(400, 10), at(400, 11)), nothing("Far ahead")),
    Case("ex-untagged", ex("Not shared", categories=["Personal"]), nothing("Not shared")),
    Case("ex-category-other-case", ex("Lower-case tag", categories=["salesforce"]), in_salesforce("Lower-case tag")),
    Case("ex-kiritimati-zone", ex("Line Islands", at(2, 8, tz="Pacific/Kiritimati"), at(2, 9, tz="Pacific/Kiritimati"),
         tz="Pacific/Kiritimati"), in_salesforce("Line Islands", StartDateTime=at(2, 8, tz="Pacific/Kiritimati")
         .astimezone(UTC))),
    Case("ex-crosses-midnight", ex("Late call", at(2, 23, 30), at(3, 0, 45)),
         in_salesforce("Late call", EndDateTime=at(3, 0, 45).astimezone(UTC))),
    Case("ex-odd-seconds", ex("Odd seconds", at(2, 10).replace(second=17), at(2, 11).replace(second=43)),
         in_salesforce("Odd seconds", StartDateTime=at(2, 10).replace(second=17).astimezone(UTC))),
    Case("ex-show-as-oof", ex("Away", show_as="OOF"), in_salesforce("Away", ShowAs="OutOfOffice")),
    Case("ex-recurring-deleted-occurrence", _recurring_with_deleted_occurrence,
         health("recurrence_exceptions_unsupported", absent_sf="Daily with a gap")),
    Case("ex-duplicate-sync-key", _dup_key_copy, _dup_key_expect, sessions_before=1, make_first=_dup_key_first),
    Case("ex-bad-then-fixed", _fix_it, in_salesforce("Subject fixed"), sessions_before=1, make_first=_fixed_later),
]  # fmt: skip


# -- Salesforce side --------------------------------------------------------------------------------------------
def _who_deleted(ctx: Ctx) -> None:
    contact = ctx.sf.create_record("Contact", LastName="Gone", Email="gone.soon@example.test")
    ctx.ids["event"] = ctx.sf.create_event(
        Subject="Who was deleted", StartDateTime=at(2, 10), EndDateTime=at(2, 11), WhoId=contact
    )
    ctx.sf.delete("Contact", contact)


def _who_deleted_expect(ctx: Ctx) -> None:
    # Salesforce deletes a Contact's activities with it, or keeps the Event without its Who: either way the
    # session goes on, nothing is duplicated and nothing is reported as broken.
    events = [e for e in ctx.sf.events() if e["Subject"] == "Who was deleted"]
    items = [i for i in ctx.outlook.items() if i["subject"] == "Who was deleted"]
    assert len(events) == len(items) <= 1
    assert ctx.codes() == []


def _key_cleared_first(ctx: Ctx) -> None:
    ctx.ids["event"] = ctx.sf.create_event(Subject="Key cleared", StartDateTime=at(3, 10), EndDateTime=at(3, 11))


def _key_cleared(ctx: Ctx) -> None:
    ctx.sf.update("Event", ctx.ids["event"], CalSync_Key__c=None, Location="moved")


def _key_foreign(ctx: Ctx) -> None:
    ctx.ids["event"] = ctx.sf.create_event(Subject="Imported with a key", StartDateTime=at(2, 10),
                                           EndDateTime=at(2, 11), CalSync_Key__c=str(uuid.uuid4()))  # fmt: skip


def _sf_bad_then_fixed_first(ctx: Ctx) -> None:
    sf_store("Backwards then fixed", EndDateTime=at(2, 9).astimezone(UTC), DurationInMinutes=-60)(ctx)


def _sf_fix(ctx: Ctx) -> None:
    ctx.sf.update("Event", ctx.ids["event"], EndDateTime=at(2, 12))


def _with_relations(n_people: int) -> Callable[[Ctx], None]:
    def make(ctx: Ctx) -> None:
        event_id = ctx.sf.create_event(Subject="With invitees", StartDateTime=at(2, 10), EndDateTime=at(2, 11),
                                       WhoId=CONTACT.salesforce_id)  # fmt: skip
        for person in PEOPLE[:n_people]:
            if person.salesforce_id != CONTACT.salesforce_id:
                ctx.sf.add_relation(event_id, person.salesforce_id)
        ctx.ids["event"] = event_id

    return make


CONTROL = "Bell\x07 and\x01 escape\x1b here"

SALESFORCE_CASES: list[Case] = [
    Case("sf-subject-255", sf("s" * 255), in_exchange("s" * 255)),
    Case("sf-subject-missing", sf(None), in_exchange(None, start=at(2, 10).astimezone(UTC))),
    Case("sf-subject-whitespace", sf("   "), in_exchange(None, start=at(2, 10).astimezone(UTC))),
    Case("sf-subject-300-legacy", sf_store("Legacy long", Subject=LONG), health("subject_too_long", absent_ex="xxx")),
    Case("sf-end-before-start-legacy", sf_store("Backwards", EndDateTime=at(2, 9).astimezone(UTC),
         DurationInMinutes=-60), health("invalid_value", absent_ex="Backwards")),
    Case("sf-14-days", sf("Fourteen days", at(1, 9), at(15, 9)), in_exchange("Fourteen days",
         end=at(15, 9).astimezone(UTC))),
    Case("sf-20-days-legacy", sf_store("Twenty days", EndDateTime=at(22, 11).astimezone(UTC),
         DurationInMinutes=20 * 1440 + 60), in_exchange("Twenty days", end=at(22, 11).astimezone(UTC))),
    Case("sf-zero-length", sf("Zero length", at(2, 10), at(2, 10)), in_exchange("Zero length",
         end=at(2, 10).astimezone(UTC))),
    Case("sf-all-day", sf("Holiday", None, None, IsAllDayEvent=True, ActivityDate=day(3), DurationInMinutes=1440,
         StartDateTime=dt.datetime.combine(day(3), dt.time(), UTC), EndDateTime=None),
         in_exchange("Holiday", is_all_day=True, start=day(3), end=day(3))),
    Case("sf-description-32000", sf("Long notes", Description="d" * 32_000), in_exchange("Long notes",
         body="d" * 32_000)),
    Case("sf-description-html-text", sf("Notes with markup",
         Description="<script>alert(1)</script>\n<b>bold</b> &amp;"),
         in_exchange("Notes with markup", body="<script>alert(1)</script>\n<b>bold</b> &amp;")),
    Case("sf-description-crlf", sf("CRLF notes", Description="line one\r\n\r\n\r\nline two  \r\n"),
         in_exchange("CRLF notes", body="line one\n\nline two")),
    Case("sf-description-many-lines", sf("Many lines", Description="\n".join(f"row {i}" for i in range(3000))[:32000]),
         in_exchange("Many lines", body="\n".join(f"row {i}" for i in range(3000))[:32000])),
    Case("sf-control-characters", sf(CONTROL, Location="Room\x0b5", Description="a\x00b\x08c"),
         in_exchange("Bell and escape here", location="Room5", body="abc")),
    Case("sf-emoji-rtl", sf(EMOJI_RTL, Location="קפה 🍵", Description="שלום\nمرحبا 👋"),
         in_exchange(EMOJI_RTL, location="קפה 🍵", body="שלום\nمرحبا 👋")),
    Case("sf-injection-text", sf(INJECTION, Location="<b>'\"", Description="]]></t:Body><t:Subject>x"),
         in_exchange(INJECTION, location="<b>'\"", body="]]></t:Body><t:Subject>x")),
    Case("sf-decomposed-unicode", sf("Cafe\u0301 meeting"), in_exchange("Caf\u00e9 meeting")),
    Case("sf-location-255", sf("Long room", Location="L" * 255), in_exchange("Long room", location="L" * 255)),
    Case("sf-who-deleted", _who_deleted, _who_deleted_expect),
    Case("sf-who-lead-what-account", sf("Lead meeting", WhoId=LEAD.salesforce_id, WhatId="001000000000000001"),
         in_exchange("Lead meeting")),
    Case("sf-many-invitees", _with_relations(len(PEOPLE)), in_exchange("With invitees")),
    Case("sf-private", sf("Private in SF", IsPrivate=True), in_exchange("Private in SF", sensitivity="Private")),
    Case("sf-show-as-free", sf("Free time", ShowAs="Free"), in_exchange("Free time", legacy_free_busy_status="Free")),
    Case("sf-far-past", sf("Long ago", at(-400, 10), at(-400, 11)), nothing("Long ago")),
    Case("sf-far-future", sf("Far ahead", at(400, 10), at(400, 11)), nothing("Far ahead")),
    Case("sf-other-owner", sf("Someone else's", OwnerId="005000000000000002"), nothing("Someone else's")),
    Case("sf-crosses-dst-night", sf("Night shift", at(2, 22), at(3, 6)), in_exchange("Night shift",
         end=at(3, 6).astimezone(UTC))),
    Case("sf-odd-seconds", sf("Odd seconds", at(2, 10).replace(second=17), at(2, 11).replace(second=43)),
         in_exchange("Odd seconds", start=at(2, 10).replace(second=17).astimezone(UTC))),
    Case("sf-recurrence-garbage-legacy", sf_store("Garbage rule", IsRecurrence2=True,
         Recurrence2PatternText="RRULE:FREQ=SOMETIMES;INTERVAL=x", Recurrence2PatternTimeZone="Europe/London"),
         health("invalid_value", absent_ex="Garbage rule")),
    Case("sf-recurrence-unknown-zone-legacy", sf_store("Zone from Mars", IsRecurrence2=True,
         Recurrence2PatternText="RRULE:FREQ=DAILY;COUNT=3", Recurrence2PatternTimeZone="Mars/Olympus_Mons"),
         health("unsupported_time_zone", absent_ex="Zone from Mars")),
    Case("sf-foreign-sync-key", _key_foreign, in_exchange("Imported with a key")),
    Case("sf-sync-key-cleared", _key_cleared, in_exchange("Key cleared", location="moved"), sessions_before=1,
         make_first=_key_cleared_first),
    Case("sf-created-and-deleted", lambda ctx: ctx.sf.delete("Event", ctx.sf.create_event(
         Subject="Blink", StartDateTime=at(2, 10), EndDateTime=at(2, 11))), nothing("Blink")),
    Case("sf-bad-then-fixed", _sf_fix, in_exchange("Backwards then fixed", end=at(2, 12).astimezone(UTC)),
         sessions_before=1, make_first=_sf_bad_then_fixed_first),
]  # fmt: skip

BYSTANDER_UP = "Bystander from Outlook"
BYSTANDER_DOWN = "Bystander from Salesforce"


def _bystanders(ctx: Ctx) -> None:
    ctx.outlook.create(BYSTANDER_UP, at(6, 9), at(6, 10), location="Room 1", body="kept as is")
    ctx.sf.create_event(Subject=BYSTANDER_DOWN, StartDateTime=at(6, 11), EndDateTime=at(6, 12), Location="Room 2",
                        Description="also kept")  # fmt: skip


def _check_bystanders(ctx: Ctx) -> None:
    up = [e for e in ctx.sf.events() if e["Subject"] == BYSTANDER_UP]
    assert len(up) == 1 and up[0]["Location"] == "Room 1" and up[0]["Description"] == "kept as is", up
    assert up[0]["StartDateTime"] == at(6, 9).astimezone(UTC) and up[0]["EndDateTime"] == at(6, 10).astimezone(UTC)
    down = [i for i in ctx.outlook.items() if i["subject"] == BYSTANDER_DOWN]
    assert len(down) == 1 and down[0]["location"] == "Room 2" and down[0]["body"] == "also kept", down
    assert down[0]["start"] == at(6, 11).astimezone(UTC) and down[0]["end"] == at(6, 12).astimezone(UTC)


@pytest.mark.parametrize("case", EXCHANGE_CASES + SALESFORCE_CASES, ids=lambda c: c.id)
def test_bad_input(engine, world, case: Case) -> None:
    ctx = Ctx(world, engine)
    _bystanders(ctx)
    if case.make_first is not None:
        case.make_first(ctx)
        for _ in range(case.sessions_before):
            engine.sync()
    case.make(ctx)
    engine.sync()  # the engine fixture asserts the session did not fail
    case.expect(ctx)
    _check_bystanders(ctx)
    quiet = engine.converge()
    assert quiet.writes == 0
    case.expect(ctx)
    _check_bystanders(ctx)
    world.assert_no_meeting_messages()


def test_the_catalogue_is_big_enough() -> None:
    assert len(EXCHANGE_CASES) >= 30 and len(SALESFORCE_CASES) >= 30
    assert len({c.id for c in EXCHANGE_CASES + SALESFORCE_CASES}) == len(EXCHANGE_CASES) + len(SALESFORCE_CASES)
