"""The OpenAPI document is well-formed, lists exactly the registered /api/v1 routes, and real responses fit it.

No OpenAPI or JSON Schema package is in requirements.txt, so the structural checks and the small schema
checker below cover the subset of OpenAPI 3.0 the document uses ($ref, type, nullable, enum, required,
properties, additionalProperties, items, pattern, format date-time/email).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from backend.api import PREFIX, openapi
from backend.auth import is_public
from sync.models import SyncSession
from tests.backend.conftest import bearer

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
DOCUMENT = openapi.document()


def resolve(document: dict, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def schema_errors(document: dict, schema: dict, value: Any, where: str = "$") -> list[str]:
    schema = resolve(document, schema)
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null is not allowed"]
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    }
    if kind is not None and not checks[kind](value):
        return [f"{where}: {value!r} is not of type {kind}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if kind == "string":
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if schema.get("format") == "date-time":
            try:
                dt.datetime.fromisoformat(value)
            except ValueError:
                errors.append(f"{where}: {value!r} is not a date-time")
        if schema.get("format") == "email" and "@" not in value:
            errors.append(f"{where}: {value!r} is not an e-mail address")
    if kind == "object":
        properties = schema.get("properties", {})
        errors += [f"{where}: {name} is required" for name in schema.get("required", []) if name not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{where}: {name} is not in the schema" for name in value if name not in properties]
        for name, item in value.items():
            if name in properties:
                errors += schema_errors(document, properties[name], item, f"{where}.{name}")
    if kind == "array" and "items" in schema:
        for index, item in enumerate(value):
            errors += schema_errors(document, schema["items"], item, f"{where}[{index}]")
    return errors


def response_errors(path: str, method: str, response) -> list[str]:
    """How ``response`` breaks what the document says ``method path`` answers."""
    operation = DOCUMENT["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code)) or operation["responses"].get("default")
    if documented is None:
        return [f"status {response.status_code} is not documented for {method.upper()} {path}"]
    schema = resolve(DOCUMENT, documented)["content"]["application/json"]["schema"]
    return schema_errors(DOCUMENT, schema, response.get_json())


def api_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX) :])
        routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


# -- the document itself --------------------------------------------------------------------------------------
def test_the_document_is_well_formed_openapi_3():
    assert DOCUMENT["openapi"].startswith("3.0.")
    assert DOCUMENT["info"]["title"] and DOCUMENT["info"]["version"]
    assert DOCUMENT["servers"] == [{"url": PREFIX}]
    operation_ids = []
    for path, item in DOCUMENT["paths"].items():
        assert path.startswith("/") and not path.endswith("/")
        assert set(item) <= HTTP_METHODS
        for operation in item.values():
            operation_ids.append(operation["operationId"])
            assert operation["responses"], path
            for status, response in operation["responses"].items():
                assert status == "default" or re.fullmatch(r"[1-5]\d\d", status)
                assert resolve(DOCUMENT, response)["description"]
            for requirement in operation.get("security", DOCUMENT["security"]):
                assert set(requirement) <= set(DOCUMENT["components"]["securitySchemes"])
    assert len(operation_ids) == len(set(operation_ids))


def test_every_ref_resolves():
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(DOCUMENT, node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(DOCUMENT)


def test_the_served_document_is_the_maintained_one(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == DOCUMENT


# -- the document and the routes agree ------------------------------------------------------------------------
def test_every_route_is_documented_and_every_documented_operation_exists(app):
    documented = {(path, method) for path, item in DOCUMENT["paths"].items() for method in item}
    assert api_routes(app) == documented


def test_public_in_the_document_exactly_when_public_in_the_code(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        view = app.view_functions[rule.endpoint]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX) :])
            operation = DOCUMENT["paths"][path][method.lower()]
            documented_public = operation.get("security", DOCUMENT["security"]) == []
            assert documented_public == is_public(view), rule.rule
            if not documented_public:
                assert {"401", "403"} <= set(operation["responses"]), rule.rule


def test_protected_routes_really_refuse_anonymous_callers(client, app):
    for path, method in api_routes(app):
        operation = DOCUMENT["paths"][path][method]
        response = client.open(PREFIX + path, method=method.upper())
        if operation.get("security", DOCUMENT["security"]) == []:
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


def test_the_schema_checker_catches_mismatches():
    # The checker must fail on bad shapes, or the tests above prove nothing.
    me = {"email": "a@b.c", "name": None, "salesforce_user_id": "005000000000001", "mailbox": {}}
    errors = schema_errors(DOCUMENT, {"$ref": "#/components/schemas/Me"}, me)
    assert any("state is required" in e for e in errors)
    errors = schema_errors(DOCUMENT, {"$ref": "#/components/schemas/Health"}, {"status": "ok", "version": 1})
    assert errors == ["$.version: 1 is not of type string"]
    errors = schema_errors(DOCUMENT, {"$ref": "#/components/schemas/Error"}, {"error": {"code": "x"}, "extra": 1})
    assert len(errors) == 2
