"""What the EWS and Graph sandboxes' fault injection shares (each sandbox's ``faults.py`` names its faults).

Settings are a flat dataclass, read and merged from the admin endpoint's JSON: per fault kind a rate
(``<kind>_rate``, 0..1, drawn from a RNG seeded by ``seed``, so a run repeats) and a counter (``<kind>_next``: the
next N requests, for exact tests), plus ``operations`` (empty: every operation) and plain non-negative numbers
(latency, Retry-After, ...). ``reset`` goes back to the settings the sandbox started with, and to its seed.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, fields
from typing import Any


def checked(defaults: Any, changes: dict) -> dict[str, Any]:
    """``changes`` to a settings dataclass instance ``defaults`` (of its defaults), checked and coerced: a
    ``ValueError`` names the first bad one (the admin endpoint answers it as 400)."""
    unknown = set(changes) - {f.name for f in fields(defaults)}
    if unknown:
        raise ValueError(f"unknown fault settings: {sorted(unknown)}")
    out: dict[str, Any] = {}
    for k, v in changes.items():
        default = getattr(defaults, k)
        if isinstance(default, list):
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ValueError(f"{k} must be a list of operation names")
        elif isinstance(default, float):
            if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= 1:
                raise ValueError(f"{k} must be a number between 0 and 1")
            v = float(v)
        elif not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{k} must be a non-negative integer")
        out[k] = v
    return out


class FaultBook:
    """Settings, the seeded RNG and the injected counts of one sandbox, behind one lock. A subclass sets
    ``settings_type`` (the dataclass) and ``kinds`` (the fault kinds counted in ``injected``) and decides which
    fault a request gets with ``_applies``, ``_take_next`` and ``_take_rate`` (called with the lock held)."""

    settings_type: type
    kinds: tuple[str, ...] = ()

    def __init__(self, initial: dict | None = None) -> None:
        self._lock = threading.Lock()
        self._initial = dict(initial or {})
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.settings = self.settings_type()
            self._set(self._initial)
            self._rng = random.Random(self.settings.seed)
            self.injected: dict[str, int] = {k: 0 for k in self.kinds}

    def update(self, changes: dict) -> dict:
        with self._lock:
            self._set(changes)
            if "seed" in changes:
                self._rng = random.Random(self.settings.seed)
            return self._snapshot()

    def snapshot(self) -> dict:
        with self._lock:
            return self._snapshot()

    def _set(self, changes: dict) -> None:
        for k, v in checked(self.settings_type(), changes).items():
            setattr(self.settings, k, v)

    def _snapshot(self) -> dict:
        return {**asdict(self.settings), "injected": dict(self.injected)}

    def _applies(self, operation: str | None) -> bool:
        ops = self.settings.operations
        return not ops or operation in ops

    def _take_next(self, kind: str) -> bool:
        """Consume one of the "next N" faults of ``kind``, if any is left."""
        name = f"{kind}_next"
        left = getattr(self.settings, name, 0)
        if left > 0:
            setattr(self.settings, name, left - 1)
            self.injected[kind] += 1
            return True
        return False

    def _take_rate(self, kind: str) -> bool:
        """Draw ``kind``'s rate (no draw when it is 0, so rates of other kinds keep their sequence)."""
        rate = getattr(self.settings, f"{kind}_rate", 0.0)
        if rate and self._rng.random() < rate:
            self.injected[kind] += 1
            return True
        return False
