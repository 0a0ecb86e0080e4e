"""Connections: the page, the Exchange service account, and removing a stored connection.

Salesforce (flows, Test connection, Connect Salesforce) lives in `admin_panel.salesforce_views`. Secrets are
stored encrypted (`sync.connections`) and never shown back: the page says only whether a secret is set.

Changing the Exchange endpoint, user name or authentication needs the password again (a stored password never
goes to an endpoint it was not entered for); in production the endpoint must be https.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for

from admin_panel import audit
from admin_panel.blueprint import bp
from admin_panel.salesforce_status import status as salesforce_status
from admin_panel.views import actor
from backend.globals import db_session, settings
from sync import connections
from sync.connectors.salesforce_auth import FLOW_LABELS, FLOWS

EXCHANGE_AUTH_TYPES = ("basic", "oauth")
EXCHANGE_VERSIONS = ("Exchange2013_SP1", "Exchange2016", "Exchange2013", "Exchange2010_SP2")


def _status() -> dict:
    db = db_session()
    out = {}
    for service in connections.SERVICES:
        try:
            stored = connections.load(db, service, settings().secret_key)
            out[service] = {"config": stored.config, "has_secret": bool(stored.secrets)} if stored else None
        except connections.SecretError as exc:
            out[service] = {"config": {}, "has_secret": False, "error": str(exc)}
    return out


def render(errors: list[str] | None = None, exchange_form: dict | None = None, status: int = 200,
           salesforce_form: dict | None = None):  # fmt: skip
    current = _status()
    s = settings()
    exchange = exchange_form or {
        "endpoint": (current["exchange"] or {}).get("config", {}).get("endpoint", s.exchange_endpoint),
        "username": (current["exchange"] or {}).get("config", {}).get("username", s.exchange_username),
        "auth_type": (current["exchange"] or {}).get("config", {}).get("auth_type", s.exchange_auth_type),
        "version": (current["exchange"] or {}).get("config", {}).get("version", s.exchange_version),
    }
    salesforce = salesforce_status()
    if salesforce_form:
        salesforce["form"] = {**salesforce["form"], **salesforce_form}
    body = render_template(
        "admin/connections.html", current=current, errors=errors or [], exchange=exchange,
        auth_types=EXCHANGE_AUTH_TYPES, versions=EXCHANGE_VERSIONS, sf=salesforce, flows=FLOWS,
        flow_labels=FLOW_LABELS, env_exchange_password=bool(s.exchange_password),
    )  # fmt: skip
    return body, status


@bp.get("/connections")
def connection_list():
    return render()


@bp.post("/connections/<any(salesforce, exchange):service>/disconnect")
def connection_delete(service: str):
    db = db_session()
    before = _status()[service]
    if connections.delete(db, service):
        audit.record(db, actor=actor(), action=f"connection.{service}.delete", target=f"connection:{service}",
                     before=before and before["config"])  # fmt: skip
        db.commit()
        flash(f"The stored {service} connection was removed; the environment's settings apply again.")
    return redirect(url_for("admin.connection_list"), 303)


@bp.post("/connections/exchange")
def exchange_save():
    db = db_session()
    form = {k: request.form.get(k, "").strip() for k in ("endpoint", "username", "auth_type", "version")}
    password = request.form.get("password", "")
    errors = []
    parts = urlsplit(form["endpoint"])
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        errors.append("The EWS endpoint must be a URL such as https://mail.example.com/EWS/Exchange.asmx.")
    if not form["username"]:
        errors.append("The service account's user name is required (it impersonates every synced mailbox).")
    if form["auth_type"] not in EXCHANGE_AUTH_TYPES:
        errors.append(f"The authentication must be one of {', '.join(EXCHANGE_AUTH_TYPES)}.")
    if form["version"] not in EXCHANGE_VERSIONS:
        errors.append(f"The EWS version must be one of {', '.join(EXCHANGE_VERSIONS)}.")
    existing = None
    try:
        existing = connections.load(db, "exchange", settings().secret_key)
    except connections.SecretError:
        pass
    if settings().environment == "production" and parts.scheme != "https":
        errors.append("The EWS endpoint must be an https URL in production (the password travels with every call).")
    moved = existing is not None and any(existing.config.get(k, "") != form[k]
                                         for k in ("endpoint", "username", "auth_type"))  # fmt: skip
    if not password and moved:
        errors.append("Enter the service account's password again: the endpoint, user name or authentication "
                      "changed, and the stored password is only sent where it was entered for.")  # fmt: skip
    elif not password and not (existing and existing.secrets.get("password")):
        errors.append("The service account's password is required.")
    if errors:
        return render(errors, exchange_form=form, status=400)
    secrets_ = {"password": password or existing.secrets["password"]}
    before = existing.config if existing else None
    connections.save(db, connections.StoredConnection("exchange", form, secrets_), settings().secret_key)
    audit.record(db, actor=actor(), action="connection.exchange", target="connection:exchange", before=before,
                 after={**form, "password": "(changed)" if password else "(kept)"})  # fmt: skip
    db.commit()
    flash("Exchange service account saved.")
    return redirect(url_for("admin.connection_list"), 303)
