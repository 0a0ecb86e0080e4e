"""What a request reaches the app's shared parts through, in the manner of Flask's own ``globals.py``: views,
blueprints and the admin panel import these, never the app factory (`backend.app`), which installs them.

``db_session()`` is the request's database session: opened on first use, closed (and so rolled back, unless
committed) at teardown.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

DATABASE_KEY = "calsync_db"


@dataclass(frozen=True)
class Database:
    engine: Engine
    session_factory: sessionmaker[Session]


def install_database(app: Flask, database: Database) -> None:
    app.extensions[DATABASE_KEY] = database
    app.teardown_appcontext(_close_db_session)


def db_session() -> Session:
    """The request's database session (opened on first use, closed, and so rolled back, at teardown)."""
    if "calsync_db_session" not in g:
        g.calsync_db_session = current_app.extensions[DATABASE_KEY].session_factory()
    return g.calsync_db_session


def _close_db_session(_exc: BaseException | None) -> None:
    session = g.pop("calsync_db_session", None)
    if session is not None:
        session.close()
