"""The real connectors pass the connector contract against the sandboxes: EWS (exchangelib) on the Exchange
sandbox, simple-salesforce on the Salesforce sandbox (the in-memory stand-ins pass the same suite)."""

from __future__ import annotations

import pytest

from tests.connectors.contract import ExchangeCalendarContract, SalesforceOrgContract


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
