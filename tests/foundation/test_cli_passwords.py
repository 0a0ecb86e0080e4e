"""Finding 16: passwords never on the command line; prompted (hidden) or read from standard input."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from admin_panel.accounts import authenticate
from calsync.cli import main
from calsync.database import make_engine, make_session_factory
from sync import mailboxes
from sync.models import AdminUser


@pytest.mark.parametrize("command", [["admin", "create", "boss@calsync.example"],
                                     ["mailboxes", "login", "rep@calsync.example"]])  # fmt: skip
def test_a_password_argument_is_refused(command, database_url):
    result = CliRunner().invoke(main, [*command, "--password", "on-the-command-line-1"],
                                env={"DATABASE_URL": database_url})  # fmt: skip
    assert result.exit_code == 2
    assert "No such option '--password'" in result.output


def test_admin_create_prompts_twice_or_reads_standard_input(database_url):
    env = {"DATABASE_URL": database_url}
    prompted = CliRunner().invoke(main, ["admin", "create", "boss@calsync.example"], env=env,
                                  input="typed-password-1\ntyped-password-1\n")  # fmt: skip
    assert prompted.exit_code == 0, prompted.output
    assert "typed-password-1" not in prompted.output  # hidden input
    piped = CliRunner().invoke(main, ["admin", "create", "ops@calsync.example", "--password-stdin", "--role",
                                      "viewer"], env=env, input="piped-password-1\n")  # fmt: skip
    assert piped.exit_code == 0, piped.output
    engine = make_engine(database_url)
    with make_session_factory(engine)() as db:
        assert authenticate(db, "boss@calsync.example", "typed-password-1") is not None
        assert authenticate(db, "ops@calsync.example", "piped-password-1").role == "viewer"
        assert len(db.scalars(select(AdminUser)).all()) == 2
    engine.dispose()
    empty = CliRunner().invoke(main, ["admin", "create", "x@calsync.example", "--password-stdin"], env=env, input="")
    assert empty.exit_code == 1 and "held no password" in empty.output


def test_mailbox_login_reads_standard_input(database_url):
    env = {"DATABASE_URL": database_url}
    assert CliRunner().invoke(main, ["mailboxes", "add", "rep@calsync.example"], env=env).exit_code == 0
    result = CliRunner().invoke(main, ["mailboxes", "login", "rep@calsync.example", "--password-stdin"], env=env,
                                input="exchange-pw\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    engine = make_engine(database_url)
    with make_session_factory(engine)() as db:
        mailbox = mailboxes.find(db, "rep@calsync.example")
        from calsync.settings import Settings

        key = Settings.from_env({"CALSYNC_ENV": "test"}).secret_key
        assert mailboxes.exchange_credentials(mailbox, secret_key=key) == ("rep@calsync.example", "exchange-pw")
    engine.dispose()
