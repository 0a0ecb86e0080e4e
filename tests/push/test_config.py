"""The CALSYNC_PUSH_* settings: defaults, parsing, clear errors."""

from __future__ import annotations

import pytest

from calsync.settings import ConfigError, Settings
from sync.push import PushConfig, push_config


def test_defaults_are_the_documented_ones():
    config = push_config(Settings.from_env({"CALSYNC_ENV": "test"}))
    assert config == PushConfig()
    assert (config.coalesce_seconds, config.safety_interval_minutes, config.fallback_interval_minutes) == (5, 360, 30)


def test_environment_values_are_read():
    config = push_config(Settings.from_env({"CALSYNC_ENV": "test", "CALSYNC_PUSH_COALESCE_SECONDS": "1.5",
                                            "CALSYNC_PUSH_SAFETY_INTERVAL_MINUTES": "720",
                                            "CALSYNC_PUSH_HEARTBEAT_TTL": "90"}))  # fmt: skip
    assert (config.coalesce_seconds, config.safety_interval_minutes, config.heartbeat_ttl) == (1.5, 720, 90)


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("CALSYNC_PUSH_COALESCE_SECONDS", "-1", "0 or more seconds"),
        ("CALSYNC_PUSH_COALESCE_SECONDS", "soon", "must be a number"),
        ("CALSYNC_PUSH_PASS_SECONDS", "0", "at least 0.1 seconds"),
        ("CALSYNC_PUSH_ECHO_TTL", "0", "at least 1 second"),
        ("CALSYNC_PUSH_SAFETY_INTERVAL_MINUTES", "0", "at least 1 minute"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env, value, message):
    with pytest.raises(ConfigError, match=message) as caught:
        Settings.from_env({"CALSYNC_ENV": "test", env: value})
    assert env in str(caught.value)
