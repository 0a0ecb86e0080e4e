"""Fixtures for Graph change notifications (docs/push.md, "Microsoft Graph"): the real web app served over HTTPS
with the sandboxes' certificate (the Graph sandbox trusts their CA, so it validates and notifies it as Graph
would), settings whose CALSYNC_PUBLIC_URL is that server, the subscription keeper on them, and the Graph sandbox's
webhook deliveries log. Subscriptions left in the (session-wide) Graph sandbox are deleted after each test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import requests
from redis import Redis

from backend.globals import runtime_of
from calsync.settings import Settings
from calsync.web import create_app
from sandbox.server import ServerThread
from sync.push.graph_subscriptions import GraphSubscriptionKeeper
from sync.push.requests import FULL_KEY, pending_requests
from sync.runtime import Runtime
from tests.e2e.graph_support import MsalTokens


@dataclass
class Webhook:
    """The web app on https://localhost:<port> and what the Graph sandbox delivered to it."""

    url: str
    server: ServerThread
    graph_info: dict[str, Any]
    start: int = 0  # the sandbox's log outlives tests: deliveries before this test are not ours

    def __post_init__(self) -> None:
        self.start = len(self._log())

    def http(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.verify = self.graph_info["ca_file"]
        return session

    def _log(self) -> list[dict]:
        with self.http() as http:
            answer = http.get(self.graph_info["admin_url"] + "/notifications", timeout=30)
        answer.raise_for_status()
        return answer.json()["deliveries"]

    def deliveries(self, kind: str | None = None) -> list[dict]:
        """The Graph sandbox's webhook deliveries (and validations) since this test began."""
        return [d for d in self._log()[self.start :] if kind is None or d["kind"] == kind]

    def wait_for_delivery(self, predicate: Callable[[dict], bool], timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [d for d in self.deliveries() if predicate(d)]
            if found:
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no such delivery; deliveries: {self.deliveries()}")


@pytest.fixture
def webhook(graph_settings, sandboxes, graph_info) -> Iterator[Webhook]:
    app = create_app(graph_settings)
    server = ServerThread(app, ssl_context=sandboxes.tls.server_context())
    try:
        yield Webhook(server.url, server, graph_info)
    finally:
        server.stop()
        runtime_of(app).close()
        _delete_subscriptions(graph_info)
        with requests.put(graph_info["admin_url"] + "/notifications", json={"paused": False, "list_page_size": 100},
                          verify=graph_info["ca_file"], timeout=30):  # fmt: skip
            pass


@pytest.fixture
def push_settings(graph_settings, webhook) -> Settings:
    return replace(graph_settings, public_url=webhook.url)


@pytest.fixture
def push_runtime(push_settings) -> Iterator[Runtime]:
    runtime = Runtime.build(push_settings)
    yield runtime
    runtime.close()


@pytest.fixture
def keeper(push_runtime) -> Iterator[GraphSubscriptionKeeper]:
    made = GraphSubscriptionKeeper.from_runtime(push_runtime)
    yield made
    made.close()


def _delete_subscriptions(info: dict[str, Any]) -> None:
    """Every subscription of calsync's app in the Graph sandbox (it outlives a test's world)."""
    tokens = MsalTokens(info)
    with requests.Session() as http:
        http.trust_env = False
        http.verify = info["ca_file"]
        http.headers["Authorization"] = f"Bearer {tokens.token()}"
        for sub in _all_pages(http, info["base_url"] + "/subscriptions"):
            http.delete(f"{info['base_url']}/subscriptions/{sub['id']}", timeout=30)


def _all_pages(http: requests.Session, url: str | None) -> list[dict]:
    """Every item of a Graph collection, following ``@odata.nextLink``."""
    items: list[dict] = []
    while url:
        answer = http.get(url, timeout=30)
        answer.raise_for_status()
        body = answer.json()
        items += body.get("value", [])
        url = body.get("@odata.nextLink")
    return items


def graph_subscriptions(info: dict[str, Any]) -> list[dict]:
    """The subscriptions the Graph sandbox holds for calsync's app (GET /subscriptions, every page, through msal)."""
    tokens = MsalTokens(info)
    with requests.Session() as http:
        http.trust_env = False
        http.verify = info["ca_file"]
        http.headers["Authorization"] = f"Bearer {tokens.token()}"
        return _all_pages(http, info["base_url"] + "/subscriptions")


def pending(redis: Redis) -> dict[int, float]:
    return pending_requests(redis)


def full_requested(redis: Redis, mailbox_id: int) -> bool:
    return redis.hexists(FULL_KEY, str(mailbox_id))


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
