"""The admin panel's blueprint (``/admin``) and what runs around each of its pages: the login, role and CSRF
guard, the panel's security headers, its template globals and its error pages. The page modules add their
routes to `bp`."""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request
from werkzeug.exceptions import HTTPException

from admin_panel import security
from backend.globals import db_session
from sync.models import AdminUser

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static",
               static_url_path="/static")  # fmt: skip

# The panel's own content policy: its CSS and images only, forms posting back to itself.
ADMIN_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


@bp.before_request
def login_guard():
    """Login, role and CSRF checks of the panel; also guards the operator view (`admin_panel.ops`)."""
    return security.guard(lambda uid: db_session().get(AdminUser, uid) if isinstance(uid, int) else None)


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = ADMIN_CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def _template_globals() -> dict:
    return {"csrf_token": security.csrf_token, "admin_user": g.get("admin_user")}


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """Errors on panel pages are pages too (the API's JSON errors stay for /api)."""
    if exc.code is None or exc.code < 400:
        return exc
    body = render_template(
        "admin/error.html", code=exc.code, title=exc.name, message=exc.description, path=request.path
    )
    return body, exc.code
