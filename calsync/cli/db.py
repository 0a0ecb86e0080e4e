"""``calsync db``: schema migrations (Alembic) of the database at DATABASE_URL."""

from __future__ import annotations

import click

from calsync.cli.common import CONTEXT, load_settings

# Alembic and SQLAlchemy are imported inside the commands: about 1 s of CPU that `calsync --help` does not need.


@click.group(context_settings=CONTEXT)
def db() -> None:
    """Database schema migrations (Alembic)."""


@db.command("upgrade", context_settings=CONTEXT)
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the database at DATABASE_URL."""
    from calsync.database import current_revision, upgrade

    url = load_settings().database_url
    upgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)}")


@db.command("downgrade", context_settings=CONTEXT)
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (``base`` empties it)."""
    from calsync.database import current_revision, downgrade

    url = load_settings().database_url
    downgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)}")


@db.command("current", context_settings=CONTEXT)
def db_current() -> None:
    """Print the database's current revision."""
    from calsync.database import current_revision

    click.echo(current_revision(load_settings().database_url) or "(empty database)")
