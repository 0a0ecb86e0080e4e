"""Connections: Salesforce through OAuth 2.0 (web-server flow with PKCE), the Exchange service account.

Salesforce: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm — the admin
is sent to ``SALESFORCE_LOGIN_URL/services/oauth2/authorize`` (the local sandbox's own authorize page in
development), comes back to ``/admin/connections/salesforce/callback`` with a code, and we trade it for tokens
at ``/services/oauth2/token``. Tokens and the Exchange password are stored encrypted (`sync.connections`) and
never shown back: the page says only whether a secret is set.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode, urlsplit

import requests
from flask import flash, redirect, render_template, request, session, url_for

from admin_panel import audit
from admin_panel.blueprint import bp
from admin_panel.views import actor
from backend.globals import db_session, settings
from sync import connections
from sync.models import utcnow

OAUTH_SESSION_KEY = "sf_oauth"
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


def _render(errors: list[str] | None = None, exchange_form: dict | None = None, status: int = 200):
    current = _status()
    s = settings()
    exchange = exchange_form or {
        "endpoint": (current["exchange"] or {}).get("config", {}).get("endpoint", s.exchange_endpoint),
        "username": (current["exchange"] or {}).get("config", {}).get("username", s.exchange_username),
        "auth_type": (current["exchange"] or {}).get("config", {}).get("auth_type", s.exchange_auth_type),
        "version": (current["exchange"] or {}).get("config", {}).get("version", s.exchange_version),
    }
    body = render_template(
        "admin/connections.html", current=current, errors=errors or [], exchange=exchange,
        auth_types=EXCHANGE_AUTH_TYPES, versions=EXCHANGE_VERSIONS, oauth_ready=bool(s.salesforce_client_id),
        login_url=s.salesforce_login_url, env_salesforce=bool(s.salesforce_access_token),
        env_exchange_password=bool(s.exchange_password),
    )  # fmt: skip
    return body, status


@bp.get("/connections")
def connection_list():
    return _render()


def _callback_url() -> str:
    return url_for("admin.salesforce_callback", _external=True)


@bp.get("/connections/salesforce/start")
def salesforce_start():
    """Send the admin to Salesforce's authorize page (state and a PKCE verifier kept in the session)."""
    s = settings()
    if not s.salesforce_client_id:
        return _render(["Set SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET (the connected app) first."], status=400)
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(24)
    session[OAUTH_SESSION_KEY] = {"state": state, "verifier": verifier}
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = {
        "response_type": "code", "client_id": s.salesforce_client_id, "redirect_uri": _callback_url(),
        "state": state, "code_challenge": challenge, "code_challenge_method": "S256", "scope": "api refresh_token",
    }  # fmt: skip
    return redirect(f"{s.salesforce_login_url.rstrip('/')}/services/oauth2/authorize?{urlencode(query)}", 302)


@bp.get("/connections/salesforce/callback")
def salesforce_callback():
    s = settings()
    pending = session.pop(OAUTH_SESSION_KEY, None)
    if pending is None or not secrets.compare_digest(pending.get("state", ""), request.args.get("state", "")):
        return _render(["The Salesforce answer does not belong to a connection started here (state mismatch). "
                        "Press Connect Salesforce again."], status=400)  # fmt: skip
    if request.args.get("error"):
        message = request.args.get("error_description") or request.args["error"]
        return _render([f"Salesforce refused the connection: {message}"], status=400)
    code = request.args.get("code", "")
    if not code:
        return _render(["Salesforce sent no authorization code."], status=400)
    try:
        answer = requests.post(
            f"{s.salesforce_login_url.rstrip('/')}/services/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": _callback_url(),
                  "client_id": s.salesforce_client_id, "client_secret": s.salesforce_client_secret,
                  "code_verifier": pending["verifier"]},
            timeout=s.http_timeout, verify=s.salesforce_ca_file or True,
        )  # fmt: skip
        body = answer.json()
    except (requests.RequestException, ValueError) as exc:
        return _render([f"The Salesforce token request failed: {exc}"], status=502)
    if answer.status_code != 200 or "access_token" not in body:
        return _render(
            [f"Salesforce refused the code: {body.get('error_description') or body.get('error')}"], status=400
        )
    instance = body.get("instance_url", "")
    if urlsplit(instance).scheme != "https":
        return _render([f"Salesforce answered an instance URL that is not https: {instance!r}"], status=400)
    db = db_session()
    before = _status()["salesforce"]
    config = {"instance_url": instance, "identity": body.get("id", ""), "connected_at": utcnow().isoformat(),
              "connected_by": actor()}  # fmt: skip
    stored = connections.StoredConnection(
        "salesforce", config, {"access_token": body["access_token"], "refresh_token": body.get("refresh_token", "")}
    )
    connections.save(db, stored, s.secret_key)
    audit.record(db, actor=actor(), action="connection.salesforce", target="connection:salesforce",
                 before=before and before["config"], after={**config, "secrets": "(encrypted)"})  # fmt: skip
    db.commit()
    flash(f"Salesforce connected: {instance}.")
    return redirect(url_for("admin.connection_list"), 303)


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
    if not password and not (existing and existing.secrets.get("password")):
        errors.append("The service account's password is required.")
    if errors:
        return _render(errors, exchange_form=form, status=400)
    secrets_ = {"password": password or existing.secrets["password"]}
    before = existing.config if existing else None
    connections.save(db, connections.StoredConnection("exchange", form, secrets_), settings().secret_key)
    audit.record(db, actor=actor(), action="connection.exchange", target="connection:exchange", before=before,
                 after={**form, "password": "(changed)" if password else "(kept)"})  # fmt: skip
    db.commit()
    flash("Exchange service account saved.")
    return redirect(url_for("admin.connection_list"), 303)
