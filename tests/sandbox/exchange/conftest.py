"""Fixtures for the Exchange sandbox tests: a sandbox with schema validation on, served over HTTP in-process, and
exchangelib accounts against it. Every test fails if the sandbox recorded a schema violation while it ran.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

import pytest
import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    Account,
    Configuration,
    Credentials,
    FailFast,
)
from exchangelib.protocol import BaseProtocol, Protocol
from exchangelib.version import EXCHANGE_2013_SP1, Version

from sandbox import seed
from sandbox.exchange import EWS_PATH, ExchangeSandbox
from sandbox.server import ServerThread

ALICE, BOB, CAROL = seed.REPS[0], seed.REPS[1], seed.REPS[2]


@pytest.fixture(autouse=True, scope="session")
def _quiet_exchangelib():
    # exchangelib logs every request at DEBUG and back-offs at WARNING; tests assert behaviour instead.
    for name in ("exchangelib", "sandbox.exchange"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    yield


def make_config(endpoint: str, username: str, password: str, retry_policy=None) -> Configuration:
    return Configuration(
        service_endpoint=endpoint,
        credentials=Credentials(username, password),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2013_SP1),
        retry_policy=retry_policy or FailFast(),
        max_connections=4,
    )


class Env:
    """A running sandbox and helpers to reach it with exchangelib."""

    def __init__(self, sandbox: ExchangeSandbox, server: ServerThread) -> None:
        self.sandbox = sandbox
        self.server = server
        self.url = server.url
        self.endpoint = server.url + EWS_PATH
        self.admin = server.url + "/__sandbox__"
        self._accounts: list[Account] = []

    def account(self, rep=ALICE, *, access_type=DELEGATE, retry_policy=None, as_service: bool = False) -> Account:
        user, password = seed.SERVICE_ACCOUNT if as_service else (rep.email, rep.password)
        cfg = make_config(self.endpoint, user, password, retry_policy)
        # exchangelib caches one protocol (and its retry policy) per endpoint and credentials: give every
        # account made here its own, so a fault-tolerant account does not inherit a fail-fast protocol.
        with contextlib.suppress(KeyError):
            del Protocol[cfg]
        account = Account(rep.email, config=cfg, autodiscover=False, access_type=access_type)
        self._accounts.append(account)
        return account

    def service_account(self, rep=ALICE, **kw) -> Account:
        return self.account(rep, access_type=IMPERSONATION, as_service=True, **kw)

    def log(self) -> dict:
        return requests.get(self.admin + "/log", timeout=10).json()

    def faults(self, **changes) -> dict:
        return requests.put(self.admin + "/faults", json=changes, timeout=10).json()

    def close(self) -> None:
        for account in self._accounts:
            account.protocol.close()


@pytest.fixture
def make_env() -> Iterator[Callable[..., Env]]:
    """Build extra sandboxes (e.g. seeded, persisted); each is checked for schema violations at teardown."""
    made: list[Env] = []

    def factory(**kwargs) -> Env:
        kwargs.setdefault("seed", "empty")
        kwargs.setdefault("validate_schema", True)
        sandbox = ExchangeSandbox(**kwargs)
        env = Env(sandbox, ServerThread(sandbox.wsgi_app))
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()
        env.server.stop()
    errors = [e for env in made for e in env.sandbox.schema_errors]
    if errors:
        pytest.fail("EWS schema violations:\n" + "\n".join(errors[:20]), pytrace=False)
    internal = [e for env in made for e in env.sandbox.internal_errors]
    if internal:
        pytest.fail("Exchange sandbox internal errors:\n" + "\n".join(internal[:20]), pytrace=False)


@pytest.fixture
def env(make_env) -> Env:
    return make_env()


@pytest.fixture
def alice(env) -> Account:
    return env.account(ALICE)


@pytest.fixture(autouse=True)
def _reset_protocol_cache():
    # exchangelib caches protocols per endpoint and credentials; servers get fresh ports, but clear anyway so
    # one test's session pool never leaks into the next.
    adapter = BaseProtocol.HTTP_ADAPTER_CLS
    yield
    BaseProtocol.HTTP_ADAPTER_CLS = adapter  # whatever was installed (the engine's connector installs its own)
