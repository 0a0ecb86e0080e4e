"""A local Salesforce org speaking REST API v59.0+ over HTTPS, for tests and the demo.

Unmodified simple-salesforce, built from ``instance_url`` + ``session_id`` (with a session that trusts the
sandbox CA and has ``trust_env = False``), works against it. Modules:

- ``service``: ``SalesforceSandbox``, the WSGI app (auth, limits, faults, admin endpoints, persistence)
- ``rest``: the REST resources (query, sObjects, describe, getUpdated/getDeleted, sObject Collections)
- ``soql`` / ``query``: SOQL tokenizer and parser / semantic checks and evaluation
- ``schema``: the declarative object and field table; ``store``: records, validation, recycle bin
- ``oauth``: authorization-code and refresh-token flows; ``faults``: fault injection and the API budget
- ``seed_data``: the ``empty`` and ``demo`` seeds
"""

from sandbox.salesforce.service import SalesforceSandbox

__all__ = ["SalesforceSandbox"]
