"""``calsync verify EMAIL|--all``: compare both sides of mailboxes and their links, writing nothing to either side
(docs/verify.md)."""

from __future__ import annotations

import json
import sys

import click

from calsync.cli.common import CONTEXT, load_settings
from calsync.settings import ConfigError

# Exit codes (docs/verify.md#exit-codes), as `sync.verify` defines them; repeated here so that `calsync --help`
# needs no engine import.
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


@click.command("verify", context_settings=CONTEXT)
@click.argument("email", required=False)
@click.option("--all", "every", is_flag=True, help="Verify every enabled mailbox.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the schema is in docs/verify.md).")
@click.option("--no-store", is_flag=True, help="Do not keep the report for the admin panel's mailbox page.")
def verify_command(email: str | None, every: bool, as_json: bool, no_store: bool) -> None:
    """Compare Salesforce, Exchange and the link store for EMAIL's mailbox (or --all) and report what is out of
    step: pairs whose mapped fields differ (with both values and the side the next session would write),
    Outlook items tagged for sync with no Salesforce record, Salesforce records without an Outlook item or with
    a sync key no link knows, duplicates, links whose item is gone.

    Reads the whole sync scope of both sides; writes nothing to either side, and changes no link or cursor (it
    keeps the last report per mailbox for the admin panel, unless --no-store).

    Exit status: 0 nothing found, 1 findings, 2 error (unknown mailbox, configuration, a mailbox that could not
    be read)."""
    if bool(email) == every:
        click.echo("Error: give one EMAIL or --all.", err=True)
        sys.exit(EXIT_ERROR)
    from sync import mailboxes, verify_read
    from sync.preview import PreviewError
    from sync.runtime import Runtime
    from sync.verify import VerifyReport, total

    def fail(message: str) -> None:
        """Exit 2, saying why; with --json as a report too, so that a script always reads one object."""
        if as_json:
            click.echo(json.dumps(VerifyReport(mailbox=email or "", status="failed", error=message).to_json()))
        click.echo(f"Error: {message}", err=True)
        sys.exit(EXIT_ERROR)

    try:
        runtime = Runtime.build(load_settings(), migrate=True)
        salesforce = runtime.salesforce()
    except ConfigError as exc:
        fail(str(exc))

    def connectors(address: str):
        return salesforce, runtime.exchange(address)

    with runtime.session_factory() as db:
        emails = [m.email for m in mailboxes.all_mailboxes(db) if m.enabled] if every else [email or ""]
    reports: list[VerifyReport] = []
    for address in emails:
        try:
            report = verify_read.verify(runtime.session_factory, address, connectors)
        except PreviewError as exc:  # an unknown mailbox
            fail(str(exc))
        reports.append(report)
        if not no_store:
            with runtime.session_factory() as db:
                mailbox = mailboxes.find(db, address)
                if mailbox is not None:
                    verify_read.store(db, mailbox, report, requested_by="cli")
                    db.commit()
        if not as_json:
            _print(report)
    summary = total(reports)
    if as_json:
        data = reports[0].to_json() if not every else {"reports": [r.to_json() for r in reports], "total": summary}
        click.echo(json.dumps(data))
    elif every:
        click.echo(f"{summary['mailboxes']} mailboxes: {summary['findings']} findings in "
                   f"{summary['with_findings']}, {summary['failed']} could not be read")  # fmt: skip
    sys.exit(summary["exit_code"])


def _print(report) -> None:
    if report.status != "ok":
        click.echo(f"{report.mailbox}: could not verify: {report.error}")
        return
    counts = report.counts
    click.echo(f"{report.mailbox}: {len(report.findings) or 'no'} findings ({counts.get('links', 0)} links, "
               f"{counts.get('pairs_compared', 0)} pairs compared; requests: Salesforce "
               f"{report.api_calls['salesforce']}, Exchange {report.api_calls['exchange']})")  # fmt: skip
    for f in report.findings:
        nxt = f.next_session
        writes = ", ".join(nxt.writes) if nxt and nxt.writes else "nothing"
        click.echo(f"  {f.kind:20} {f.subject or '-'}: {f.message}")
        click.echo(f"  {'':20} sync key {f.sync_key or '-'}, Outlook {f.exchange_id or '-'}, "
                   f"Salesforce {f.salesforce_id or '-'}; the next session writes {writes}"
                   + (f" (health: {', '.join(nxt.health)})" if nxt and nxt.health else ""))  # fmt: skip
        for d in f.fields:
            click.echo(f"  {'':20}   {d.field}: Outlook {d.exchange!r} / Salesforce {d.salesforce!r}")
