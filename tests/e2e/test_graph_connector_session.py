"""Sync sessions with the Graph connector as the mailbox's calendar: the engine unchanged, both directions,
quiet sessions at the request floor, and no meeting message from any sync write. (Running every engine test on
both protocols is g16c's fixture parameter; these are the Graph connector's own smoke tests.)"""

from __future__ import annotations

import datetime as dt

import pytest

from sync.session import run_session
from tests.e2e.actors import at
from tests.e2e.graph_support import make_calendar

UTC = dt.UTC
# The sessions here take the Graph calendar themselves (`graph_sync`): the mailbox is a Graph one, never EWS.
pytestmark = pytest.mark.parametrize("exchange_protocol", ["graph"], indirect=True)


@pytest.fixture
def graph_sync(engine, world, graph_info, graph_admin):
    def sync():
        exchange = make_calendar(graph_info, engine.email)
        try:
            result = run_session(engine.factory, engine.email, salesforce=engine.runtime.salesforce(engine.settings),
                                 exchange=exchange)  # fmt: skip
        finally:
            exchange.close()
        assert result.status != "failed", result.error
        return result

    return sync


def test_both_directions_through_graph(graph_sync, world, graph_admin):
    outlook, sf = world.outlook(), world.salesforce()
    outlook.create("Pricing review", at(2, 10), at(2, 11, 30), location="Room 4")
    first = graph_sync()
    assert first.created["salesforce"] == 1
    event = sf.find_event("Pricing review")
    assert event["StartDateTime"] == at(2, 10).astimezone(UTC) and event["Location"] == "Room 4"

    sf.create_event(Subject="Call with Globex", StartDateTime=at(1, 9), EndDateTime=at(1, 9, 30))
    second = graph_sync()
    assert second.created["exchange"] == 1
    item = outlook.find("Call with Globex")
    assert item["categories"] == ["Salesforce"] and item["start"] == at(1, 9).astimezone(UTC)

    sf.update("Event", event["Id"], Location="Acme HQ")
    third = graph_sync()
    assert third.updated["exchange"] == 1
    assert outlook.find("Pricing review")["location"] == "Acme HQ"

    graph_sync()  # settles the cursor past our own writes
    quiet = graph_sync()
    assert quiet.writes == 0 and quiet.api_calls["exchange"] == 1  # one delta request
    assert world.engine_meeting_messages() == []
