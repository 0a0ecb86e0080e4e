"""``calsync sync``: one sync session of a mailbox, inline (without the queue)."""

from __future__ import annotations

import json
import sys

import click

from calsync.cli.common import CONTEXT, load_settings
from calsync.cli.workers import inline_session_lock
from calsync.settings import ConfigError

# The engine, the web app and the sandboxes are imported inside the commands that use them: together they cost
# about 2 s of CPU, and `calsync --help` or `calsync config` need none of them.


@click.command("sync", context_settings=CONTEXT)
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the session's figures.")
@click.option("--dry-run", is_flag=True, help="Read both sides and print the plan without writing anything.")
def sync_command(email: str, as_json: bool, dry_run: bool) -> None:
    """Run one sync session for EMAIL's mailbox now (inline, without the queue; `calsync enqueue` queues one).

    With --dry-run, print what the session would do (creates, updates, deletes, reverts per side, unlinks,
    health entries, the mass-deletion guard) and write nothing: no remote write, no link or cursor change."""
    from sync.runtime import Runtime
    from sync.session import SessionError, run_session

    runtime = Runtime.build(load_settings(), migrate=True)
    if dry_run:
        _dry_run(runtime, email, as_json)
        return
    try:
        # Connectors with what an admin connected in the panel laid over the environment's.
        salesforce, exchange = runtime.salesforce(), runtime.exchange(email)
        with inline_session_lock(runtime, email):  # never beside a worker's session of this mailbox
            result = run_session(runtime.session_factory, email, salesforce=salesforce, exchange=exchange)
    except (ConfigError, SessionError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        created, updated, deleted = result.created, result.updated, result.deleted
        click.echo(f"{result.mailbox}: {result.status} in {result.duration_s:.2f} s")
        for side in ("salesforce", "exchange"):
            click.echo(
                f"  {side:10}  created {created[side]}  updated {updated[side]}  deleted {deleted[side]}  "
                f"reverted {result.reverted[side]}  requests {result.api_calls[side]}"
            )
        if result.failed or result.error:
            click.echo(f"  failed items: {result.failed}  {result.error or ''}")
    if result.status == "failed":
        sys.exit(1)


def _dry_run(runtime, email: str, as_json: bool) -> None:
    from sync.connectors.errors import ConnectorError
    from sync.preview import PreviewError, dry_run
    from sync.profiles import ProfileError

    try:
        salesforce, exchange = runtime.salesforce(), runtime.exchange(email)
        preview = dry_run(runtime.session_factory, email, salesforce=salesforce, exchange=exchange)
    except (ConfigError, PreviewError, ProfileError, ConnectorError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(preview.to_json(all_items=True)))
        return
    click.echo(f"{preview.mailbox}: dry run (nothing written), profile {preview.profile or '-'}")
    counts = preview.counts
    for side in ("salesforce", "exchange"):
        click.echo(
            f"  {side:10}  would create {counts['created'][side]}  update {counts['updated'][side]}  "
            f"delete {counts['deleted'][side]}  revert {counts['reverted'][side]}  "
            f"(read requests {preview.api_calls[side]})"
        )
    click.echo(f"  unlink {counts['unlinked']}  untag {counts['untagged']}  join {counts['joined']}")
    if preview.guard.get("tripped"):
        click.echo(f"  the mass-deletion guard would stop this session: {preview.guard['reason']}")
    for entry in preview.health:
        click.echo(f"  health {entry['code']}: {entry['message']}")
    for key, items in sorted(preview.samples().items()):
        for item in items:
            click.echo(f"  {key:22} {item['subject'] or item['item_id'] or item['sync_key']}"
                       + (f"  ({item['reason']})" if item["reason"] else ""))  # fmt: skip
