"""Fault injection: latency, UNABLE_TO_LOCK_ROW, 503s, budget exhaustion, settings at start and at runtime."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest, SalesforceRefusedRequest

from sandbox.salesforce import SalesforceSandbox
from sandbox.server import ServerThread
from sandbox.tls import TLSFiles
from tests.sandbox.salesforce.conftest import Admin, client, error_codes

EVENT = {"StartDateTime": "2026-12-01T10:00:00Z", "DurationInMinutes": 30}


def _tasks(n: int) -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Task"}, "Subject": f"fault {uuid.uuid4().hex[:6]}"} for _ in range(n)]


def test_latency(sf: Salesforce, admin: Admin) -> None:
    admin.faults(latency_ms=300)
    started = time.monotonic()
    sf.query("SELECT Id FROM User LIMIT 1")
    assert time.monotonic() - started >= 0.3
    admin.faults(latency_ms=0)
    started = time.monotonic()
    sf.query("SELECT Id FROM User LIMIT 1")
    assert time.monotonic() - started < 0.3


def test_fail_next_writes_on_single_records(sf: Salesforce, admin: Admin) -> None:
    admin.faults(fail_next_writes=1)
    sf.query("SELECT Id FROM User LIMIT 1")  # reads are never locked out
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.create({"Subject": "locked", **EVENT})
    assert error_codes(caught.value) == ["UNABLE_TO_LOCK_ROW"]
    assert "unable to obtain exclusive access" in caught.value.content[0]["message"]
    assert sf.query("SELECT COUNT() FROM Event WHERE Subject = 'locked'")["totalSize"] == 0
    assert sf.Event.create({"Subject": "unlocked", **EVENT})["success"] is True  # only the next one failed


def test_fail_next_writes_in_a_collection(sf: Salesforce, admin: Admin) -> None:
    admin.faults(fail_next_writes=2)
    results = sf.restful("composite/sobjects", method="POST", json={"records": _tasks(4)})
    assert [r["success"] for r in results] == [False, False, True, True]
    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    admin.faults(fail_next_writes=1)
    rolled = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": _tasks(3)})
    assert [r["errors"][0]["statusCode"] for r in rolled] == [
        "UNABLE_TO_LOCK_ROW",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]


def test_lock_rate_is_deterministic_for_a_seed(sf: Salesforce, admin: Admin) -> None:
    def pattern() -> list[bool]:
        admin.faults(lock_row_rate=0.5, rng_seed=1234)
        results = sf.restful("composite/sobjects", method="POST", json={"records": _tasks(20)})
        return [r["success"] for r in results]

    first, second = pattern(), pattern()
    assert first == second
    assert 3 <= first.count(False) <= 17  # about half fail


def test_fail_next_requests_is_503_and_free(sf: Salesforce, admin: Admin) -> None:
    sf.query("SELECT Id FROM User LIMIT 1")
    used = sf.api_usage["api-usage"].used
    admin.faults(fail_next_requests=2)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as caught:
            sf.query("SELECT Id FROM User LIMIT 1")
        assert caught.value.status == 503 and error_codes(caught.value) == ["SERVER_UNAVAILABLE"]
    sf.query("SELECT Id FROM User LIMIT 1")
    assert sf.api_usage["api-usage"].used == used + 1  # the 503s were not charged


def test_unavailable_rate(sf: Salesforce, admin: Admin) -> None:
    admin.faults(unavailable_rate=1.0)
    with pytest.raises(SalesforceGeneralError):
        sf.limits()
    admin.faults(unavailable_rate=0.0)
    assert sf.limits()["DailyApiRequests"]["Max"] == 100_000


def test_admin_rejects_bad_settings(admin: Admin) -> None:
    for body in ({"latency": 5}, {"lock_row_rate": 2}, {"page_size": 0}, {"latency_ms": "slow"}):
        response = admin.http.put(f"{admin.url}/faults", json=body)
        assert response.status_code == 400 and response.json()["error"]
    assert admin.faults()["latency_ms"] == 0
    reset = admin.http.delete(f"{admin.url}/faults").json()
    assert reset["page_size"] == 2000 and reset["fail_next_writes"] == 0


def test_admin_endpoints_need_no_session_and_cost_nothing(sf: Salesforce, admin: Admin) -> None:
    sf.query("SELECT Id FROM User LIMIT 1")
    used = sf.api_usage["api-usage"].used
    bare = requests.Session()
    bare.trust_env = False
    bare.verify = admin.http.verify
    assert bare.get(f"{admin.url}/stats").status_code == 200
    assert "faults" in " ".join(bare.get(admin.url).json()["endpoints"])
    assert bare.get(f"{admin.url}/nothing-here").status_code == 404
    sf.query("SELECT Id FROM User LIMIT 1")
    assert sf.api_usage["api-usage"].used == used + 1


def test_faults_and_limits_given_at_start(sf_tls: TLSFiles) -> None:
    sandbox = SalesforceSandbox(seed="empty", daily_budget=3, page_size=2, faults={"fail_next_writes": 1})
    with ServerThread(sandbox.wsgi_app, ssl_context=sf_tls.server_context()) as server:
        info = sandbox.info(server.url)
        sf = client(info["instance_url"], info["users"][0]["session_id"], sf_tls.ca_file)
        page = sf.query("SELECT Id FROM Contact")
        assert len(page["records"]) == 2 and page["totalSize"] == 4
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.Task.create({"Subject": "first write fails"})
        assert error_codes(caught.value) == ["UNABLE_TO_LOCK_ROW"]
        sf.Task.create({"Subject": "second write works"})
        with pytest.raises(SalesforceRefusedRequest):
            sf.query("SELECT Id FROM Task")
    with pytest.raises(ValueError):
        SalesforceSandbox(seed="nope")
    with pytest.raises(ValueError):
        SalesforceSandbox(faults={"unknown": 1})
