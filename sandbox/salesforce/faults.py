"""Fault injection and the daily API budget of the Salesforce sandbox.

Fault settings (all optional; the admin endpoint ``/__sandbox__/faults`` takes the same keys):

| key | meaning |
|---|---|
| ``latency_ms`` | sleep before answering every API request |
| ``lock_row_rate`` | probability that one record write fails with ``UNABLE_TO_LOCK_ROW`` |
| ``unavailable_rate`` | probability that an API request gets ``503 SERVER_UNAVAILABLE`` (not charged) |
| ``fail_next_writes`` | the next N record writes fail with ``UNABLE_TO_LOCK_ROW`` (deterministic) |
| ``fail_next_requests`` | the next N API requests get 503 (deterministic) |
| ``rng_seed`` | seed of the random generator behind the rates (re-seeds when set) |
| ``page_size`` | query page size (1..2000); ``null`` restores the sandbox default |
| ``daily_budget`` | API requests allowed per 24 hours |
| ``api_used`` | API requests already spent in the current 24 hours (set it to ``daily_budget`` to exhaust) |
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from dataclasses import dataclass
from typing import Any

DEFAULT_RNG_SEED = 7


class FaultSettingError(ValueError):
    pass


@dataclass
class ApiUsage:
    """Requests counted against the org's rolling daily allocation (``DailyApiRequests``)."""

    max: int
    used: int = 0
    window_start: dt.datetime | None = None

    def _roll(self, now: dt.datetime) -> None:
        if self.window_start is None or now - self.window_start >= dt.timedelta(hours=24):
            self.window_start = now
            self.used = 0

    def charge(self, now: dt.datetime) -> bool:
        """Count one request; False when the budget is spent (the request is refused, not counted)."""
        self._roll(now)
        if self.used >= self.max:
            return False
        self.used += 1
        return True

    def remaining(self, now: dt.datetime) -> int:
        self._roll(now)
        return max(0, self.max - self.used)

    def header(self) -> str:
        return f"api-usage={self.used}/{self.max}"

    def dump(self) -> dict[str, Any]:
        return {
            "max": self.max,
            "used": self.used,
            "window_start": self.window_start.isoformat() if self.window_start else None,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.max = int(data["max"])
        self.used = int(data["used"])
        self.window_start = dt.datetime.fromisoformat(data["window_start"]) if data.get("window_start") else None


class Faults:
    def __init__(self, settings: dict[str, Any] | None, *, page_size: int, usage: ApiUsage) -> None:
        self._lock = threading.Lock()
        self.default_page_size = page_size
        self.usage = usage
        self.reset()
        if settings:
            self.update(settings)

    def reset(self) -> None:
        self.latency_ms = 0
        self.lock_row_rate = 0.0
        self.unavailable_rate = 0.0
        self.fail_next_writes = 0
        self.fail_next_requests = 0
        self.rng_seed = DEFAULT_RNG_SEED
        self.rng = random.Random(self.rng_seed)
        self.page_size = self.default_page_size

    def snapshot(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "lock_row_rate": self.lock_row_rate,
            "unavailable_rate": self.unavailable_rate,
            "fail_next_writes": self.fail_next_writes,
            "fail_next_requests": self.fail_next_requests,
            "rng_seed": self.rng_seed,
            "page_size": self.page_size,
            "daily_budget": self.usage.max,
            "api_used": self.usage.used,
        }

    def update(self, changes: dict[str, Any]) -> None:
        """Apply fault settings; unknown keys or bad values raise ``FaultSettingError`` and change nothing."""
        if not isinstance(changes, dict):
            raise FaultSettingError("fault settings must be a JSON object")
        parsed: dict[str, Any] = {}
        for key, value in changes.items():
            if key in {"latency_ms", "fail_next_writes", "fail_next_requests", "daily_budget", "api_used"}:
                parsed[key] = _integer(key, value, 0)
            elif key in {"lock_row_rate", "unavailable_rate"}:
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise FaultSettingError(f"{key} must be a number from 0 to 1")
                parsed[key] = float(value)
            elif key == "rng_seed":
                parsed[key] = _integer(key, value, None)
            elif key == "page_size":
                parsed[key] = self.default_page_size if value is None else _integer(key, value, 1, 2000)
            else:
                raise FaultSettingError(f"unknown fault setting {key!r}")
        with self._lock:
            for key, value in parsed.items():
                if key == "daily_budget":
                    self.usage.max = value
                elif key == "api_used":
                    self.usage.used = value
                    if self.usage.window_start is None:
                        self.usage.window_start = dt.datetime.now(dt.UTC)
                else:
                    setattr(self, key, value)
            if "rng_seed" in parsed:
                self.rng = random.Random(self.rng_seed)

    def take_unavailable(self) -> bool:
        with self._lock:
            if self.fail_next_requests > 0:
                self.fail_next_requests -= 1
                return True
            return self.unavailable_rate > 0 and self.rng.random() < self.unavailable_rate

    def take_lock_failure(self) -> bool:
        """Called once per record write: True when this write must fail with UNABLE_TO_LOCK_ROW."""
        with self._lock:
            if self.fail_next_writes > 0:
                self.fail_next_writes -= 1
                return True
            return self.lock_row_rate > 0 and self.rng.random() < self.lock_row_rate


def _integer(key: str, value: Any, minimum: int | None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultSettingError(f"{key} must be an integer")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise FaultSettingError(f"{key} must be between {minimum} and {maximum if maximum is not None else 'any'}")
    return value
