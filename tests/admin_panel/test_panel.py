"""The admin panel through Flask's test client: login, roles, CSRF, forms that refuse bad input, the audit
log, secrets at rest, and the engine reading what the panel saved."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from backend.globals import runtime_of
from calsync.cli import main
from sync import connections, policy_store, settings_store
from sync.job_queue import session_queue
from sync.models import AuditEntry, Connection, Mailbox
from sync.schedule import ScheduleConfig
from tests.admin_panel.conftest import ADMIN, VIEWER, csrf_of, log_in

PAGES = ["/admin/", "/admin/mailboxes", "/admin/policies", "/admin/policies/event", "/admin/policies/task",
         "/admin/health", "/admin/sessions", "/admin/connections", "/admin/settings", "/admin/audit"]  # fmt: skip


def _audit(app) -> list[AuditEntry]:
    with runtime_of(app).session_factory() as db:
        return list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_every_page_needs_a_login(client):
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 302, page
        assert "/admin/login" in response.headers["Location"]


def test_wrong_password_is_a_form_error_and_right_one_logs_in(client):
    response = log_in(client, ADMIN[0], "not-the-password")
    assert response.status_code == 400
    assert "Wrong e-mail or password" in response.get_data(as_text=True)
    assert log_in(client, *ADMIN).status_code == 303
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_session_cookie_is_httponly_and_samesite(client):
    response = log_in(client, *ADMIN)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("calsync_admin=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_never_redirects_outside_the_panel(client):
    token = csrf_of(client.get("/admin/login"))
    response = client.post(
        "/admin/login?next=//evil.example/", data={"email": ADMIN[0], "password": ADMIN[1], "csrf_token": token}
    )
    assert response.headers["Location"] == "/admin/"


def test_a_post_without_csrf_token_is_refused_even_logged_in(admin_client, app):
    response = admin_client.post("/admin/mailboxes", data={"email": "rep@calsync.example"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    response = admin_client.post("/admin/mailboxes", data={"email": "rep@calsync.example", "csrf_token": "forged"})
    assert response.status_code == 400
    with runtime_of(app).session_factory() as db:
        assert db.scalars(select(Mailbox)).all() == []


def test_login_itself_needs_the_csrf_token(client):
    client.get("/admin/login")
    response = client.post("/admin/login", data={"email": ADMIN[0], "password": ADMIN[1]})
    assert response.status_code == 400


def test_a_viewer_may_look_but_not_change(client, app):
    assert log_in(client, *VIEWER).status_code == 303
    page = client.get("/admin/settings")
    assert page.status_code == 200
    response = client.post("/admin/settings", data={"csrf_token": csrf_of(page), "intervals": "15"})
    assert response.status_code == 403
    assert "may look but not change" in response.get_data(as_text=True)
    assert _audit(app) == []


def test_policy_change_is_audited_with_before_and_after_and_read_by_the_engine(admin_client, app):
    token = csrf_of(admin_client.get("/admin/policies/event"))
    form = {"csrf_token": token, "direction": "downsync_only", "conflict_winner": "salesforce",
            "salesforce_deletion": "keep", "exchange_deletion": "delete", "on_unshare": "keep_salesforce",
            "private_items": "masked", "description": "once", "scope_past_days": "7",
            "scope_future_days": "30"}  # fmt: skip
    response = admin_client.post("/admin/policies/event", data=form)
    assert response.status_code == 303
    with runtime_of(app).session_factory() as db:
        policy = policy_store.load(db).for_kind("event")
    assert (policy.direction, policy.conflict_winner, policy.private_items) == ("downsync_only", "salesforce", "masked")
    assert (policy.scope.past_days, policy.scope.future_days) == (7, 30)
    [entry] = _audit(app)
    assert (entry.actor, entry.action, entry.target) == (ADMIN[0], "policy.update", "policy:event")
    assert entry.before is None and entry.after["direction"] == "downsync_only"
    assert entry.at is not None
    assert "policy.update" in admin_client.get("/admin/audit").get_data(as_text=True)


def test_bad_policy_input_is_a_form_error_with_messages(admin_client, app):
    token = csrf_of(admin_client.get("/admin/policies/task"))
    response = admin_client.post("/admin/policies/task", data={
        "csrf_token": token, "direction": "two_way", "scope_past_days": "soon", "scope_future_days": "60",
        "task_category": "", "task_color": "4"})  # fmt: skip
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Scope past days must be a whole number" in text
    response = admin_client.post("/admin/policies/task", data={
        "csrf_token": token, "direction": "two_way", "scope_past_days": "14", "scope_future_days": "60",
        "task_category": "SF Task", "task_color": "4", "task_all_day": "1"})  # fmt: skip
    assert response.status_code == 400
    assert "sync one way only" in response.get_data(as_text=True)
    assert _audit(app) == []
    assert admin_client.post("/admin/policies/nonsense", data={"csrf_token": token}).status_code == 404


def test_settings_are_validated_audited_and_read_by_the_engine(admin_client, app):
    token = csrf_of(admin_client.get("/admin/settings"))
    bad = admin_client.post(
        "/admin/settings",
        data={"csrf_token": token, "intervals": "60, 30", "budget_max_percent": "120", "guard_min_count": "x"},
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert "shortest to the longest" in text and "from 0 (off) to 100" in text and "whole number" in text
    good = admin_client.post("/admin/settings", data={
        "csrf_token": token, "intervals": "15, 45", "budget_max_percent": "75", "budget_max_requests": "",
        "scope_past_days": "3", "scope_future_days": "10", "guard_min_count": "2", "guard_percent": "50"})  # fmt: skip
    assert good.status_code == 303
    with runtime_of(app).session_factory() as db:
        org = settings_store.load(db)
        policies = policy_store.load(db)
    config = settings_store.apply_to_schedule(org, ScheduleConfig())
    assert config.intervals == (15, 45) and config.budget_max_percent == 75 and config.budget_max_requests == 0
    assert (policies.for_kind("event").scope.past_days, policies.for_kind("task").scope.future_days) == (3, 10)
    assert (policies.guard.min_count, policies.guard.fraction) == (2, 0.5)
    [entry] = _audit(app)
    assert entry.action == "settings.update" and entry.after["intervals"] == [15, 45]


def test_mailbox_forms_refuse_bad_input_and_audit_changes(admin_client, app):
    token = csrf_of(admin_client.get("/admin/mailboxes"))
    response = admin_client.post("/admin/mailboxes", data={"csrf_token": token, "email": "not-an-address"})
    assert response.status_code == 400 and "is not an e-mail address" in response.get_data(as_text=True)
    response = admin_client.post(
        "/admin/mailboxes", data={"csrf_token": token, "email": "rep@calsync.example", "time_zone": "Mars/Olympus"}
    )
    assert response.status_code == 400 and "is not a time zone" in response.get_data(as_text=True)
    assert (
        admin_client.post("/admin/mailboxes", data={"csrf_token": token, "email": "rep@calsync.example"}).status_code
        == 303
    )
    with runtime_of(app).session_factory() as db:
        mailbox = db.scalars(select(Mailbox)).one()
        mailbox.exchange_sync_state = "state"
        db.commit()
        mailbox_id = mailbox.id
    admin_client.post(f"/admin/mailboxes/{mailbox_id}/enabled", data={"csrf_token": token, "enabled": "0"})
    response = admin_client.post(
        f"/admin/mailboxes/{mailbox_id}/reset", data={"csrf_token": token, "back": "https://evil.example/"}
    )
    assert response.headers["Location"] == "/admin/mailboxes"
    with runtime_of(app).session_factory() as db:
        mailbox = db.get(Mailbox, mailbox_id)
        assert not mailbox.enabled and mailbox.exchange_sync_state is None
    assert [e.action for e in _audit(app)] == ["mailbox.add", "mailbox.enabled", "mailbox.reset_sync_state"]
    assert _audit(app)[1].before == {"enabled": True} and _audit(app)[1].after == {"enabled": False}
    assert admin_client.post("/admin/mailboxes/999/reset", data={"csrf_token": token}).status_code == 404


def test_sync_now_enqueues_a_session_on_redis(admin_client, app, redis_db):
    token = csrf_of(admin_client.get("/admin/mailboxes"))
    admin_client.post("/admin/mailboxes", data={"csrf_token": token, "email": "rep@calsync.example"})
    with runtime_of(app).session_factory() as db:
        mailbox_id = db.scalars(select(Mailbox.id)).one()
    admin_client.post(f"/admin/mailboxes/{mailbox_id}/sync-now", data={"csrf_token": token})

    queue = session_queue("sync", redis_db)
    assert queue.job_ids == [f"sync-{mailbox_id}"]
    overview = admin_client.get("/admin/").get_data(as_text=True)
    assert "no worker running" in overview


def test_exchange_secret_is_encrypted_at_rest_and_never_shown(admin_client, app):
    token = csrf_of(admin_client.get("/admin/connections"))
    bad = admin_client.post("/admin/connections/exchange", data={"csrf_token": token, "endpoint": "mail",
                                                                 "username": "", "auth_type": "basic",
                                                                 "version": "Exchange2013_SP1"})  # fmt: skip
    assert bad.status_code == 400 and "EWS endpoint must be a URL" in bad.get_data(as_text=True)
    form = {"csrf_token": token, "endpoint": "https://mail.example.com/EWS/Exchange.asmx", "username": "svc",
            "password": "s3cret-Passw0rd", "auth_type": "basic", "version": "Exchange2013_SP1"}  # fmt: skip
    assert admin_client.post("/admin/connections/exchange", data=form).status_code == 303
    with runtime_of(app).session_factory() as db:
        row = db.scalars(select(Connection)).one()
        assert "s3cret" not in row.secret and "s3cret" not in str(row.config)
        stored = connections.load(db, "exchange", runtime_of(app).settings.secret_key)
    assert stored.secrets == {"password": "s3cret-Passw0rd"}
    assert "s3cret" not in admin_client.get("/admin/connections").get_data(as_text=True)
    assert "s3cret" not in admin_client.get("/admin/audit").get_data(as_text=True)


def test_custom_object_page_without_salesforce_says_why(admin_client):
    response = admin_client.get("/admin/policies/custom/new")
    assert response.status_code == 502
    assert "Salesforce is not connected" in response.get_data(as_text=True)


def test_cli_admin_create(database_url):
    runner = CliRunner()
    env = {"DATABASE_URL": database_url}
    args = ["admin", "create", "boss@calsync.example", "--password-stdin"]
    result = runner.invoke(main, args, env=env, input="short\n")
    assert result.exit_code == 1 and "at least 10 characters" in result.output
    result = runner.invoke(main, args, env=env, input="long-enough-1\n")
    assert result.exit_code == 0, result.output
    assert "admin account ready" in result.output


def test_secrets_need_the_key_they_were_stored_with(db_session):
    connections.save(
        db_session, connections.StoredConnection("exchange", {"username": "svc"}, {"password": "pw"}), "key-one-" * 4
    )
    db_session.commit()
    assert connections.load(db_session, "exchange", "key-one-" * 4).secrets == {"password": "pw"}
    with pytest.raises(connections.SecretError, match="CALSYNC_SECRET_KEY changed"):
        connections.load(db_session, "exchange", "key-two-" * 4)


def test_notify_attendees_is_a_policy_checkbox_with_its_help_and_defaults_off(admin_client, app):
    page = admin_client.get("/admin/policies/task")
    text = page.get_data(as_text=True)
    assert 'name="notify_attendees"' in text and "graph_would_notify" in text  # the help says what happens
    with runtime_of(app).session_factory() as db:
        assert policy_store.load(db).for_kind("task").notify_attendees is False
    form = {"csrf_token": csrf_of(page), "direction": "downsync_only", "scope_past_days": "14",
            "scope_future_days": "60", "task_category": "SF Task", "task_color": "4", "task_all_day": "1",
            "notify_attendees": "1"}  # fmt: skip
    assert admin_client.post("/admin/policies/task", data=form).status_code == 303
    with runtime_of(app).session_factory() as db:
        policies = policy_store.load(db)
    assert policies.for_kind("task").notify_attendees is True
    assert policies.for_kind("event").notify_attendees is False  # per kind
    [entry] = _audit(app)
    assert entry.after["notify_attendees"] is True
