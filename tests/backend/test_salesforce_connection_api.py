"""The add-in API and the workers reach Salesforce through the same connection: the one stored in the panel
when there is one (here a JWT bearer app), never the environment's token beside it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from backend.api import remote
from backend.globals import runtime_of
from sync import connections
from sync.connectors.salesforce_auth import fresh_providers
from sync.runtime import Runtime
from tests.backend.addin_fixtures import *  # noqa: F403


@pytest.fixture(autouse=True)
def no_cached_sessions() -> Iterator[None]:
    with fresh_providers():
        yield


def store_jwt_connection(settings, info) -> None:
    app = info["salesforce"]["oauth"]["jwt"]
    config = {"flow": "jwt", "login_url": app["login_url"], "client_id": app["client_id"], "username": app["username"]}
    secrets = {"private_key": Path(app["private_key_file"]).read_text()}
    with Runtime.build(settings, migrate=True).session_factory() as db:
        connections.save(db, connections.StoredConnection("salesforce", config, secrets), settings.secret_key)
        db.commit()


def stored_session_token(settings) -> str:
    with Runtime.build(settings, migrate=True).session_factory() as db:
        return connections.load(db, "salesforce", settings.secret_key).secrets["session"]["access_token"]


def test_api_and_workers_use_the_stored_connection(api_client, token_for, world, addin_settings, redis11):
    store_jwt_connection(addin_settings, world.info)
    # The environment's fixed token no longer works: only the stored connection can answer.
    assert world.expire_salesforce_session(addin_settings.salesforce_access_token)
    auth = {"Authorization": f"Bearer {token_for(world.rep.email)}"}
    response = api_client.get("/api/v1/salesforce/lookup?q=coy", headers=auth)
    assert response.status_code == 200, response.get_json()
    assert [r["name"] for r in response.get_json()["results"]] == ["Wile Coyote"]
    shared = stored_session_token(addin_settings)
    # Links to records point at the stored connection's org, not at the environment's instance URL.
    app = api_client.application
    runtime_of(app).settings = replace(addin_settings, salesforce_instance_url="https://env-org.example.com")
    with app.app_context():
        url = remote.salesforce_url("Event", "00U1")
    assert url == f"{world.info['salesforce']['instance_url']}/lightning/r/Event/00U1/view"
    with fresh_providers():  # a worker process: its own cache, the same stored connection and session
        worker = Runtime.build(addin_settings, redis=redis11).worker_context().salesforce()
        assert worker.query("SELECT Id FROM User LIMIT 1")
        assert worker.session.access_token == shared
        assert worker.usage.reauthentications == 0
