"""The Graph sandbox's HTTP layer: bearer-token checks, routing of the v1.0 calendar surface, mailbox access
(on-premises mailboxes, RBAC scope per app, application roles), throttling and faults, the request log, and
``$batch`` (which runs its items through the same dispatcher). Endpoint semantics live in ``handlers.py``.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import handlers
from .errors import GraphError, access_denied

if TYPE_CHECKING:
    from . import GraphSandbox

log = logging.getLogger("sandbox.graph")
ADMIN_PREFIX = "/__sandbox__"
VERSION_PREFIX = "/v1.0"
GRAPH_AUDIENCES = (
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
)
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
MAX_BATCH = 20

# (rule, methods, handler name, operation name, needed roles: any of)
_READ = ("Calendars.Read", "Calendars.ReadWrite")
_WRITE = ("Calendars.ReadWrite",)
_SETTINGS_READ = ("MailboxSettings.Read", "MailboxSettings.ReadWrite")
_SETTINGS_WRITE = ("MailboxSettings.ReadWrite",)
_MAIL_READ = ("Mail.ReadBasic.All", "Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite")
_USERS = ("User.Read.All", "User.ReadWrite.All", "User.ReadBasic.All")
ROUTES = [
    ("/users/<user>", ["GET"], "get_user", "users.get", _USERS),
    ("/users/<user>/calendar", ["GET"], "get_calendar", "calendar.get", _READ),
    ("/users/<user>/calendarView/delta", ["GET"], "delta", "calendarView.delta", _READ),
    ("/users/<user>/calendar/calendarView/delta", ["GET"], "delta", "calendarView.delta", _READ),
    ("/users/<user>/calendarView", ["GET"], "calendar_view", "calendarView.list", _READ),
    ("/users/<user>/calendar/calendarView", ["GET"], "calendar_view", "calendarView.list", _READ),
    ("/users/<user>/events", ["GET"], "list_events", "events.list", _READ),
    ("/users/<user>/calendar/events", ["GET"], "list_events", "events.list", _READ),
    ("/users/<user>/events", ["POST"], "create_event", "events.create", _WRITE),
    ("/users/<user>/calendar/events", ["POST"], "create_event", "events.create", _WRITE),
    ("/users/<user>/events/<event_id>", ["GET"], "get_event", "events.get", _READ),
    ("/users/<user>/calendar/events/<event_id>", ["GET"], "get_event", "events.get", _READ),
    ("/users/<user>/events/<event_id>", ["PATCH"], "update_event", "events.update", _WRITE),
    ("/users/<user>/calendar/events/<event_id>", ["PATCH"], "update_event", "events.update", _WRITE),
    ("/users/<user>/events/<event_id>", ["DELETE"], "delete_event", "events.delete", _WRITE),
    ("/users/<user>/calendar/events/<event_id>", ["DELETE"], "delete_event", "events.delete", _WRITE),
    ("/users/<user>/events/<event_id>/instances", ["GET"], "instances", "events.instances", _READ),
    ("/users/<user>/calendar/events/<event_id>/instances", ["GET"], "instances", "events.instances", _READ),
    # Items of a mail folder (Deleted Items, where DELETE puts events): as Graph's message collection lists them.
    ("/users/<user>/mailFolders/<folder>/messages", ["GET"], "list_folder_messages", "messages.list", _MAIL_READ),
    ("/users/<user>/outlook/masterCategories", ["GET"], "list_categories", "masterCategories.list", _SETTINGS_READ),
    (
        "/users/<user>/outlook/masterCategories",
        ["POST"],
        "create_category",
        "masterCategories.create",
        _SETTINGS_WRITE,
    ),
    (
        "/users/<user>/outlook/masterCategories/<category_id>",
        ["GET"],
        "get_category",
        "masterCategories.get",
        _SETTINGS_READ,
    ),
    (
        "/users/<user>/outlook/masterCategories/<category_id>",
        ["PATCH"],
        "update_category",
        "masterCategories.update",
        _SETTINGS_WRITE,
    ),
    (
        "/users/<user>/outlook/masterCategories/<category_id>",
        ["DELETE"],
        "delete_category",
        "masterCategories.delete",
        _SETTINGS_WRITE,
    ),
    ("/users/<user>/translateExchangeIds", ["POST"], "translate_ids", "users.translateExchangeIds", _USERS),
    # Subscriptions check their resource's mailbox and roles themselves (the mailbox is in the body).
    ("/subscriptions", ["GET"], "list_subscriptions", "subscriptions.list", ()),
    ("/subscriptions", ["POST"], "create_subscription", "subscriptions.create", ()),
    ("/subscriptions/<sub_id>", ["GET"], "get_subscription", "subscriptions.get", ()),
    ("/subscriptions/<sub_id>", ["PATCH"], "update_subscription", "subscriptions.update", ()),
    ("/subscriptions/<sub_id>", ["DELETE"], "delete_subscription", "subscriptions.delete", ()),
    ("/subscriptions/<sub_id>/reauthorize", ["POST"], "reauthorize_subscription", "subscriptions.reauthorize", ()),
]
URL_MAP = Map(
    [Rule(path, methods=methods, endpoint=(name, op, roles)) for path, methods, name, op, roles in ROUTES],
    strict_slashes=False,
    merge_slashes=False,
)


@dataclass
class Caller:
    client_id: str
    tenant_id: str
    roles: set[str]


@dataclass
class Call:
    """One Graph request, from HTTP or from a ``$batch`` item."""

    method: str
    path: str  # relative to /v1.0
    query: MultiDict
    headers: dict[str, str]
    body: object  # parsed JSON (or None)
    base_url: str  # https://host:port
    caller: Caller
    batch_id: str | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def header(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return default


@dataclass
class Reply:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


class GraphApp:
    def __init__(self, sandbox: GraphSandbox) -> None:
        self.sandbox = sandbox
        self._log_lock = threading.Lock()
        self._rng = random.Random(15)
        self.reset_log()

    # -- logs --------------------------------------------------------------------------------------------------
    def reset_log(self) -> None:
        with self._log_lock:
            self.requests: Counter[str] = Counter()
            self.requests_by_mailbox: Counter[str] = Counter()
            self.statuses: Counter[int] = Counter()
            self.calls: list[dict] = []

    def _record(self, call: Call, operation: str, mailbox: str | None, status: int) -> None:
        with self._log_lock:
            self.requests[operation] += 1
            self.statuses[status] += 1
            if mailbox:
                self.requests_by_mailbox[f"{call.caller.client_id} {mailbox}"] += 1
            if len(self.calls) < 50_000:
                self.calls.append(
                    {
                        "time": time.time(),
                        "method": call.method,
                        "path": call.path,
                        "query": sorted(call.query.keys()),  # names only: a delta round's kind, say
                        "operation": operation,
                        "status": status,
                        "app": call.caller.client_id,
                        "mailbox": mailbox,
                        "batch_id": call.batch_id,
                    }
                )

    def log_snapshot(self) -> dict:
        with self._log_lock:
            return {
                "requests": dict(self.requests),
                "requests_by_mailbox": dict(self.requests_by_mailbox),
                "statuses": {str(k): v for k, v in self.statuses.items()},
                "calls": list(self.calls),
            }

    # -- WSGI --------------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith(ADMIN_PREFIX):
            response = self.sandbox.admin(request)
        elif request.path.startswith(VERSION_PREFIX + "/") or request.path == VERSION_PREFIX:
            if self.sandbox.faults.take("drop", ""):
                _drop(environ)
            response = self.graph(request)
        else:
            response = self._json_response(
                Reply(404, GraphError(404, "BadRequest", "Invalid version.").body(str(uuid.uuid4()), None))
            )
        return response(environ, start_response)

    def graph(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id")
        base_url = request.host_url.rstrip("/")
        try:
            caller = self.authenticate(request.headers.get("Authorization", ""))
            raw = request.get_data()
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None
            path = request.path[len(VERSION_PREFIX) :] or "/"
            call = Call(
                request.method,
                path,
                request.args,
                dict(request.headers.items()),
                body,
                base_url,
                caller,
                request_id=request_id,
            )
            if path.rstrip("/") == "/$batch":
                try:
                    reply = self.batch(call)
                except GraphError as e:
                    reply = Reply(e.status, e.body(request_id, client_request_id), e.headers)
                self._record(call, "$batch", None, reply.status)
            else:
                reply = self.dispatch(call)
        except GraphError as e:
            reply = Reply(e.status, e.body(request_id, client_request_id), e.headers)
            if e.status == 401:
                reply.headers["WWW-Authenticate"] = (
                    f'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
                    f'authorize", client_id="00000003-0000-0000-c000-000000000000", error="{e.code}"'
                )
        reply.headers.setdefault("request-id", request_id)
        reply.headers.setdefault("client-request-id", client_request_id or request_id)
        return self._json_response(reply)

    @staticmethod
    def _json_response(reply: Reply) -> Response:
        headers = {"OData-Version": "4.0", **reply.headers}
        if reply.body is None:
            return Response(status=reply.status, headers=headers)
        return Response(json.dumps(reply.body), status=reply.status, headers=headers, content_type=JSON_TYPE)

    # -- auth --------------------------------------------------------------------------------------------------
    def authenticate(self, authorization: str) -> Caller:
        scheme, _, token = authorization.partition(" ")
        if not token.strip() or scheme.lower() != "bearer":
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        token = token.strip()
        if token.count(".") != 2:
            raise GraphError(
                401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed, there are no dots (.)."
            )
        identity = self.sandbox.identity
        claims = None
        for audience in GRAPH_AUDIENCES:
            try:
                claims = identity.verify_app_token(token, audience)
                break
            except jwt.InvalidAudienceError:
                continue
            except jwt.PyJWTError:
                raise GraphError(
                    401, "InvalidAuthenticationToken", "Access token validation failure. Invalid signature."
                ) from None
        if claims is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
        if claims["exp"] < self.sandbox.now():
            raise GraphError(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        return Caller(str(claims["appid"]), str(claims["tid"]), set(claims.get("roles") or []))

    # -- dispatch -----------------------------------------------------------------------------------------------
    def dispatch(self, call: Call) -> Reply:
        """Route one request (HTTP or batch item) and answer it; errors become error replies."""
        operation, mailbox = "(unrouted)", None
        try:
            if call.path == "/me" or call.path.startswith("/me/"):
                raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
            adapter = URL_MAP.bind("graph", "/")
            try:
                (name, operation, roles), args = adapter.match(call.path, method=call.method)
            except MethodNotAllowed:
                raise GraphError(
                    405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
                ) from None
            except NotFound:
                raise GraphError(
                    400, "BadRequest", f"Resource not found for the segment '{call.path.strip('/').split('/')[-1]}'."
                ) from None
            if roles and not roles_allow(call.caller.roles, roles):
                raise access_denied()
            if "user" not in args:
                reply = getattr(handlers, name)(self.sandbox, call, **args)
                self._record(call, operation, None, reply.status)
                return reply
            mb = self.sandbox.resolve_mailbox(args.pop("user"), call.caller)
            mailbox = mb.email
            self.sandbox.limits.acquire(call.caller.client_id, mb.email)
            try:
                reply = self._run(call, name, operation, mb, args)
            finally:
                self.sandbox.limits.release(call.caller.client_id, mb.email)
        except GraphError as e:
            reply = Reply(e.status, e.body(call.request_id, call.header("client-request-id")), e.headers)
        except Exception as e:  # a sandbox bug: answer 500 like Graph, keep it visible to tests
            log.exception("internal error in %s", operation)
            self.sandbox.internal_errors.append(f"{operation}: {e!r}")
            reply = Reply(
                500,
                GraphError(500, "InternalServerError", f"Internal sandbox error: {e!r}").body(call.request_id, None),
            )
        self._record(call, operation, mailbox, reply.status)
        return reply

    def _run(self, call: Call, name: str, operation: str, mb, args: dict) -> Reply:
        sb = self.sandbox
        latency = sb.faults.latency(operation)
        if latency:
            time.sleep(latency)
        fault = sb.faults.http_fault(operation)
        if fault:
            status = int(fault.split("_")[1])
            retry = str(sb.faults.settings.retry_after)
            messages = {
                429: ("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
                503: ("ServiceUnavailable", "Service Unavailable"),
                504: ("GatewayTimeout", "Gateway Timeout"),
            }
            code, message = messages[status]
            raise GraphError(status, code, message, {"Retry-After": retry})
        handler = getattr(handlers, name)
        with sb.exchange.store.lock:
            reply = handler(sb, call, mb, **args)
            if call.method != "GET":
                sb.exchange.persist()
        return reply

    # -- $batch ---------------------------------------------------------------------------------------------------
    def batch(self, call: Call) -> Reply:
        """JSON batching: https://learn.microsoft.com/en-us/graph/json-batching"""
        if call.method != "POST":
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        body = call.body
        requests_ = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests_, list) or not requests_:
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(requests_) > MAX_BATCH:
            raise GraphError(
                400, "BadRequest", f"Number of batch operations {len(requests_)} exceeds the maximum of {MAX_BATCH}."
            )
        ids: dict[str, dict] = {}
        for r in requests_:
            if not isinstance(r, dict) or not all(
                isinstance(r.get(k), str) and r.get(k) for k in ("id", "method", "url")
            ):
                raise GraphError(400, "BadRequest", "Invalid batch payload format: each request needs id, method, url.")
            key = r["id"].lower()
            if key in ids:
                raise GraphError(400, "BadRequest", f"Batch request contains duplicate request id '{r['id']}'.")
            ids[key] = r
            if urlsplit(r["url"]).scheme:
                raise GraphError(400, "BadRequest", f"Invalid request URI '{r['url']}': batch urls are relative.")
        for r in requests_:
            deps = r.get("dependsOn", [])
            if not isinstance(deps, list) or any(not isinstance(d, str) or d.lower() not in ids for d in deps):
                raise GraphError(
                    400, "BadRequest", f"Request '{r['id']}' depends on a request that is not in the batch."
                )
        order = _topological(requests_)
        results: dict[str, dict] = {}
        for r in order:
            deps = [d.lower() for d in r.get("dependsOn", [])]
            failed = [d for d in deps if results[d]["status"] >= 400]
            if failed:
                results[r["id"].lower()] = {
                    "id": r["id"],
                    "status": 424,
                    "headers": {"Content-Type": "application/json"},
                    "body": GraphError(424, "FailedDependency", "Failed dependency: " + ", ".join(failed)).body(
                        call.request_id, None
                    ),
                }
                continue
            results[r["id"].lower()] = self._batch_item(call, r)
        responses = list(results.values())
        self._rng.shuffle(responses)  # Graph answers in any order: clients correlate by id
        return Reply(200, {"responses": responses})

    def _batch_item(self, outer: Call, r: dict) -> dict:
        headers = r.get("headers") or {}
        if not isinstance(headers, dict):
            headers = {}
        headers = {str(k): str(v) for k, v in headers.items()}
        if "body" in r and r["body"] is not None and not any(k.lower() == "content-type" for k in headers):
            error = GraphError(400, "BadRequest", "Content-Type header is required when a body is present.")
            return {"id": r["id"], "status": 400, "headers": {}, "body": error.body(outer.request_id, None)}
        parts = urlsplit(r["url"] if r["url"].startswith("/") else "/" + r["url"])
        path = unquote(parts.path)  # as a request line's path is decoded
        if path.startswith(VERSION_PREFIX + "/"):
            path = path[len(VERSION_PREFIX) :]
        item = Call(
            r["method"].upper(),
            path,
            MultiDict(parse_qsl(parts.query, keep_blank_values=True)),
            headers,
            r.get("body"),
            outer.base_url,
            outer.caller,
            batch_id=r["id"],
        )
        if self.sandbox.faults.take("batch_item_429", "$batch"):
            retry = str(self.sandbox.faults.settings.retry_after)
            error = GraphError(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
            self._record(item, "$batch.item", None, 429)
            return {
                "id": r["id"],
                "status": 429,
                "headers": {"Retry-After": retry},
                "body": error.body(item.request_id, None),
            }
        reply = self.dispatch(item)
        out_headers = dict(reply.headers)
        if reply.body is not None:
            out_headers.setdefault("Content-Type", JSON_TYPE)
        entry = {"id": r["id"], "status": reply.status, "headers": out_headers}
        if reply.body is not None:
            entry["body"] = reply.body
        return entry


def roles_allow(granted: set[str], needed: tuple[str, ...]) -> bool:
    return any(r in granted for r in needed)


def _topological(requests_: list[dict]) -> list[dict]:
    by_id = {r["id"].lower(): r for r in requests_}
    done: set[str] = set()
    visiting: set[str] = set()
    order: list[dict] = []

    def visit(key: str) -> None:
        if key in done:
            return
        if key in visiting:
            raise GraphError(400, "BadRequest", "The dependsOn chains of the batch form a cycle.")
        visiting.add(key)
        for d in by_id[key].get("dependsOn", []):
            visit(d.lower())
        visiting.discard(key)
        done.add(key)
        order.append(by_id[key])

    for r in requests_:
        visit(r["id"].lower())
    return order


class _Dropped(ConnectionAbortedError):
    """Raised after closing the client socket: werkzeug treats it as a dropped connection."""


def _drop(environ) -> None:
    """Fault injection (``drop``): close the connection before reading the request, as a failing network does."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise _Dropped("fault injection: connection dropped")
