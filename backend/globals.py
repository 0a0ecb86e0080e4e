"""What a request reaches the process's shared parts through, in the manner of Flask's own ``globals.py``:
views, blueprints and the admin panel import these, never the app factory (`backend.app`), which installs the
runtime they read.

- `runtime()`: the process's `sync.runtime.Runtime` (database, Redis pool, connector factories);
- `settings()`: its settings (never ``app.config``);
- `db_session()`: the request's database session, opened on first use and closed (so rolled back unless
  committed) at teardown.
"""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from calsync.settings import Settings
from sync.runtime import Runtime

RUNTIME_KEY = "calsync_runtime"


def install_runtime(app: Flask, runtime: Runtime) -> None:
    app.extensions[RUNTIME_KEY] = runtime
    app.teardown_appcontext(_close_db_session)


def runtime_of(app: Flask) -> Runtime:
    """The app's runtime, outside a request (``init_app`` functions)."""
    return app.extensions[RUNTIME_KEY]


def runtime() -> Runtime:
    return runtime_of(current_app)


def settings() -> Settings:
    return runtime().settings


def db_session() -> Session:
    """The request's database session (opened on first use, closed, and so rolled back, at teardown)."""
    if "calsync_db_session" not in g:
        g.calsync_db_session = runtime().session_factory()
    return g.calsync_db_session


def _close_db_session(_exc: BaseException | None) -> None:
    session = g.pop("calsync_db_session", None)
    if session is not None:
        session.close()
