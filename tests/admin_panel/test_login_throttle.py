"""Finding 5: sign-in back-off per account and per client address (in Redis), a log line and an audit entry
for every failure."""

from __future__ import annotations

import logging

from sqlalchemy import select

from backend.globals import runtime_of
from sync.models import AuditEntry
from tests.admin_panel.conftest import ADMIN, VIEWER, csrf_of

ATTACKER = {"REMOTE_ADDR": "203.0.113.7"}
OFFICE = {"REMOTE_ADDR": "198.51.100.20"}


def _login(client, email, password, environ):
    token = csrf_of(client.get("/admin/login", environ_base=environ))
    return client.post("/admin/login", data={"email": email, "password": password, "csrf_token": token},
                       environ_base=environ)  # fmt: skip


def _audit(app, action="login.failed") -> list[AuditEntry]:
    with runtime_of(app).session_factory() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_thirty_wrong_passwords_then_the_right_one_is_refused(app, client, redis_db, caplog):
    caplog.set_level(logging.WARNING, logger="admin_panel.throttle")
    for _ in range(30):
        assert _login(client, ADMIN[0], "not-the-password", ATTACKER).status_code in (400, 429)
    right = _login(client, ADMIN[0], ADMIN[1], ATTACKER)
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in right.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # not signed in
    # The account is locked from everywhere, not only from the attacker's address.
    assert _login(app.test_client(), ADMIN[0], ADMIN[1], OFFICE).status_code == 429
    # Every failure (30 guesses, 2 refusals while locked): one log line and one audit entry with the address.
    failures = _audit(app)
    assert len(failures) == 32
    assert [e.after["address"] for e in failures] == ["203.0.113.7"] * 31 + ["198.51.100.20"]
    assert failures[0].actor == ADMIN[0] and failures[0].after["reason"] == "wrong"
    assert failures[-1].after["reason"] == "locked" and failures[-1].after["account_failures"] == 32
    assert 0 < redis_db.pttl(next(iter(redis_db.keys("calsync:login:account:*:locked")))) <= 15 * 60 * 1000
    assert sum("admin sign-in failed" in r.getMessage() for r in caplog.records) == 32


def test_back_off_starts_after_a_few_failures_and_doubles(client, redis_db):
    answers = [_login(client, ADMIN[0], "wrong-password-x", ATTACKER) for _ in range(5)]
    assert [a.status_code for a in answers] == [400] * 5  # five free attempts, each a plain form error
    locked = _login(client, ADMIN[0], ADMIN[1], ATTACKER)
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "2"
    ttl = redis_db.pttl(next(k for k in redis_db.keys("calsync:login:account:*:locked")))
    assert 2000 < ttl <= 4000  # the try during the lock doubled it


def test_one_address_guessing_many_accounts_is_locked_but_others_are_not(app, redis_db):
    attacker = app.test_client()
    for i in range(25):
        _login(attacker, f"guess{i}@calsync.example", "whatever-pass", ATTACKER)
    assert _login(attacker, VIEWER[0], VIEWER[1], ATTACKER).status_code == 429
    assert _login(app.test_client(), VIEWER[0], VIEWER[1], OFFICE).status_code == 303


def test_a_success_clears_the_account_count(app, client, redis_db):
    for _ in range(4):
        _login(client, ADMIN[0], "wrong-password-x", OFFICE)
    assert _login(client, ADMIN[0], ADMIN[1], OFFICE).status_code == 303
    other = app.test_client()
    for _ in range(4):
        assert _login(other, ADMIN[0], "wrong-password-x", OFFICE).status_code == 400
