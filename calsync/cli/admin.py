"""``calsync admin``: accounts of the admin panel."""

from __future__ import annotations

import click

from calsync.cli.common import CONTEXT
from calsync.cli.mailboxes import db_session


@click.group(context_settings=CONTEXT)
def admin() -> None:
    """Accounts of the admin panel (/admin)."""


@admin.command("create", context_settings=CONTEXT)
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="At least 10 characters (prompted for when not given).")  # fmt: skip
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="admin", show_default=True,
              help="admin: may change settings; viewer: may only look.")  # fmt: skip
def admin_create(email: str, password: str, role: str) -> None:
    """Create an admin-panel account for EMAIL (or set its password and role)."""
    from admin_panel.accounts import AccountError, create

    with db_session() as db:
        try:
            user = create(db, email, password, role=role)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        db.commit()
        click.echo(f"{user.email}: {user.role} account ready; log in at /admin/login")
