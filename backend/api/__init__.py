"""The add-in API, ``/api/v1``: every view needs a bearer access token unless marked ``@public``.

Each route here is described in ``backend/api/openapi.py``; ``tests/backend/test_openapi.py`` fails when a
route and the document disagree (paths, methods, public or not, response shapes).
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata

from flask import Blueprint, Flask, jsonify
from sqlalchemy import select

from backend.api import openapi
from backend.auth import current_caller, protect, public
from backend.globals import db_session
from sync.models import Mailbox, SyncSession, utcnow

PREFIX = "/api/v1"

bp = Blueprint("api", __name__, url_prefix=PREFIX)
protect(bp)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def _version() -> str:
    try:
        return metadata.version("calsync")
    except metadata.PackageNotFoundError:
        return "unknown"


def mailbox_state(mailbox: Mailbox, now: dt.datetime) -> str:
    """``disabled``, ``backing_off`` (sync paused after errors until ``backoff_until``) or ``active``."""
    if not mailbox.enabled:
        return "disabled"
    if mailbox.backoff_until is not None and mailbox.backoff_until > now:
        return "backing_off"
    return "active"


@bp.get("/health")
@public
def health():
    """Liveness: the process answers. It touches no database or remote service."""
    return jsonify({"status": "ok", "version": _version()})


@bp.get("/openapi.json")
@public
def openapi_document():
    return jsonify(openapi.document())


@bp.get("/me")
def me():
    """The caller, their mailbox's sync state and their Salesforce user."""
    caller = current_caller()
    mailbox = caller.mailbox
    last = (
        db_session()
        .scalars(
            select(SyncSession)
            .where(SyncSession.mailbox_id == mailbox.id)
            .order_by(SyncSession.started_at.desc(), SyncSession.id.desc())
            .limit(1)
        )
        .first()
    )
    return jsonify(
        {
            "email": caller.email,
            "name": caller.name,
            "salesforce_user_id": mailbox.salesforce_user_id,
            "mailbox": {
                "state": mailbox_state(mailbox, utcnow()),
                "enabled": mailbox.enabled,
                "next_sync_at": _iso(mailbox.next_sync_at),
                "backoff_until": _iso(mailbox.backoff_until),
                "backoff_reason": mailbox.backoff_reason,
                "last_session": None
                if last is None
                else {
                    "status": last.status,
                    "started_at": _iso(last.started_at),
                    "finished_at": _iso(last.finished_at),
                },
            },
        }
    )


def init_app(app: Flask) -> None:
    # The other areas add their views to ``bp`` when imported.
    from backend.api import items, sync_views  # noqa: F401

    app.register_blueprint(bp)
