"""Latency samples: which writes count (pure), and p50/p95 per day over a migrated database."""

from __future__ import annotations

import datetime as dt

import pytest

from sync.entry import Entry
from sync.models import LatencySample, Mailbox
from sync.planner.model import (
    CreateInExchange,
    CreateInSalesforce,
    DeleteExchange,
    ExchangeChange,
    LinkState,
    RemoveCategory,
    SalesforceChange,
    UpdateExchange,
    UpdateSalesforce,
)
from sync.push.latency import (
    TO_OUTLOOK,
    TO_SALESFORCE,
    Sample,
    latency_by_day,
    percentile,
    record_samples,
    samples_from_session,
)

T = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
ENTRY = Entry(kind="event", subject="x", start=T, end=T + dt.timedelta(hours=1))
LINK = LinkState(sync_key="k1", mailbox="rep@example.com")


def test_samples_follow_each_write_to_the_edit_it_carries():
    links = [LinkState(sync_key="k3", mailbox="m", exchange_id="EX3", salesforce_id="SF3"),
             LinkState(sync_key="k4", mailbox="m", exchange_id="EX4", salesforce_id="SF4")]  # fmt: skip
    actions = [
        CreateInSalesforce("k1", kind="event", salesforce_object="Event", exchange_id="EX1", entry=ENTRY, link=LINK),
        CreateInExchange("k2", kind="event", salesforce_id="SF2", entry=ENTRY, link=LINK),
        UpdateSalesforce("k3", kind="event", salesforce_object="Event", salesforce_id="SF3", fields=("subject",),
                         entry=ENTRY, current=ENTRY),  # found through its link: the Exchange id EX3
        UpdateExchange("k4", kind="event", exchange_id="EX4", change_key="c", fields=("subject",), entry=ENTRY,
                       current=ENTRY),  # found through its link: the Salesforce id SF4
        UpdateExchange("k5", kind="event", exchange_id="EX5", change_key="c", fields=("subject",), entry=ENTRY,
                       current=ENTRY, revert=True),  # a revert carries no edit across
        DeleteExchange("k6", kind="event", exchange_id="EX6", change_key=None, reason="deleted"),  # no time known
        RemoveCategory("k1", kind="event", exchange_id="EX1", change_key=None, category="c"),  # not a sync write
        CreateInSalesforce("k7", kind="event", salesforce_object="Event", exchange_id="EX7", entry=ENTRY, link=LINK),
    ]  # fmt: skip
    ex = [ExchangeChange("EX1", modified_at=T - dt.timedelta(seconds=12)),
          ExchangeChange("EX3", modified_at=T - dt.timedelta(seconds=30)),
          ExchangeChange("EX7", modified_at=T - dt.timedelta(seconds=5))]  # fmt: skip
    sf = [SalesforceChange("SF2", modified_at=T - dt.timedelta(seconds=40)),
          SalesforceChange("SF4", modified_at=T + dt.timedelta(seconds=2)),  # clock skew: counts as 0
          SalesforceChange("SF6")]  # fmt: skip
    samples = samples_from_session(actions, {"k7"}, ex, sf, T, links)  # k7 failed to write
    assert samples == [Sample(TO_SALESFORCE, 12.0), Sample(TO_OUTLOOK, 40.0), Sample(TO_SALESFORCE, 30.0),
                       Sample(TO_OUTLOOK, 0.0)]  # fmt: skip


@pytest.mark.parametrize(
    ("values", "p50", "p95"),
    [([], None, None), ([7.0], 7.0, 7.0), ([1.0, 2.0], 1.0, 2.0), ([float(i) for i in range(1, 21)], 10.0, 19.0),
     ([float(i) for i in range(1, 101)], 50.0, 95.0)],
)  # fmt: skip
def test_percentile_is_nearest_rank(values, p50, p95):
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (p50, p95)


def test_latency_by_day(db_session):
    mailbox = Mailbox(email="rep@example.com")
    db_session.add(mailbox)
    db_session.commit()
    today = dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.UTC)
    yesterday = today - dt.timedelta(days=1)
    record_samples(db_session, mailbox.id, [Sample(TO_OUTLOOK, 3.0)], written_at=today - dt.timedelta(days=40))
    record_samples(db_session, mailbox.id, [Sample(TO_OUTLOOK, 90.0)], written_at=yesterday, trigger="schedule")
    record_samples(db_session, mailbox.id, [Sample(TO_SALESFORCE, float(s)) for s in range(1, 21)], written_at=today,
                   trigger="push")  # fmt: skip
    db_session.commit()

    by_day = latency_by_day(db_session, 3, now=today)
    assert [d["day"] for d in by_day[TO_SALESFORCE]] == ["2026-12-02", "2026-12-03", "2026-12-04"]
    assert by_day[TO_SALESFORCE][2] == {"day": "2026-12-04", "count": 20, "p50": 10.0, "p95": 19.0}
    assert by_day[TO_SALESFORCE][0] == {"day": "2026-12-02", "count": 0, "p50": None, "p95": None}
    assert by_day[TO_OUTLOOK][1] == {"day": "2026-12-03", "count": 1, "p50": 90.0, "p95": 90.0}
    assert latency_by_day(db_session, 3, now=today, trigger="push")[TO_OUTLOOK][1]["count"] == 0
    # The 40-day-old sample was pruned by the later inserts' retention (30 days).
    assert db_session.query(LatencySample).count() == 21
