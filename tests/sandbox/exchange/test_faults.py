"""Fault injection through the admin endpoint and at start: ErrorServerBusy with BackOffMilliseconds (raised
under exchangelib's default policy, retried under a fault-tolerant one), HTTP 500/503, dropped connections,
latency, seeded rates."""

from __future__ import annotations

import time

import pytest
import requests
from exchangelib import FaultTolerance
from exchangelib.errors import (
    ErrorInternalServerError,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    TransportError,
)
from exchangelib.protocol import BaseProtocol

from sandbox.exchange import ExchangeSandbox
from sandbox.exchange.faults import Faults

from .conftest import ALICE


@pytest.fixture(autouse=True)
def _short_retry_wait(monkeypatch):
    # Without a server hint exchangelib waits RETRY_WAIT (10 s) before retrying; keep the suite quick.
    monkeypatch.setattr(BaseProtocol, "RETRY_WAIT", 0.05)


def test_server_busy_raises_under_default_policy_with_back_off(env, alice):
    env.faults(server_busy_next=1, back_off_ms=1500)
    with pytest.raises(ErrorServerBusy) as info:
        alice.calendar.all().count()
    assert info.value.back_off == 1.5
    assert env.log()["requests"]["GetFolder"] == 1  # not retried
    assert alice.calendar.all().count() == 0  # the next request is served


def test_server_busy_is_honoured_by_a_fault_tolerant_policy(env):
    account = env.account(ALICE, retry_policy=FaultTolerance(max_wait=30))
    env.faults(server_busy_next=2, back_off_ms=200)
    started = time.monotonic()
    assert account.calendar.all().count() == 0
    assert time.monotonic() - started >= 0.4  # it slept as told, twice
    faults = requests.get(env.admin + "/faults", timeout=10).json()
    assert faults["injected"]["server_busy"] == 2 and faults["server_busy_next"] == 0
    assert env.log()["requests"]["GetFolder"] == 4  # root and calendar, plus two refused attempts


@pytest.mark.parametrize("kind", ["http_500", "http_503"])
def test_http_errors_and_dropped_connections(env, kind):
    fail_fast = env.account(ALICE)
    env.faults(**{f"{kind}_next": 1})
    with pytest.raises((ErrorServerBusy, ErrorTimeoutExpired, ErrorInternalServerError, TransportError)):
        fail_fast.calendar.all().count()
    tolerant = env.account(ALICE, retry_policy=FaultTolerance(max_wait=30))
    env.faults(**{f"{kind}_next": 2})
    assert tolerant.calendar.all().count() == 0
    assert env.sandbox.faults.snapshot()["injected"][kind] == 3


def test_dropped_connection(env):
    account = env.account(ALICE, retry_policy=FaultTolerance(max_wait=30))
    env.faults(drop_next=1)
    # exchangelib retries a dropped connection only when it can shrink its session pool; with one session it
    # raises ErrorTimeoutExpired, whatever the policy (exchangelib/services/common.py).
    with pytest.raises(ErrorTimeoutExpired):
        account.calendar.all().count()
    assert account.calendar.all().count() == 0
    assert env.sandbox.faults.snapshot()["injected"]["drop"] == 1


AUTH = (ALICE.email, ALICE.password)


def test_raw_fault_answers(env):
    env.faults(http_503_next=1)
    r = requests.post(env.endpoint, data=b"<x/>", timeout=10, auth=AUTH)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    env.faults(http_500_next=1)
    r = requests.post(env.endpoint, data=b"<x/>", timeout=10, auth=AUTH)
    assert r.status_code == 500 and b"Server Error in '/EWS' Application" in r.content
    env.faults(drop_next=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(env.endpoint, data=b"<x/>", timeout=10, auth=AUTH)
    env.faults(server_busy_next=1, back_off_ms=250)
    r = requests.post(env.endpoint, data=b"<x/>", timeout=10, auth=AUTH)
    assert r.status_code == 500
    assert b"<e:ResponseCode>ErrorServerBusy</e:ResponseCode>" in r.content
    assert b'<t:Value Name="BackOffMilliseconds">250</t:Value>' in r.content


def test_latency_and_operation_filter(env, alice):
    alice.calendar.all().count()  # warm: folders fetched
    env.faults(latency_ms=300, operations=["FindItem"])
    started = time.monotonic()
    alice.calendar.all().count()
    assert time.monotonic() - started >= 0.3
    env.faults(latency_ms=0, operations=[])


def test_admin_endpoint_validates_and_resets(env):
    r = requests.put(env.admin + "/faults", json={"server_busy_rate": 2}, timeout=10)
    assert r.status_code == 400 and "between 0 and 1" in r.json()["error"]
    r = requests.put(env.admin + "/faults", json={"bogus": 1}, timeout=10)
    assert r.status_code == 400
    env.faults(http_503_rate=0.5, seed=3)
    assert requests.post(env.admin + "/reset", timeout=10).json() == {"ok": True}
    snapshot = requests.get(env.admin + "/faults", timeout=10).json()
    assert snapshot["http_503_rate"] == 0 and snapshot["seed"] == 0
    assert env.log()["requests"] == {}


def test_faults_at_start_and_seeded_rates_are_repeatable(make_env):
    env = make_env(faults={"server_busy_next": 1})
    with pytest.raises(ErrorServerBusy):
        env.account(ALICE).calendar.all().count()

    def sequence(seed):
        faults = Faults({"seed": seed, "server_busy_rate": 0.3, "drop_rate": 0.1})
        return [faults.draw("GetItem")[0] for _ in range(200)]

    first, again, other = sequence(11), sequence(11), sequence(12)
    assert first == again and first != other
    assert 30 < first.count("server_busy") < 80 and 5 < first.count("drop") < 40


def test_unknown_fault_settings_are_refused_at_start():
    with pytest.raises(ValueError):
        ExchangeSandbox(seed="empty", faults={"nonsense": 1})
