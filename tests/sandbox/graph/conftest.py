"""Fixtures for the Graph sandbox contract tests: the sandboxes started as ``calsync sandbox`` starts them, and
clients built only from the info file with msal and requests (no project code beyond starting the sandbox)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import msal
import pytest
import requests

from sandbox.runner import SandboxOptions, start_sandboxes

SCOPE = ["https://graph.microsoft.com/.default"]
_windows = itertools.count()


@pytest.fixture(scope="session")
def running(tmp_path_factory):
    with start_sandboxes(SandboxOptions(state_dir=tmp_path_factory.mktemp("graph-sandbox"), seed="empty")) as sbx:
        yield sbx


@pytest.fixture(scope="session")
def info(running) -> dict:
    return running.info["graph"]


def http_session(ca_file: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file
    return session


def msal_app(info: dict, credential, client_id: str | None = None, authority: str | None = None):
    return msal.ConfidentialClientApplication(
        client_id or info["client_id"],
        client_credential=credential,
        authority=authority or info["authority"],
        http_client=http_session(info["ca_file"]),
        instance_discovery=False,
    )


class Graph:
    """requests against the sandbox's Graph base URL with a bearer token from msal."""

    def __init__(self, info: dict, token: str) -> None:
        self.info = info
        self.base = info["base_url"]
        self.session = http_session(info["ca_file"])
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.admin = info["admin_url"]

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else self.base + path

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.url(path), timeout=30, **kw)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        return self.session.post(self.url(path), json=json, timeout=30, **kw)

    def patch(self, path: str, json=None, **kw) -> requests.Response:
        return self.session.patch(self.url(path), json=json, timeout=30, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.session.delete(self.url(path), timeout=30, **kw)

    def control(self, method: str, path: str, json=None) -> dict:
        answer = requests.request(method, self.admin + path, json=json, verify=self.info["ca_file"], timeout=30)
        answer.raise_for_status()
        return answer.json()


@pytest.fixture(scope="session")
def token(info) -> str:
    result = msal_app(info, info["client_secret"]).acquire_token_for_client(scopes=SCOPE)
    assert "access_token" in result, result
    return result["access_token"]


@pytest.fixture
def graph(info, token) -> Graph:
    client = Graph(info, token)
    yield client
    client.control("POST", "/reset")
    client.control("PUT", "/scopes", {info["client_id"]: None})


@pytest.fixture(scope="session")
def mailboxes(info) -> list[str]:
    return [m["email"] for m in info["mailboxes"]]


@pytest.fixture
def window() -> tuple[dt.datetime, dt.datetime]:
    """A month of its own for each test (years ahead), so tests sharing a mailbox do not see each other."""
    n = next(_windows)
    start = dt.datetime(2031, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=40 * n)
    return start, start + dt.timedelta(days=30)


def event_body(start: dt.datetime, subject: str = "Graph test", minutes: int = 30, **extra) -> dict:
    end = start + dt.timedelta(minutes=minutes)
    return {
        "subject": subject,
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        **extra,
    }


def iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def read_file(path: str) -> str:
    return Path(path).read_text()
