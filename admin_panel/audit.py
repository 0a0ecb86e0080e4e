"""The audit log: every change made in the admin panel, with who, when, and the values before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.models import AuditEntry, utcnow


def record(db: Session, *, actor: str, action: str, target: str, before: Any = None, after: Any = None) -> AuditEntry:
    """Add an entry in the same transaction as the change (the caller commits both or neither)."""
    entry = AuditEntry(at=utcnow(), actor=actor, action=action, target=target, before=_wrap(before),
                       after=_wrap(after))  # fmt: skip
    db.add(entry)
    return entry


def _wrap(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    return {"value": value}


def latest(db: Session, limit: int = 200) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)))
