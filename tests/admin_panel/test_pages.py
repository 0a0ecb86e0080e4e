"""Health actions, the session log's filters, the overview's figures, and junk in every form (never a 500)."""

from __future__ import annotations

import datetime as dt

import pytest
from rq import Queue
from sqlalchemy import select

from backend.globals import runtime_of
from sync.models import AuditEntry, HealthEntry, Mailbox, SyncSession, utcnow
from tests.admin_panel.conftest import csrf_of


def _db(app):
    return runtime_of(app).session_factory()


@pytest.fixture
def seeded(app):
    """Two mailboxes, three sessions (ok, partial, failed) and an open health entry."""
    now = utcnow()
    with _db(app) as db:
        alice, bob = Mailbox(email="alice@calsync.example"), Mailbox(email="bob@calsync.example")
        db.add_all([alice, bob])
        db.flush()
        counts = {"created": {"salesforce": 2, "exchange": 3}, "updated": {"salesforce": 1, "exchange": 0},
                  "deleted": {"salesforce": 0, "exchange": 1},
                  "reverted": {"salesforce": 0, "exchange": 1}}  # fmt: skip
        db.add_all([
            SyncSession(mailbox_id=alice.id, started_at=now - dt.timedelta(days=1), finished_at=now, status="ok",
                        counts=counts, api_calls={"salesforce": 4, "exchange": 2},
                        salesforce_usage={"used": 250, "max": 1000}),
            SyncSession(mailbox_id=alice.id, started_at=now, finished_at=now, status="partial", counts=counts,
                        failed=2, api_calls={"salesforce": 1, "exchange": 1}),
            SyncSession(mailbox_id=bob.id, started_at=now, finished_at=now, status="failed",
                        error="Salesforce refused our credentials"),
        ])  # fmt: skip
        db.add(HealthEntry(mailbox_id=alice.id, item_ref="exchange:AAMk1", side="salesforce", code="subject_too_long",
                           message="The subject is longer than 255 characters.", attempts=3, first_seen=now,
                           last_seen=now))  # fmt: skip
        db.commit()
        return {"alice": alice.id, "bob": bob.id}


def test_overview_shows_the_counts_the_budget_and_the_latest_sessions(admin_client, seeded):
    text = admin_client.get("/admin/").get_data(as_text=True)
    assert "Items added per day: 10 in 30 days" in text  # 2 sessions x (2 + 3)
    assert "Items updated per day: 4 in 30 days" in text  # updated + reverted
    assert "Items failed per day: 2 in 30 days" in text
    assert "<strong>250</strong> of 1000" in text and "25.0 %" in text
    assert "Salesforce refused our credentials" in text


def test_sessions_filter_by_mailbox_and_outcome(admin_client, seeded):
    text = admin_client.get("/admin/sessions?outcome=failed").get_data(as_text=True)
    assert text.count('class="status-') == 1 and "bob@calsync.example</td>" in text
    text = admin_client.get(f"/admin/sessions?mailbox={seeded['alice']}").get_data(as_text=True)
    assert text.count('class="status-') == 2 and "bob@calsync.example</td>" not in text
    assert "2 / 3" in text  # created SF / EX
    assert admin_client.get("/admin/sessions?mailbox=x&outcome=<script>").status_code == 200


def test_health_ignore_reopen_and_retry(admin_client, app, seeded, redis_db):
    page = admin_client.get("/admin/health")
    text = page.get_data(as_text=True)
    assert "subject_too_long" in text and "The subject is longer than 255 characters." in text
    token = csrf_of(page)
    with _db(app) as db:
        entry_id = db.scalars(select(HealthEntry.id)).one()
    admin_client.post(f"/admin/health/{entry_id}/ignore", data={"csrf_token": token})
    assert "No open entries" in admin_client.get("/admin/health").get_data(as_text=True)
    assert "subject_too_long" in admin_client.get("/admin/health?status=ignored").get_data(as_text=True)
    admin_client.post(f"/admin/health/{entry_id}/reopen", data={"csrf_token": token})
    admin_client.post(f"/admin/health/{entry_id}/retry", data={"csrf_token": token})
    assert Queue("sync", connection=redis_db).job_ids == [f"sync-{seeded['alice']}"]
    with _db(app) as db:
        assert db.get(HealthEntry, entry_id).status == "open"
        actions = [(e.action, e.before, e.after) for e in db.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == [
        ("health.ignore", {"status": "open"}, {"status": "ignored"}),
        ("health.reopen", {"status": "ignored"}, {"status": "open"}),
        ("health.retry", {"status": "open"}, {"status": "open"}),
    ]
    assert admin_client.post("/admin/health/999/ignore", data={"csrf_token": token}).status_code == 404


JUNK = ["", "x" * 5000, "-1", "1e400", "nan", "<script>alert(1)</script>", "25:99", "ø∂ß", "0x10", "'; DROP TABLE x"]


def test_junk_in_every_form_is_a_message_never_a_500(admin_client, seeded):
    token = csrf_of(admin_client.get("/admin/settings"))
    forms = {
        "/admin/settings": ["intervals", "budget_max_requests", "budget_max_percent", "scope_past_days",
                            "scope_future_days", "guard_min_count", "guard_percent"],
        "/admin/policies/event": ["direction", "conflict_winner", "salesforce_deletion", "exchange_deletion",
                                  "on_unshare", "private_items", "description", "scope_past_days", "scope_future_days"],
        "/admin/policies/task": ["direction", "salesforce_deletion", "scope_past_days", "task_time_of_day",
                                 "task_duration_minutes", "task_completed", "task_category", "task_color"],
        "/admin/mailboxes": ["email", "salesforce_user_id", "time_zone"],
        "/admin/connections/exchange": ["endpoint", "username", "password", "auth_type", "version"],
        "/admin/policies/custom/new": ["object", "subject_field", "mode", "color"],
    }  # fmt: skip
    for url, names in forms.items():
        for junk in JUNK:
            response = admin_client.post(url, data={"csrf_token": token, **dict.fromkeys(names, junk)})
            assert response.status_code < 500 or response.status_code == 502, (url, junk, response.status_code)
            assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
