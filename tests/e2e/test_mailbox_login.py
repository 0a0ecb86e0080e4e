"""A mailbox may sync with its own Exchange login (delegate access) instead of the impersonating service account."""

import pytest
from click.testing import CliRunner

from calsync.cli import main
from sandbox.seed import REPS
from sync import mailboxes
from sync.secrets import SecretError, seal, unseal
from sync.session import run_session
from tests.e2e.actors import at

ALICE = REPS[0]


def _login(engine, password):
    with engine.factory() as db:
        mailbox = mailboxes.find(db, engine.email)
        mailboxes.set_exchange_credentials(mailbox, ALICE.email, password, secret_key=engine.settings.secret_key)
        db.commit()


@pytest.mark.parametrize("exchange_protocol", ["ews"])  # an EWS login: no Graph twin
def test_a_mailbox_with_its_own_login_syncs_without_impersonation(engine, world):
    _login(engine, ALICE.password)
    with engine.factory() as db:
        stored = mailboxes.find(db, engine.email).exchange_credentials
    assert ALICE.password not in stored  # sealed at rest
    world.outlook().create("Own login", at(1, 10), at(1, 11))
    before = world.exchange_log()["requests_by_login"]
    result = engine.sync()
    assert result.created["salesforce"] == 1
    assert world.salesforce().find_event("Own login") is not None
    after = world.exchange_log()["requests_by_login"]
    assert after.get(ALICE.email, 0) - before.get(ALICE.email, 0) == result.api_calls["exchange"]


@pytest.mark.parametrize("exchange_protocol", ["ews"])  # an EWS login: no Graph twin
def test_a_wrong_own_password_fails_the_session_with_a_clear_health_entry(engine, world):
    _login(engine, "not-the-password")
    result = run_session(engine.factory, engine.email, **engine.connectors())
    assert result.status == "failed" and "exchange refused our credentials" in result.error
    assert "exchange_auth_failed" in [h.code for h in engine.health()]


def test_sealed_values_need_the_same_secret_key():
    token = seal({"password": "s3cret"}, "k" * 40)
    assert unseal(token, "k" * 40) == {"password": "s3cret"}
    try:
        unseal(token, "x" * 40)
    except SecretError as exc:
        assert "CALSYNC_SECRET_KEY" in str(exc)
    else:
        raise AssertionError("a different key opened the secret")


@pytest.mark.parametrize("exchange_protocol", ["ews"])  # an EWS login: no Graph twin
def test_cli_login_stores_and_clears_the_login(engine, sandbox_settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sandbox_settings.database_url)
    runner = CliRunner()
    result = runner.invoke(main, ["mailboxes", "login", engine.email], input="pw\n")
    assert result.exit_code == 0 and "own Exchange login stored" in result.output, result.output
    with engine.factory() as db:
        mailbox = mailboxes.find(db, engine.email)
        assert mailboxes.exchange_credentials(mailbox, secret_key=sandbox_settings.secret_key) == (engine.email, "pw")
    result = runner.invoke(main, ["mailboxes", "login", engine.email, "--clear"])
    assert result.exit_code == 0, result.output
    with engine.factory() as db:
        assert mailboxes.find(db, engine.email).exchange_credentials is None
    missing = runner.invoke(main, ["mailboxes", "login", "nobody@example.com", "--password-stdin"], input="x\n")
    assert missing.exit_code == 1 and "no mailbox nobody@example.com" in missing.output
