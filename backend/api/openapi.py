"""The OpenAPI 3 description of ``/api/v1``, served at ``/api/v1/openapi.json``. Maintained by hand.

When you add or change a route in ``backend/api``, change it here too: ``tests/backend/test_openapi.py``
compares this document with the registered routes (paths, methods, which are public) and validates real
responses against the schemas below.
"""

from __future__ import annotations

import copy
from typing import Any

API_VERSION = "1.0.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{description}"}


_TIMESTAMP = {"type": "string", "format": "date-time", "nullable": True}

_AUTH_ERRORS = {
    "401": _error("Unauthorized"),
    "403": _error("Forbidden"),
    "503": _error("Unavailable"),
}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "calsync add-in API",
        "version": API_VERSION,
        "description": (
            "The API the calsync Outlook add-in's task pane calls. Every operation except `/health` and "
            "`/openapi.json` needs `Authorization: Bearer <access token>`: an access token for this API's "
            "`access_as_user` scope from Office SSO / nested app authentication (never an ID token). Errors "
            'are always JSON: `{"error": {"code": "...", "message": "..."}}`.'
        ),
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearerAuth": []}],
    "paths": {
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness check",
                "description": "Answers while the process runs; it touches no database or remote service.",
                "security": [],
                "responses": {
                    "200": _json(_ref("Health"), "The process is alive."),
                    "default": _error("Error"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "The OpenAPI document of this API."),
                    "default": _error("Error"),
                },
            }
        },
        "/me": {
            "get": {
                "operationId": "getMe",
                "summary": "The signed-in user and their mailbox",
                "description": (
                    "The caller's e-mail (the token's `preferred_username`), display name, Salesforce user id "
                    "and the sync state of their mailbox."
                ),
                "responses": {
                    "200": _json(_ref("Me"), "The caller."),
                    **_AUTH_ERRORS,
                    "default": _error("Error"),
                },
            }
        },
        "/categories": {
            "get": {
                "operationId": "getCategories",
                "summary": "The categories sync uses",
                "description": (
                    "Every Outlook category the admin's policies imply (the Salesforce category, the Task "
                    "category, one per custom object), with its Outlook colour preset. The task pane adds the "
                    "missing ones to the master category list."
                ),
                "responses": {
                    "200": _json(_ref("Categories"), "The categories."),
                    **_AUTH_ERRORS,
                    "default": _error("Error"),
                },
            }
        },
        "/items/{item_id}": {
            "parameters": [{"$ref": "#/components/parameters/ItemId"}],
            "get": {
                "operationId": "getItem",
                "summary": "An item's sync state",
                "description": (
                    "Whether the item is shared, its Salesforce record (with a link), Who/What, the last "
                    "session of the mailbox and the item's open health entries in plain words."
                ),
                "responses": {
                    "200": _json(_ref("Item"), "The item."),
                    "405": _error("Error"),
                    "400": _error("Error"),
                    **_AUTH_ERRORS,
                    "404": _error("Error"),
                    "422": _error("Error"),
                    "502": _error("Error"),
                    "default": _error("Error"),
                },
            },
        },
        "/items/{item_id}/share": {
            "parameters": [{"$ref": "#/components/parameters/ItemId"}],
            "put": {
                "operationId": "shareItem",
                "summary": "Share an item with Salesforce",
                "description": (
                    "Records the chosen Who (Contacts, Leads) and What (an Account or Opportunity), adds the "
                    "Salesforce category to the item through EWS and queues a session of the mailbox. Items "
                    "that policy makes read-only (Tasks, custom objects, downsync-only events) answer 409."
                ),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ShareRequest")}},
                },
                "responses": {
                    "202": _json(_ref("ShareAnswer"), "Shared; a session is queued."),
                    "409": _error("Error"),
                    "400": _error("Error"),
                    **_AUTH_ERRORS,
                    "404": _error("Error"),
                    "422": _error("Error"),
                    "502": _error("Error"),
                    "default": _error("Error"),
                },
            },
            "delete": {
                "operationId": "unshareItem",
                "summary": "Stop sharing an item",
                "description": (
                    "Removes the Salesforce category and any pending share and queues a session, which keeps "
                    "or deletes the Salesforce event as the `on_unshare` policy says."
                ),
                "responses": {
                    "200": _json(_ref("UnshareAnswer"), "Unshared."),
                    "409": _error("Error"),
                    "400": _error("Error"),
                    **_AUTH_ERRORS,
                    "404": _error("Error"),
                    "422": _error("Error"),
                    "502": _error("Error"),
                    "default": _error("Error"),
                },
            },
        },
        "/salesforce/lookup": {
            "get": {
                "operationId": "lookupRecords",
                "summary": "Search Salesforce records to link",
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "required": True,
                        "description": "Text the record's name contains (2 to 80 characters).",
                        "schema": {"type": "string", "minLength": 2, "maxLength": 80},
                    },
                    {
                        "name": "types",
                        "in": "query",
                        "required": False,
                        "description": "Comma-separated: Contact, Lead, Account, Opportunity (default: all).",
                        "schema": {
                            "type": "string",
                            "pattern": "^(Contact|Lead|Account|Opportunity)(,(Contact|Lead|Account|Opportunity))*$",
                        },
                    },
                ],
                "responses": {
                    "200": _json(_ref("Lookup"), "Matching records."),
                    "400": _error("Error"),
                    **_AUTH_ERRORS,
                    "502": _error("Error"),
                    "default": _error("Error"),
                },
            }
        },
        "/sync": {
            "post": {
                "operationId": "syncNow",
                "summary": "Sync the caller's mailbox now",
                "description": "Queues a session; `status` is `duplicate` when one is already queued or running.",
                "responses": {
                    "202": _json(_ref("JobRef"), "The session job."),
                    **_AUTH_ERRORS,
                    "default": _error("Error"),
                },
            }
        },
        "/jobs/{job_ref}": {
            "get": {
                "operationId": "getJob",
                "summary": "Progress of a session job",
                "parameters": [
                    {
                        "name": "job_ref",
                        "in": "path",
                        "required": True,
                        "description": "The id `POST /sync` or a share answered (`sync-<n>`).",
                        "schema": {"type": "string", "maxLength": 64},
                    }
                ],
                "responses": {
                    "200": _json(_ref("Job"), "The job."),
                    **_AUTH_ERRORS,
                    "404": _error("Error"),
                    "default": _error("Error"),
                },
            }
        },
    },
    "components": {
        "parameters": {
            "ItemId": {
                "name": "item_id",
                "in": "path",
                "required": True,
                "description": (
                    "The item's id in EWS form (`AAMkA...`) or REST form (Office.js `item.itemId` in Outlook on "
                    "the web, or `convertToRestId`: `-` and `_` instead of `/` and `+`). It must be an item of the "
                    "caller's own mailbox (403 otherwise)."
                ),
                "schema": {"type": "string", "minLength": 20, "maxLength": 1024, "pattern": "^[A-Za-z0-9+/_=-]+$"},
            },
        },
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": (
                    "An RS256 access token from the configured identity provider (Microsoft identity platform "
                    "in production) with this API's audience and the `access_as_user` scope."
                ),
            }
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "additionalProperties": False,
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "additionalProperties": False,
                        "properties": {
                            "code": {
                                "type": "string",
                                "description": "Stable, machine-readable: `invalid_token`, `mailbox_not_found`, ...",
                            },
                            "message": {"type": "string", "description": "What went wrong, in plain words."},
                        },
                    }
                },
            },
            "Health": {
                "type": "object",
                "required": ["status", "version"],
                "additionalProperties": False,
                "properties": {
                    "status": {"type": "string", "enum": ["ok"]},
                    "version": {"type": "string", "description": "The calsync release."},
                },
            },
            "SessionSummary": {
                "type": "object",
                "nullable": True,
                "required": ["status", "started_at", "finished_at"],
                "additionalProperties": False,
                "properties": {
                    "status": {"type": "string", "enum": ["running", "ok", "partial", "failed", "abandoned"]},
                    "started_at": {"type": "string", "format": "date-time"},
                    "finished_at": _TIMESTAMP,
                },
            },
            "MailboxState": {
                "type": "object",
                "required": ["state", "enabled", "next_sync_at", "backoff_until", "backoff_reason", "last_session"],
                "additionalProperties": False,
                "properties": {
                    "state": {
                        "type": "string",
                        "enum": ["active", "backing_off", "disabled"],
                        "description": "`backing_off`: sync is paused after errors until `backoff_until`.",
                    },
                    "enabled": {"type": "boolean"},
                    "next_sync_at": _TIMESTAMP,
                    "backoff_until": _TIMESTAMP,
                    "backoff_reason": {"type": "string", "nullable": True},
                    "last_session": _ref("SessionSummary"),
                },
            },
            "Me": {
                "type": "object",
                "required": ["email", "name", "salesforce_user_id", "mailbox"],
                "additionalProperties": False,
                "properties": {
                    "email": {"type": "string", "format": "email"},
                    "name": {"type": "string", "nullable": True},
                    "salesforce_user_id": {
                        "type": "string",
                        "nullable": True,
                        "pattern": "^005[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$",
                        "description": "Null until the first sync finds the Salesforce user by e-mail.",
                    },
                    "mailbox": _ref("MailboxState"),
                },
            },
            "Category": {
                "type": "object",
                "required": ["name", "color", "preset", "kinds", "read_only"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "color": {"type": "integer", "minimum": -1, "maximum": 24, "description": "-1: no colour."},
                    "preset": {"type": "string", "nullable": True, "description": "Office.js CategoryColor name."},
                    "kinds": {"type": "array", "items": {"type": "string"}},
                    "read_only": {"type": "boolean", "description": "Items of this category come from Salesforce."},
                },
            },
            "Categories": {
                "type": "object",
                "required": ["categories"],
                "additionalProperties": False,
                "properties": {"categories": {"type": "array", "items": _ref("Category")}},
            },
            "Record": {
                "type": "object",
                "required": ["id", "type", "name", "detail"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string"},
                    "type": {
                        "type": "string",
                        "nullable": True,
                        "enum": ["Contact", "Lead", "Account", "Opportunity", None],
                    },
                    "name": {"type": "string", "nullable": True, "description": "Null when Salesforce cannot say."},
                    "detail": {"type": "string", "nullable": True, "description": "E-mail, company, city or stage."},
                },
            },
            "NullableRecord": {**{"nullable": True}, "allOf": [_ref("Record")]},
            "SalesforceLink": {
                "type": "object",
                "nullable": True,
                "required": ["object", "id", "url"],
                "additionalProperties": False,
                "properties": {
                    "object": {"type": "string"},
                    "id": {"type": "string"},
                    "url": {"type": "string", "nullable": True, "description": "The record's page in Salesforce."},
                },
            },
            "LastSession": {
                "type": "object",
                "nullable": True,
                "required": ["status", "started_at", "finished_at", "error"],
                "additionalProperties": False,
                "properties": {
                    "status": {"type": "string", "enum": ["running", "ok", "partial", "failed", "abandoned"]},
                    "started_at": {"type": "string", "format": "date-time"},
                    "finished_at": _TIMESTAMP,
                    "error": {"type": "string", "nullable": True},
                },
            },
            "HealthNote": {
                "type": "object",
                "required": ["code", "message", "side", "scope", "first_seen", "last_seen", "attempts"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string", "description": "What is wrong, in plain words."},
                    "side": {"type": "string"},
                    "scope": {"type": "string", "enum": ["item", "mailbox"]},
                    "first_seen": {"type": "string", "format": "date-time"},
                    "last_seen": {"type": "string", "format": "date-time"},
                    "attempts": {"type": "integer"},
                },
            },
            "Item": {
                "type": "object",
                "required": [
                    "item_id",
                    "subject",
                    "state",
                    "shared",
                    "kind",
                    "category",
                    "read_only",
                    "read_only_reason",
                    "on_unshare",
                    "salesforce",
                    "who",
                    "what",
                    "last_sync",
                    "health",
                    "notice",
                ],
                "additionalProperties": False,
                "properties": {
                    "item_id": {"type": "string", "description": "The EWS id."},
                    "subject": {"type": "string", "nullable": True},
                    "state": {
                        "type": "string",
                        "enum": ["not_shared", "pending", "synced", "failed"],
                        "description": "`pending`: shared, waiting for the next session.",
                    },
                    "shared": {"type": "boolean"},
                    "kind": {"type": "string", "description": "`event`, `task` or `custom:<Object>`."},
                    "category": {"type": "string"},
                    "read_only": {"type": "boolean"},
                    "read_only_reason": {"type": "string", "nullable": True},
                    "on_unshare": {"type": "string", "enum": ["keep_salesforce", "delete_salesforce"]},
                    "salesforce": _ref("SalesforceLink"),
                    "who": {"type": "array", "items": _ref("Record")},
                    "what": _ref("NullableRecord"),
                    "last_sync": _ref("LastSession"),
                    "health": {"type": "array", "items": _ref("HealthNote")},
                    "notice": {"type": "string", "nullable": True},
                },
            },
            "ShareRequest": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "whoIds": {
                        "type": "array",
                        "maxItems": 50,
                        "items": {"type": "string", "pattern": "^(003|00Q)[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$"},
                        "description": "Contact and Lead ids.",
                    },
                    "whatId": {
                        "type": "string",
                        "nullable": True,
                        "pattern": "^(001|006)[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$",
                        "description": "An Account or Opportunity id.",
                    },
                },
            },
            "JobRef": {
                "type": "object",
                "required": ["id", "status", "reason"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": ["enqueued", "requeued", "duplicate"]},
                    "reason": {"type": "string"},
                },
            },
            "NullableJobRef": {**{"nullable": True}, "allOf": [_ref("JobRef")]},
            "ShareAnswer": {
                "type": "object",
                "required": ["item", "job"],
                "additionalProperties": False,
                "properties": {"item": _ref("Item"), "job": _ref("JobRef")},
            },
            "UnshareAnswer": {
                "type": "object",
                "required": ["item", "job", "message"],
                "additionalProperties": False,
                "properties": {"item": _ref("Item"), "job": _ref("NullableJobRef"), "message": {"type": "string"}},
            },
            "Lookup": {
                "type": "object",
                "required": ["query", "results"],
                "additionalProperties": False,
                "properties": {"query": {"type": "string"}, "results": {"type": "array", "items": _ref("Record")}},
            },
            "Job": {
                "type": "object",
                "required": ["id", "status", "running", "progress", "error", "last_session"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string"},
                    "status": {
                        "type": "string",
                        "enum": [
                            "queued",
                            "started",
                            "scheduled",
                            "deferred",
                            "finished",
                            "failed",
                            "stopped",
                            "canceled",
                        ],
                    },
                    "running": {"type": "boolean", "description": "Keep polling while true."},
                    "progress": {
                        "type": "object",
                        "nullable": True,
                        "required": ["phase", "done", "total"],
                        "properties": {
                            "phase": {"type": "string", "enum": ["reading", "planning", "applying", "done"]},
                            "done": {"type": "integer"},
                            "total": {"type": "integer"},
                        },
                    },
                    "error": {
                        "type": "string",
                        "nullable": True,
                        "description": "Why the sync failed, in plain words.",
                    },
                    "last_session": _ref("LastSession"),
                },
            },
        },
        "responses": {
            "Error": _json(_ref("Error"), "An error (4xx for bad input; 5xx for our own failures)."),
            "Unauthorized": {
                **_json(_ref("Error"), "No access token, or one that is malformed, expired or not for this API."),
                "headers": {
                    "WWW-Authenticate": {
                        "description": 'RFC 6750 challenge, e.g. `Bearer realm="calsync", error="invalid_token"`.',
                        "schema": {"type": "string"},
                    }
                },
            },
            "Forbidden": _json(
                _ref("Error"),
                "The token lacks the `access_as_user` scope (`insufficient_scope`), or the user has no calsync "
                "mailbox (`mailbox_not_found`).",
            ),
            "Unavailable": _json(
                _ref("Error"), "The identity provider cannot be reached to check the token; retry later."
            ),
        },
    },
}


# Parameters shared by every operation of a path are written once at the path above, then copied into each
# operation: operations then stand alone (and the path items hold only operations).
for _item in _DOCUMENT["paths"].values():
    _shared = _item.pop("parameters", [])
    for _operation in _item.values():
        _operation["parameters"] = [*_shared, *_operation.get("parameters", [])] or _operation.get("parameters", [])
        if not _operation["parameters"]:
            del _operation["parameters"]


def document() -> dict[str, Any]:
    """A fresh copy of the OpenAPI document (callers may change it)."""
    return copy.deepcopy(_DOCUMENT)
