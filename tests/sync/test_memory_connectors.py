"""The in-memory stand-ins pass the connector contract (the same suite the real connectors pass against the
sandboxes in tests/e2e/test_connector_contract.py)."""

from __future__ import annotations

import pytest

from tests.connectors.contract import ExchangeCalendarContract, SalesforceOrgContract
from tests.connectors.memory import MemoryCalendar, MemoryOrg


class TestMemoryCalendar(ExchangeCalendarContract):
    @pytest.fixture
    def calendar(self):
        return MemoryCalendar()


class TestMemoryOrg(SalesforceOrgContract):
    @pytest.fixture
    def org(self):
        return MemoryOrg()

    @pytest.fixture
    def owner_id(self):
        return "005000000000000001"
