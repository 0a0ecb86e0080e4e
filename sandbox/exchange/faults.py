"""Fault injection: ErrorServerBusy, latency, HTTP 500/503 and dropped connections.

Each fault has a rate (drawn from a seeded RNG, so a run is repeatable) and a "next N requests" counter (for
exact tests). Settings are a flat JSON object; the admin endpoint reads and merges them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.faults import FaultBook

KINDS = ("drop", "http_503", "http_500", "server_busy")


@dataclass
class FaultSettings:
    seed: int = 0
    latency_ms: int = 0
    back_off_ms: int = 100  # BackOffMilliseconds of ErrorServerBusy
    server_busy_rate: float = 0.0
    server_busy_next: int = 0
    http_500_rate: float = 0.0
    http_500_next: int = 0
    http_503_rate: float = 0.0
    http_503_next: int = 0
    drop_rate: float = 0.0
    drop_next: int = 0
    operations: list[str] = field(default_factory=list)  # empty: faults apply to every operation


class Faults(FaultBook):
    settings_type = FaultSettings
    kinds = KINDS

    def draw(self, operation: str | None) -> tuple[str | None, float]:
        """The fault to inject for this request (or None) and the latency in seconds: a "next" counter first
        (in ``KINDS`` order), else the rates."""
        with self._lock:
            if not self._applies(operation):
                return None, 0.0
            chosen = next((k for k in KINDS if self._take_next(k)), None)
            if chosen is None:
                chosen = next((k for k in KINDS if self._take_rate(k)), None)
            return chosen, self.settings.latency_ms / 1000.0
