"""Connectors: the only code in ``sync`` that talks to Salesforce or Exchange."""
