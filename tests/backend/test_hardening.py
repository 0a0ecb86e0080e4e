"""Security headers and cookies of issue 13: fail closed (2) and the task pane's content policy (14)."""

from __future__ import annotations

from urllib.parse import urlsplit

from backend.globals import runtime_of
from tests.backend.conftest import make_settings


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


# -- finding 14 -----------------------------------------------------------------------------------------------
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_the_task_pane_has_a_full_content_security_policy(client):
    for path in ["/addin/taskpane.html", "/addin/taskpane.js", "/addin/assets/icon-16.png"]:
        csp = _directives(client.get(path).headers["Content-Security-Policy"])
        assert csp["default-src"] == ["'self'"]
        assert csp["script-src"] == ["'self'", "https://appsforoffice.microsoft.com"]
        # The pane's own origin, and the identity provider msal-browser signs in with (discovery and tokens).
        assert csp["connect-src"] == ["'self'", _origin(runtime_of(client.application).settings.auth_issuer)]
        assert csp["object-src"] == ["'none'"]
        assert csp["base-uri"] == ["'none'"]
        assert "'unsafe-inline'" not in sum(csp.values(), []) and "'unsafe-eval'" not in sum(csp.values(), [])
        assert "https://outlook.office.com" in csp["frame-ancestors"]


def test_the_office_js_origin_in_the_policy_is_the_one_the_loader_uses(client):
    loader = client.get("/addin/office-loader.js").get_data(as_text=True)
    assert "https://appsforoffice.microsoft.com/lib/1/hosted/office.js" in loader


# -- finding 2: production is the default; Secure cookies and HSTS there ---------------------------------------
def test_without_calsync_env_the_app_is_production_secure_cookies_and_hsts(make_app, database_url, identity):
    settings = make_settings(database_url, identity, environment="", secret_key="k" * 40)
    assert settings.production
    client = make_app(settings).test_client()
    login = client.get("/admin/login")
    cookie = login.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert login.headers["Strict-Transport-Security"].startswith("max-age=")
    assert client.get("/api/v1/health").headers["Strict-Transport-Security"].startswith("max-age=")


def test_development_and_test_send_no_hsts_and_plain_cookies(client):
    login = client.get("/admin/login")
    assert "Secure" not in login.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in login.headers
