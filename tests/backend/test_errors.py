"""Every error is JSON with a stable code; bad input is a 4xx, never a 500; real bugs are a silent 500."""

from __future__ import annotations

import logging

import pytest
from flask import request

from backend.errors import ApiError
from tests.backend.conftest import bearer


def assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/nope",
        "/api/v1",
        "/api/v1/",
        "/api/v1/me/",
        "/api/v1/unknown",
        "/api/v2/me",
        "/api/v1/%00",
        "/api/v1/" + "a" * 5000,
        "/addin/%2e%2e/%2e%2e/calsync/settings.py",
        "/addin/../backend/app.py",
        "/addin/taskpane/assets/../../manifest.py",
    ],
)
def test_unknown_routes_are_json_404(client, path):
    assert_json_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/health", "/api/v1/openapi.json"])
def test_wrong_methods_are_json_405_with_an_allow_header(client, method, path):
    response = client.open(path, method=method, headers=bearer("x.y.z"))
    assert_json_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}


def test_head_and_options_work_without_a_body_or_a_500(client):
    assert client.head("/api/v1/health").status_code == 200
    response = client.options("/api/v1/me")
    assert response.status_code == 200
    assert "GET" in response.headers["Allow"]


@pytest.fixture
def app_with_test_routes(app):
    """The app plus routes that raise, to exercise the handlers (added before its first request)."""

    @app.post("/_test/echo")
    def echo():
        return {"got": request.get_json()}

    @app.get("/_test/api-error")
    def api_error():
        raise ApiError("That date is not a date.", status=422, code="invalid_date")

    @app.get("/_test/bug")
    def bug():
        raise KeyError("secret-detail-from-the-database")

    return app


def test_an_api_error_keeps_its_status_code_and_message(app_with_test_routes):
    error = assert_json_error(app_with_test_routes.test_client().get("/_test/api-error"), 422, "invalid_date")
    assert error["message"] == "That date is not a date."


def test_an_unexpected_exception_is_a_logged_500_that_leaks_nothing(app_with_test_routes, caplog):
    with caplog.at_level(logging.ERROR, logger="backend.errors"):
        response = app_with_test_routes.test_client().get("/_test/bug")
    error = assert_json_error(response, 500, "internal_error")
    assert "secret-detail" not in response.get_data(as_text=True)
    assert "KeyError" not in error["message"]
    assert any("secret-detail" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


@pytest.mark.parametrize(
    "data, content_type, status, code",
    [
        ("{not json", "application/json", 400, "bad_request"),
        ("[1, 2", "application/json", 400, "bad_request"),
        ("x=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("{}" + " " * (2 * 1024 * 1024), "application/json", 413, "request_entity_too_large"),
    ],
)
def test_bad_request_bodies_are_4xx_json(app_with_test_routes, data, content_type, status, code):
    response = app_with_test_routes.test_client().post("/_test/echo", data=data, content_type=content_type)
    assert_json_error(response, status, code)


def test_junk_requests_never_get_a_500(client, identity, mailbox):
    """A small sweep of methods x paths x credentials: all answered, none with a 500, errors all JSON."""
    paths = ["/api/v1/me", "/api/v1/health", "/api/v1/openapi.json", "/api/v1/me?x=%ff", "/api/v1/%ff", "/addin/x"]
    headers = [
        {},
        bearer(identity.token()),
        bearer("junk"),
        {"Authorization": "Bearer " + "x" * 70_000},
        {"Authorization": "Digest \u00e9"},
        {"Accept": "text/html", "Content-Type": "application/json"},
    ]
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]:
        for path in paths:
            for header in headers:
                response = client.open(path, method=method, headers=header, data="{junk")
                assert response.status_code < 500, (method, path, header, response.data[:200])
                if response.status_code >= 400 and method != "HEAD":
                    assert response.get_json()["error"]["code"]
