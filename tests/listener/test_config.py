"""The listener's settings and command line: documented defaults, clear errors for values it cannot use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from calsync.settings import ConfigError, Settings
from sync.push.listener import listener_config

CALSYNC = str(Path(sys.executable).with_name("calsync"))


def test_defaults_stay_below_exchanges_limits():
    config = listener_config(Settings.from_env({"CALSYNC_ENV": "test"}))
    assert config.mode == "streaming"
    assert config.connection_minutes == 25 < 30  # Exchange's longest ConnectionTimeout
    assert config.per_connection == 200
    assert config.lease_ttl >= 3 * config.interval
    assert config.heartbeat_ttl == 180 > config.interval  # the push heartbeat outlives several passes
    overridden = listener_config(Settings.from_env({"CALSYNC_ENV": "test"}), shard=1, shards=3, mode="pull")
    assert (overridden.mode, overridden.shard, overridden.shards) == ("pull", 1, 3)


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"CALSYNC_LISTENER_MODE": "push"}, "CALSYNC_LISTENER_MODE must be streaming or pull"),
        ({"CALSYNC_LISTENER_CONNECTION_MINUTES": "30"}, "CALSYNC_LISTENER_CONNECTION_MINUTES must be 1 to 29"),
        ({"CALSYNC_LISTENER_CONNECTION_MINUTES": "0"}, "CALSYNC_LISTENER_CONNECTION_MINUTES must be 1 to 29"),
        ({"CALSYNC_LISTENER_PULL_TIMEOUT_MINUTES": "2000"}, "CALSYNC_LISTENER_PULL_TIMEOUT_MINUTES must be 1 to 1440"),
        ({"CALSYNC_LISTENER_INTERVAL": "0"}, "CALSYNC_LISTENER_INTERVAL must be a positive number"),
        ({"CALSYNC_LISTENER_INTERVAL": "30"}, "CALSYNC_LISTENER_LEASE_TTL .* must be at least 3 passes"),
        ({"CALSYNC_LISTENER_SUBSCRIPTIONS_PER_CONNECTION": "0"}, "must be at least 1"),
        ({"CALSYNC_LISTENER_STREAM_FAILURES": "many"}, "CALSYNC_LISTENER_STREAM_FAILURES must be an integer"),
    ],
)
def test_bad_listener_settings_give_messages_for_people(environ, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"CALSYNC_ENV": "test", **environ})


def test_the_command_explains_itself_and_refuses_a_shard_outside_the_shards():
    shown = subprocess.run([CALSYNC, "listener", "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--once", "--shard", "--shards", "--pull", "--interval", "--name"):
        assert option in shown
    refused = subprocess.run([CALSYNC, "listener", "--shard", "2", "--shards", "2"], capture_output=True, text=True,
                             env={"CALSYNC_ENV": "test", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert refused.returncode == 2 and "--shard must be below --shards (2)" in refused.stderr
    env = {"CALSYNC_ENV": "test", "CALSYNC_LISTENER_MODE": "push", "PATH": "/usr/bin:/bin"}
    bad = subprocess.run([CALSYNC, "listener", "--once"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "CALSYNC_LISTENER_MODE must be streaming or pull" in bad.stderr
    assert "Traceback" not in bad.stderr
