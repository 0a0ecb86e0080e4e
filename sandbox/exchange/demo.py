"""The demo seed: a realistic calendar for every rep of ``sandbox.seed``, relative to today, deterministic for a
given day (one seeded RNG per rep).

Each rep gets appointments, meetings they organise with internal (other reps) and external (``PEOPLE``)
attendees (copied, with the same UID, into the calendars of the reps they invite, as Exchange delivers them),
all-day items, private items, a weekly series with one modified and one deleted occurrence, some items already
carrying the "Salesforce" category, and a master category list.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
import uuid
import zlib
import zoneinfo

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP

from sandbox import seed as shared_seed

from . import calendar
from .store import Mailbox, Store
from .xml import el, fmt_datetime, t

SALESFORCE = "Salesforce"
USER_CATEGORIES = [("Red category", 0), ("Blue category", 7), ("Customer", 4), ("Internal", 9), ("Travel", 14)]
SUBJECTS = [
    "Pipeline review",
    "Pricing prep",
    "Quarterly planning",
    "Call prep",
    "Forecast update",
    "Territory review",
    "Proposal write-up",
    "Team stand-up",
    "Deal desk",
    "Expense reports",
]
LOCATIONS = ["Office", "Room 2.14", "Teams", "Client site", None]


def category_list_xml(categories: list[tuple[str, int]], seed: int) -> bytes:
    """The master category list as Outlook stores it in the CategoryList configuration's XmlData."""
    rng = random.Random(seed)
    never = "1601-01-01T00:00:00.000"
    lines = [
        '<?xml version="1.0"?>',
        '<categories default="Red category" lastSavedSession="0" lastSavedTime="2026-01-01T00:00:00.000" '
        'xmlns="CategoryList.xsd">',
    ]
    for name, color in categories:
        guid = "{" + str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper() + "}"
        lines.append(
            f'<category name="{name}" color="{color}" keyboardShortcut="0" usageCount="0" '
            f'lastTimeUsedNotes="{never}" lastTimeUsedJournal="{never}" lastTimeUsedContacts="{never}" '
            f'lastTimeUsedTasks="{never}" lastTimeUsedCalendar="{never}" lastTimeUsedMail="{never}" '
            f'lastTimeUsed="{never}" lastSessionUsed="0" guid="{guid}" renameOnFirstUse="0"/>'
        )
    lines.append("</categories>")
    return "\n".join(lines).encode("utf-8")


def _attendees(tag: str, emails: list[str], responses: list[str]) -> object:
    return el(
        t(tag),
        children=[
            el(
                t("Attendee"),
                children=[el(t("Mailbox"), children=[el(t("EmailAddress"), e)]), el(t("ResponseType"), r)],
            )
            for e, r in zip(emails, responses, strict=True)
        ],
    )


def _add(sandbox, store: Store, mb: Mailbox, **kw):
    """Create one calendar item from keyword fields (element name -> element or text)."""
    item = store.new_item(mb, mb.folder("calendar"))
    directory, emails = sandbox.directory(), set(store.mailboxes) | {mb.email.lower()}
    for name, value in kw.items():
        if value is None:
            continue
        elem = value if not isinstance(value, str) else el(t(name), value)
        item.fields[name] = calendar.normalise_field(elem, directory, emails)
    calendar.apply_rules(mb, item, None, creating=True)
    return item


