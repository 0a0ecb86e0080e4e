"""The Salesforce connection in the admin panel: flow and its fields, Test connection, Connect Salesforce, and
the banner of a revoked connection.

- ``POST /admin/connections/salesforce``: save the flow (``jwt``, ``client_credentials``, ``refresh_token``,
  ``token``) and its fields. Secrets (consumer secret, private key) are sealed (`sync.secrets`) and never shown
  again; a changed flow, login URL or consumer key needs them entered again, so that a stored secret never
  travels to a URL it was not entered for. Saving drops the stored session: the next call signs in anew.
- ``POST /admin/connections/salesforce/test``: one ``limits/`` call through the connection in force
  (`sync.salesforce_connection.check`): org id, user and API usage, or the exact error.
- Connect Salesforce (refresh-token flow, OAuth 2.0 web-server flow with PKCE,
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm): it starts with a
  CSRF-checked ``POST .../start`` (admins only) whose page moves on to the org's authorize URL; the callback
  takes the answer only for the admin whose session started it (``state`` and account id kept in that
  session) and checks the admin role again. The ``redirect_uri`` comes from ``CALSYNC_PUBLIC_URL`` when it is
  set, never from the request's Host header.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from flask import abort, flash, g, redirect, render_template, request, session, url_for

from admin_panel import audit
from admin_panel.blueprint import bp
from admin_panel.connection_views import render
from admin_panel.salesforce_status import FIELDS, FLOW_SECRETS, SECRET_FIELDS
from admin_panel.salesforce_status import stored as stored_connection
from admin_panel.views import actor
from backend.globals import db_session, runtime, settings
from calsync.settings import ConfigError
from sync import connections, salesforce_connection
from sync.connectors.salesforce_auth import FLOW_LABELS, FLOWS, REVOKED_MESSAGE
from sync.models import utcnow
from sync.salesforce_sessions import revoked

OAUTH_SESSION_KEY = "sf_oauth"


@bp.app_context_processor
def _salesforce_banner() -> dict[str, Any]:
    """Every panel page says so when the Salesforce connection was revoked (sessions cannot run)."""
    if g.get("admin_user") is None or not request.path.startswith("/admin"):
        return {}
    stored = stored_connection()
    return {"salesforce_banner": REVOKED_MESSAGE if stored and revoked(stored.config) else ""}


def _pem_problem(pem: str) -> str | None:
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return "The private key must be an unencrypted PEM RSA private key (-----BEGIN PRIVATE KEY-----)."
    if not isinstance(key, rsa.RSAPrivateKey):
        return "The private key must be an RSA key (JWT bearer is signed RS256)."
    return None


@bp.post("/connections/salesforce")
def salesforce_save():
    s = settings()
    db = db_session()
    form = {k: request.form.get(k, "").strip() for k in FIELDS}
    # The static token's field is "static_token": a page never carries the words of a token it holds.
    typed = {k: request.form.get("static_token" if k == "access_token" else k, "").strip() for k in SECRET_FIELDS}
    flow = form["flow"]
    errors: list[str] = []
    if flow not in FLOWS:
        return render([f"The flow must be one of {', '.join(FLOWS)}."], salesforce_form=form, status=400)
    existing = stored_connection()
    before = dict(existing.config) if existing else {}
    # A secret stays only where it was entered for: same flow, login URL and consumer key.
    same_target = bool(existing) and all(before.get(k, "") == form[k] for k in ("flow", "login_url", "client_id"))
    kept = {k: v for k, v in (existing.secrets if existing and same_target else {}).items()
            if k in FLOW_SECRETS[flow] and v}  # fmt: skip
    secrets_ = {**kept, **{k: v for k, v in typed.items() if v and k in FLOW_SECRETS[flow]}}
    if flow != "token":
        parts = urlsplit(form["login_url"])
        if parts.scheme != "https" or not parts.hostname:
            errors.append("The login URL must be an https URL such as https://login.salesforce.com, "
                          "https://test.salesforce.com or https://acme.my.salesforce.com.")  # fmt: skip
        if not form["client_id"]:
            errors.append("The consumer key (client id) of the External Client App is required.")
    if flow == "jwt":
        if not form["username"]:
            errors.append("The integration user's user name is required (the JWT's subject).")
        if not secrets_.get("private_key"):
            errors.append("Paste the private key (PEM) whose certificate is uploaded to the app"
                          + (" again: the flow, login URL or consumer key changed." if existing and not same_target
                             else "."))  # fmt: skip
        elif typed["private_key"] and (problem := _pem_problem(typed["private_key"])):
            errors.append(problem)
    if flow == "client_credentials" and not secrets_.get("client_secret"):
        errors.append("The consumer secret is required"
                      + (" again: the flow, login URL or consumer key changed." if existing and not same_target
                         else "."))  # fmt: skip
    if flow == "token":
        if s.environment == "production":
            errors.append("A fixed access token is for development and the sandbox only.")
        if urlsplit(form["instance_url"]).scheme != "https":
            errors.append("The instance URL must be an https URL (https://acme.my.salesforce.com).")
        if not secrets_.get("access_token"):
            errors.append("The access token is required.")
    if errors:
        return render(errors, salesforce_form=form, status=400)
    config = {k: form[k] for k in ("flow", "login_url", "client_id", "username") if form[k]}
    if flow == "token":
        config["instance_url"] = form["instance_url"]
    config.update(saved_at=utcnow().isoformat(), saved_by=actor())
    connections.save(db, connections.StoredConnection("salesforce", config, secrets_), s.secret_key)
    audit.record(db, actor=actor(), action="connection.salesforce", target="connection:salesforce",
                 before=before or None, after={**config, "secrets": {k: "(changed)" if typed.get(k) else "(kept)"
                                                                     for k in secrets_}})  # fmt: skip
    db.commit()
    hint = " Press Connect Salesforce to authorize." if flow == "refresh_token" and not secrets_.get("refresh_token") \
        else " Press Test connection to check it."  # fmt: skip
    flash(f"Salesforce connection saved ({FLOW_LABELS[flow]}).{hint}")
    return redirect(url_for("admin.connection_list"), 303)


@bp.post("/connections/salesforce/test")
def salesforce_test():
    try:
        result = salesforce_connection.check(settings(), runtime().db())
    except ConfigError as exc:
        flash(f"Test connection failed: {exc}", "error")
        return redirect(url_for("admin.connection_list"), 303)
    if result.ok:
        flash(f"Test connection succeeded. {result.message}")
    else:
        flash(f"Test connection failed: {result.message}", "error")
    return redirect(url_for("admin.connection_list"), 303)


# -- Connect Salesforce (refresh-token flow) -------------------------------------------------------------------
def _callback_url() -> str:
    """Where Salesforce sends the admin back: under CALSYNC_PUBLIC_URL when set (the Host header is the
    client's to choose), else this request's own URL (local development)."""
    public = settings().public_url.rstrip("/")
    if public:
        return public + url_for("admin.salesforce_callback")
    return url_for("admin.salesforce_callback", _external=True)


def _oauth_app() -> tuple[str, str, str]:
    """(login URL, consumer key, consumer secret) of Connect Salesforce: the stored ones, else the environment's."""
    s = settings()
    stored = stored_connection()
    config = stored.config if stored else {}
    secret = stored.secrets if stored else {}
    return (config.get("login_url") or s.salesforce_login_url, config.get("client_id") or s.salesforce_client_id,
            secret.get("client_secret") or s.salesforce_client_secret)  # fmt: skip


@bp.post("/connections/salesforce/start")
def salesforce_start():
    """Send the admin to Salesforce's authorize page; state, PKCE verifier and account id stay in the session."""
    login_url, client_id, _ = _oauth_app()
    if not client_id:
        return render(["Set the consumer key (client id) of the app first (refresh token flow), or "
                       "SALESFORCE_CLIENT_ID."], status=400)  # fmt: skip
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(24)
    redirect_uri = _callback_url()
    session[OAUTH_SESSION_KEY] = {"state": state, "verifier": verifier, "uid": g.admin_user.id,
                                  "redirect_uri": redirect_uri, "login_url": login_url,
                                  "client_id": client_id}  # fmt: skip
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = {
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": state,
        "code_challenge": challenge, "code_challenge_method": "S256", "scope": "api refresh_token",
    }  # fmt: skip
    # A page that moves on to Salesforce rather than a redirect: the panel's CSP (form-action 'self') stops a
    # form submission from being redirected to another origin.
    authorize_url = f"{login_url.rstrip('/')}/services/oauth2/authorize?{urlencode(query)}"
    return render_template("admin/salesforce_authorize.html", authorize_url=authorize_url)


@bp.get("/connections/salesforce/callback")
def salesforce_callback():
    user = g.admin_user
    if user.role != "admin":  # a GET, so the blueprint's rule for changes does not cover it
        abort(403, description=f"{user.email} may look but not change anything here (role: {user.role}).")
    pending = session.pop(OAUTH_SESSION_KEY, None)
    if (pending is None or pending.get("uid") != user.id
            or not secrets.compare_digest(str(pending.get("state", "")), request.args.get("state", ""))):  # fmt: skip
        return render(["The Salesforce answer does not belong to a connection you started here (state mismatch). "
                       "Press Connect Salesforce again."], status=400)  # fmt: skip
    if request.args.get("error"):
        message = request.args.get("error_description") or request.args["error"]
        return render([f"Salesforce refused the connection: {message}"], status=400)
    code = request.args.get("code", "")
    if not code:
        return render(["Salesforce sent no authorization code."], status=400)
    s = settings()
    login_url, client_id, client_secret = pending["login_url"], pending["client_id"], _oauth_app()[2]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": pending["redirect_uri"],
            "client_id": client_id, "code_verifier": pending["verifier"]}  # fmt: skip
    if client_secret:
        form["client_secret"] = client_secret
    try:
        answer = requests.post(f"{login_url.rstrip('/')}/services/oauth2/token", data=form, timeout=s.http_timeout,
                               verify=s.salesforce_ca_file or True)  # fmt: skip
        body = answer.json()
    except (requests.RequestException, ValueError) as exc:
        return render([f"The Salesforce token request failed: {exc}"], status=502)
    if answer.status_code != 200 or "access_token" not in body:
        return render([f"Salesforce refused the code: {body.get('error_description') or body.get('error')}"],
                      status=400)  # fmt: skip
    instance = body.get("instance_url", "")
    if urlsplit(instance).scheme != "https":
        return render([f"Salesforce answered an instance URL that is not https: {instance!r}"], status=400)
    db = db_session()
    existing = stored_connection()
    before = dict(existing.config) if existing else None
    now = utcnow().isoformat()
    config = {"flow": "refresh_token", "login_url": login_url, "client_id": client_id, "instance_url": instance,
              "identity": body.get("id", ""), "connected_at": now, "connected_by": actor(),
              "last_success_at": now}  # fmt: skip
    sealed = {"refresh_token": body.get("refresh_token", ""),
              "session": {"access_token": body["access_token"], "instance_url": instance,
                          "identity": body.get("id", "")}}  # fmt: skip
    if existing and existing.secrets.get("client_secret"):
        sealed["client_secret"] = existing.secrets["client_secret"]
    connections.save(db, connections.StoredConnection("salesforce", config, sealed), s.secret_key)
    audit.record(db, actor=actor(), action="connection.salesforce", target="connection:salesforce",
                 before=before, after={**config, "secrets": "(encrypted)"})  # fmt: skip
    db.commit()
    flash(f"Salesforce connected: {instance}.")
    return redirect(url_for("admin.connection_list"), 303)
