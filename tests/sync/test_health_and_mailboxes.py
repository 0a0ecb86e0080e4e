import datetime as dt

import pytest
from click.testing import CliRunner

from calsync.cli import main
from sync import health, mailboxes
from sync.models import Mailbox

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def _mailbox(db):
    mailbox = Mailbox(email="alice.archer@calsync.example", salesforce_watermarks={})
    db.add(mailbox)
    db.flush()
    return mailbox


def test_same_problem_again_bumps_attempts_instead_of_adding_rows(db_session):
    mailbox = _mailbox(db_session)
    args = dict(mailbox_id=mailbox.id, item_ref="exchange:A", side="salesforce", code="subject_too_long")
    health.record(db_session, **args, message="first", now=T0)
    db_session.commit()
    entry = health.record(db_session, **args, message="second", now=T0 + dt.timedelta(minutes=30))
    db_session.commit()
    assert [e.id for e in health.open_entries(db_session, mailbox.id)] == [entry.id]
    assert (entry.attempts, entry.message, entry.first_seen, entry.last_seen) == (
        2, "second", T0, T0 + dt.timedelta(minutes=30),
    )  # fmt: skip


def test_resolved_entries_reopen_with_a_fresh_count_and_ignored_ones_stay_quiet(db_session):
    mailbox = _mailbox(db_session)
    args = dict(mailbox_id=mailbox.id, item_ref="exchange:B", side="exchange", code="c")
    health.record(db_session, **args, message="m", now=T0)
    assert health.resolve(db_session, mailbox_id=mailbox.id, item_ref="exchange:B") == 1
    db_session.commit()
    assert health.open_entries(db_session, mailbox.id) == []
    later = T0 + dt.timedelta(hours=1)
    entry = health.record(db_session, **args, message="m", now=later)
    assert (entry.status, entry.attempts, entry.first_seen) == ("open", 1, later)
    entry.status = "ignored"
    db_session.commit()
    entry = health.record(db_session, **args, message="m", now=later + dt.timedelta(hours=1))
    assert entry.status == "ignored" and entry.attempts == 1
    assert health.open_entries(db_session) == []


def test_resolve_only_the_given_codes(db_session):
    mailbox = _mailbox(db_session)
    for code in ("a", "b"):
        health.record(db_session, mailbox_id=mailbox.id, item_ref="x", side="both", code=code, message=code, now=T0)
    db_session.commit()
    assert health.resolve(db_session, mailbox_id=mailbox.id, item_ref="x", codes={"a"}) == 1
    assert [e.code for e in health.open_entries(db_session, mailbox.id)] == ["b"]


@pytest.mark.parametrize(
    "email, user, message",
    [
        ("not-an-email", None, "is not an e-mail address"),
        ("a@b.example", "005'; DROP", "is not a Salesforce id"),
        ("a@b.example", "003000000000000001", "is not a Salesforce User id"),
    ],
)
def test_bad_mailbox_input_is_refused_with_a_message(db_session, email, user, message):
    with pytest.raises(mailboxes.MailboxError, match=message):
        mailboxes.add(db_session, email, user)


def test_adding_twice_updates_instead_of_duplicating(db_session):
    mailboxes.add(db_session, "Bob.Baker@calsync.example")
    db_session.commit()
    mailbox = mailboxes.add(db_session, "bob.baker@CALSYNC.example", "005000000000000002")
    db_session.commit()
    assert [m.email for m in mailboxes.all_mailboxes(db_session)] == ["bob.baker@calsync.example"]
    assert mailbox.salesforce_user_id == "005000000000000002"


def test_mailboxes_cli(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    runner = CliRunner()
    assert "no mailboxes yet" in runner.invoke(main, ["mailboxes", "list"], env=env).output
    result = runner.invoke(main, ["mailboxes", "add", "carol.chen@calsync.example", "--salesforce-user",
                                  "005000000000000003"], env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    bad = runner.invoke(main, ["mailboxes", "add", "nope"], env=env)
    assert bad.exit_code == 1 and "is not an e-mail address" in bad.output
    listed = runner.invoke(main, ["mailboxes", "list", "--json"], env=env)
    assert '"email": "carol.chen@calsync.example"' in listed.output
    assert '"salesforce_user_id": "005000000000000003"' in listed.output