def seed_demo(sandbox, store: Store) -> None:
    reps = shared_seed.REPS
    people = shared_seed.PEOPLE
    for idx, rep in enumerate(reps):
        mb = store.mailbox(rep.email)
        rng = random.Random(zlib.crc32(rep.email.encode()))
        tz = zoneinfo.ZoneInfo(rep.timezone)
        ms_tz = IANA_TO_MS_TIMEZONE_MAP.get(rep.timezone, ("UTC",))[0]
        today = dt.datetime.now(tz).date()

        def at(day_offset: int, hour: int, minute: int = 0, tz=tz, today=today):
            return dt.datetime.combine(today + dt.timedelta(days=day_offset), dt.time(hour, minute), tzinfo=tz)

        def tzs(ms_tz=ms_tz):
            return {
                "StartTimeZone": el(t("StartTimeZone"), attrs={"Id": ms_tz}),
                "EndTimeZone": el(t("EndTimeZone"), attrs={"Id": ms_tz}),
            }

        def body(text: str):
            return el(t("Body"), text, {"BodyType": "Text"})

        def html(text: str):
            return el(t("Body"), f"<html><body>{text}</body></html>", {"BodyType": "HTML"})

        def cats(*names: str):
            return el(t("Categories"), children=[el(t("String"), n) for n in names]) if names else None

        # Appointments, some already shared with Salesforce.
        for n in range(10):
            day = rng.randint(-14, 42)
            start = at(day, rng.randint(8, 16), rng.choice([0, 30]))
            end = start + dt.timedelta(minutes=rng.choice([30, 60, 90]))
            _add(
                sandbox,
                store,
                mb,
                Subject=rng.choice(SUBJECTS),
                Body=body("Notes: " + rng.choice(SUBJECTS).lower()),
                Start=fmt_datetime(start),
                End=fmt_datetime(end),
                Location=rng.choice(LOCATIONS),
                Categories=cats(SALESFORCE)
                if n < 3
                else cats(*rng.sample(["Customer", "Internal"], rng.randint(0, 1))),
                **tzs(),
            )
        # Meetings this rep organises, with another rep and external people; invited reps get a copy.
        for n in range(4):
            other = reps[(idx + 1 + n) % len(reps)]
            external = rng.sample(people, 2)
            day = rng.randint(-10, 40)
            start = at(day, rng.randint(9, 15))
            end = start + dt.timedelta(hours=1)
            subject = (
                f"{external[0].account or 'Prospect'} meeting: {rng.choice(['demo', 'renewal', 'kick-off', 'QBR'])}"
            )
            required = _attendees(
                "RequiredAttendees", [other.email, external[0].email], ["Accept", "NoResponseReceived"]
            )
            optional = _attendees("OptionalAttendees", [external[1].email], ["Tentative"])
            master = _add(
                sandbox,
                store,
                mb,
                Subject=subject,
                Body=html(f"<p>Agenda for {subject}</p>"),
                Start=fmt_datetime(start),
                End=fmt_datetime(end),
                Location="Teams",
                RequiredAttendees=required,
                OptionalAttendees=optional,
                Categories=cats(SALESFORCE) if n == 0 else None,
                **tzs(),
            )
            other_mb = store.mailbox(other.email)
            copy_fields = {k: v for k, v in master.fields.items() if k not in ("Categories",)}
            attended = store.new_item(other_mb, other_mb.folder("calendar"))
            attended.fields = {k: calendar.copy(v) for k, v in copy_fields.items()}
            attended.fields["MyResponseType"] = el(t("MyResponseType"), "Accept")
        # All-day items.
        for n in range(2):
            start = at(rng.randint(-7, 35), 0)
            _add(
                sandbox,
                store,
                mb,
                Subject=["Conference", "Offsite"][n],
                Start=fmt_datetime(start),
                End=fmt_datetime(start + dt.timedelta(days=n + 1)),
                IsAllDayEvent="true",
                LegacyFreeBusyStatus="Free" if n == 0 else "OOF",
                **tzs(),
            )
        # Private items.
        for n in range(2):
            start = at(rng.randint(-5, 30), 12)
            _add(
                sandbox,
                store,
                mb,
                Subject=["Doctor", "Personal errand"][n],
                Sensitivity="Private",
                Start=fmt_datetime(start),
                End=fmt_datetime(start + dt.timedelta(hours=1)),
                **tzs(),
            )
        # A weekly series: started two weeks ago, ten occurrences; one moved, one deleted.
        first = at(-14, 10)
        weekday = first.strftime("%A")
        recurrence = el(
            t("Recurrence"),
            children=[
                el(t("WeeklyRecurrence"), children=[el(t("Interval"), "1"), el(t("DaysOfWeek"), weekday)]),
                el(
                    t("NumberedRecurrence"),
                    children=[el(t("StartDate"), first.date().isoformat()), el(t("NumberOfOccurrences"), "10")],
                ),
            ],
        )
        series = _add(
            sandbox,
            store,
            mb,
            Subject="Weekly pipeline sync",
            Start=fmt_datetime(first),
            End=fmt_datetime(first + dt.timedelta(minutes=45)),
            Recurrence=recurrence,
            Categories=cats(SALESFORCE) if idx % 2 == 0 else None,
            **tzs(),
        )
        starts = calendar.occurrence_starts(series)
        moved = int(starts[3].timestamp())
        series.exceptions[moved] = {
            "Start": el(t("Start"), fmt_datetime(starts[3] + dt.timedelta(hours=1))),
            "End": el(t("End"), fmt_datetime(starts[3] + dt.timedelta(hours=1, minutes=45))),
            "Subject": el(t("Subject"), "Weekly pipeline sync (moved)"),
        }
        series.deleted_occurrences.add(int(starts[5].timestamp()))
        store.touch(series)
        # The master category list on the calendar folder.
        xml = category_list_xml([(SALESFORCE, 7)] + USER_CATEGORIES, zlib.crc32(rep.email.encode()))
        folder = mb.folder("calendar")
        from .store import change_key

        folder.user_configs["CategoryList"] = {
            "XmlData": el(t("XmlData"), base64.b64encode(xml).decode("ascii")),
            "_changekey": el(t("ChangeKey"), change_key(store.next_seq())),
        }
