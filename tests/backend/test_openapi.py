"""The generated OpenAPI document is well-formed, lists exactly the registered /api/v1 routes, real responses fit
it, and requests that break the schemas get the API's own 400/404 answers with their stable codes.

``response_errors`` (also used by ``test_addin_api.py``) checks a real response against the served document
with schemathesis: status documented, content type, headers and body schema.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from typing import Any

import pytest
import schemathesis
from flask import Flask, Response
from schemathesis.core.failures import Failure, FailureGroup

from backend.api import PREFIX, graph_notifications, spec
from backend.auth import is_public
from calsync.settings import Settings
from calsync.web import create_app
from sync.models import SyncSession
from tests.backend.conftest import bearer

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# Microsoft Graph's webhooks are not the add-in's API (backend/api/graph_notifications.py, docs/push.md).
GRAPH_WEBHOOKS = graph_notifications.PREFIX + "/"


@functools.cache
def _documented_app() -> Flask:
    return create_app(Settings.from_env({}, database_url="sqlite://", environment="test"), {"TESTING": True})


@functools.cache
def document() -> dict[str, Any]:
    """The document the app serves (built once: it depends on the code only)."""
    return _documented_app().test_client().get(PREFIX + "/openapi.json").get_json()


@functools.cache
def _schema():
    return schemathesis.openapi.from_dict(document())


def response_errors(path: str, method: str, response) -> list[str]:
    """How ``response`` breaks what the document says ``method path`` answers."""
    operation = _schema()[path][method.upper()]
    try:
        operation.validate_response(response)
    except FailureGroup as group:
        return [str(failure) for failure in group.exceptions]
    except Failure as failure:
        return [str(failure)]
    return []


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def api_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/") or rule.rule.startswith(GRAPH_WEBHOOKS):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX) :])
        routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


# -- the document itself --------------------------------------------------------------------------------------
def test_the_document_is_well_formed_openapi_3():
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["servers"] == [{"url": PREFIX}]
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/") and not path.endswith("/") and not path.startswith(PREFIX)
        assert set(item) <= HTTP_METHODS
        for operation in item.values():
            operation_ids.append(operation["operationId"])
            in_path = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert in_path == set(re.findall(r"{([^}]+)}", path)), path
            assert operation["summary"], path
            assert operation["responses"], path
            for status, response in operation["responses"].items():
                assert status == "default" or re.fullmatch(r"[1-5]\d\d", status)
                assert resolve(response)["description"]
            for requirement in operation.get("security", doc["security"]):
                assert set(requirement) <= set(doc["components"]["securitySchemes"])
    assert len(operation_ids) == len(set(operation_ids))
    # schemathesis reads it (and would refuse a document it cannot use).
    assert {op.ok().label for op in _schema().get_all_operations()} >= {"GET /me", "PUT /items/{item_id}/share"}


def test_every_ref_resolves():
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document())


def test_the_served_document_is_the_generated_one(client, app):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == spec.document(app) == document()


# -- the document and the routes agree ------------------------------------------------------------------------
def test_every_route_is_documented_and_every_documented_operation_exists(app):
    documented = {(path, method) for path, item in document()["paths"].items() for method in item}
    assert api_routes(app) == documented


def test_public_in_the_document_exactly_when_public_in_the_code(app):
    doc = document()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/") or rule.rule.startswith(GRAPH_WEBHOOKS):
            continue
        view = app.view_functions[rule.endpoint]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX) :])
            operation = doc["paths"][path][method.lower()]
            documented_public = operation.get("security", doc["security"]) == []
            assert documented_public == is_public(view), rule.rule
            if not documented_public:
                assert {"401", "403", "503"} <= set(operation["responses"]), rule.rule


def test_protected_routes_really_refuse_anonymous_callers(client, app):
    doc = document()
    for path, method in api_routes(app):
        operation = doc["paths"][path][method]
        response = client.open(PREFIX + path, method=method.upper())
        if operation.get("security", doc["security"]) == []:
            assert response.status_code == 200, path
        else:
            assert response.status_code == 401, path
            assert response_errors(path, method, response) == []


# -- real responses fit the schemas ---------------------------------------------------------------------------
def test_health_fits_its_schema(client):
    assert response_errors("/health", "get", client.get("/api/v1/health")) == []


@pytest.mark.parametrize("with_history", [False, True])
def test_me_fits_its_schema(client, identity, mailbox, db_session, with_history):
    if with_history:
        now = dt.datetime.now(dt.UTC)
        mailbox.backoff_until = now + dt.timedelta(minutes=5)
        mailbox.backoff_reason = "EWS answered ErrorServerBusy"
        mailbox.next_sync_at = now
        db_session.add(SyncSession(mailbox_id=mailbox.id, started_at=now, status="running"))
        db_session.commit()
    response = client.get("/api/v1/me", headers=bearer(identity.token()))
    assert response.status_code == 200
    assert response_errors("/me", "get", response) == []


def test_me_error_answers_fit_their_schemas(client, identity, mailbox):
    cases = [
        ({}, 401),
        (bearer("x.y.z"), 401),
        (bearer(identity.token(scope="User.Read")), 403),
        (bearer(identity.token("stranger@calsync.example")), 403),
    ]
    for headers, status in cases:
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == status
        assert response_errors("/me", "get", response) == []


def test_the_response_check_catches_mismatches():
    # The check must fail on bad shapes, or the tests above and in test_addin_api prove nothing.
    def answer(body: Any, status: int = 200):
        fake = Flask("fake")
        fake.add_url_rule("/", "answer", lambda: Response(json.dumps(body), status=status, mimetype="application/json"))
        return fake.test_client().get("/")

    assert response_errors("/health", "get", answer({"status": "ok", "version": "1"})) == []
    assert response_errors("/health", "get", answer({"status": "ok", "version": 1})) != []
    assert response_errors("/health", "get", answer({"status": "ok", "version": "1", "extra": 1})) != []
    assert response_errors("/health", "get", answer({"error": {"code": "x"}}, 500)) != []
    me = {"email": "a@b.c", "name": None, "salesforce_user_id": "005000000000001", "mailbox": {}}
    assert response_errors("/me", "get", answer(me)) != []


# -- requests are checked by the same schemas -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("get", "/salesforce/lookup", None, 400, "invalid_query"),
        ("get", "/salesforce/lookup?q=a", None, 400, "invalid_query"),
        ("get", "/salesforce/lookup?q=" + "a" * 81, None, 400, "invalid_query"),
        ("get", "/salesforce/lookup?q=ab&types=User", None, 400, "invalid_types"),
        ("get", "/salesforce/lookup?q=ab&types=,,", None, 400, "invalid_types"),
        ("get", "/jobs/not%20a%20job", None, 404, "job_not_found"),
        ("get", "/jobs/" + "a" * 65, None, 404, "job_not_found"),
        ("get", "/items/not-an-id", None, 400, "invalid_item_id"),
        ("get", "/items/short/share", None, 405, "method_not_allowed"),
        ("delete", "/items/not-an-id/share", None, 400, "invalid_item_id"),
        ("put", "/items/not-an-id/share", {}, 400, "invalid_item_id"),
        ("put", "/items/" + "A" * 30 + "/share", [], 400, "invalid_body"),
        ("put", "/items/" + "A" * 30 + "/share", "text", 400, "invalid_body"),
        ("put", "/items/" + "A" * 30 + "/share", {"who": []}, 400, "invalid_body"),
        ("put", "/items/" + "A" * 30 + "/share", {"whoIds": "003000000000000001"}, 400, "invalid_body"),
        ("put", "/items/" + "A" * 30 + "/share", {"whoIds": None}, 400, "invalid_body"),
        ("put", "/items/" + "A" * 30 + "/share", {"whoIds": [3]}, 400, "invalid_body"),
        ("put", "/items/" + "A" * 30 + "/share", {"whoIds": ["003000000000001"] * 51}, 400, "invalid_body"),
        ("put", "/items/" + "A" * 30 + "/share", {"whoIds": ["001000000000001"]}, 400, "invalid_who"),
        ("put", "/items/" + "A" * 30 + "/share", {"whatId": 6}, 400, "invalid_body"),
        ("put", "/items/" + "A" * 30 + "/share", {"whatId": "003000000000001"}, 400, "invalid_what"),
        # The body is checked before the item id, as before.
        ("put", "/items/not-an-id/share", {"whoIds": ["x"]}, 400, "invalid_who"),
    ],
)
def test_requests_that_break_the_schemas_get_the_api_errors(
    client, identity, mailbox, method, path, body, status, code
):
    kwargs: dict[str, Any] = {"headers": bearer(identity.token())}
    if body is not None:
        kwargs["json"] = body
    response = client.open(PREFIX + path, method=method.upper(), **kwargs)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]


def test_a_body_that_is_not_json_is_refused_whatever_its_content_type(client, identity, mailbox):
    for data, content_type in (("whoIds=x", "application/x-www-form-urlencoded"), ("{}", "text/plain")):
        response = client.put(
            PREFIX + "/items/" + "A" * 30 + "/share",
            data=data,
            content_type=content_type,
            headers=bearer(identity.token()),
        )
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_body"


def test_error_messages_come_from_the_schemas(client, identity, mailbox):
    auth = bearer(identity.token())
    item = PREFIX + "/items/" + "A" * 30 + "/share"
    cases = [
        (client.get(PREFIX + "/salesforce/lookup?q=a", headers=auth), "Type 2 to 80 characters to search."),
        (
            client.put(item, json={"whoIds": ["001000000000001"]}, headers=auth),
            "'001000000000001' is not a Salesforce Contact or Lead id.",
        ),
        (client.put(item, json={"who": [], "what": 1}, headers=auth), "Unknown field(s): what, who."),
        (
            client.put(item, json={"whoIds": ["003000000000001"] * 51}, headers=auth),
            "At most 50 people can be linked to one event.",
        ),
    ]
    for response, message in cases:
        assert response.get_json()["error"]["message"] == message
