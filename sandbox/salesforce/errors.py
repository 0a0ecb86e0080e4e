"""Errors the sandbox answers with, shaped like Salesforce REST API errors.

Request-level errors are a JSON list ``[{"message": ..., "errorCode": ..., "fields": [...]}]`` with an HTTP
status; record-level errors inside sObject Collections results use ``statusCode`` instead of ``errorCode``.
See https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered to the whole request (status + Salesforce error list)."""

    def __init__(self, error_code: str, message: str, status: int = 400, fields: list[str] | None = None) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message
        self.status = status
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        error: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            error["fields"] = self.fields
        return [error]


class RecordError(Exception):
    """A DML error for one record: a request error for single-record calls, a result entry in collections."""

    def __init__(self, status_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.fields = fields or []

    def as_result_error(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}

    def as_api_error(self, status: int = 400) -> ApiError:
        return ApiError(self.status_code, self.message, status, self.fields)


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    return ApiError("NOT_FOUND", message, 404)


def entity_is_deleted() -> ApiError:
    return ApiError("ENTITY_IS_DELETED", "entity is deleted", 404, [])


class QueryError(ApiError):
    """A SOQL error; the message points at the row and column like the real parser's messages."""

    def __init__(self, error_code: str, query: str, position: int, detail: str) -> None:
        super().__init__(error_code, format_query_error(query, position, detail), 400)
        self.detail = detail
        self.position = position


def format_query_error(query: str, position: int, detail: str) -> str:
    """``\\n<line>\\n<caret>\\nERROR at Row:R:Column:C\\n<detail>`` with R and C counted from 1."""
    position = max(0, min(position, len(query)))
    line_start = query.rfind("\n", 0, position) + 1
    line_end = query.find("\n", position)
    if line_end == -1:
        line_end = len(query)
    row = query.count("\n", 0, position) + 1
    column = position - line_start + 1
    line = query[line_start:line_end]
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{detail}"
