"""``calsync mailboxes``: the mailboxes that sync (add, own Exchange login, move between EWS and Graph, list)."""

from __future__ import annotations

import json

import click

from calsync.cli.common import CONTEXT, load_settings
from calsync.passwords import password_stdin_option, read_password

# The engine, the web app and the sandboxes are imported inside the commands that use them: together they cost
# about 2 s of CPU, and `calsync --help` or `calsync config` need none of them.


def db_session():
    from sync.runtime import Runtime

    return Runtime.build(load_settings(), migrate=True).session_factory()


@click.group(context_settings=CONTEXT)
def mailboxes() -> None:
    """Mailboxes that sync."""


@mailboxes.command("add", context_settings=CONTEXT)
@click.argument("email")
@click.option("--salesforce-user", "salesforce_user", help="Salesforce User id (005...); found by e-mail if omitted.")
@click.option("--time-zone", help="IANA zone placing all-day Salesforce items (default UTC), e.g. Europe/London.")
@click.option(
    "--backend",
    type=click.Choice(["ews", "graph"]),
    help="How the calendar is reached: ews (Exchange Server, or Exchange Online over EWS) or graph (Microsoft "
    "Graph, Exchange Online only). Default: CALSYNC_EXCHANGE_BACKEND (ews). Switch later with `move`.",
)
def mailboxes_add(email: str, salesforce_user: str | None, time_zone: str | None, backend: str | None) -> None:
    """Add EMAIL's mailbox to sync (or change its Salesforce user or time zone)."""
    from sync.mailboxes import MailboxError, add

    settings = load_settings()
    with db_session() as db:
        try:
            mailbox = add(
                db, email, salesforce_user, time_zone=time_zone, backend=backend,
                default_backend=settings.exchange_backend,
            )  # fmt: skip
        except MailboxError as exc:
            raise click.ClickException(str(exc)) from None
        db.commit()
        click.echo(
            f"{mailbox.email}  salesforce user: {mailbox.salesforce_user_id or '(found at first sync)'}  "
            f"backend: {mailbox.backend}"
        )


@mailboxes.command("move", context_settings=CONTEXT)
@click.argument("email")
@click.option("--to", "target", type=click.Choice(["ews", "graph"]), required=True, help="The protocol to move to.")
def mailboxes_move(email: str, target: str) -> None:
    """Move EMAIL's mailbox between EWS and Microsoft Graph. Its links' Exchange item ids are translated with
    Graph's translateExchangeIds (the Microsoft 365 connection must reach the mailbox) and the next session is a
    full round: nothing is created twice and nothing is deleted. Refused while a session of it runs."""
    from calsync.settings import ConfigError
    from sync.connectors.errors import ConnectorError
    from sync.mailboxes import MailboxError
    from sync.runtime import Runtime

    runtime = Runtime.build(load_settings(), migrate=True)
    try:
        report = runtime.move_mailbox(email, target)
    except (MailboxError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    except ConnectorError as exc:
        raise click.ClickException(f"Microsoft Graph refused the id translation, nothing was moved: {exc}") from None
    finally:
        runtime.close()
    click.echo(report.describe())


@mailboxes.command("login", context_settings=CONTEXT)
@click.argument("email")
@click.option("--username", help="Exchange login (default: EMAIL).")
@password_stdin_option
@click.option("--clear", is_flag=True, help="Forget the mailbox's login: use the impersonating service account.")
def mailboxes_login(email: str, username: str | None, password_stdin: bool, clear: bool) -> None:
    """Sync EMAIL with its own Exchange login instead of the service account (stored encrypted). The password
    is prompted for, or read from standard input with --password-stdin."""
    password = None if clear else read_password("Exchange password", from_stdin=password_stdin)
    from sync.mailboxes import MailboxError, clear_exchange_credentials, find, set_exchange_credentials

    settings = load_settings()
    with db_session() as db:
        mailbox = find(db, email)
        if mailbox is None:
            raise click.ClickException(f"no mailbox {email}: calsync mailboxes add {email}")
        try:
            if clear:
                clear_exchange_credentials(mailbox)
            else:
                set_exchange_credentials(
                    mailbox, username or mailbox.email, password or "", secret_key=settings.secret_key
                )
        except MailboxError as exc:
            raise click.ClickException(str(exc)) from None
        db.commit()
    click.echo(f"{email}: " + ("service account (impersonation)" if clear else "own Exchange login stored"))


@mailboxes.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
def mailboxes_list(as_json: bool) -> None:
    """List mailboxes with their state."""
    from sync.mailboxes import all_mailboxes

    with db_session() as db:
        rows = [
            {
                "email": m.email,
                "salesforce_user_id": m.salesforce_user_id,
                "backend": m.backend,
                "enabled": m.enabled,
                "next_sync_at": m.next_sync_at.isoformat() if m.next_sync_at else None,
                "sync_interval_minutes": m.sync_interval_minutes,
                "backoff_until": m.backoff_until.isoformat() if m.backoff_until else None,
                "backoff_reason": m.backoff_reason,
            }
            for m in all_mailboxes(db)
        ]
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no mailboxes yet: calsync mailboxes add EMAIL")
    for row in rows:
        state = "enabled" if row["enabled"] else "disabled"
        click.echo(f"{row['email']:40} {row['salesforce_user_id'] or '-':18} {row['backend']:5} {state}")
        if row["backoff_reason"]:  # the API budget guard paused it: say why and until when
            click.echo(f"    paused: {row['backoff_reason']}")
