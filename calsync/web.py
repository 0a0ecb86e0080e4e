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
from sync.runtime import Runtime

# A web request waits at most this long on Redis (queue and panel pages), then answers without it.
REDIS_TIMEOUT = 5.0


def create_app(
    settings: Settings | None = None, test_config: dict | None = None, *, runtime: Runtime | None = None
) -> Flask:
    """The whole web app: add-in API, task pane, admin panel and operator view. ``settings`` defaults to
    ``Settings.from_env()``; ``test_config`` updates ``app.config`` last (e.g. ``{"TESTING": True}``); a
    process that has its runtime already (``calsync demo``) passes it instead of settings."""
    if runtime is None:
        settings = Settings.from_env() if settings is None else settings
        runtime = Runtime.build(settings, redis_timeout=REDIS_TIMEOUT)
    app = create_backend(runtime, test_config)
    admin_panel.init_app(app)
    return app
