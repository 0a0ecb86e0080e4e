"""End-to-end tests: the engine against the Salesforce and Exchange sandboxes over HTTP, with actors that play the
users on both sides through the real clients (see ``conftest.py`` and ``actors.py``)."""
