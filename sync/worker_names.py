"""A worker name left behind by a dead worker (``calsync worker --name``).

RQ refuses to start a worker whose name an *active* worker holds, and "active" means only that its Redis key
exists without a ``death`` field. A worker killed outright (SIGKILL, the OOM killer, a power cut) never writes
its death, so its key outlives it by up to the worker TTL (RQ's default: 420 s): a restarted ``calsync worker
--name w1`` (systemd, a container restart policy) exits with "There exists an active worker named 'w1' already"
again and again for minutes. The chaos soak found this (docs/soak.md).

`free_stale_name` tells the two cases apart where it can be sure: the holder's key names this host and a pid
that no longer runs here, so it is dead; its death is registered (as RQ's own clean shutdown does) and the name is
free. A holder on another host, or whose pid is alive, is left alone: the caller reports it.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from rq import Worker

from sync.job_queue import worker_options

if TYPE_CHECKING:
    from redis import Redis


def holder(connection: Redis, name: str) -> dict[str, str] | None:
    """The live-looking holder of worker name ``name`` (its hostname and pid), or None when the name is free."""
    key = Worker.redis_worker_namespace_prefix + name
    data = {k.decode(): v.decode() for k, v in connection.hgetall(key).items()}
    if not data or "death" in data:
        return None
    return {"hostname": data.get("hostname", ""), "pid": data.get("pid", "")}


def free_stale_name(connection: Redis, name: str) -> bool:
    """Register the death of a dead worker that still holds ``name`` on this host; True when it did."""
    found = holder(connection, name)
    if found is None or found["hostname"] != socket.gethostname() or not found["pid"].isdigit():
        return False
    if _running(int(found["pid"])):
        return False
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=connection,
                                **worker_options())  # fmt: skip
    if worker is None:
        return False
    worker.register_death()
    return True


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
