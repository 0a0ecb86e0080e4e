"""The real connectors pass the connector contract against the sandboxes: EWS (exchangelib) on the Exchange
sandbox, simple-salesforce on the Salesforce sandbox (the in-memory stand-ins pass the same suite)."""

from __future__ import annotations

import pytest

from tests.connectors.contract import ExchangeCalendarContract, SalesforceOrgContract

# The contract reads and writes the sandboxes only, never the database: one database is enough. The EWS calendar
# runs on EWS (the Graph calendar's contract is tests/e2e/test_graph_connector_contract.py), and the Salesforce
# connector does not depend on the mailbox's protocol.
pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.parametrize("exchange_protocol", ["ews"], indirect=True),
]


class TestEwsCalendar(ExchangeCalendarContract):
    @pytest.fixture
    def calendar(self, engine):
        connector = engine.runtime.exchange(engine.email, engine.settings)
        yield connector
        connector.close()


class TestSalesforceConnector(SalesforceOrgContract):
    @pytest.fixture
    def org(self, engine):
        return engine.runtime.salesforce(engine.settings)

    @pytest.fixture
    def owner_id(self, world):
        return world.rep.salesforce_user_id
