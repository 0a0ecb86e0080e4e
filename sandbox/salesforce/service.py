"""The Salesforce sandbox as one WSGI application: REST API, OAuth, admin endpoints, persistence.

Request path of an API call (``/services/data/vXX.X/...``): version check, bearer session
(``401 INVALID_SESSION_ID``), injected latency and 503s (not charged), the daily budget
(``403 REQUEST_LIMIT_EXCEEDED``), the per-endpoint request counter, then the resource under the sandbox lock.
Every answer carries ``Sforce-Limit-Info: api-usage=N/M``.

Admin endpoints (no authentication, never charged; loopback sandbox only):

| endpoint | what |
|---|---|
| ``GET, PUT, DELETE /__sandbox__/faults`` | read, change (keys of ``faults.Faults``), reset fault settings |
| ``GET, DELETE /__sandbox__/stats`` | requests per endpoint, composite subrequests, writes, api usage; DELETE: zero |
| ``POST /__sandbox__/reset`` | ``{"seed": "demo"}``: fresh data (sessions and faults stay) |
| ``GET /__sandbox__/records/{T}`` | every record of an object, deleted ones included |
| ``POST /__sandbox__/touch`` | ``{"ids": [...]}``: move SystemModstamp like an automated update |
| ``PUT /__sandbox__/users/{id}`` | ``{"UserRoleId": ..., "ProfileId": ..., "Department": ...}``: as in Setup |
| ``POST /__sandbox__/purge-recycle-bin`` | ``{"object": "Event"}`` or ``{}``: empty the recycle bin |
| ``GET, PUT /__sandbox__/clock`` | ``{"offset_seconds": N}``: shift the sandbox clock |
| ``POST /__sandbox__/sessions/expire`` | ``{"token": ...}``: end one session (401 next use); ``{}``: every issued one |
| ``GET, PUT /__sandbox__/sessions`` | ``{"timeout_seconds": N, "rotate_refresh_tokens": bool}`` |
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from werkzeug.http import http_date
from werkzeug.wrappers import Request, Response

from sandbox.salesforce import seed_data
from sandbox.salesforce.errors import ApiError, RecordError, not_found
from sandbox.salesforce.faults import ApiUsage, Faults, FaultSettingError
from sandbox.salesforce.grants import DEFAULT_SESSION_TIMEOUT, INTEGRATION_USER, JwtKeys
from sandbox.salesforce.oauth import CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS, OAuth, session_id_for
from sandbox.salesforce.rest import Call, MethodNotAllowed, Multiple, RestApi, Result
from sandbox.salesforce.schema import API_VERSION, get_object
from sandbox.salesforce.store import Store
from sandbox.seed import ORG_ID, REPS

STATE_VERSION = 1
MIN_VERSION = (59, 0)
MAX_VERSION = (66, 0)
_RELEASES = {
    59: "Winter '24",
    60: "Spring '24",
    61: "Summer '24",
    62: "Winter '25",
    63: "Spring '25",
    64: "Summer '25",
    65: "Winter '26",
    66: "Spring '26",
}
_VERSION = re.compile(r"^v(\d+)\.(\d+)$")
JSON_TYPE = "application/json;charset=UTF-8"


def _json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False) if body is not None else ""
    response = Response(data, status=status, headers=headers)
    if body is not None:
        response.content_type = JSON_TYPE
    return response


class SalesforceSandbox:
    """A local org speaking Salesforce REST API v59.0+; ``wsgi_app`` serves it, ``info()`` describes it."""

    def __init__(
        self,
        *,
        seed: str = "demo",
        state_file: Path | None = None,
        daily_budget: int = 100_000,
        page_size: int = 2000,
        faults: dict | None = None,
        jwt_keys: JwtKeys | None = None,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        rotate_refresh_tokens: bool = False,
    ) -> None:
        if seed not in seed_data.SEEDS:
            raise ValueError(f"unknown Salesforce sandbox seed {seed!r}; expected one of {', '.join(seed_data.SEEDS)}")
        if not 1 <= page_size <= 2000:
            raise ValueError("page_size must be between 1 and 2000")
        self.seed = seed
        self.state_file = Path(state_file) if state_file is not None else None
        self.lock = threading.RLock()
        self.clock_offset = dt.timedelta(0)
        self.store = Store(clock=self.now)
        self.store.lock = self.lock
        self.usage = ApiUsage(daily_budget)
        self.faults = Faults(faults, page_size=page_size, usage=self.usage)
        self.oauth = OAuth(self, jwt_keys=jwt_keys, session_timeout=session_timeout,
                           rotate_refresh_tokens=rotate_refresh_tokens)  # fmt: skip
        self.rest = RestApi(self)
        self.requests: Counter[str] = Counter()
        self.composite_subrequests = 0  # inside composite requests (each composite request counts once)
        self.writes = 0
        if self.state_file is not None and self.state_file.exists():
            self._load(self.state_file)
        else:
            seed_data.build(self.store, seed)
            self.save()
        self.oauth.add_fixed_sessions()
        self.wsgi_app = self._wsgi

    # -- time, persistence -----------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.clock_offset

    def save(self) -> None:
        """Write the state file (when there is one) atomically; the file holds tokens: owner-only."""
        if self.state_file is None:
            return
        with self.lock:
            data = {
                "version": STATE_VERSION,
                "seed": self.seed,
                "store": self.store.dump(),
                "oauth": self.oauth.state.dump(),
                "usage": self.usage.dump(),
            }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(tmp, self.state_file)

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"{path}: unsupported Salesforce sandbox state version {data.get('version')!r}")
        self.store.load(data["store"])
        self.oauth.state.load(data.get("oauth", {}))
        if "usage" in data:
            budget = self.usage.max
            self.usage.load(data["usage"])
            self.usage.max = budget  # the budget is configuration; the count survives

    def reset(self, seed: str | None = None) -> None:
        seed = seed or self.seed
        if seed not in seed_data.SEEDS:
            raise ValueError(f"unknown seed {seed!r}")
        with self.lock:
            self.store.clear()
            seed_data.build(self.store, seed)
            self.rest.cursors.clear()
            self.requests.clear()
            self.composite_subrequests = 0
            self.writes = 0
            self.seed = seed
            self.save()

    # -- info ------------------------------------------------------------------------------------------
    def info(self, base_url: str) -> dict[str, Any]:
        base_url = base_url.rstrip("/")
        return {
            "instance_url": base_url,
            "api_version": API_VERSION,
            "org_id": ORG_ID,
            "users": [
                {
                    "email": rep.email,
                    "user_id": rep.salesforce_user_id,
                    "session_id": session_id_for(rep.salesforce_user_id),
                    "name": rep.name,
                    "username": rep.email,
                    "password": rep.password,
                }
                for rep in REPS
            ],
            "oauth": {
                "authorize_url": f"{base_url}/services/oauth2/authorize",
                "token_url": f"{base_url}/services/oauth2/token",
                "revoke_url": f"{base_url}/services/oauth2/revoke",
                "userinfo_url": f"{base_url}/services/oauth2/userinfo",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": list(REDIRECT_URIS),
                "redirect_uri_policy": "the listed URIs, or any http(s) URL on localhost / 127.0.0.1 / ::1",
                **self._server_grants_info(base_url),
            },
            "admin_url": f"{base_url}/__sandbox__",
            "custom_objects": ["Site_Visit__c", "Renewal__c"],
            "external_id_field": "CalSync_Key__c",
        }

    def _server_grants_info(self, base_url: str) -> dict[str, Any]:
        """The JWT bearer and client credentials apps (run as the integration user): what calsync's settings need."""
        keys = self.oauth.jwt_keys
        return {
            "jwt": {
                "client_id": CLIENT_ID,
                "username": INTEGRATION_USER.username,
                "private_key_file": str(keys.private_key_file) if keys.private_key_file else "",
                "certificate_file": str(keys.certificate_file) if keys.certificate_file else "",
                "login_url": base_url,
            },
            "client_credentials": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "login_url": base_url,
                "run_as": INTEGRATION_USER.username,
            },  # fmt: skip
            "integration_user": {"username": INTEGRATION_USER.username, "user_id": INTEGRATION_USER.user_id},
            "session_timeout_seconds": self.oauth.session_timeout,
        }

    # -- WSGI ------------------------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must answer 500 JSON, not kill the thread
            response = _json_response(
                [
                    {
                        "message": f"An unexpected error occurred: {type(exc).__name__}: {exc}",
                        "errorCode": "UNKNOWN_EXCEPTION",
                    }
                ],
                500,
            )
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/__sandbox__"):
            return self._admin(request)
        if path.startswith("/services/oauth2/"):
            action = path[len("/services/oauth2/") :].strip("/")
            if action == "authorize" and request.method in {"GET", "POST"}:
                return self.oauth.authorize(request)
            if action == "token" and request.method == "POST":
                return self.oauth.token(request)
            if action == "revoke" and request.method in {"GET", "POST"}:
                return self.oauth.revoke(request)
            if action == "userinfo" and request.method in {"GET", "POST"}:
                return self.oauth.userinfo(request)
            return _json_response([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)
        if path.startswith(f"/id/{ORG_ID}/"):
            return self.oauth.userinfo(request, path.rsplit("/", 1)[-1] or None)
        segments = [s for s in path.split("/") if s]
        if segments[:2] != ["services", "data"]:
            return self._with_usage(not_found())
        if len(segments) == 2:
            return _json_response(self._versions())
        return self._api(request, segments[2], segments[3:])

    def _versions(self) -> list[dict[str, str]]:
        return [
            {"label": label, "url": f"/services/data/v{major}.0", "version": f"{major}.0"}
            for major, label in _RELEASES.items()
        ]

    def _with_usage(self, error: ApiError | Response, headers: dict[str, str] | None = None) -> Response:
        response = _json_response(error.body(), error.status, headers) if isinstance(error, ApiError) else error
        response.headers["Sforce-Limit-Info"] = self.usage.header()
        response.headers["Date"] = http_date(self.now())  # the org's clock, shifted with /__sandbox__/clock
        return response

    def _api(self, request: Request, version_segment: str, segments: list[str]) -> Response:
        match = _VERSION.match(version_segment)
        if not match or not MIN_VERSION <= (int(match.group(1)), int(match.group(2))) <= MAX_VERSION:
            return self._with_usage(not_found())
        version = f"{int(match.group(1))}.{match.group(2)}"
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        with self.lock:
            user_id = self.oauth.user_for_token(token.strip()) if scheme.lower() in {"bearer", "oauth"} else None
        if user_id is None:
            return self._with_usage(ApiError("INVALID_SESSION_ID", "Session expired or invalid", 401))
        latency = self.faults.latency_ms
        if latency:
            time.sleep(latency / 1000)
        if self.faults.take_unavailable():
            return self._with_usage(
                ApiError("SERVER_UNAVAILABLE", "The server is temporarily unable to handle the request.", 503)
            )
        with self.lock:
            if not self.usage.charge(self.now()):
                return self._with_usage(ApiError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", 403))
            try:
                name, handler = self.rest.route(request.method, segments)
            except MethodNotAllowed as exc:
                self.requests["method_not_allowed"] += 1
                return self._with_usage(exc, {"Allow": exc.allowed})
            except ApiError as exc:
                self.requests["not_found"] += 1
                return self._with_usage(exc)
            self.requests[name] += 1
            try:
                result = handler(Call(request, version, user_id, segments))
            except Multiple as exc:
                result = Result(300, exc.urls)
            except RecordError as exc:
                result = Result(400, exc.as_api_error().body())
            except ApiError as exc:
                result = Result(exc.status, exc.body())
            # Reads sent as POST (a retrieve with many ids, a composite of queries) write nothing.
            if request.method != "GET" and not (request.method == "POST" and name in {"collection_retrieve",
                                                                                     "composite"}):  # fmt: skip
                self.writes += 1
                self.save()
        response = _json_response(result.body, result.status, result.headers)
        response.headers["Sforce-Limit-Info"] = self.usage.header()
        response.headers["Date"] = http_date(self.now())
        return response

    # -- admin -----------------------------------------------------------------------------------------
    def _admin(self, request: Request) -> Response:
        route = request.path[len("/__sandbox__") :].strip("/")
        method = request.method
        try:
            body = request.get_json(silent=True) if method in {"PUT", "POST"} else None
            if method in {"PUT", "POST"} and request.get_data() and body is None:
                raise ValueError("the body must be JSON")
            body = body or {}
            with self.lock:
                if route == "" and method == "GET":
                    return _json_response({"endpoints": [line.split("``")[1] for line in _ADMIN_LINES]})
                if route == "faults":
                    if method == "PUT":
                        self.faults.update(body)
                    elif method == "DELETE":
                        self.faults.reset()
                    elif method != "GET":
                        return _json_response({"error": "method not allowed"}, 405)
                    return _json_response(self.faults.snapshot())
                if route == "stats":
                    if method == "DELETE":
                        self.requests.clear()
                        self.writes = 0
                        self.composite_subrequests = 0
                    return _json_response(
                        {
                            "requests": dict(self.requests),
                            "total_requests": sum(self.requests.values()),
                            "composite_subrequests": self.composite_subrequests,
                            "writes": self.writes,
                            "api_usage": {"used": self.usage.used, "max": self.usage.max},
                        }
                    )
                if route == "reset" and method == "POST":
                    self.reset(body.get("seed"))
                    return _json_response({"seed": self.seed})
                if route.startswith("records/") and method == "GET":
                    obj = get_object(route.split("/", 1)[1])
                    if obj is None:
                        return _json_response({"error": "unknown object"}, 404)
                    rows = self.store.rows(obj.name, include_deleted=True)
                    return _json_response([self.store.wire(obj, r) for r in rows])
                if route == "touch" and method == "POST":
                    touched = [self.store.touch(i)["Id"] for i in body.get("ids", [])]
                    self.save()
                    return _json_response({"touched": touched})
                if route.startswith("users/") and method == "PUT":
                    user = self.store.set_user_fields(route.split("/", 1)[1], body)
                    self.save()
                    return _json_response(self.store.wire(get_object("User"), user))
                if route == "purge-recycle-bin" and method == "POST":
                    purged = self.store.purge_recycle_bin(body.get("object"))
                    self.save()
                    return _json_response({"purged": purged})
                if route == "clock":
                    if method == "PUT":
                        self.clock_offset = dt.timedelta(seconds=float(body.get("offset_seconds", 0)))
                    return _json_response(
                        {"now": self.now().isoformat(), "offset_seconds": self.clock_offset.total_seconds()}
                    )
                if route == "sessions/expire" and method == "POST":
                    if "token" not in body:
                        count = self.oauth.expire_all()
                        self.save()
                        return _json_response({"expired": count})
                    expired = self.oauth.expire(str(body.get("token", "")))
                    self.save()
                    return _json_response({"expired": expired}, 200 if expired else 404)
                if route == "sessions" and method in {"GET", "PUT"}:
                    if method == "PUT":
                        self.oauth.configure(body)
                    return _json_response(self.oauth.settings())
        except (FaultSettingError, ValueError, TypeError) as exc:
            return _json_response({"error": str(exc)}, 400)
        except ApiError as exc:
            return _json_response(exc.body(), exc.status)
        return _json_response({"error": f"no admin endpoint {method} {request.path}"}, 404)


_ADMIN_LINES = [line for line in (__doc__ or "").splitlines() if line.startswith("| ``")]
