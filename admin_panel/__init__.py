"""The admin panel: a Flask blueprint mounted at ``/admin`` (server-rendered Jinja pages, no JavaScript needed).

Pages: overview (charts, queue, budget), mailboxes, policies (with custom-object mappings from Salesforce
describe), health, sessions, connections (Salesforce OAuth, Exchange service account, Microsoft 365 app),
settings, audit log, and the operator view of the job system at ``/admin/ops`` (`admin_panel.ops`). Access and CSRF:
`admin_panel.security`. Every change is written to the audit log (`admin_panel.audit`) in the same
transaction as the change itself.

The panel sits on top of the backend: the web entry point (`calsync.web`) mounts it on the backend's app.
"""

from __future__ import annotations

from flask import Flask

from admin_panel import (
    connection_views,
    identity_views,
    microsoft365_views,
    ops,
    policy_views,
    profile_views,
    salesforce_views,
    security,
    verify_views,
    views,
)
from admin_panel.blueprint import bp, login_guard

# The page modules are imported for their routes, which they add to ``bp``.
PAGES = (
    views, policy_views, connection_views, salesforce_views, identity_views, microsoft365_views, profile_views,
    verify_views,
)  # fmt: skip


def init_app(app: Flask) -> None:
    """Mount the panel at /admin and the operator view at /admin/ops (admins logged in to the panel, or
    scripts carrying CALSYNC_OPS_TOKEN)."""
    security.configure_cookies(app)
    app.register_blueprint(bp)
    ops.init_app(app, guard=_ops_guard, csrf=security.csrf_token)


def _ops_guard():
    return None if ops.token_given() else login_guard()
