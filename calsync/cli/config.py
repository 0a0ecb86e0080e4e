"""``calsync config``: the effective configuration, or the documentation of every variable."""

from __future__ import annotations

import click

from calsync.cli.common import CONTEXT, load_settings
from calsync.settings import Settings


@click.command("config", context_settings=CONTEXT)
@click.option("--docs", is_flag=True, help="List every environment variable with its default and meaning.")
def config_command(docs: bool) -> None:
    """Show the effective configuration (secrets masked)."""
    if docs:
        for env, default, doc in Settings.documentation():
            click.echo(f"{env}\n    default: {default or '(empty)'}\n    {doc}")
        return
    for key, value in load_settings().redacted().items():
        click.echo(f"{key}={value}")
