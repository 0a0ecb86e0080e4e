"""The admin panel: a Flask blueprint mounted at ``/admin`` (server-rendered Jinja pages, no JavaScript needed).

Pages: overview (charts, queue, budget), mailboxes, policies (with custom-object mappings from Salesforce
describe), health, sessions, connections (Salesforce OAuth, Exchange service account), settings, audit log.
Access and CSRF: `admin_panel.security`. Every change is written to the audit log (`admin_panel.audit`) in the
same transaction as the change itself.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, g, render_template, request
from werkzeug.exceptions import HTTPException

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static",
               static_url_path="/static")  # fmt: skip

# The panel's own content policy: its CSS and images only, forms posting back to itself.
ADMIN_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def init_app(app: Flask) -> None:
    from admin_panel import security, views  # noqa: F401 - views register their routes on bp

    security.configure_cookies(app)
    app.register_blueprint(bp)


@bp.before_request
def login_guard():
    """Login, role and CSRF checks of the panel; also guards the operator view (backend.ops)."""
    from admin_panel import security
    from backend.globals import db_session
    from sync.models import AdminUser

    return security.guard(lambda uid: db_session().get(AdminUser, uid) if isinstance(uid, int) else None)


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = ADMIN_CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def _template_globals() -> dict:
    from admin_panel.security import csrf_token

    return {"csrf_token": csrf_token, "admin_user": g.get("admin_user")}


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """Errors on panel pages are pages too (the API's JSON errors stay for /api)."""
    if exc.code is None or exc.code < 400:
        return exc
    body = render_template("admin/error.html", code=exc.code, title=exc.name, message=exc.description,
                           path=request.path)  # fmt: skip
    return body, exc.code
