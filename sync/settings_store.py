"""Org-wide engine settings an admin changes in the panel (table ``org_settings``), read by the engine.

One row per group (``schedule``, ``budget``, ``scope``, ``guard``); a group without a row keeps what the
environment (``calsync/settings.py``) or the code's defaults say. `OrgSettings.problems` validates a whole set
and words each problem for the admin. The engine reads them where it reads those values anyway:
`sync.policy_store.load` (default scope, mass-deletion guard) and `sync.jobs` (intervals, API budget).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.models import OrgSetting

MAX_INTERVAL_MINUTES = 24 * 60
MAX_SCOPE_DAYS = 3650


@dataclass(frozen=True)
class OrgSettings:
    """Every org setting the panel edits. ``None``: not set by an admin (the environment's value applies)."""

    intervals: tuple[int, ...] | None = None  # minutes between sessions: after a change, then quieter
    budget_max_requests: int | None = None  # 0: no count limit
    budget_max_percent: float | None = None  # 0: no percentage limit
    scope_past_days: int | None = None
    scope_future_days: int | None = None
    guard_min_count: int | None = None
    guard_fraction: float | None = None

    def problems(self) -> list[str]:
        out: list[str] = []
        if self.intervals is not None:
            if not self.intervals or any(not 1 <= m <= MAX_INTERVAL_MINUTES for m in self.intervals):
                out.append(f"Session intervals must be whole minutes from 1 to {MAX_INTERVAL_MINUTES}.")
            elif list(self.intervals) != sorted(self.intervals):
                out.append("Session intervals must go from the shortest to the longest (e.g. 30, 60, 120).")
        if self.budget_max_requests is not None and self.budget_max_requests < 0:
            out.append("The API request limit must be 0 (no limit) or more.")
        if self.budget_max_percent is not None and not 0 <= self.budget_max_percent <= 100:
            out.append("The API budget percentage must be from 0 (off) to 100.")
        for label, days in (("past", self.scope_past_days), ("future", self.scope_future_days)):
            if days is not None and not 0 <= days <= MAX_SCOPE_DAYS:
                out.append(f"Default scope {label} days must be from 0 to {MAX_SCOPE_DAYS}.")
        if self.guard_min_count is not None and self.guard_min_count < 0:
            out.append("The mass-deletion guard minimum must be 0 or more.")
        if self.guard_fraction is not None and not 0 <= self.guard_fraction <= 1:
            out.append("The mass-deletion guard share must be from 0 to 100 %.")
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.intervals is not None:
            data["intervals"] = list(self.intervals)
        return data


KEY = "engine"


def load(db: Session) -> OrgSettings:
    row = db.scalars(select(OrgSetting).where(OrgSetting.key == KEY)).one_or_none()
    if row is None or not row.value:
        return OrgSettings()
    data = dict(row.value)
    if data.get("intervals") is not None:
        data["intervals"] = tuple(int(m) for m in data["intervals"])
    known = {k: v for k, v in data.items() if k in OrgSettings.__dataclass_fields__}
    return OrgSettings(**known)


def save(db: Session, settings: OrgSettings) -> OrgSetting:
    """Store the set (after `OrgSettings.problems` came back empty). The caller commits."""
    problems = settings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    row = db.scalars(select(OrgSetting).where(OrgSetting.key == KEY)).one_or_none()
    if row is None:
        row = OrgSetting(key=KEY)
        db.add(row)
    row.value = settings.to_dict()
    return row


def apply_to_schedule(settings: OrgSettings, config: Any) -> Any:
    """A `sync.schedule.ScheduleConfig` with the admin's intervals and API budget over the environment's."""
    changes: dict[str, Any] = {}
    if settings.intervals:
        changes["intervals"] = tuple(settings.intervals)
    if settings.budget_max_requests is not None:
        changes["budget_max_requests"] = settings.budget_max_requests
    if settings.budget_max_percent is not None:
        changes["budget_max_percent"] = settings.budget_max_percent
    return replace(config, **changes) if changes else config
