"""Fixtures for the Graph plumbing tests (tokens, per-mailbox backend, moves, the Microsoft 365 connection):
the sandboxes of ``tests/e2e`` (one Exchange store behind EWS and Graph), a real Redis (db 14, flushed around
every test; never db 0), and the Graph app registration of the sandbox info file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from sync.connectors.graph.auth import GraphCredentials
from tests.e2e.conftest import sandbox_info_file, sandbox_settings, sandboxes, world  # noqa: F401
from tests.e2e.engine import engine  # noqa: F401
from tests.support import REDIS_SERVER, clean_redis

REDIS_URL = f"{REDIS_SERVER}/14"


@pytest.fixture
def redis() -> Iterator[Redis]:
    yield from clean_redis(REDIS_URL, "Graph plumbing tests")


@pytest.fixture
def graph_info(sandboxes) -> dict:  # noqa: F811
    return sandboxes.info["graph"]


def credentials(info: dict, *, certificate: bool = True, **changes) -> GraphCredentials:
    """The sandbox app's credentials as an admin would enter them (certificate by default)."""
    values = dict(
        tenant_id=info["tenant_id"],
        client_id=info["client_id"],
        authority=info["authority"],
        ca_file=info["ca_file"],
    )
    if certificate:
        values.update(private_key=Path(info["private_key_file"]).read_text(), thumbprint=info["thumbprint"])
    else:
        values.update(client_secret=info["client_secret"])
    values.update(changes)
    return GraphCredentials(**values)


@pytest.fixture
def graph_control(graph_info) -> Iterator:
    """PUT/GET/POST on the Graph sandbox's control endpoints; scopes, on-premises list and clock put back after."""
    import requests

    def control(method: str, path: str, body=None) -> dict:
        answer = requests.request(method, graph_info["admin_url"] + path, json=body, verify=graph_info["ca_file"],
                                  timeout=30)  # fmt: skip
        answer.raise_for_status()
        return answer.json()

    before = control("GET", "/on_premises")
    yield control
    control("PUT", "/scopes", {graph_info["client_id"]: None})
    control("PUT", "/on_premises", before)
    control("PUT", "/clock", {"offset_seconds": 0})
    control("POST", "/reset")


@pytest.fixture
def graph_settings(sandbox_settings, redis):  # noqa: F811
    """The sandbox settings with the test Redis (where the Graph token cache lives)."""
    from dataclasses import replace

    return replace(sandbox_settings, redis_url=REDIS_URL)


def graph_engine(settings, world, email: str | None = None):  # noqa: F811
    """An `Engine` (tests/e2e/engine.py) whose mailbox syncs over Microsoft Graph."""
    from sync import mailboxes
    from tests.e2e.engine import Engine

    eng = Engine(settings, world, email or world.rep.email)
    with eng.factory() as db:
        mailboxes.find(db, eng.email).backend = "graph"
        db.commit()
    return eng


@pytest.fixture
def gengine(graph_settings, world):  # noqa: F811
    eng = graph_engine(graph_settings, world)
    yield eng
    eng.runtime.close()


@pytest.fixture
def exchange_protocol() -> str:
    """These tests choose each mailbox's backend themselves (several start on EWS and move to Graph): the e2e
    engine's default mailbox protocol stays EWS here rather than running every test twice."""
    return "ews"


# Graph change notifications (tests/graph/test_push_*.py): the web app over HTTPS as webhook, the keeper.
from tests.e2e.graph_support import graph_admin  # noqa: E402,F401
from tests.graph.push_support import keeper, push_runtime, push_settings, webhook  # noqa: E402,F401
