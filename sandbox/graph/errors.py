"""Graph error answers: ``{"error": {"code", "message", "innerError": {"date", "request-id",
"client-request-id"}}}`` with the HTTP status Graph uses for each code."""

from __future__ import annotations

import datetime as dt


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})

    def body(self, request_id: str, client_request_id: str | None) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id,
                    "client-request-id": client_request_id or request_id,
                },
            }
        }


def not_found(what: str = "item") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def bad_request(message: str, code: str = "ErrorInvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def body_read(message: str) -> GraphError:
    # What Graph's OData layer answers for JSON that does not fit the type (unknown property, bad enum value).
    return GraphError(400, "RequestBodyRead", message)


def access_denied() -> GraphError:
    return GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def throttled(message: str, retry_after: int) -> GraphError:
    return GraphError(429, "ApplicationThrottled", message, {"Retry-After": str(retry_after)})
