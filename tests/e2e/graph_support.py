"""The Graph connector against the Graph sandbox: tokens from the identity sandbox through msal, the Graph
sandbox's admin endpoints, and a fixture per mailbox.

``MsalTokens`` is a test-only `TokenSource`: msal's ``ConfidentialClientApplication`` with the calsync app's
client secret (client credentials, as docs/sandboxes.md describes), its in-memory cache per object.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import msal
import pytest
import requests

from sync.connectors.graph import GraphCalendar

SCOPE = ["https://graph.microsoft.com/.default"]


class MsalTokens:
    """App-only tokens for the sandbox tenant (msal, unmodified); counts what it was asked."""

    def __init__(self, info: dict[str, Any]) -> None:
        http = requests.Session()
        http.trust_env = False
        http.verify = info["ca_file"]
        self.app = msal.ConfidentialClientApplication(
            info["client_id"],
            client_credential=info["client_secret"],
            authority=info["authority"],
            http_client=http,
            instance_discovery=False,
        )
        self.invalidations = 0
        self.issued = 0

    def token(self) -> str:
        result = self.app.acquire_token_for_client(scopes=SCOPE)
        if "access_token" not in result:
            raise RuntimeError(f"no token: {result.get('error')}: {result.get('error_description')}")
        if result.get("token_source") == "identity_provider":
            self.issued += 1
        return result["access_token"]

    def invalidate(self) -> None:
        self.invalidations += 1
        for account_token in self.app.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN):
            self.app.token_cache.remove_at(account_token)


class GraphAdmin:
    """The Graph sandbox's control endpoints (``/__sandbox__``)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.url = info["admin_url"]
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = info["ca_file"]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.call("POST", "reset")
        self.call("PUT", "scopes", {k: None for k in self.call("GET", "scopes")})

    def faults(self, **settings: Any) -> dict[str, Any]:
        return self.call("PUT", "faults", settings)

    def requests(self) -> Counter[str]:
        return Counter(self.call("GET", "log")["requests"])

    def calls(self) -> list[dict[str, Any]]:
        return self.call("GET", "log")["calls"]

    def close(self) -> None:
        self.http.close()


def make_calendar(info: dict[str, Any], email: str, **kw: Any) -> GraphCalendar:
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_file"]
    return GraphCalendar(email, graph_url=info["base_url"], tokens=MsalTokens(info), session=session, **kw)


@pytest.fixture
def graph_info(world) -> dict[str, Any]:
    return world.info["graph"]


@pytest.fixture
def graph_admin(graph_info) -> Iterator[GraphAdmin]:
    admin = GraphAdmin(graph_info)
    admin.reset()
    try:
        yield admin
    finally:
        admin.reset()
        admin.close()


@pytest.fixture
def graph_calendar(world, graph_info, graph_admin) -> Iterator[GraphCalendar]:
    calendar = make_calendar(graph_info, world.rep.email, sleep=lambda _s: None)
    try:
        yield calendar
    finally:
        calendar.close()


def ews_id(calendar: GraphCalendar, graph_id: str) -> str:
    """The EWS id of a Graph (immutable) id, for the Outlook actor (which speaks EWS)."""
    answer = calendar.client.request(
        "POST",
        f"/users/{calendar.mailbox_email}/translateExchangeIds",
        body={"inputIds": [graph_id], "sourceIdType": "restImmutableEntryId", "targetIdType": "ewsId"},
    ).json()
    return answer["value"][0]["targetId"]
