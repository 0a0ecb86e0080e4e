"""Task pane fixtures: the real backend served over HTTP in a thread, on the sandboxes, Redis db 11 for RQ, and
Debian's Chromium through Playwright (``tests/browser.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.server import ServerThread
from tests.backend.addin_fixtures import *  # noqa: F403


@pytest.fixture
def backend_url(api_app) -> Iterator[str]:
    """The backend app served by werkzeug (``make_server``) in a thread: the task pane at ``{url}/addin/``."""
    server = ServerThread(api_app, public_host="127.0.0.1")
    try:
        yield server.url
    finally:
        server.stop()
