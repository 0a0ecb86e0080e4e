"""The one command-line interface, ``calsync``: a module per command group. It sits on the roof: it composes
the parts, and nothing imports it."""

from __future__ import annotations

import click

from calsync.cli import (
    admin,
    config,
    db,
    demo,
    graph_subscriptions,
    listener,
    mailboxes,
    profiles,
    salesforce_scan,
    sandboxes,
    sessions,
    verify,
    web,
    workers,
)
from calsync.cli.common import CONTEXT


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="calsync")
def main() -> None:
    """calsync: keep Salesforce and Exchange calendars in sync."""


for command in (
    config.config_command,
    db.db,
    mailboxes.mailboxes,
    profiles.profiles,
    admin.admin,
    sessions.sync_command,
    verify.verify_command,
    sandboxes.sandbox,
    demo.demo,
    sandboxes.sandbox_info,
    web.serve,
    web.addin_manifest,
    workers.worker,
    workers.scheduler,
    workers.enqueue,
    graph_subscriptions.graph_subscriptions,
    listener.listener,
    salesforce_scan.salesforce_scan,
):
    main.add_command(command)
