"""``calsync sandbox`` and ``calsync sandbox-info``: the local Salesforce, Exchange and identity sandboxes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from calsync.cli.common import CONTEXT, wait_for_interrupt
from calsync.settings import INSTANCE_DIR

# The engine, the web app and the sandboxes are imported inside the commands that use them: together they cost
# about 2 s of CPU, and `calsync --help` or `calsync config` need none of them.


def sandbox_options(func):
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


def start_sandboxes(
    seed, info_path, state_dir, persist, host, salesforce_port, exchange_port, exchange_https_port, identity_port
):
    from sandbox import runner

    options = runner.SandboxOptions(
        state_dir=state_dir, seed=seed, host=host, persist=persist, salesforce_port=salesforce_port,
        exchange_port=exchange_port, exchange_https_port=exchange_https_port, identity_port=identity_port,
    )  # fmt: skip
    try:
        running = runner.start_sandboxes(options)
    except OSError as exc:
        raise click.ClickException(
            f"cannot start the sandboxes: {exc} (is another one running? try --*-port 0)"
        ) from None
    running.write_info(info_path)
    return running


def print_sandbox(info: dict, info_path: Path) -> None:
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
        click.echo(
            f"    {mailbox['email']} / {mailbox['password']} / {user.get('user_id', '-')} / "
            f"{user.get('session_id', '-')}"
        )


@click.command(context_settings=CONTEXT)
@sandbox_options
def sandbox(info_path: Path, **kwargs) -> None:
    """Run the Salesforce, Exchange and identity sandboxes until interrupted."""
    running = start_sandboxes(info_path=info_path, **kwargs)
    print_sandbox(running.info, info_path)
    try:
        wait_for_interrupt()
    finally:
        running.stop()
        click.echo("Sandboxes stopped.")


@click.command("sandbox-info", context_settings=CONTEXT)
@click.argument(
    "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=INSTANCE_DIR / "sandbox.json"
)
def sandbox_info(path: Path) -> None:
    """Pretty-print a sandbox info file."""
    json.dump(json.loads(path.read_text()), sys.stdout, indent=2)
    click.echo()
