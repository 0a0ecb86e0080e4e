"""Builders for planner and mapping tests: entries, links and change records in a few words."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sync.entry import EVENT, TASK, Entry, Side, custom_kind, project
from sync.mapping.exchange import exchange_roundtrip
from sync.mapping.salesforce import salesforce_roundtrip
from sync.planner import ChangeType, ExchangeChange, LinkState, LinkStatus, SalesforceChange
from sync.policies import CustomObjectMapping, Policy, PolicySet

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
MAILBOX = "alice@example.com"
CUSTOM = custom_kind("Site_Visit__c")
SITE_VISIT = CustomObjectMapping(
    object_name="Site_Visit__c", subject_field="Name", date_field="Visit_Date__c", category="SF Site Visit"
)


def event(subject: str = "Quarterly review", *, days: int = 1, hour: int = 9, minutes: int = 60, **kw: Any) -> Entry:
    start = NOW.replace(hour=hour, minute=0) + timedelta(days=days)
    kw.setdefault("end", start + timedelta(minutes=minutes))
    return Entry(kind=kw.pop("kind", EVENT), subject=subject, start=start, **kw)


def all_day(subject: str = "Offsite", *, first: date = date(2024, 3, 22), days: int = 1, **kw: Any) -> Entry:
    return Entry(
        kind=kw.pop("kind", EVENT),
        subject=subject,
        is_all_day=True,
        start_date=first,
        end_date=first + timedelta(days=days),
        **kw,
    )


def entry_for_kind(kind: str, subject: str = "Quarterly review", **kw: Any) -> Entry:
    if kind == EVENT:
        return event(subject, **kw)
    category = "SF Task" if kind == TASK else SITE_VISIT.category
    return all_day(subject, kind=kind, categories=(category,), show_as="free", **kw)


def link_for(
    entry: Entry,
    *,
    key: str = "key-1",
    origin: Side = Side.EXCHANGE,
    ex_id: str | None = "ex-1",
    sf_id: str | None = "sf-1",
    **kw: Any,
) -> LinkState:
    """A converged link: each side's base is what that side holds for ``entry``."""
    kw.setdefault("created_by_sync_on_exchange", origin is Side.SALESFORCE)
    return LinkState(
        sync_key=key,
        mailbox=MAILBOX,
        kind=entry.kind,
        origin=origin,
        state=kw.pop("state", LinkStatus.ACTIVE),
        exchange_id=ex_id,
        exchange_change_key="ck-1" if ex_id else None,
        salesforce_object=kw.pop("salesforce_object", "Event" if entry.kind == EVENT else "Task"),
        salesforce_id=sf_id,
        exchange_base=project(exchange_roundtrip(entry)),
        salesforce_base=project(salesforce_roundtrip(entry)),
        **kw,
    )


def ex_changed(entry: Entry, ex_id: str = "ex-1", **kw: Any) -> ExchangeChange:
    kw.setdefault("change_key", "ck-2")
    kw.setdefault("modified_at", NOW - timedelta(minutes=5))
    return ExchangeChange(exchange_id=ex_id, type=ChangeType.CHANGED, kind=entry.kind, entry=entry, **kw)


def ex_gone(ex_id: str = "ex-1", kind: str = EVENT, type: ChangeType = ChangeType.DELETED) -> ExchangeChange:
    return ExchangeChange(exchange_id=ex_id, type=type, kind=kind)


def sf_changed(entry: Entry, sf_id: str = "sf-1", **kw: Any) -> SalesforceChange:
    kw.setdefault("modstamp", NOW - timedelta(minutes=10))
    kw.setdefault("modified_at", NOW - timedelta(minutes=10))
    kw.setdefault("salesforce_object", "Event" if entry.kind == EVENT else "Task")
    return SalesforceChange(salesforce_id=sf_id, type=ChangeType.CHANGED, kind=entry.kind, entry=entry, **kw)


def sf_gone(sf_id: str = "sf-1", kind: str = EVENT, type: ChangeType = ChangeType.DELETED) -> SalesforceChange:
    return SalesforceChange(salesforce_id=sf_id, type=type, kind=kind)


def policies(*extra: Policy, **event_settings: Any) -> PolicySet:
    """Defaults for every kind (custom: Site_Visit__c mapped), an event policy with ``event_settings``."""
    items = {
        EVENT: Policy(kind=EVENT, **event_settings),
        TASK: Policy(kind=TASK),
        CUSTOM: Policy(kind=CUSTOM, custom=SITE_VISIT),
    }
    for p in extra:
        items[p.kind] = p
    return PolicySet(policies=items).validated()


def replace(obj: Any, **kw: Any) -> Any:
    return dataclasses.replace(obj, **kw)
