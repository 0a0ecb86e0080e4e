"""The Microsoft Graph connector passes the connector contract against the Graph sandbox (the EWS and
Salesforce connectors run it in `tests/e2e/test_connector_contract.py`)."""

from __future__ import annotations

import pytest

from tests.connectors.contract import ExchangeCalendarContract


class TestGraphCalendar(ExchangeCalendarContract):
    @pytest.fixture
    def calendar(self, graph_calendar):
        return graph_calendar
