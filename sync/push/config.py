"""The push settings as one object: `push_config(settings)` builds it, every push function takes it (defaults
are the settings' defaults, so a caller without settings at hand behaves like an unconfigured deployment)."""

from __future__ import annotations

from dataclasses import dataclass

from calsync.settings import Settings


@dataclass(frozen=True)
class PushConfig:
    coalesce_seconds: float = 5.0  # CALSYNC_PUSH_COALESCE_SECONDS
    safety_interval_minutes: int = 360  # CALSYNC_PUSH_SAFETY_INTERVAL_MINUTES
    fallback_interval_minutes: int = 30  # CALSYNC_PUSH_FALLBACK_INTERVAL_MINUTES
    echo_ttl: int = 900  # CALSYNC_PUSH_ECHO_TTL (seconds)
    heartbeat_ttl: int = 180  # CALSYNC_PUSH_HEARTBEAT_TTL (seconds)
    pass_seconds: float = 2.0  # CALSYNC_PUSH_PASS_SECONDS
    echo_wait_seconds: float = 5.0  # CALSYNC_PUSH_ECHO_WAIT_SECONDS
    batch_seconds: float = 15.0  # CALSYNC_PUSH_BATCH_SECONDS (0: no group jobs)
    batch_mailboxes: int = 10  # CALSYNC_PUSH_BATCH_MAILBOXES
    batch_wait_seconds: float = 2.0  # CALSYNC_PUSH_BATCH_WAIT_SECONDS
    # A Salesforce write whose SystemModstamp we do not know (the REST write answers carry none) covers any
    # modstamp up to our write's end plus this margin (the two clocks' skew; SystemModstamp has whole seconds).
    clock_margin_seconds: float = 1.0
    # A write batch in flight is marked for at most this long (a crashed session's marker expires).
    in_flight_ttl: int = 120
    # How long a channel's record (state, last notification) is kept after its last update: long enough that
    # "was up, heartbeat expired" is told apart from "never had push" (that mailbox keeps its adaptive interval).
    record_ttl: int = 7 * 24 * 3600


DEFAULT = PushConfig()


def push_config(settings: Settings) -> PushConfig:
    """The CALSYNC_PUSH_* settings."""
    return PushConfig(
        coalesce_seconds=settings.push_coalesce_seconds,
        safety_interval_minutes=settings.push_safety_interval_minutes,
        fallback_interval_minutes=settings.push_fallback_interval_minutes,
        echo_ttl=settings.push_echo_ttl,
        heartbeat_ttl=settings.push_heartbeat_ttl,
        pass_seconds=settings.push_pass_seconds,
        echo_wait_seconds=settings.push_echo_wait_seconds,
        batch_seconds=settings.push_batch_seconds,
        batch_mailboxes=settings.push_batch_mailboxes,
        batch_wait_seconds=settings.push_batch_wait_seconds,
    )
