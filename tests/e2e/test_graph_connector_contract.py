"""The Microsoft Graph connector passes the connector contract against the Graph sandbox (the EWS and
Salesforce connectors run it in `tests/e2e/test_connector_contract.py`)."""

from __future__ import annotations

import pytest

from tests.connectors.contract import ExchangeCalendarContract
from tests.e2e.graph_support import graph_admin, graph_calendar, graph_info  # noqa: F401 - fixtures


class TestGraphCalendar(ExchangeCalendarContract):
    @pytest.fixture
    def calendar(self, graph_calendar):  # noqa: F811
        return graph_calendar
