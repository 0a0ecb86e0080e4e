"""The one command-line interface, ``calsync``. It composes the parts; the parts never import it."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import click

from calsync.passwords import password_stdin_option, read_password
from calsync.redact import mask_url
from calsync.settings import INSTANCE_DIR, ConfigError, Settings

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM, so the caller can shut down cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="calsync")
def main() -> None:
    """calsync: keep Salesforce and Exchange calendars in sync."""


# -- configuration ------------------------------------------------------------------------------------------
@main.command("config", context_settings=CONTEXT)
@click.option("--docs", is_flag=True, help="List every environment variable with its default and meaning.")
def config_command(docs: bool) -> None:
    """Show the effective configuration (secrets masked)."""
    if docs:
        for env, default, doc in Settings.documentation():
            click.echo(f"{env}\n    default: {default or '(empty)'}\n    {doc}")
        return
    for key, value in _settings().redacted().items():
        click.echo(f"{key}={value}")


# -- database -----------------------------------------------------------------------------------------------
@main.group(context_settings=CONTEXT)
def db() -> None:
    """Database schema migrations (Alembic)."""


@db.command("upgrade", context_settings=CONTEXT)
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the database at DATABASE_URL."""
    from backend.database import current_revision, upgrade

    url = _settings().database_url
    upgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)}")


@db.command("downgrade", context_settings=CONTEXT)
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (``base`` empties it)."""
    from backend.database import current_revision, downgrade

    url = _settings().database_url
    downgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)}")


@db.command("current", context_settings=CONTEXT)
def db_current() -> None:
    """Print the database's current revision."""
    from backend.database import current_revision

    click.echo(current_revision(_settings().database_url) or "(empty database)")


# -- mailboxes ----------------------------------------------------------------------------------------------
def _db_session():
    from backend.database import make_engine, make_session_factory, upgrade

    url = _settings().database_url
    upgrade(url)
    return make_session_factory(make_engine(url))()


@main.group(context_settings=CONTEXT)
def mailboxes() -> None:
    """Mailboxes that sync."""


