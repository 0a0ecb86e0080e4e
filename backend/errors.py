"""Every error the backend answers is JSON: ``{"error": {"code": "...", "message": "..."}}``.

- ``ApiError`` (and its subclasses) is raised by our own code for expected failures: bad input (4xx), a
  caller without access (401/403), a dependency that is down (503). Its message is meant for people.
- werkzeug's ``HTTPException`` (404 unknown route, 405 wrong method, 413 body too large, 400 bad JSON, ...)
  keeps its status and headers (``Allow`` on 405) and gets the same JSON body.
- Anything else is a bug: it is logged with its traceback and answered with a bare 500 that leaks nothing.
"""

from __future__ import annotations

import logging
import re

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An expected failure, answered as JSON with ``status`` and a stable ``code``."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _code_for(exc: HTTPException) -> str:
    """``NotFound`` -> ``not_found``, ``MethodNotAllowed`` -> ``method_not_allowed``."""
    name = type(exc).__name__
    if name in {"HTTPException", "Aborter"}:
        return "http_error"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def handle_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def handle_http_exception(exc: HTTPException):
    if exc.code is None or exc.code < 400:
        # Routing redirects (308 to the slash-terminated URL) are HTTPExceptions too: let them through.
        return exc
    if isinstance(exc, InternalServerError):
        return handle_unexpected(exc.original_exception or exc)
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return error_response(exc.code, _code_for(exc), exc.description or exc.name, headers)


def handle_unexpected(exc: BaseException) -> Response:
    log.error("unhandled error while serving a request", exc_info=exc)
    return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
