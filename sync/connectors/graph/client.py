"""HTTP transport to Microsoft Graph for one mailbox: headers, concurrency, throttling, ``$batch``, errors.

- Every request (and every ``$batch`` item) sends ``Prefer: IdType="ImmutableId"`` (ids survive folder moves)
  and ``Prefer: outlook.timezone="UTC"``: instants come back in one fixed zone, so the mapping never depends on
  a mailbox's settings, and each event's own zone is read from ``originalStartTimeZone``.
- At most 4 requests in flight per mailbox (Outlook's MailboxConcurrency limit, per app and mailbox): a
  ``$batch`` takes as many slots as Outlook runs of its items at once (≤ 4).
- 429/503/504 wait ``Retry-After`` (each wait ≤ ``max_wait``, all waits of the connector ≤ ``max_total_wait``),
  counted in ``usage.backoff_ms`` like EWS's ``BackOffMilliseconds``; a ``$batch`` retries only its items that
  answered 429/503/504. A 401 asks the `TokenSource` for a fresh token once; a dropped connection is retried
  once, then a `TransientError`.
- ``usage.calls`` counts HTTP requests (a ``$batch`` is one), as the EWS connector counts its POSTs.

References: https://learn.microsoft.com/en-us/graph/throttling, .../json-batching, .../outlook-immutable-id.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from sync.connectors.base import ExchangeUsage
from sync.connectors.errors import (
    AuthError,
    ConnectorError,
    MailboxNotInScope,
    MailboxNotOnline,
    TransientError,
)
from sync.connectors.graph.tokens import TokenSource

SERVICE = "exchange"
MAX_BATCH = 20  # Graph's limit of requests in one $batch
MAX_IN_FLIGHT = 4  # Outlook's concurrency limit per app and mailbox
TIME_ZONE = "UTC"
PREFER = f'IdType="ImmutableId", outlook.timezone="{TIME_ZONE}"'
RETRY_STATUSES = {429, 503, 504}


@dataclass(frozen=True)
class SubRequest:
    """One request of a ``$batch`` (``url`` relative to the version root, e.g. ``/users/x/events/y``)."""

    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubResponse:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class _Slots:
    """A counting limit on requests in flight, shared by every connector of one mailbox in this process."""

    _registry: dict[tuple[str, str], _Slots] = {}
    _registry_lock = threading.Lock()

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0
        self._cond = threading.Condition()

    @classmethod
    def for_mailbox(cls, base_url: str, mailbox: str, size: int) -> _Slots:
        key = (base_url.rstrip("/").lower(), mailbox.lower())
        with cls._registry_lock:
            slots = cls._registry.get(key)
            if slots is None or slots.size != size:
                slots = cls._registry[key] = _Slots(size)
            return slots

    def acquire(self, n: int) -> int:
        n = max(1, min(n, self.size))
        with self._cond:
            while self.used + n > self.size:
                self._cond.wait()
            self.used += n
        return n

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


def _retry_after(headers: Mapping[str, str], default: float) -> float:
    for k, v in headers.items():
        if k.lower() == "retry-after":
            try:
                return max(0.0, float(v))
            except ValueError:
                return default
    return default


def error_of(status: int, body: Any, *, context: str = "") -> ConnectorError:
    """The connector error for a Graph error answer (``{"error": {"code", "message"}}``)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    code = str(error.get("code") or "") if isinstance(error, Mapping) else ""
    message = str(error.get("message") or "") if isinstance(error, Mapping) else ""
    text = f"{context}: {message or code or status}" if context else (message or code or f"HTTP {status}")
    if code == "MailboxNotEnabledForRESTAPI":
        return MailboxNotOnline(text, code=code, service=SERVICE, status=status)
    if status == 403:
        return MailboxNotInScope(text, code=code or "ErrorAccessDenied", service=SERVICE, status=status)
    if status == 401:
        return AuthError(text, code=code or "InvalidAuthenticationToken", service=SERVICE, status=status)
    if status in RETRY_STATUSES or status >= 500:
        return TransientError(text, code=code or f"HTTP{status}", service=SERVICE, status=status)
    return ConnectorError(text, code=code or f"HTTP{status}", service=SERVICE, status=status)