@mailboxes.command("add", context_settings=CONTEXT)
@click.argument("email")
@click.option("--salesforce-user", "salesforce_user", help="Salesforce User id (005...); found by e-mail if omitted.")
@click.option("--time-zone", help="IANA zone placing all-day Salesforce items (default UTC), e.g. Europe/London.")
def mailboxes_add(email: str, salesforce_user: str | None, time_zone: str | None) -> None:
    """Add EMAIL's mailbox to sync (or change its Salesforce user or time zone)."""
    from sync.mailboxes import MailboxError, add

    with _db_session() as db:
        try:
            mailbox = add(db, email, salesforce_user, time_zone=time_zone)
        except MailboxError as exc:
            raise click.ClickException(str(exc)) from None
        db.commit()
        click.echo(f"{mailbox.email}  salesforce user: {mailbox.salesforce_user_id or '(found at first sync)'}")


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

    settings = _settings()
    with _db_session() as db:
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

    with _db_session() as db:
        rows = [
            {
                "email": m.email,
                "salesforce_user_id": m.salesforce_user_id,
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
        click.echo(f"{row['email']:40} {row['salesforce_user_id'] or '-':18} {state}")
        if row["backoff_reason"]:  # the API budget guard paused it: say why and until when
            click.echo(f"    paused: {row['backoff_reason']}")


# -- admin panel accounts -----------------------------------------------------------------------------------
@main.group(context_settings=CONTEXT)
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

    with _db_session() as db:
        try:
            user = create(db, email, password, role=role)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        db.commit()
        click.echo(f"{user.email}: {user.role} account ready; log in at /admin/login")


# -- sync ---------------------------------------------------------------------------------------------------
@main.command("sync", context_settings=CONTEXT)
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the session's figures.")
def sync_command(email: str, as_json: bool) -> None:
    """Run one sync session for EMAIL's mailbox now (inline, without the queue; `calsync enqueue` queues one)."""
    from calsync import wiring
    from calsync.worker_commands import inline_session_lock
    from sync.session import SessionError, run_session

    settings = _settings()
    try:
        factory = wiring.session_factory(settings)
        settings = wiring.with_stored_connections_of(settings)  # what an admin connected in the panel
        salesforce = wiring.salesforce_connector(settings)
        exchange = wiring.exchange_connector(settings, email)
        with inline_session_lock(settings, factory, email):  # never beside a worker's session of this mailbox
            result = run_session(factory, email, salesforce=salesforce, exchange=exchange)
    except (ConfigError, SessionError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        created, updated, deleted = result.created, result.updated, result.deleted
        click.echo(f"{result.mailbox}: {result.status} in {result.duration_s:.2f} s")
        for side in ("salesforce", "exchange"):
            click.echo(f"  {side:10}  created {created[side]}  updated {updated[side]}  deleted {deleted[side]}  "
                       f"reverted {result.reverted[side]}  requests {result.api_calls[side]}")  # fmt: skip
        if result.failed or result.error:
            click.echo(f"  failed items: {result.failed}  {result.error or ''}")
    if result.status == "failed":
        sys.exit(1)


# -- sandboxes ----------------------------------------------------------------------------------------------
def _sandbox_options(func):
    options = [
        click.option(
            "--seed",
            type=click.Choice(["demo", "empty"]),
            default="demo",
            show_default=True,
            help="Data to start with: a realistic calendar per rep, or only the people.",
        ),
        click.option(
            "--info",
            "info_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=INSTANCE_DIR / "sandbox.json",
            show_default=True,
            help="Where to write the JSON that says how to reach the sandboxes.",
        ),
        click.option(
            "--state-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=INSTANCE_DIR / "sandbox",
            show_default=True,
            help="Folder for the CA, certificates and persisted sandbox state.",
        ),
        click.option(
            "--persist/--no-persist",
            default=True,
            show_default=True,
            help="Keep sandbox data across restarts (in --state-dir).",
        ),
        click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback)."),
        click.option("--salesforce-port", default=9443, show_default=True, help="Salesforce REST (https); 0: any."),
        click.option("--exchange-port", default=9080, show_default=True, help="EWS over http; 0: any free port."),
        click.option("--exchange-https-port", default=9444, show_default=True, help="EWS over https; 0: any."),
        click.option("--identity-port", default=9445, show_default=True, help="Identity provider (https); 0: any."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _start_sandboxes(
    seed, info_path, state_dir, persist, host, salesforce_port, exchange_port, exchange_https_port, identity_port
):
    from sandbox.runner import SandboxOptions, start_sandboxes

    options = SandboxOptions(
        state_dir=state_dir, seed=seed, host=host, persist=persist, salesforce_port=salesforce_port,
        exchange_port=exchange_port, exchange_https_port=exchange_https_port, identity_port=identity_port,
    )  # fmt: skip
    try:
        running = start_sandboxes(options)
    except OSError as exc:
        raise click.ClickException(
            f"cannot start the sandboxes: {exc} (is another one running? try --*-port 0)"
        ) from None
    running.write_info(info_path)
    return running


def _print_sandbox(info: dict, info_path: Path) -> None:
    sf, ex, idp = info["salesforce"], info["exchange"], info["identity"]
    click.echo("Sandboxes are running (Ctrl-C stops them).")
    click.echo(f"  Salesforce REST  {sf['instance_url']}  (API v{sf.get('api_version', '59.0')})")
    click.echo(f"  Exchange EWS     {ex['endpoint']}")
    click.echo(f"                   {ex['http_endpoint']}  (plain http)")
    click.echo(f"  Identity (OIDC)  {idp['openid_configuration']}")
    click.echo(f"  CA certificate   {sf['ca_file']}")
    click.echo(f"  Info file        {info_path}   (export CALSYNC_SANDBOX_INFO={info_path})")
    click.echo(f"  EWS service account: {ex['service_account']['username']} / {ex['service_account']['password']}")
    click.echo("  Reps (e-mail / password / Salesforce user id / Salesforce session id):")
    sessions = {u["email"]: u for u in sf["users"]}
    for mailbox in ex["mailboxes"]:
        user = sessions.get(mailbox["email"], {})
        click.echo(f"    {mailbox['email']} / {mailbox['password']} / {user.get('user_id', '-')} / "
                   f"{user.get('session_id', '-')}")  # fmt: skip


@main.command(context_settings=CONTEXT)
@_sandbox_options
def sandbox(info_path: Path, **kwargs) -> None:
    """Run the Salesforce, Exchange and identity sandboxes until interrupted."""
    running = _start_sandboxes(info_path=info_path, **kwargs)
    _print_sandbox(running.info, info_path)
    try:
        _wait_for_interrupt()
    finally:
        running.stop()
        click.echo("Sandboxes stopped.")


@main.command(context_settings=CONTEXT)
@_sandbox_options
def demo(info_path: Path, **kwargs) -> None:
    """Start everything local, seeded, and print where to find it (CALSYNC_ENV defaults to development here)."""
    import os

    from backend.database import upgrade

    os.environ.setdefault("CALSYNC_ENV", "development")  # local only; the worker and scheduler inherit it

    settings = _settings()
    upgrade(settings.database_url)
    click.echo(f"Database ready: {settings.redacted()['DATABASE_URL']}")
    running = _start_sandboxes(info_path=info_path, **kwargs)
    _print_sandbox(running.info, info_path)
    backend = None
    background: list = []
    try:
        _demo_first_sync(settings, info_path, running.info)
        backend = _demo_backend(settings, info_path, running)
        _demo_admin(settings, info_path, backend.url)
        background = _demo_workers(settings, info_path)
        _wait_for_interrupt()
    finally:
        _stop_processes(background)
        if backend is not None:
            backend.stop()
        running.stop()
        click.echo("Demo stopped.")


DEMO_ADMIN = "admin@calsync.example"


def _demo_admin(settings: Settings, info_path: Path, backend_url: str) -> None:
    """Create the demo admin (a new password each run) and print the panel's URL and login."""
    import secrets
    from dataclasses import replace

    from admin_panel.accounts import create
    from calsync import wiring

    settings = replace(settings, sandbox_info=str(info_path)).with_sandbox_defaults(info_path)
    password = secrets.token_urlsafe(12)
    with wiring.session_factory(settings)() as db:
        create(db, DEMO_ADMIN, password, role="admin")
        db.commit()
    click.echo(f"Admin panel: {backend_url}/admin/  (login {DEMO_ADMIN} / {password})")


def _demo_first_sync(settings: Settings, info_path: Path, info: dict) -> None:
    """Register every sandbox rep's mailbox and run one session each, so the demo shows the engine at work."""
    from dataclasses import replace

    from calsync import wiring
    from sandbox.seed import REPS
    from sync.mailboxes import add
    from sync.session import run_session

    settings = replace(settings, sandbox_info=str(info_path)).with_sandbox_defaults(info_path)
    factory = wiring.session_factory(settings)
    with factory() as db:
        for rep in REPS:
            add(db, rep.email, rep.salesforce_user_id, time_zone=rep.timezone)
        db.commit()
    click.echo("First sync of every rep (calsync sync EMAIL runs another; CALSYNC_SANDBOX_INFO as above):")
    for rep in REPS:
        result = run_session(factory, rep.email, salesforce=wiring.salesforce_connector(settings),
                             exchange=wiring.exchange_connector(settings, rep.email))  # fmt: skip
        click.echo(f"  {rep.email:32} {result.status:8} up {result.created['salesforce']:3}  "
                   f"down {result.created['exchange']:3}  health entries {result.health}")  # fmt: skip


def _demo_backend(settings: Settings, info_path: Path, running):
    """Serve the backend (add-in API and task pane) on a free local port and print the task pane's preview URL:
    the pane outside Outlook, for the first rep's first synced item, signed in with a sandbox token (in the URL
    fragment, which browsers never send to the server)."""
    from dataclasses import replace
    from urllib.parse import urlencode

    from sqlalchemy import select

    from backend.app import create_app
    from calsync import wiring
    from sandbox.seed import REPS
    from sandbox.server import ServerThread
    from sync.models import Link, Mailbox

    settings = replace(settings, sandbox_info=str(info_path)).with_sandbox_defaults(info_path)
    server = ServerThread(create_app(settings), public_host="127.0.0.1")
    rep = REPS[0]
    with wiring.session_factory(settings, migrate=False)() as db:
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


def _demo_workers(settings: Settings, info_path: Path) -> list:
    """Start one `calsync worker` and one `calsync scheduler` on the sandboxes, when Redis answers."""
    import os
    import subprocess

    from redis import Redis
    from redis.exceptions import RedisError

    try:
        Redis.from_url(settings.redis_url, socket_connect_timeout=2).ping()
    except RedisError as exc:
        click.echo(
            mask_url(
                f"No Redis at REDIS_URL ({settings.redis_url}: {exc}): no worker or scheduler; install "
                "and start redis-server for periodic sessions (calsync sync EMAIL still runs one)."
            )
        )
        return []
    env = dict(os.environ, CALSYNC_SANDBOX_INFO=str(info_path))
    started = []
    for name in ("worker", "scheduler"):
        log = info_path.parent / f"demo-{name}.log"  # beside the sandbox info file (instance/ by default)
        # Own session: Ctrl-C in the terminal reaches the demo only, which then stops these in order.
        started.append(subprocess.Popen([sys.executable, "-m", "calsync.cli", name], env=env, stdout=log.open("w"),
                                        stderr=subprocess.STDOUT, start_new_session=True))  # fmt: skip
        click.echo(f"calsync {name} running (log: {log})")
    click.echo("  Every rep's mailbox now syncs every 30 to 120 minutes; `calsync enqueue EMAIL` syncs one now.")
    return started


@main.command("sandbox-info", context_settings=CONTEXT)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=INSTANCE_DIR / "sandbox.json")  # fmt: skip
def sandbox_info(path: Path) -> None:
    """Pretty-print a sandbox info file."""
    json.dump(json.loads(path.read_text()), sys.stdout, indent=2)
    click.echo()


from backend.cli_commands import addin_manifest, serve  # noqa: E402
from calsync.worker_commands import enqueue, scheduler, worker  # noqa: E402

main.add_command(serve)
main.add_command(addin_manifest)
main.add_command(worker)
main.add_command(scheduler)
main.add_command(enqueue)

if __name__ == "__main__":  # pragma: no cover
    main()
