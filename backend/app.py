"""The backend's app factory. `create_backend` reads like a table of contents: each part has an ``init_app``.

The web entry point (`calsync.web.create_app`, which gunicorn and ``calsync serve`` run) mounts the admin
panel on top of what this builds; the backend never imports the panel.

This module also holds the security headers and the routes that serve the add-in's files under ``/addin/``.
The parts reach the request's database session through `backend.globals`, never through this module.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, jsonify, request, send_from_directory

from addin.manifest import DEFAULT_APP_ID, ManifestError, application_id_uri, render_manifest
from backend import api, auth, errors, limits
from backend.api import graph_notifications
from backend.errors import ApiError
from backend.globals import install_runtime, runtime_of
from backend.globals import settings as current_settings
from calsync.settings import PROJECT_ROOT, ConfigError, Settings
from sync.runtime import Runtime

ADDIN_FILES_DIR = PROJECT_ROOT / "addin" / "taskpane"
# Request bodies of the add-in API are small JSON documents.
MAX_CONTENT_LENGTH = 1024 * 1024


def create_backend(runtime: Runtime, test_config: dict | None = None) -> Flask:
    """The backend app (add-in API, task pane, security headers) on the process's ``runtime``, without the
    admin panel. ``test_config`` updates ``app.config`` last (e.g. ``{"TESTING": True}``)."""
    runtime.settings.validate()  # also for settings built in code: never serve with the public built-in key
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(SECRET_KEY=runtime.settings.secret_key, MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH)
    app.config.update(test_config or {})

    errors.init_app(app)
    install_runtime(app, runtime)
    auth.init_app(app)
    init_security_headers(app)
    init_addin_files(app)
    api.init_app(app)
    limits.init_app(app)  # per-caller rate limits on /api/v1, checked after authentication
    graph_notifications.init_app(app)  # Graph's webhooks: no token, their own limit (docs/push.md)
    return app


# -- security headers ---------------------------------------------------------------------------------------
# Outlook on the web frames the task pane; these are its Microsoft 365 and outlook.com origins.
OUTLOOK_WEB_ORIGINS = (
    "https://outlook.office.com",
    "https://outlook.office365.com",
    "https://outlook.cloud.microsoft",
    "https://outlook.live.com",
    "https://*.outlook.com",
    "https://*.office.com",
    "https://*.office365.com",
)
TASKPANE_PREFIX = "/addin/"
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Office.js comes from Microsoft's CDN inside Outlook (office-loader.js); everything else is ours.
OFFICE_JS_ORIGIN = "https://appsforoffice.microsoft.com"
TASKPANE_CSP = (
    "default-src 'self'; script-src 'self' " + OFFICE_JS_ORIGIN + "; connect-src {connect}; img-src 'self' data:; "
    "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'"
)


def connect_sources(settings: Settings) -> str:
    """The pane's own origin, and the identity provider's, which msal-browser asks for discovery and tokens."""
    issuer = urlsplit(settings.auth_issuer.strip())
    if issuer.scheme in {"https", "http"} and issuer.netloc:
        return f"'self' {issuer.scheme}://{issuer.netloc}"
    return "'self'"


_ORIGIN = re.compile(r"^https://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$")


def frame_ancestors(settings: Settings) -> str:
    """The task pane's CSP ``frame-ancestors`` sources; ConfigError on an origin that is not one."""
    extra = settings.frame_ancestors.split()
    bad = [origin for origin in extra if not _ORIGIN.match(origin)]
    if bad:
        raise ConfigError(f"CALSYNC_FRAME_ANCESTORS: {' '.join(bad)} must be https origins (https://host[:port])")
    return " ".join(["'self'", *OUTLOOK_WEB_ORIGINS, *extra])


def init_security_headers(app: Flask) -> None:
    settings = runtime_of(app).settings
    connect = connect_sources(settings)
    taskpane_csp = f"frame-ancestors {frame_ancestors(settings)}; " + TASKPANE_CSP.format(connect=connect)
    hsts = settings.production

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if request.path.startswith(TASKPANE_PREFIX):
            # Framed by Outlook on the web: no X-Frame-Options (it cannot list several origins); frame-ancestors
            # names who may frame it, the rest allows our own files and Office.js only.
            headers.setdefault("Content-Security-Policy", taskpane_csp)
        else:
            headers.setdefault("Content-Security-Policy", STRICT_CSP)
            headers.setdefault("X-Frame-Options", "DENY")
        if request.path.startswith("/api/"):
            headers.setdefault("Cache-Control", "no-store")
        if hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response


# -- the add-in's files -------------------------------------------------------------------------------------
addin_files = Blueprint("addin", __name__)


@addin_files.get("/addin/manifest.xml")
def addin_manifest():
    """The manifest rendered for this server (admins install it from this URL)."""
    settings = current_settings()
    production = settings.production

    def unavailable(message: str) -> ApiError:
        return ApiError(message, status=404, code="manifest_unavailable")

    # The Host header is the caller's to choose: production renders for the configured URL only.
    if production and not settings.public_url:
        raise unavailable("CALSYNC_PUBLIC_URL is not set on this server.")
    if not settings.addin_client_id:
        raise unavailable("CALSYNC_ADDIN_CLIENT_ID is not set on this server.")
    base = settings.public_url or request.host_url
    audience = settings.auth_audience.split(",")[0].strip()
    try:
        resource = audience if audience.startswith("api://") else application_id_uri(base, settings.addin_client_id)
        xml = render_manifest(
            base,
            client_id=settings.addin_client_id,
            app_id=settings.addin_id or DEFAULT_APP_ID,
            resource=resource,
            production=production,
        )
    except ManifestError as exc:
        raise unavailable(f"The manifest cannot be rendered for {base}: {exc}") from None
    return Response(xml, mimetype="application/xml")


# Hosts msal-browser knows as Microsoft's own; any other identity provider must be listed in knownAuthorities.
MICROSOFT_AUTHORITY_HOSTS = {
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.partner.microsoftonline.cn",
}


@addin_files.get("/addin/auth-config.json")
def addin_auth_config():
    """msal-browser's settings for the task pane (nested app authentication): the add-in's client id, the
    authority (the token issuer without ``/v2.0``) and the API scope it asks a token for."""
    settings = current_settings()
    issuer = settings.auth_issuer.strip().rstrip("/")
    if not settings.addin_client_id or not issuer:
        raise ApiError(
            "Nested app authentication is not set up on this server (CALSYNC_ADDIN_CLIENT_ID, CALSYNC_AUTH_ISSUER).",
            status=404,
            code="auth_config_unavailable",
        )
    authority = issuer.removesuffix("/v2.0")
    host = urlsplit(authority).netloc
    audience = settings.auth_audience.split(",")[0].strip()
    base = settings.public_url or request.host_url
    resource = audience if audience.startswith("api://") else application_id_uri(base, settings.addin_client_id)
    config = {
        "clientId": settings.addin_client_id,
        "authority": authority,
        "knownAuthorities": [] if urlsplit(authority).hostname in MICROSOFT_AUTHORITY_HOSTS else [host],
        "scope": f"{resource}/{settings.auth_scope or 'access_as_user'}",
    }
    response = jsonify(config)
    response.headers["Cache-Control"] = "no-cache"
    return response


@addin_files.get("/addin/<path:filename>")
def addin_file(filename: str):
    """The task pane's HTML, JavaScript, CSS and icons (``addin/taskpane/``); 404 outside that folder."""
    return send_from_directory(ADDIN_FILES_DIR, filename, max_age=300)


def init_addin_files(app: Flask) -> None:
    app.register_blueprint(addin_files)
