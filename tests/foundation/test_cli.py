"""Every command answers --help, and the database commands work end to end."""

import click
import pytest
from click.testing import CliRunner

from calsync.cli import main
from calsync.database import head_revision


def _all_commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [(), *_all_commands(main)], ids=lambda p: " ".join(p) or "calsync")
def test_help_everywhere(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_db_upgrade_current_downgrade(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    runner = CliRunner()
    assert "(empty database)" in runner.invoke(main, ["db", "current"], env=env).output
    result = runner.invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    head = head_revision()
    assert head >= "0002"
    assert f"database at revision {head}" in result.output
    assert runner.invoke(main, ["db", "current"], env=env).output.strip() == head
    assert "revision None" in runner.invoke(main, ["db", "downgrade", "base"], env=env).output


def test_bad_configuration_is_a_clean_error():
    result = CliRunner().invoke(main, ["config"], env={"CALSYNC_HTTP_TIMEOUT": "x"})
    assert result.exit_code == 1
    assert "Error: CALSYNC_HTTP_TIMEOUT must be a number" in result.output
    assert "Traceback" not in result.output


def test_config_docs_lists_variables():
    result = CliRunner().invoke(main, ["config", "--docs"])
    assert "DATABASE_URL" in result.output and "REDIS_URL" in result.output
