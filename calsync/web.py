"""The web entry point: the backend app with the admin panel mounted on it.

Production: ``gunicorn 'calsync.web:create_app()'`` behind TLS (settings come from the environment; see
``calsync config --docs``). Development: ``calsync serve``. It sits on the roof with the CLI: it may import
every layer, and nothing imports it.
"""

from __future__ import annotations

from flask import Flask

import admin_panel
from backend.app import create_backend
from calsync.settings import Settings


def create_app(settings: Settings | None = None, test_config: dict | None = None) -> Flask:
    """The whole web app: add-in API, task pane, admin panel and operator view. ``settings`` defaults to
    ``Settings.from_env()``; ``test_config`` updates ``app.config`` last (e.g. ``{"TESTING": True}``)."""
    app = create_backend(Settings.from_env() if settings is None else settings, test_config)
    admin_panel.init_app(app)
    return app
