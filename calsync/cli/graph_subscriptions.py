"""``calsync graph-subscriptions``: the Microsoft Graph change-notification subscriptions of the Graph mailboxes
(`sync.push.graph_subscriptions`; docs/push.md, "Microsoft Graph").

``sync`` runs one keeper pass (create, renew, reauthorize, recreate, delete): the `calsync listener` loop runs
the same pass continuously; without it, run this from cron more often than CALSYNC_GRAPH_SUBSCRIPTION_RENEW_MINUTES
and CALSYNC_GRAPH_CHANNEL_TTL. ``list`` shows what the database holds. The engine is imported inside the
commands (every ``calsync`` command loads this module).
"""

from __future__ import annotations

import json

import click

from calsync.cli.common import CONTEXT, load_settings


@click.group("graph-subscriptions", context_settings=CONTEXT)
def graph_subscriptions() -> None:
    """Graph change-notification subscriptions (one per Graph mailbox) that push its changes to the webhook."""


@graph_subscriptions.command("sync", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print the pass's report as JSON.")
def sync_command(as_json: bool) -> None:
    """Run one keeper pass: subscribe Graph mailboxes without a subscription, renew those expiring within
    CALSYNC_GRAPH_SUBSCRIPTION_RENEW_MINUTES, reauthorize or recreate those Graph asked about, delete those of
    mailboxes no longer on Graph. Needs CALSYNC_PUBLIC_URL (https) reachable by Graph, Redis and the Microsoft
    365 connection. Exits 1 when a mailbox could not be subscribed (the report names it)."""
    from calsync.cli.workers import queue_runtime
    from sync.push.graph_subscriptions import GraphSubscriptionKeeper

    runtime = queue_runtime(load_settings())
    try:
        keeper = GraphSubscriptionKeeper.from_runtime(runtime)
        try:
            report = keeper.tick()
        finally:
            keeper.close()
    finally:
        runtime.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        if report.locked:
            click.echo("another keeper pass is running: nothing done")
        click.echo(
            f"created {report.created}, renewed {report.renewed}, reauthorized {report.reauthorized}, recreated "
            f"{report.recreated}, deleted {report.deleted}, healthy {report.healthy}, deferred {report.deferred}; "
            f"{report.requests} Graph requests"
        )
        for email, code in sorted(report.failed.items()):
            click.echo(f"  {email}: {code}", err=True)
    if report.failed:
        raise SystemExit(1)


@graph_subscriptions.command("list", context_settings=CONTEXT)
def list_command() -> None:
    """The subscriptions in the database: mailbox, subscription id, expiry, last renewal, last notification,
    and a pending reauthorization or recreation."""
    from sqlalchemy import select

    from calsync.database import make_engine, make_session_factory
    from sync.models import GraphSubscription

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as db:
            rows = list(db.scalars(select(GraphSubscription).order_by(GraphSubscription.mailbox_email)))
    finally:
        engine.dispose()
    if not rows:
        click.echo("no Graph subscriptions")
    for row in rows:
        marks = [m for m, at in (("reauthorize", row.reauthorize_requested_at), ("recreate", row.removed_at)) if at]
        click.echo(
            f"{row.mailbox_email}  {row.subscription_id}  expires {row.expires_at:%Y-%m-%d %H:%M}Z  "
            f"renewed {_when(row.last_renewed_at)}  notified {_when(row.last_notification_at)}"
            + (f"  pending: {', '.join(marks)}" if marks else "")
        )


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M}Z" if value is not None else "never"
