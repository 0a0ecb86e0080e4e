"""`calsync mailboxes add` and `calsync sync EMAIL --json` against the sandboxes."""

import json

from click.testing import CliRunner

from calsync.cli import main
from tests.e2e.actors import at
from tests.e2e.conftest import REDIS_URL


def test_sync_json_reports_the_session(world, sandbox_info_file, database_url, exchange_protocol):
    env = {"CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL}
    runner = CliRunner()
    email = world.rep.email
    added = runner.invoke(
        main, ["mailboxes", "add", email, "--time-zone", world.rep.timezone, "--backend", exchange_protocol], env=env
    )
    assert added.exit_code == 0, added.output
    world.outlook().create("From the CLI", at(1, 10), at(1, 11))
    result = runner.invoke(main, ["sync", email, "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["mailbox"] == email and report["status"] == "ok"
    assert report["created"] == {"salesforce": 1, "exchange": 0}
    assert set(report) >= {"updated", "deleted", "reverted", "failed", "writes", "api_calls", "duration_s"}
    assert report["api_calls"]["salesforce"] >= 1 and report["api_calls"]["exchange"] >= 1
    again = json.loads(runner.invoke(main, ["sync", email, "--json"], env=env).output)
    assert again["writes"] == 0
    world.assert_no_meeting_messages()


def test_sync_of_an_unknown_mailbox_is_a_clear_error(world, sandbox_info_file, database_url):
    env = {"CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": database_url}
    result = CliRunner().invoke(main, ["sync", "nobody@calsync.example"], env=env)
    assert result.exit_code == 1
    assert "is not a synced mailbox" in result.output and "Traceback" not in result.output


def test_bad_time_zone_is_refused(database_url):
    result = CliRunner().invoke(main, ["mailboxes", "add", "a@b.example", "--time-zone", "Mars/Olympus"],
                                env={"DATABASE_URL": database_url})  # fmt: skip
    assert result.exit_code == 1 and "is not a time zone name" in result.output
