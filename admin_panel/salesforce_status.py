"""What the Connections page shows of the Salesforce connection (no routes: `admin_panel.salesforce_views`
has them, `admin_panel.connection_views` renders the page with this)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from backend.globals import db_session, settings
from calsync.settings import ConfigError
from sync import connections, salesforce_connection
from sync.connectors.salesforce_auth import FLOW_LABELS
from sync.salesforce_sessions import revoked

FIELDS = ("flow", "login_url", "client_id", "username", "instance_url")
SECRET_FIELDS = ("client_secret", "private_key", "access_token")
# Which secrets each flow keeps (the others are dropped when the flow changes).
FLOW_SECRETS = {
    "jwt": ("private_key",),
    "client_credentials": ("client_secret",),
    "refresh_token": ("client_secret", "refresh_token"),
    "token": ("access_token",),
}


def stored() -> connections.StoredConnection | None:
    try:
        return connections.load(db_session(), "salesforce", settings().secret_key)
    except connections.SecretError:
        return None


def status() -> dict[str, Any]:
    """What the Connections page shows of Salesforce: the connection in force, its form, last results."""
    s = settings()
    stored_connection = stored()
    config = dict(stored_connection.config) if stored_connection else {}
    secret = dict(stored_connection.secrets) if stored_connection else {}
    in_force = stored_connection is not None and bool(config.get("flow") or secret)
    if in_force:
        auth = salesforce_connection.from_stored(s, config, secret)
    else:
        try:
            auth = salesforce_connection.from_environment(s)
        except ConfigError:
            auth = salesforce_connection.from_environment(replace(s, salesforce_private_key_file=""))
    instance = config.get("instance_url", s.salesforce_instance_url) if auth.flow == "token" else ""
    form = {"flow": auth.flow, "login_url": auth.login_url, "client_id": auth.client_id, "username": auth.username,
            "instance_url": instance}  # fmt: skip
    session_info = secret.get("session") or {}
    return {
        "stored": in_force,
        "flow": auth.flow,
        "flow_label": FLOW_LABELS.get(auth.flow, auth.flow),
        "form": form,
        "has": {name: bool(secret.get(name)) for name in (*SECRET_FIELDS, "refresh_token")},
        "env_secret": bool(s.salesforce_client_secret),
        "env_key_file": s.salesforce_private_key_file,
        "instance_url": config.get("instance_url")
        or session_info.get("instance_url", "")
        or (s.salesforce_instance_url if not in_force else ""),
        "identity": config.get("identity", ""),
        "connected": (config.get("connected_at"), config.get("connected_by")),
        "last_success_at": config.get("last_success_at"),
        "last_success": config.get("last_success", ""),
        "last_error_at": config.get("last_error_at"),
        "last_error": config.get("last_error", ""),
        "revoked": revoked(config),
        "problems": auth.problems(),
        "production": s.production,
    }
