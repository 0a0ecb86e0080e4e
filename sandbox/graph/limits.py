"""Outlook's throttling of Graph calls, per application and mailbox: at most ``concurrency`` requests in
flight (the 5th concurrent one answers ``429 ApplicationThrottled`` "Application is over its
MailboxConcurrency limit.") and at most ``budget`` requests per ``window_seconds`` (10,000 per 10 minutes in
Exchange Online). Requests refused for concurrency still count against the budget, as Graph's do.

Reference: https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

from .errors import throttled


@dataclass
class LimitSettings:
    concurrency: int = 4
    budget: int = 10_000
    window_seconds: int = 600
    retry_after: int = 1  # Retry-After of a concurrency refusal


class Limits:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.settings = LimitSettings()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._in_flight: collections.Counter[tuple[str, str]] = collections.Counter()
            self._history: dict[tuple[str, str], collections.deque] = collections.defaultdict(collections.deque)
            self.refused = {"concurrency": 0, "budget": 0}
            self.max_in_flight = 0

    def update(self, changes: dict) -> dict:
        for k, v in changes.items():
            if not hasattr(self.settings, k):
                raise ValueError(f"unknown limit {k!r}")
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{k} must be a non-negative integer")
        with self._lock:
            for k, v in changes.items():
                setattr(self.settings, k, v)
        return self.snapshot()

    def snapshot(self) -> dict:
        with self._lock:
            return {
                **self.settings.__dict__,
                "refused": dict(self.refused),
                "max_in_flight": self.max_in_flight,
                "in_flight": {f"{a} {m}": n for (a, m), n in self._in_flight.items() if n},
            }

    def acquire(self, app: str, mailbox: str) -> None:
        """Enter a request for (app, mailbox) or raise 429; pair with ``release``."""
        key = (app.lower(), mailbox.lower())
        now = time.monotonic()
        with self._lock:
            s = self.settings
            history = self._history[key]
            while history and history[0] <= now - s.window_seconds:
                history.popleft()
            history.append(now)
            if len(history) > s.budget:
                self.refused["budget"] += 1
                retry = max(1, int(history[0] + s.window_seconds - now) + 1)
                raise throttled(
                    "Application is over its MailboxRequestRate limit. Retry after the Retry-After seconds.", retry
                )
            if self._in_flight[key] >= s.concurrency:
                self.refused["concurrency"] += 1
                raise throttled("Application is over its MailboxConcurrency limit.", s.retry_after)
            self._in_flight[key] += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight[key])

    def release(self, app: str, mailbox: str) -> None:
        key = (app.lower(), mailbox.lower())
        with self._lock:
            self._in_flight[key] = max(0, self._in_flight[key] - 1)
