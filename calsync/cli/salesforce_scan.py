"""``calsync salesforce-scan``: the org-wide Salesforce change scan (docs/push.md, Salesforce scan)."""

from __future__ import annotations

import json
import signal
import threading

import click

from calsync.cli.common import CONTEXT, load_settings
from calsync.cli.workers import LEVELS, configure_logging, queue_runtime


@click.command("salesforce-scan", context_settings=CONTEXT)
@click.option("--once", is_flag=True, help="Make one pass, print what it did as JSON and exit (cron, tests).")
@click.option(
    "--interval",
    type=click.FloatRange(min=1),
    help="Seconds between passes (default: CALSYNC_SALESFORCE_SCAN_SECONDS).",
)
@click.option("--log-level", type=LEVELS, default="INFO", show_default=True, help="calsync log level.")
def salesforce_scan(once: bool, interval: float | None, log_level: str) -> None:
    """Scan the org for changed Events, Tasks and mapped custom objects of every synced rep, and request a
    session only for the mailboxes whose rows changed (one query per object for the whole org per pass).

    While it runs, sessions read those rows instead of querying Salesforce; when it stops, they query
    Salesforce themselves again after CALSYNC_SALESFORCE_SCAN_HEALTHY_SECONDS. Run one per deployment, or
    several for availability: a leader lock in Redis lets only one act at a time.
    """
    import dataclasses

    from sync.job_queue import session_queue
    from sync.push.salesforce_scan import SalesforceScanner, scan_config
    from sync.schedule import schedule_config

    settings = load_settings()
    runtime = queue_runtime(settings)
    configure_logging(log_level.upper())
    config = scan_config(settings)
    if interval:
        config = dataclasses.replace(config, interval=interval)
    schedule = schedule_config(settings)
    # The pass enqueues the sessions it requests itself: no wait for the scheduler's next push pass.
    scanner = SalesforceScanner(runtime.redis, runtime.session_factory, runtime.salesforce, config,
                                queue=session_queue(schedule.queue, runtime.redis), schedule=schedule)  # fmt: skip
    if once:
        try:
            report = scanner.tick()
        finally:
            scanner.leader.release()
        if not report.leader:
            click.echo("another scanner holds the leader lock: nothing done")
            return
        click.echo(json.dumps(report.to_json(), sort_keys=True))
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"salesforce-scan: a pass every {config.interval:g} s (Ctrl-C stops it)")
    scanner.run(stop=stop)
