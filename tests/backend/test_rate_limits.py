"""Finding 4: per-caller rate limits on /api/v1 in Redis (tighter on lookups and sync now), 429 with
Retry-After in the JSON error shape, and lookups stopped by the org's API budget guard."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backend.globals import runtime_of
from calsync.web import create_app
from sandbox.seed import REPS
from sync import mailboxes
from sync.models import SyncSession, utcnow
from sync.runtime import Runtime
from tests.backend.addin_fixtures import *  # noqa: F403
from tests.backend.addin_fixtures import add_mailbox


@pytest.fixture
def limited_app(addin_settings, engine):
    settings = replace(addin_settings, api_rate_limit="100/minute", api_lookup_rate_limit="5/minute",
                       api_sync_rate_limit="3/minute", api_budget_max_percent=90.0)  # fmt: skip
    app = create_app(settings, {"TESTING": True})
    yield app
    runtime_of(app).close()


def _auth(token_for, rep=REPS[0]):
    return {"Authorization": f"Bearer {token_for(rep.email)}"}


def _salesforce_requests(world) -> int:
    return int(world.salesforce_stats()["total_requests"])


def test_sixty_lookups_from_one_token_are_cut_at_the_lookup_limit(limited_app, token_for, world):
    client, auth = limited_app.test_client(), _auth(token_for)
    before = _salesforce_requests(world)
    answers = [client.get("/api/v1/salesforce/lookup?q=acme", headers=auth) for _ in range(60)]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    refused = answers[5:]
    assert {a.status_code for a in refused} == {429}
    body = refused[0].get_json()
    assert body["error"]["code"] == "rate_limited" and "try again in" in body["error"]["message"]
    assert 0 < int(refused[0].headers["Retry-After"]) <= 60
    per_lookup = (_salesforce_requests(world) - before) / 5
    assert _salesforce_requests(world) - before == 5 * per_lookup  # the 55 refused made no Salesforce request
    # Another rep has a budget of their own.
    add_mailbox(runtime_of(limited_app).settings, REPS[1].email, REPS[1].salesforce_user_id, REPS[1].timezone)
    assert client.get("/api/v1/salesforce/lookup?q=acme", headers=_auth(token_for, REPS[1])).status_code == 200


def test_looping_sync_now_is_cut_at_the_sync_limit(limited_app, token_for):
    client, auth = limited_app.test_client(), _auth(token_for)
    codes = [client.post("/api/v1/sync", headers=auth).status_code for _ in range(6)]
    assert codes == [202, 202, 202, 429, 429, 429]
    assert client.get("/api/v1/me", headers=auth).status_code == 200  # the API-wide limit is not used up


def test_the_api_wide_limit_counts_every_call(addin_settings, engine, token_for):
    app = create_app(replace(addin_settings, api_rate_limit="4/minute"), {"TESTING": True})
    client, auth = app.test_client(), _auth(token_for)
    codes = [client.get("/api/v1/me", headers=auth).status_code for _ in range(6)]
    assert codes == [200] * 4 + [429] * 2
    assert client.get("/api/v1/health").status_code == 200  # public views count per address, apart
    runtime_of(app).close()


def test_lookups_respect_the_api_budget_guard_of_the_last_session(limited_app, token_for, world):
    with Runtime.build(runtime_of(limited_app).settings).session_factory() as db:
        db.add(SyncSession(mailbox_id=mailboxes.find(db, REPS[0].email).id, started_at=utcnow(), status="ok",
                           salesforce_usage={"used": 95_000, "max": 100_000}))  # fmt: skip
        db.commit()
    before = _salesforce_requests(world)
    answer = limited_app.test_client().get("/api/v1/salesforce/lookup?q=acme", headers=_auth(token_for))
    assert answer.status_code == 429
    assert answer.get_json()["error"]["code"] == "api_budget_exhausted"
    assert answer.headers["Retry-After"]
    assert _salesforce_requests(world) == before


def test_lookups_stop_once_salesforce_reports_the_budget_used(limited_app, token_for, world):
    world.set_salesforce_faults(daily_budget=1000, api_used=950)  # Sforce-Limit-Info says 95 % used
    client, auth = limited_app.test_client(), _auth(token_for)
    assert client.get("/api/v1/salesforce/lookup?q=acme", headers=auth).status_code == 200  # usage unknown before
    answer = client.get("/api/v1/salesforce/lookup?q=acme", headers=auth)
    assert answer.status_code == 429 and answer.get_json()["error"]["code"] == "api_budget_exhausted"
