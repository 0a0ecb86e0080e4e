"""FindItem through exchangelib: IndexedPageItemView paging, Restrictions on ordinary fields, Categories and
extended properties (And/Or/Not/Exists/Contains and comparisons), SortOrder."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, ExtendedProperty, Q
from exchangelib.services import FindItem

LONDON = EWSTimeZone("Europe/London")


class Key(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "FindKey"
    property_type = "String"


class Score(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "FindScore"
    property_type = "Integer"


@pytest.fixture(scope="module", autouse=True)
def _registered():
    CalendarItem.register("find_key", Key)
    CalendarItem.register("find_score", Score)
    yield
    CalendarItem.deregister("find_key")
    CalendarItem.deregister("find_score")


@pytest.fixture
def items(alice):
    base = EWSDateTime(2026, 10, 1, 9, tzinfo=LONDON)
    specs = [
        ("Acme kick-off", ["Salesforce"], "k0", 5, "Busy"),
        ("Globex renewal", ["Salesforce", "Customer"], "k1", 15, "Tentative"),
        ("Team lunch", ["Internal"], None, None, "Free"),
        ("Acme follow-up", [], "k3", 25, "Busy"),
        ("Dentist", None, None, None, "OOF"),
    ]
    created = []
    for n, (subject, cats, key, score, fb) in enumerate(specs):
        item = CalendarItem(
            account=alice,
            folder=alice.calendar,
            subject=subject,
            categories=cats,
            find_key=key,
            find_score=score,
            legacy_free_busy_status=fb,
            start=base + dt.timedelta(days=n),
            end=base + dt.timedelta(days=n, hours=1),
        )
        item.save(send_meeting_invitations="SendToNone")
        created.append(item)
    return created


def subjects(qs):
    return sorted(i.subject for i in qs)


def test_restrictions_on_fields_categories_and_extended_properties(alice, items):
    cal = alice.calendar
    assert subjects(cal.filter(categories__contains=["Salesforce"])) == ["Acme kick-off", "Globex renewal"]
    assert subjects(cal.filter(categories__contains=["Salesforce", "Customer"])) == ["Globex renewal"]
    assert subjects(cal.filter(subject__icontains="acme")) == ["Acme follow-up", "Acme kick-off"]
    assert subjects(cal.filter(subject__contains="acme")) == []  # Exact comparison is case-sensitive
    assert subjects(cal.filter(subject__startswith="Team")) == ["Team lunch"]
    assert subjects(cal.filter(find_key="k1")) == ["Globex renewal"]
    assert subjects(cal.filter(find_key__exists=True)) == ["Acme follow-up", "Acme kick-off", "Globex renewal"]
    assert subjects(cal.filter(find_key__exists=False)) == ["Dentist", "Team lunch"]
    assert subjects(cal.filter(find_score__gt=5)) == ["Acme follow-up", "Globex renewal"]
    assert subjects(cal.filter(find_score__gte=5, find_score__lt=25)) == ["Acme kick-off", "Globex renewal"]
    assert subjects(cal.filter(Q(legacy_free_busy_status="Free") | Q(legacy_free_busy_status="OOF"))) == [
        "Dentist",
        "Team lunch",
    ]
    assert subjects(cal.filter(~Q(legacy_free_busy_status="Busy"))) == ["Dentist", "Globex renewal", "Team lunch"]
    assert subjects(cal.exclude(subject="Dentist").filter(start__gte=EWSDateTime(2026, 10, 3, tzinfo=LONDON))) == [
        "Acme follow-up",
        "Team lunch",
    ]
    assert subjects(cal.filter(end__lt=EWSDateTime(2026, 10, 2, tzinfo=LONDON))) == ["Acme kick-off"]
    assert subjects(cal.filter(subject__in=["Dentist", "Team lunch"])) == ["Dentist", "Team lunch"]


def test_sort_order(alice, items):
    assert [i.subject for i in alice.calendar.all().order_by("-start")][:2] == ["Dentist", "Acme follow-up"]
    assert [i.subject for i in alice.calendar.all().order_by("subject")][0] == "Acme follow-up"
    assert [i.find_score for i in alice.calendar.filter(find_score__exists=True).order_by("-find_score")] == [25, 15, 5]


def test_indexed_paging(alice, items):
    # Two items a page: exchangelib follows IndexedPagingOffset until IncludesLastItemInRange.
    qs = alice.calendar.all().order_by("start")
    qs.page_size = 2
    assert [i.subject for i in qs] == [i.subject for i in items]
    svc = FindItem(account=alice, page_size=2)
    pages = []
    for offset in (0, 2, 4):
        payload = svc.get_payload(
            folders=[alice.calendar],
            additional_fields=None,
            restriction=None,
            order_fields=None,
            query_string=None,
            shape="IdOnly",
            depth="Shallow",
            calendar_view=None,
            page_size=2,
            offset=offset,
        )
        message = svc._get_response_xml(payload=payload)[0]
        root = message.find("{http://schemas.microsoft.com/exchange/services/2006/messages}RootFolder")
        pages.append(
            (root.get("TotalItemsInView"), root.get("IndexedPagingOffset"), root.get("IncludesLastItemInRange"))
        )
    assert pages == [("5", "2", "false"), ("5", "4", "false"), ("5", "5", "true")]


def test_count_and_only(alice, items):
    assert alice.calendar.filter(categories__contains=["Internal"]).count() == 1
    got = alice.calendar.filter(subject="Dentist").only("subject", "start")[0]
    assert got.subject == "Dentist" and got.location is None
