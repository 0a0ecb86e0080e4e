"""Login sessions, roles and CSRF tokens for the admin panel.

- The signed Flask session cookie (HttpOnly, SameSite=Lax, Secure in production or behind an https public URL)
  holds the account id and a CSRF token; it is cleared at login and logout (no session fixation).
- Every POST carries ``csrf_token`` (a hidden field that `csrf_token` puts in each form); a missing or wrong
  token is refused with 400 before any view runs, the login form included.
- Every page but the login page needs a signed-in active account; changes (POST) need the ``admin`` role.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import Flask, abort, g, redirect, request, session, url_for

from backend.globals import runtime_of
from sync.models import AdminUser

SESSION_KEY = "admin_uid"
CSRF_KEY = "csrf"
PUBLIC_ENDPOINTS = {"admin.login", "admin.static"}
SESSION_LIFETIME = timedelta(hours=8)


def configure_cookies(app: Flask) -> None:
    settings = runtime_of(app).settings
    secure = settings.environment == "production" or settings.public_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME="calsync_admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )


def csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    expected = session.get(CSRF_KEY, "")
    given = request.form.get("csrf_token", "") or request.headers.get("X-CSRF-Token", "")
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        abort(400, description="The form was not sent from this panel or has expired (CSRF token missing or "
                               "wrong). Reload the page and try again.")  # fmt: skip


def log_in(user: AdminUser) -> None:
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = user.id
    csrf_token()


def log_out() -> None:
    session.clear()


def guard(load_user) -> object | None:
    """The blueprint's before_request: CSRF on every POST, then login and role checks."""
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        check_csrf()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    user = load_user(session.get(SESSION_KEY))
    if user is None or not user.active:
        session.pop(SESSION_KEY, None)
        return redirect(url_for("admin.login", next=request.full_path if request.method == "GET" else None))
    g.admin_user = user
    changes = request.method not in {"GET", "HEAD", "OPTIONS"} and request.endpoint != "admin.logout"
    if changes and user.role != "admin":
        abort(403, description=f"{user.email} may look but not change anything here (role: {user.role}).")
    return None
