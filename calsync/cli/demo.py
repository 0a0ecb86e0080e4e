"""``calsync demo``: everything local at once (sandboxes, a first sync, the backend, a worker, the scheduler, the
listener and the Salesforce scan)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from calsync.cli.common import CONTEXT, load_settings, wait_for_interrupt
from calsync.cli.sandboxes import print_sandbox, sandbox_options, start_sandboxes
from calsync.redact import mask_url
from calsync.settings import Settings

if TYPE_CHECKING:
    from sync.runtime import Runtime

# The engine, the web app and the sandboxes are imported inside the commands that use them: together they cost
# about 2 s of CPU, and `calsync --help` or `calsync config` need none of them.


@click.command(context_settings=CONTEXT)
@sandbox_options
def demo(info_path: Path, **kwargs) -> None:
    """Start everything local, seeded, and print where to find it (CALSYNC_ENV defaults to development here)."""
    from calsync.database import upgrade

    os.environ.setdefault("CALSYNC_ENV", "development")  # local only; the worker and scheduler inherit it

    settings = load_settings()
    upgrade(settings.database_url)
    click.echo(f"Database ready: {settings.redacted()['DATABASE_URL']}")
    running = start_sandboxes(info_path=info_path, **kwargs)
    print_sandbox(running.info, info_path)
    backend = None
    background: list = []
    try:
        runtime = _demo_runtime(settings, info_path)  # the demo process's one runtime, the web app's too
        _demo_first_sync(runtime)
        backend = _demo_backend(runtime, running)
        _demo_admin(runtime, backend.url)
        background = _demo_workers(runtime, info_path)
        wait_for_interrupt()
    finally:
        _stop_processes(background)
        if backend is not None:
            backend.stop()
        running.stop()
        click.echo("Demo stopped.")


DEMO_ADMIN = "admin@calsync.example"


def _demo_runtime(settings: Settings, info_path: Path) -> Runtime:
    """The runtime on ``settings`` pointed at the sandboxes just started (their info file)."""
    from dataclasses import replace

    from calsync.web import REDIS_TIMEOUT
    from sync.runtime import Runtime

    settings = replace(settings, sandbox_info=str(info_path)).with_sandbox_defaults(info_path)
    return Runtime.build(settings, redis_timeout=REDIS_TIMEOUT)  # `demo` migrated the database first


def _demo_admin(runtime: Runtime, backend_url: str) -> None:
    """Create the demo admin (a new password each run) and print the panel's URL and login."""
    import secrets

    from admin_panel.accounts import create

    password = secrets.token_urlsafe(12)
    with runtime.session_factory() as db:
        create(db, DEMO_ADMIN, password, role="admin")
        db.commit()
    click.echo(f"Admin panel: {backend_url}/admin/  (login {DEMO_ADMIN} / {password})")


def _demo_first_sync(runtime: Runtime) -> None:
    """Register every sandbox rep's mailbox and run one session each, so the demo shows the engine at work."""
    from sandbox.seed import REPS
    from sync.mailboxes import add
    from sync.session import run_session

    factory = runtime.session_factory
    with factory() as db:
        for rep in REPS:
            # A hybrid tenant: Exchange Online reps on Microsoft Graph, the on-premises one on EWS.
            backend = "graph" if rep.exchange_online else "ews"
            add(db, rep.email, rep.salesforce_user_id, time_zone=rep.timezone, default_backend=backend)
        db.commit()
    click.echo("First sync of every rep (calsync sync EMAIL runs another; CALSYNC_SANDBOX_INFO as above):")
    for rep in REPS:
        result = run_session(factory, rep.email, salesforce=runtime.salesforce(), exchange=runtime.exchange(rep.email))
        click.echo(
            f"  {rep.email:32} {'graph' if rep.exchange_online else 'ews':5} {result.status:8} "
            f"up {result.created['salesforce']:3}  "
            f"down {result.created['exchange']:3}  health entries {result.health}"
        )


def _demo_backend(runtime: Runtime, running):
    """Serve the backend (add-in API and task pane) on a free local port and print the task pane's preview URL:
    the pane outside Outlook, for the first rep's first synced item, signed in with a sandbox token (in the URL
    fragment, which browsers never send to the server)."""
    from urllib.parse import urlencode

    from sqlalchemy import select

    from calsync.web import create_app
    from sandbox.seed import REPS
    from sandbox.server import ServerThread
    from sync.models import Link, Mailbox

    server = ServerThread(create_app(runtime=runtime), public_host="127.0.0.1")
    rep = REPS[0]
    with runtime.session_factory() as db:
        item_id = db.scalars(
            select(Link.exchange_item_id)
            .join(Mailbox)
            .where(Mailbox.email == rep.email, Link.kind == "event", Link.exchange_item_id.is_not(None))
            .order_by(Link.id)
            .limit(1)
        ).first()
    click.echo(f"Backend (add-in API and task pane): {server.url}/api/v1/health")
    if item_id:
        fragment = urlencode({"token": running.identity.issue_token(rep.email, lifetime=8 * 3600), "item": item_id})
        click.echo(f"Task pane preview as {rep.email} (token valid 8 h; Share and Sync now need `calsync worker`):")
        click.echo(f"  {server.url}/addin/taskpane.html#preview&{fragment}")
    return server


def _stop_processes(processes: list) -> None:
    """SIGTERM (a worker finishes its current session: warm shutdown), then SIGKILL after 20 s."""
    import subprocess

    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _demo_workers(runtime: Runtime, info_path: Path) -> list:
    """Start one `calsync worker`, `calsync scheduler`, `calsync listener` (EWS push, Graph subscriptions) and
    `calsync salesforce-scan` on the sandboxes, when Redis answers: edits on either side sync within a minute."""
    import subprocess

    from redis.exceptions import RedisError

    try:
        runtime.redis.ping()
    except RedisError as exc:
        click.echo(
            mask_url(
                f"No Redis at REDIS_URL ({runtime.settings.redis_url}: {exc}): no worker or scheduler; install "
                "and start redis-server for periodic sessions (calsync sync EMAIL still runs one)."
            )
        )
        return []
    env = dict(os.environ, CALSYNC_SANDBOX_INFO=str(info_path))
    started = []
    for name in ("worker", "scheduler", "listener", "salesforce-scan"):
        log = info_path.parent / f"demo-{name}.log"  # beside the sandbox info file (instance/ by default)
        # Own session: Ctrl-C in the terminal reaches the demo only, which then stops these in order.
        started.append(subprocess.Popen([sys.executable, "-m", "calsync.cli", name], env=env, stdout=log.open("w"),
                                        stderr=subprocess.STDOUT, start_new_session=True))  # fmt: skip
        click.echo(f"calsync {name} running (log: {log})")
    click.echo(
        "  Edits on either side now sync within a minute (EWS mailboxes by the listener, Salesforce by the org "
        "scan; Graph mailboxes need CALSYNC_PUBLIC_URL over https for change notifications, else they are "
        "polled); `calsync enqueue EMAIL` syncs one now."
    )
    return started
