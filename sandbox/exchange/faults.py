"""Fault injection: ErrorServerBusy, latency, HTTP 500/503 and dropped connections.

Each fault has a rate (drawn from a seeded RNG, so a run is repeatable) and a "next N requests" counter (for
exact tests). Settings are a flat JSON object; the admin endpoint reads and merges them.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, fields

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

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


class Faults:
    def __init__(self, initial: dict | None = None) -> None:
        self._lock = threading.Lock()
        self._initial = dict(initial or {})
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.settings = FaultSettings()
            self._apply(self._initial)
            self.injected: dict[str, int] = {k: 0 for k in KINDS}

    def _apply(self, changes: dict) -> None:
        unknown = set(changes) - FaultSettings.names()
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        for k, v in changes.items():
            default = getattr(FaultSettings(), k)
            if isinstance(default, list):
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise ValueError(f"{k} must be a list of operation names")
            elif isinstance(default, float):
                if not isinstance(v, int | float) or not 0 <= v <= 1:
                    raise ValueError(f"{k} must be a number between 0 and 1")
                v = float(v)
            elif not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{k} must be a non-negative integer")
            setattr(self.settings, k, v)
        if "seed" in changes or not hasattr(self, "_rng"):
            self._rng = random.Random(self.settings.seed)

    def update(self, changes: dict) -> dict:
        with self._lock:
            self._apply(changes)
            return self.snapshot_locked()

    def snapshot(self) -> dict:
        with self._lock:
            return self.snapshot_locked()

    def snapshot_locked(self) -> dict:
        return {**asdict(self.settings), "injected": dict(self.injected)}

    def draw(self, operation: str | None) -> tuple[str | None, float]:
        """The fault to inject for this request (or None) and the latency in seconds."""
        with self._lock:
            s = self.settings
            if s.operations and operation not in s.operations:
                return None, 0.0
            chosen = None
            for kind in KINDS:
                nxt = f"{kind}_next"
                if getattr(s, nxt) > 0:
                    setattr(s, nxt, getattr(s, nxt) - 1)
                    chosen = kind
                    break
            if chosen is None:
                for kind in KINDS:
                    rate = getattr(s, f"{kind}_rate")
                    if rate and self._rng.random() < rate:
                        chosen = kind
                        break
            if chosen:
                self.injected[chosen] += 1
            return chosen, s.latency_ms / 1000.0
