"""The task pane's "last sync" with change-driven sync (issue 18): a change notification's request, enqueued
by the real scheduler's push pass and run by the real worker, shows in the add-in API as a session made by a
change, and the mailbox's push health says changes sync within a minute (or nothing, when Redis is down)."""

from __future__ import annotations

import time

import pytest

from sync import mailboxes
from sync.push import record_channel, request_sync
from sync.schedule import Scheduler, schedule_config
from tests.backend.addin_fixtures import *  # noqa: F403
from tests.backend.test_openapi import response_errors
from tests.e2e.actors import at


@pytest.fixture
def auth(token_for, world):
    return {"Authorization": f"Bearer {token_for(world.rep.email)}"}


def check(path: str, method: str, response) -> dict:
    assert response_errors(path, method, response) == [], response.get_json()
    return response.get_json()


def test_a_session_made_by_a_change_shows_as_such(api_client, auth, world, run_worker, addin_settings, redis11,
                                                   engine):  # fmt: skip
    item_id = world.outlook().create("Moved by the rep", at(2, 10), at(2, 11))
    with engine.factory() as db:
        mailbox_id = mailboxes.find(db, world.rep.email).id
    body = check("/items/{item_id}", "get", api_client.get(f"/api/v1/items/{item_id}", headers=auth))
    assert body["push"] == {"state": "none", "pending": False} and body["last_sync"] is None

    # The listener holds the mailbox's stream and hears of the edit: a request, coalesced, then the push pass.
    record_channel(redis11, mailbox_id, "ews-streaming", "up", ttl=300)
    request_sync(redis11, mailbox_id, source="ews")
    body = check("/items/{item_id}", "get", api_client.get(f"/api/v1/items/{item_id}", headers=auth))
    assert body["push"] == {"state": "up", "pending": True}
    scheduler = Scheduler(redis11, engine.factory, schedule_config(addin_settings), epoch=lambda: time.time() + 60)
    assert scheduler.push_tick().pushed == [mailbox_id]
    assert run_worker() == 1

    body = check("/items/{item_id}", "get", api_client.get(f"/api/v1/items/{item_id}", headers=auth))
    assert body["state"] == "synced" and body["last_sync"]["status"] == "ok"
    assert body["last_sync"]["trigger"] == "push"
    assert body["push"] == {"state": "up", "pending": False}

    # A session asked for from the pane says so too, and the job status carries the same push state.
    job = check("/sync", "post", api_client.post("/api/v1/sync", headers=auth))
    run_worker()
    status = check("/jobs/{job_ref}", "get", api_client.get(f"/api/v1/jobs/{job['id']}", headers=auth))
    assert status["last_session"]["trigger"] == "now" and status["push"] == {"state": "up", "pending": False}

    record_channel(redis11, mailbox_id, "ews-streaming", "down", "the stream was closed")
    body = check("/items/{item_id}", "get", api_client.get(f"/api/v1/items/{item_id}", headers=auth))
    assert body["push"] == {"state": "down", "pending": False}
