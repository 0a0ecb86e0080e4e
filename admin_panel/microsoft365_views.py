"""Connections → Microsoft 365 (Graph), and the protocol of each mailbox (Mailboxes page).

The Microsoft 365 connection is calsync's Entra app registration: tenant id, client id, and a certificate
(private key PEM + thumbprint; recommended) or a client secret, stored sealed (`sync.connections`, service
``microsoft365``) and never shown back; it replaces the environment's GRAPH_* settings as a whole
(`sync.runtime.with_stored_microsoft365`). Changing the tenant or the client id needs the credential again.
*Test connection* gets one token and makes one ``GET /users/{id}`` per chosen mailbox, and says per mailbox
what a session would meet. The page documents the Exchange RBAC for Applications commands that scope the app
to the sales team's mailboxes (docs/graph-deployment.md).

A mailbox changes protocol through `sync.runtime.Runtime.move_mailbox` (its item ids are translated; the next
session is a full round).
"""

from __future__ import annotations

import re
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from flask import flash, g, redirect, request, url_for

from admin_panel import audit
from admin_panel.blueprint import bp
from admin_panel.connection_views import render as render_connections
from admin_panel.views import _back, _mailbox_or_404, actor
from backend.globals import db_session, runtime, settings
from calsync.settings import ConfigError
from sync import connections, mailboxes
from sync.connectors.errors import ConnectorError
from sync.runtime import with_stored_connections

SERVICE = "microsoft365"
METHODS = ("certificate", "secret")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(?=.{3,253}$)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_THUMBPRINT = re.compile(r"^[0-9a-fA-F]{40}$")
MAX_TESTED = 20  # mailboxes one "Test connection" checks


@bp.app_template_global()
def microsoft365_panel() -> dict[str, Any]:
    """What the Connections page's Microsoft 365 section shows (the form after an error, test results)."""
    s = settings()
    stored, error = None, None
    try:
        stored = connections.load(db_session(), SERVICE, s.secret_key)
    except connections.SecretError as exc:
        error = str(exc)
    config = stored.config if stored else {}
    secrets_ = stored.secrets if stored else {}
    form = g.get("m365_form") or {
        "tenant_id": config.get("tenant_id", s.graph_tenant_id),
        "client_id": config.get("client_id", s.graph_client_id),
        "method": config.get("method") or ("secret" if stored is None and s.graph_client_secret
                                           and not s.graph_private_key_file else "certificate"),
        "thumbprint": config.get("thumbprint", s.graph_certificate_thumbprint),
    }  # fmt: skip
    env_ready = bool(s.graph_tenant_id and s.graph_client_id and (s.graph_private_key_file or s.graph_client_secret))
    return {
        "stored": stored is not None,
        "error": error,
        "form": form,
        "has_key": bool(secrets_.get("private_key")),
        "has_secret": bool(secrets_.get("client_secret")),
        "env_ready": env_ready,
        "methods": METHODS,
        "graph_mailboxes": [m.email for m in mailboxes.all_mailboxes(db_session()) if m.backend == "graph"],
        "results": g.get("m365_results"),
        "token_error": g.get("m365_token_error"),
    }


def _clean_pem(text: str) -> str:
    return text.replace("\r\n", "\n").strip() + "\n" if text.strip() else ""


