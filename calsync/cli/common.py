"""What every command module of the CLI shares: click's context settings, the settings (a ConfigError becomes a
one-line message), and waiting for Ctrl-C."""

from __future__ import annotations

import signal
import threading

import click

from calsync.settings import ConfigError, Settings

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM, so the caller can shut down cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
