"""Fault injection for the Graph sandbox: 429/503/504 with Retry-After, latency, and the delta-feed faults
(410 resync with Location, syncStateNotFound, empty pages that still carry a nextLink, replayed items), plus
per-item 429 inside ``$batch`` and dropped connections (``drop``: the socket closes before any answer, whatever
the operation). Each has a "next N" counter (exact tests) and, for the HTTP ones and ``drop``, a rate drawn
from a seeded RNG. ``operations`` limits faults to some operation names (see the request log)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.faults import FaultBook

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


class Faults(FaultBook):
    settings_type = FaultSettings
    kinds = HTTP_KINDS + DELTA_KINDS + BATCH_KINDS + CONNECTION_KINDS

    def take(self, kind: str, operation: str) -> bool:
        """Consume one "next" fault of ``kind`` (or draw its rate); True when it fires."""
        with self._lock:
            return self._applies(operation) and (self._take_next(kind) or self._take_rate(kind))

    def http_fault(self, operation: str) -> str | None:
        for kind in HTTP_KINDS:
            if self.take(kind, operation):
                return kind
        return None

    def latency(self, operation: str) -> float:
        with self._lock:
            return self.settings.latency_ms / 1000.0 if self._applies(operation) else 0.0
