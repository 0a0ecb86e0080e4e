"""The sandboxes' control endpoints (``/__sandbox__``) over HTTP, as the soak uses them: fault settings and
counters. The sandboxes run in their own process here, so this is the soak's only way to reach their knobs."""

from __future__ import annotations

from typing import Any

import requests

# Fault settings that undo every burst the soak injects (each sandbox's ``faults.py`` lists its keys).
CALM = {
    "salesforce": {"fail_next_requests": 0, "fail_next_writes": 0, "unavailable_rate": 0.0, "lock_row_rate": 0.0,
                   "latency_ms": 0},
    "exchange": {"http_503_next": 0, "http_503_rate": 0.0, "server_busy_next": 0, "server_busy_rate": 0.0,
                 "latency_ms": 0},
    "graph": {"http_429_next": 0, "http_429_rate": 0.0, "http_503_next": 0, "http_503_rate": 0.0, "latency_ms": 0},
}  # fmt: skip


class SandboxAdmin:
    def __init__(self, info: dict[str, Any]) -> None:
        self.urls = {name: info[name]["admin_url"] for name in ("salesforce", "exchange", "graph")}
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = info["salesforce"]["ca_file"]  # one CA for every sandbox

    def call(self, sandbox: str, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, f"{self.urls[sandbox]}/{path}", json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def faults(self, sandbox: str, **settings: Any) -> dict[str, Any]:
        return self.call(sandbox, "PUT", "faults", settings)

    def calm(self) -> None:
        for sandbox, settings in CALM.items():
            self.faults(sandbox, **settings)

    def injected(self) -> dict[str, Any]:
        """What the Exchange and Graph sandboxes say they injected (the Salesforce one keeps no such count)."""
        return {name: self.call(name, "GET", "faults").get("injected", {}) for name in ("exchange", "graph")}

    def salesforce_stats(self) -> dict[str, Any]:
        return self.call("salesforce", "GET", "stats")

    def close(self) -> None:
        self.http.close()
