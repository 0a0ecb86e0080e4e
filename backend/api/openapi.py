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
    },
    "components": {
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
                    "status": {"type": "string", "enum": ["running", "ok", "partial", "failed"]},
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


def document() -> dict[str, Any]:
    """A fresh copy of the OpenAPI document (callers may change it)."""
    return copy.deepcopy(_DOCUMENT)
