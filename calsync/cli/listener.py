"""``calsync listener``: Exchange push for the EWS mailboxes (sync.push.listener, docs/push.md "EWS listener").

It composes the listener from the runtime: the EWS backend on the sessions' own connectors, and, when the Graph
push part is installed (``sync.push.graph_subscriptions``), its subscription keeper, called every pass.
"""

from __future__ import annotations

import importlib
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from calsync.cli.common import CONTEXT, load_settings
from calsync.cli.workers import LEVELS, configure_logging, queue_runtime

if TYPE_CHECKING:
    from sync.runtime import Runtime


def graph_keepers(runtime: Runtime) -> list[tuple[str, Callable[[], Any]]]:
    """The Graph subscriptions keeper, if that part is installed (``sync.push.graph_subscriptions``:
    ``GraphSubscriptionKeeper.from_runtime(runtime).tick()`` renews, reauthorizes and recreates the Graph
    mailboxes' subscriptions; its own Redis lock keeps it to one pass at a time across listeners). Built at its
    first call, so a missing Microsoft 365 connection shows as the keeper's error in the listener's status
    and never stops the EWS listener."""
    try:
        module = importlib.import_module("sync.push.graph_subscriptions")
    except ImportError:
        return []
    keeper_class = getattr(module, "GraphSubscriptionKeeper", None)
    if keeper_class is None:
        return []
    built: list[Any] = []

    def keep() -> Any:
        if not built:
            built.append(keeper_class.from_runtime(runtime))
        return built[0].tick()

    return [("graph subscriptions keeper", keep)]


@click.command("listener", context_settings=CONTEXT)
@click.option("--once", is_flag=True, help="Make one pass (take leases, subscribe, pull, report) and exit.")
@click.option("--shard", type=click.IntRange(min=0), default=0, show_default=True,
              help="Only mailboxes whose id modulo --shards is this (with --shards).")  # fmt: skip
@click.option("--shards", type=click.IntRange(min=1), default=1, show_default=True,
              help="Split the EWS mailboxes into this many fixed shards, one set of listeners each. "
                   "Without it, listeners split the mailboxes among themselves through leases.")  # fmt: skip
@click.option("--interval", type=click.FloatRange(min=0.1),
              help="Seconds between passes (default: CALSYNC_LISTENER_INTERVAL).")  # fmt: skip
@click.option("--pull", "force_pull", is_flag=True,
              help="Pull subscriptions only (default: CALSYNC_LISTENER_MODE).")  # fmt: skip
@click.option("--name", help="This listener's name in Redis and the panel (default: host-pid-random).")
@click.option("--log-level", type=LEVELS, default="INFO", show_default=True, help="calsync log level.")
def listener(once: bool, shard: int, shards: int, interval: float | None, force_pull: bool, name: str | None,
             log_level: str) -> None:  # fmt: skip
    """Hold EWS streaming subscriptions for the EWS mailboxes and request a session for each change.

    Run one or several: listeners split the mailboxes through leases in Redis and take over a dead one's after
    CALSYNC_LISTENER_LEASE_TTL. Each change notification only asks for a session (a worker runs it, the
    scheduler enqueues it); our own writes ask for nothing. Pull subscriptions are the fallback.
    """
    if shard >= shards:
        raise click.BadParameter(f"--shard must be below --shards ({shards})", param_hint="--shard")
    from sync.push.ews_streaming import EwsBackend
    from sync.push.listener import Listener, listener_config

    settings = load_settings()
    runtime = queue_runtime(settings)
    configure_logging(log_level.upper())
    config = listener_config(settings, shard=shard, shards=shards, interval=interval,
                             mode="pull" if force_pull else None)  # fmt: skip
    backend = EwsBackend(runtime.exchange, retry_seconds=settings.listener_retry_seconds)
    runner = Listener(runtime.redis, runtime.session_factory, backend, config, name=name,
                      keepers=graph_keepers(runtime))  # fmt: skip
    if once:
        runner.run(once=True)
        status = runner.status()
        click.echo(f"{runner.name}: {status['mailboxes']} mailbox(es) ({status['streaming']} streaming, "
                   f"{status['pull']} pull), {status['requests']} session(s) requested")  # fmt: skip
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"listener {runner.name}: a pass every {config.interval:g} s, {config.mode} (Ctrl-C stops it)")
    runner.run(stop=stop)
