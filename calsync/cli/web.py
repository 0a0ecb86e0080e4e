"""``calsync serve`` and ``calsync addin-manifest``: the web backend and the add-in's manifest."""

from __future__ import annotations

from pathlib import Path

import click

from calsync.cli.common import CONTEXT, load_settings
from calsync.settings import ConfigError


@click.command("serve", context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port; 0: any.")
@click.option("--debug", is_flag=True, help="Reload on code changes and log more (never in production).")
@click.option(
    "--cert-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Serve https with this certificate (PEM); Outlook loads add-ins over https only.",
)
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Its private key.")
def serve(host: str, port: int, debug: bool, cert_file: Path | None, key_file: Path | None) -> None:
    """Run the web backend (add-in API under /api/v1, task pane under /addin/) with werkzeug.

    It migrates the database at DATABASE_URL first. Production runs the same app with gunicorn behind TLS:
    gunicorn --workers 4 --bind 127.0.0.1:8000 'calsync.web:create_app()'
    (after `calsync db upgrade`).
    """
    from werkzeug.serving import run_simple

    from calsync.database import upgrade
    from calsync.web import create_app

    settings = load_settings()
    if debug and settings.environment == "production":
        raise click.ClickException("--debug is refused when CALSYNC_ENV=production")
    if (cert_file is None) != (key_file is None):
        raise click.UsageError("--cert-file and --key-file go together")
    upgrade(settings.database_url)
    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    ssl_context = (str(cert_file), str(key_file)) if cert_file and key_file else None
    scheme = "https" if ssl_context else "http"
    click.echo(f"calsync backend on {scheme}://{host}:{port}/api/v1/health (Ctrl-C stops it)")
    run_simple(host, port, app, use_reloader=debug, use_debugger=debug, threaded=True, ssl_context=ssl_context)


@click.command("addin-manifest", context_settings=CONTEXT)
@click.option(
    "--base-url",
    help="Where the backend is reached (https://calsync.example.com); default: CALSYNC_PUBLIC_URL.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the manifest to this file instead of standard output.",
)
@click.option("--client-id", help="The add-in's app registration (client) id; default: CALSYNC_ADDIN_CLIENT_ID.")
@click.option("--app-id", help="The manifest's <Id> GUID; default: CALSYNC_ADDIN_ID or calsync's own.")
@click.option(
    "--resource",
    help="Application ID URI for SSO; default: CALSYNC_AUTH_AUDIENCE if it is api://..., else api://<host>/<client-id>.",
)
def addin_manifest(
    base_url: str | None, output: Path | None, client_id: str | None, app_id: str | None, resource: str | None
) -> None:
    """Render the Outlook add-in manifest for a base URL and check it against the manifest schema.

    Every URL in it points under BASE_URL/addin/. Outside production, http://localhost is accepted for a
    local preview; Outlook itself needs https.
    """
    from addin.manifest import DEFAULT_APP_ID, ManifestError, render_manifest, validate_manifest

    settings = load_settings()
    base_url = base_url or settings.public_url
    if not base_url:
        raise click.UsageError("give --base-url (or set CALSYNC_PUBLIC_URL)")
    client_id = client_id or settings.addin_client_id
    if not client_id:
        raise click.UsageError("give --client-id (or set CALSYNC_ADDIN_CLIENT_ID)")
    if resource is None:
        audience = settings.auth_audience.split(",")[0].strip()
        resource = audience if audience.startswith("api://") else None
    try:
        xml = render_manifest(
            base_url,
            client_id=client_id,
            app_id=app_id or settings.addin_id or DEFAULT_APP_ID,
            resource=resource,
            production=settings.environment == "production",
        )
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from None
    problems = validate_manifest(xml)
    if problems:
        raise click.ClickException("the rendered manifest breaks the schema:\n  " + "\n  ".join(problems))
    if output is None:
        click.echo(xml, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(xml, encoding="utf-8")
    click.echo(f"wrote {output} for {base_url}", err=True)
