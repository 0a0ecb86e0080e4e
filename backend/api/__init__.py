"""The add-in API, ``/api/v1``: every view needs a bearer access token unless marked ``@public``.

Each view declares its parameters, body and answers with the schemas of ``backend/api/schemas.py``
(``@bp.arguments``, ``@bp.response``, ``@bp.errors``): they check the request, serialise the answer and make
the OpenAPI document served at ``/api/v1/openapi.json`` (``backend/api/spec.py``).
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata

from flask import Flask, current_app, jsonify
from sqlalchemy import select

from backend.api import schemas, spec
from backend.auth import current_caller, protect, public
from backend.globals import db_session
from sync.models import Mailbox, SyncSession, utcnow

PREFIX = "/api/v1"

bp = spec.Blueprint("api", __name__, url_prefix=PREFIX)
protect(bp)


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
@bp.response(200, schemas.Health, description="The process is alive.")
def health():
    """Liveness check

    Answers while the process runs; it touches no database or remote service.
    """
    return {"status": "ok", "version": _version()}


@bp.get("/openapi.json")
@public
@bp.response(200, {"type": "object"}, description="The OpenAPI document of this API.")
def openapi_document():
    """This document"""
    return jsonify(spec.document(current_app))


@bp.get("/me")
@bp.response(200, schemas.Me, description="The caller.")
def me():
    """The signed-in user and their mailbox

    The caller's e-mail (the token's `preferred_username`), display name, Salesforce user id and the sync state
    of their mailbox.
    """
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
    return {
        "email": caller.email,
        "name": caller.name,
        "salesforce_user_id": mailbox.salesforce_user_id,
        "mailbox": {
            "state": mailbox_state(mailbox, utcnow()),
            "enabled": mailbox.enabled,
            "next_sync_at": mailbox.next_sync_at,
            "backoff_until": mailbox.backoff_until,
            "backoff_reason": mailbox.backoff_reason,
            "last_session": last,
        },
    }


def init_app(app: Flask) -> None:
    # The other areas add their views to ``bp`` when imported.
    from backend.api import items, sync_views  # noqa: F401

    spec.register(app, bp, PREFIX)
