"""Connectors: the only code in ``sync`` that talks to Salesforce or Exchange.

The engine sees their protocols and plain data in `sync.connectors.base`; `sync.connectors.ews` (exchangelib),
`sync.connectors.graph` (Microsoft Graph over requests) and `sync.connectors.salesforce` (simple-salesforce)
implement them, and only `sync.runtime` builds them.
"""
