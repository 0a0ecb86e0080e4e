"""Fixtures: one Salesforce sandbox (demo seed) served over HTTPS for the session, and clients for it.

``sandbox_sf`` is unmodified simple-salesforce built the way the project's connector builds it: from
``instance_url`` + ``session_id``, with a ``requests.Session`` that trusts the sandbox CA and ignores the
environment (``REQUESTS_CA_BUNDLE`` is set on these machines). ``sf`` is the same client; the contract
module overrides it to point at a real org when asked to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from sandbox.salesforce import SalesforceSandbox
from sandbox.salesforce.grants import make_jwt_keys
from sandbox.server import ServerThread
from sandbox.tls import TLSFiles, make_tls_files

API_VERSION = "59.0"


def https_session(ca_file: Path | str | None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_file) if ca_file else True
    return session


def client(instance_url: str, session_id: str, ca_file: Path | str | None, version: str = API_VERSION) -> Salesforce:
    return Salesforce(instance_url=instance_url, session_id=session_id, session=https_session(ca_file), version=version)


def error_codes(exc: SalesforceError) -> list[str]:
    """The ``errorCode`` (request errors) or ``statusCode`` (record errors) of a simple-salesforce error."""
    content = exc.content
    assert isinstance(content, list), content
    return [e.get("errorCode") or e.get("statusCode") for e in content]


def iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class Admin:
    """The sandbox's admin endpoints (never charged against the API budget)."""

    def __init__(self, base_url: str, ca_file: Path) -> None:
        self.url = f"{base_url}/__sandbox__"
        self.http = https_session(ca_file)

    def _call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.http.request(method, f"{self.url}/{path}", json=body)
        assert response.status_code == expect, response.text
        return response.json()

    def faults(self, **settings: Any) -> dict[str, Any]:
        return self._call("PUT", "faults", settings)

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset_stats(self) -> None:
        self._call("DELETE", "stats")

    def records(self, object_name: str) -> list[dict[str, Any]]:
        return self._call("GET", f"records/{object_name}")

    def touch(self, *ids: str) -> None:
        self._call("POST", "touch", {"ids": list(ids)})

    def purge_recycle_bin(self, object_name: str | None = None) -> int:
        return self._call("POST", "purge-recycle-bin", {"object": object_name})["purged"]

    def shift_clock(self, seconds: float) -> None:
        self._call("PUT", "clock", {"offset_seconds": seconds})

    def expire_session(self, token: str) -> None:
        self._call("POST", "sessions/expire", {"token": token})


@pytest.fixture(scope="session")
def sf_tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("sf-tls"))


@pytest.fixture(scope="session")
def sf_sandbox(tmp_path_factory: pytest.TempPathFactory) -> SalesforceSandbox:
    return SalesforceSandbox(seed="demo", jwt_keys=make_jwt_keys(tmp_path_factory.mktemp("sf-jwt")))


@pytest.fixture(scope="session")
def sf_server(sf_sandbox: SalesforceSandbox, sf_tls: TLSFiles) -> Iterator[ServerThread]:
    server = ServerThread(sf_sandbox.wsgi_app, ssl_context=sf_tls.server_context())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sf_info(sf_sandbox: SalesforceSandbox, sf_server: ServerThread, sf_tls: TLSFiles) -> dict[str, Any]:
    info = sf_sandbox.info(sf_server.url)
    info["ca_file"] = str(sf_tls.ca_file)
    return info


@pytest.fixture
def admin(sf_sandbox: SalesforceSandbox, sf_info: dict[str, Any]) -> Iterator[Admin]:
    yield Admin(sf_info["instance_url"], Path(sf_info["ca_file"]))
    _restore(sf_sandbox)


def _restore(sandbox: SalesforceSandbox) -> None:
    """Undo what a test may have set on the shared sandbox: faults, clock, spent budget."""
    sandbox.faults.reset()
    sandbox.usage.max = 100_000
    sandbox.usage.used = 0
    sandbox.clock_offset = sandbox.clock_offset * 0


@pytest.fixture
def user(sf_info: dict[str, Any]) -> dict[str, str]:
    """The first seeded rep (Alice), with her fixed session id."""
    return sf_info["users"][0]


@pytest.fixture
def sandbox_sf(sf_sandbox: SalesforceSandbox, sf_info: dict[str, Any], user: dict[str, str]) -> Iterator[Salesforce]:
    yield client(sf_info["instance_url"], user["session_id"], sf_info["ca_file"])
    _restore(sf_sandbox)


@pytest.fixture
def sf(sandbox_sf: Salesforce) -> Salesforce:
    return sandbox_sf
