"""Fault injection for the Graph sandbox: 429/503/504 with Retry-After, latency, and the delta-feed faults
(410 resync with Location, syncStateNotFound, empty pages that still carry a nextLink, replayed items), plus
per-item 429 inside ``$batch`` and dropped connections (``drop``: the socket closes before any answer, whatever
the operation). Each has a "next N" counter (exact tests) and, for the HTTP ones and ``drop``, a rate drawn
from a seeded RNG. ``operations`` limits faults to some operation names (see the request log)."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, fields

HTTP_KINDS = ("http_429", "http_503", "http_504")
CONNECTION_KINDS = ("drop",)  # the connection closed before an answer (the request is not carried out)
DELTA_KINDS = ("delta_gone", "delta_sync_state_not_found", "delta_empty_page", "delta_replay")
BATCH_KINDS = ("batch_item_429",)


@dataclass
class FaultSettings:
    seed: int = 0
    latency_ms: int = 0
    retry_after: int = 1
    http_429_rate: float = 0.0
    http_429_next: int = 0
    http_503_rate: float = 0.0
    http_503_next: int = 0
    http_504_rate: float = 0.0
    http_504_next: int = 0
    delta_gone_next: int = 0
    delta_sync_state_not_found_next: int = 0
    delta_empty_page_next: int = 0
    delta_replay_next: int = 0
    batch_item_429_next: int = 0
    drop_rate: float = 0.0
    drop_next: int = 0
    operations: list[str] = field(default_factory=list)


class Faults:
    def __init__(self, initial: dict | None = None) -> None:
        self._lock = threading.Lock()
        self._initial = dict(initial or {})
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.settings = FaultSettings()
            self._rng = random.Random(0)
            self.injected = {k: 0 for k in HTTP_KINDS + DELTA_KINDS + BATCH_KINDS + CONNECTION_KINDS}
        self.update(self._initial)

    def update(self, changes: dict) -> dict:
        names = {f.name for f in fields(FaultSettings)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        with self._lock:
            for k, v in changes.items():
                default = getattr(FaultSettings(), k)
                if isinstance(default, list):
                    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                        raise ValueError(f"{k} must be a list of operation names")
                elif isinstance(default, float):
                    if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= 1:
                        raise ValueError(f"{k} must be a number between 0 and 1")
                    v = float(v)
                elif not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise ValueError(f"{k} must be a non-negative integer")
                setattr(self.settings, k, v)
            if "seed" in changes:
                self._rng = random.Random(self.settings.seed)
            return self._snapshot()

    def snapshot(self) -> dict:
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> dict:
        return {**asdict(self.settings), "injected": dict(self.injected)}

    def _applies(self, operation: str) -> bool:
        ops = self.settings.operations
        return not ops or operation in ops

    def take(self, kind: str, operation: str) -> bool:
        """Consume one "next" fault of ``kind`` (or draw its rate); True when it fires."""
        with self._lock:
            if not self._applies(operation):
                return False
            nxt = f"{kind}_next"
            if getattr(self.settings, nxt, 0) > 0:
                setattr(self.settings, nxt, getattr(self.settings, nxt) - 1)
                self.injected[kind] += 1
                return True
            rate = getattr(self.settings, f"{kind}_rate", 0.0)
            if rate and self._rng.random() < rate:
                self.injected[kind] += 1
                return True
            return False

    def http_fault(self, operation: str) -> str | None:
        for kind in HTTP_KINDS:
            if self.take(kind, operation):
                return kind
        return None

    def latency(self, operation: str) -> float:
        with self._lock:
            return self.settings.latency_ms / 1000.0 if self._applies(operation) else 0.0