@bp.post("/connections/microsoft365")
def microsoft365_save():
    db = db_session()
    s = settings()
    form = {k: request.form.get(k, "").strip() for k in ("tenant_id", "client_id", "method", "thumbprint")}
    form["thumbprint"] = re.sub(r"[\s:]", "", form["thumbprint"])
    private_key = _clean_pem(request.form.get("private_key", ""))
    client_secret = request.form.get("client_secret", "").strip()
    errors: list[str] = []
    if not (_GUID.match(form["tenant_id"]) or _DOMAIN.match(form["tenant_id"])):
        errors.append("The tenant id must be the directory (tenant) id, a GUID such as 72f988bf-86f1-41af-91ab-"
                      "2d7cd011db47 (or the tenant's domain, contoso.onmicrosoft.com).")  # fmt: skip
    if not _GUID.match(form["client_id"]):
        errors.append("The client id must be the app registration's Application (client) id, a GUID.")
    if form["method"] not in METHODS:
        errors.append("Choose a certificate or a client secret.")
    existing = None
    try:
        existing = connections.load(db, SERVICE, s.secret_key)
    except connections.SecretError:
        pass
    same_app = existing is not None and all(existing.config.get(k) == form[k] for k in ("tenant_id", "client_id"))
    kept = existing.secrets if same_app and existing else {}
    if form["method"] == "certificate":
        if not _THUMBPRINT.match(form["thumbprint"]):
            errors.append("The thumbprint must be the certificate's SHA-1 thumbprint: 40 hexadecimal characters, as "
                          "the app registration's Certificates & secrets page shows it.")  # fmt: skip
        if private_key:
            try:
                load_pem_private_key(private_key.encode(), password=None)
            except (ValueError, TypeError):
                errors.append("The private key must be the uploaded certificate's private key, unencrypted PEM "
                              "(PKCS#8 or PKCS#1).")  # fmt: skip
        elif not kept.get("private_key"):
            errors.append(
                "Paste the private key (PEM) of the certificate uploaded to the app registration"
                + (": the tenant or client id changed." if existing and not same_app else ".")
            )
    elif form["method"] == "secret" and not client_secret and not kept.get("client_secret"):
        errors.append(
            "Enter the client secret (its value, not its id)"
            + (": the tenant or client id changed." if existing and not same_app else ".")
        )
    if errors:
        g.m365_form = form
        return render_connections(errors, status=400)
    if form["method"] == "certificate":
        secrets_ = {"private_key": private_key or kept["private_key"]}
        config = {**form}
    else:
        secrets_ = {"client_secret": client_secret or kept["client_secret"]}
        config = {**form, "thumbprint": ""}
    before = existing.config if existing else None
    connections.save(db, connections.StoredConnection(SERVICE, config, secrets_), s.secret_key)
    changed = "private_key" if form["method"] == "certificate" and private_key else ("client_secret" if client_secret
                                                                                       else None)  # fmt: skip
    audit.record(db, actor=actor(), action="connection.microsoft365", target="connection:microsoft365",
                 before=before, after={**config, "credential": "(changed)" if changed else "(kept)"})  # fmt: skip
    db.commit()
    flash("Microsoft 365 connection saved. Press Test connection to check it against your mailboxes.")
    return redirect(url_for("admin.connection_list") + "#microsoft365", 303)


@bp.post("/connections/microsoft365/disconnect")
def microsoft365_delete():
    db = db_session()
    if connections.delete(db, SERVICE):
        audit.record(db, actor=actor(), action="connection.microsoft365.delete", target="connection:microsoft365")
        db.commit()
        flash("The stored Microsoft 365 connection was removed; the environment's GRAPH_* settings apply again.")
    return redirect(url_for("admin.connection_list") + "#microsoft365", 303)


@bp.post("/connections/microsoft365/test")
def microsoft365_test():
    chosen = [e.strip().lower() for e in request.form.getlist("mailboxes") if e.strip()]
    chosen += [e.strip().lower() for e in re.split(r"[\s,;]+", request.form.get("other", "")) if e.strip()]
    chosen = list(dict.fromkeys(chosen))
    errors = []
    if not chosen:
        errors.append("Choose at least one mailbox to test (or type an address).")
    bad = [e for e in chosen if not mailboxes._EMAIL.match(e)]  # noqa: SLF001 - the one e-mail rule
    if bad:
        errors.append(f"Not an e-mail address: {', '.join(bad[:5])}.")
    if len(chosen) > MAX_TESTED:
        errors.append(f"Test at most {MAX_TESTED} mailboxes at a time.")
    if errors:
        return render_connections(errors, status=400)
    try:
        current = with_stored_connections(settings(), db_session())
        tokens = runtime().graph_tokens(current)
        tokens.token()  # one token for every mailbox below
    except (ConfigError, ConnectorError) as exc:
        g.m365_token_error = str(exc)
        return render_connections(status=200)
    results = []
    for email in chosen:
        ids = runtime().graph_ids(email, current, tokens=tokens)  # the token just fetched serves every mailbox
        try:
            results.append(ids.check())
        except ConnectorError as exc:
            g.m365_token_error = str(exc)
            break
        finally:
            ids.close()
    g.m365_results = results
    return render_connections(status=200)


# -- the protocol of a mailbox ----------------------------------------------------------------------------------
@bp.post("/mailboxes/<int:mailbox_id>/backend")
def mailbox_backend(mailbox_id: int):
    mailbox = _mailbox_or_404(mailbox_id)
    target = request.form.get("backend", "")
    email, before = mailbox.email, mailbox.backend
    if target not in mailboxes.BACKENDS:
        flash(f"{email}: choose EWS or Microsoft Graph.", "error")
        return redirect(_back(), 303)
    db_session().rollback()  # the move reads and writes through the runtime's own session
    try:
        report = runtime().move_mailbox(email, target)
    except (mailboxes.MailboxError, ConfigError) as exc:
        flash(str(exc), "error")
        return redirect(_back(), 303)
    except ConnectorError as exc:
        flash(f"{email}: Microsoft Graph refused the id translation, nothing was moved: {exc}", "error")
        return redirect(_back(), 303)
    db = db_session()
    audit.record(db, actor=actor(), action="mailbox.backend", target=f"mailbox:{email}", before={"backend": before},
                 after={"backend": target, "links": report.links})  # fmt: skip
    db.commit()
    flash(report.describe() + ".")
    return redirect(_back(), 303)
