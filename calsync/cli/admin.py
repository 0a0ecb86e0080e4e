"""``calsync admin``: accounts of the admin panel."""

from __future__ import annotations

import click

from calsync.cli.common import CONTEXT
from calsync.cli.mailboxes import db_session
from calsync.passwords import password_stdin_option, read_password


@click.group(context_settings=CONTEXT)
def admin() -> None:
    """Accounts of the admin panel (/admin)."""


@admin.command("create", context_settings=CONTEXT)
@click.argument("email")
@password_stdin_option
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="admin", show_default=True,
              help="admin: may change settings; viewer: may only look.")  # fmt: skip
def admin_create(email: str, password_stdin: bool, role: str) -> None:
    """Create an admin-panel account for EMAIL (or set its password and role). The password (at least 10
    characters) is prompted for twice, or read from standard input with --password-stdin."""
    from admin_panel.accounts import AccountError, create

    password = read_password("Password", from_stdin=password_stdin, confirm=True)

    with db_session() as db:
        try:
            user = create(db, email, password, role=role)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        db.commit()
        click.echo(f"{user.email}: {user.role} account ready; log in at /admin/login")
