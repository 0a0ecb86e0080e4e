"""exchangelib accounts on a running EWS sandbox, as the EWS benchmarks reach it: basic auth as a seeded rep,
Exchange 2013 SP1, delegate access, no autodiscover (the benchmarks run the sandbox in-process over HTTP)."""

from __future__ import annotations

from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials
from exchangelib.version import EXCHANGE_2013_SP1, Version


def account_for(endpoint: str, rep, *, max_connections: int | None = None) -> Account:
    """``rep`` (a `sandbox.seed` rep) at ``endpoint``; ``max_connections``: exchangelib's connection pool size
    (None: its default), raised where a benchmark holds many streaming connections open."""
    config = Configuration(
        service_endpoint=endpoint,
        credentials=Credentials(rep.email, rep.password),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2013_SP1),
        max_connections=max_connections,
    )
    return Account(rep.email, config=config, autodiscover=False, access_type=DELEGATE)
