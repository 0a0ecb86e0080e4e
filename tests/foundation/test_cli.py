"""Every command answers --help, and the database commands work end to end."""

import click
import pytest
from click.testing import CliRunner

from calsync.cli import main


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
    from alembic.script import ScriptDirectory

    from backend.database import alembic_config

    head = ScriptDirectory.from_config(alembic_config(env["DATABASE_URL"])).get_current_head()
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