class GraphClient:
    """Requests to ``{graph_url}`` (``https://graph.microsoft.com/v1.0``) on behalf of one mailbox."""

    def __init__(
        self,
        graph_url: str,
        mailbox_email: str,
        tokens: TokenSource,
        usage: ExchangeUsage,
        *,
        session: requests.Session | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        max_attempts: int = 5,
        max_wait: float = 60.0,
        max_total_wait: float = 300.0,
        default_retry_after: float = 1.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base = graph_url.rstrip("/")
        self.root = urlsplit(self.base).path.rstrip("/")  # "/v1.0": batch item urls are relative to it
        self.mailbox = mailbox_email
        self.tokens = tokens
        self.usage = usage
        self._own_session = session is None
        self.session = session or requests.Session()
        self.slots = _Slots.for_mailbox(self.base, mailbox_email, max_in_flight)
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.max_total_wait = max_total_wait
        self.default_retry_after = default_retry_after
        self.timeout = timeout
        self._sleep = sleep
        self._waited = 0.0

    # -- single requests ---------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith("https://") or path.startswith("http://") else self.base + path

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        slots: int = 1,
        ok_statuses: Sequence[int] = (),
    ) -> requests.Response:
        """One request, retried on throttling and once on a refused token; a Graph error raises
        (`error_of`) unless its status is in ``ok_statuses``."""
        refreshed = dropped = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send(method, path, params, body, headers, slots)
            except TransientError:
                # A dropped connection: once more. Replays are safe: a POST carries its transactionId, a PATCH
                # its If-Match (a replay of one that went through fails alone, 412), a DELETE of a gone item is 404.
                if dropped:
                    raise
                dropped = True
                continue
            status = response.status_code
            if status < 400 or status in ok_statuses:
                return response
            if status == 401 and not refreshed:
                refreshed = True
                self.tokens.invalidate()
                continue
            if status in RETRY_STATUSES and attempt < self.max_attempts and self._wait(response.headers):
                continue
            raise error_of(status, _json(response), context=f"{method} {urlsplit(self.url(path)).path}")

    def _send(self, method, path, params, body, headers, slots: int) -> requests.Response:
        all_headers = {"Authorization": f"Bearer {self.tokens.token()}", "Prefer": PREFER, **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body)
            all_headers["Content-Type"] = "application/json"
        taken = self.slots.acquire(slots)
        try:
            self.usage.calls += 1
            return self.session.request(
                method, self.url(path), params=params, data=data, headers=all_headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise TransientError(f"{method} {path}: {exc}", code=type(exc).__name__, service=SERVICE) from exc
        finally:
            self.slots.release(taken)

    def _wait(self, headers: Mapping[str, str]) -> bool:
        """Sleep what Graph asked (bounded); False when the connector's waiting budget is spent."""
        seconds = min(_retry_after(headers, self.default_retry_after), self.max_wait)
        if self._waited + seconds > self.max_total_wait:
            return False
        self._waited += seconds
        self.usage.backoff_ms = getattr(self.usage, "backoff_ms", 0) + int(seconds * 1000)
        self._sleep(seconds)
        return True

    def get_json(self, path: str, params: Mapping[str, str] | None = None, **kw: Any) -> Any:
        return _json(self.request("GET", path, params=params, **kw))

    # -- $batch ------------------------------------------------------------------------------------------------
    def batch(self, requests_: Sequence[SubRequest]) -> list[SubResponse]:
        """Run the requests in ``$batch`` calls of ≤ 20, answers in request order. Items that answered
        429/503/504 are sent again (alone, in the next batch) after the longest ``Retry-After`` among them;
        a 401 item makes the whole batch go again with a fresh token once."""
        out: list[SubResponse | None] = [None] * len(requests_)
        for start in range(0, len(requests_), MAX_BATCH):
            self._batch_chunk(requests_, list(range(start, min(start + MAX_BATCH, len(requests_)))), out)
        return [r if r is not None else SubResponse(599, None, {}) for r in out]

    def _batch_chunk(self, requests_: Sequence[SubRequest], pending: list[int], out: list) -> None:
        attempt, refreshed = 0, False
        while pending:
            attempt += 1
            payload = {"requests": [self._item(str(i), requests_[i]) for i in pending]}
            response = self.request("POST", "/$batch", body=payload, slots=len(pending))
            answers = {str(r.get("id")): r for r in (_json(response) or {}).get("responses", [])}
            retry: list[int] = []
            retry_headers: dict[str, str] = {}
            unauthorized = False
            for i in pending:
                answer = answers.get(str(i))
                if answer is None:
                    retry.append(i)
                    continue
                status = int(answer.get("status") or 0)
                headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
                result = SubResponse(status, answer.get("body"), headers)
                out[i] = result
                if status in RETRY_STATUSES:
                    retry.append(i)
                    wait = _retry_after(headers, self.default_retry_after)
                    if wait >= _retry_after(retry_headers, -1):
                        retry_headers = {"Retry-After": str(wait)}
                elif status == 401:
                    unauthorized = True
                    retry.append(i)
            if not retry:
                return
            if unauthorized and not refreshed:
                refreshed = True
                self.tokens.invalidate()
            elif attempt >= self.max_attempts or not self._wait(retry_headers):
                return  # the items keep their 429/503/504/401 answers: the caller reports them per item
            pending = retry

    def _item(self, item_id: str, r: SubRequest) -> dict[str, Any]:
        url = r.url
        if url.startswith(self.base):
            url = url[len(self.base) :]
        elif self.root and url.startswith(self.root + "/"):
            url = url[len(self.root) :]
        item: dict[str, Any] = {"id": item_id, "method": r.method, "url": url, "headers": {"Prefer": PREFER}}
        item["headers"].update(r.headers)
        if r.body is not None:
            item["body"] = r.body
            item["headers"]["Content-Type"] = "application/json"
        return item

    def close(self) -> None:
        if self._own_session:
            self.session.close()


def _json(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
