"""Turn what the connectors read into the planner's change records (no decisions here, only facts).

Exchange: the calendar's SyncFolderItems feed; only items carrying one of our categories, or already linked,
are fetched (GetItem in batches) and mapped. Salesforce: one ``queryAll`` per enabled object kind since its
watermark (minus an overlap), deleted rows included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync import series
from sync.connectors.base import DELETE, REMOVED, ExchangeCalendar, ExchangeItem, SalesforceOrg
from sync.entry import EVENT, TASK, Entry, Side, entry_from_projection, is_custom_kind
from sync.mapping.exchange import entry_from_exchange
from sync.mapping.salesforce import EVENT_FIELDS, TASK_FIELDS, from_salesforce, record_meta
from sync.planner.model import ChangeType, ExchangeChange, LinkState, LinkStatus, SalesforceChange, SharedRelations
from sync.planner.rules import new_sync_key
from sync.policies import Direction, Policy, PolicySet
from sync.series import deleted_occurrence_dates, read_modified_occurrences

# Re-read this much before the watermark: SystemModstamp is set at commit time, so a row committed late with an
# earlier stamp would otherwise be missed. Echoes in the overlap cost no write (projection hashes).
WATERMARK_OVERLAP = dt.timedelta(minutes=5)


@dataclass
class ExchangeFeed:
    changes: list[ExchangeChange] = field(default_factory=list)
    sync_state: str | None = None
    full_count: int | None = None  # tagged items in a full listing; None for an incremental feed
    # Items of a full listing with none of our categories and no link: one unshared before its link was lost is
    # among them (`unshared_counterparts` pairs it with its Salesforce record again).
    untagged: list[tuple[str, str | None]] = field(default_factory=list)  # (item id, the sync key it carries)


@dataclass
class SalesforceFeed:
    changes: list[SalesforceChange] = field(default_factory=list)
    watermarks: dict[str, str] = field(default_factory=dict)
    full_count: int | None = None


def _kind_by_category(policies: PolicySet, kinds: Iterable[str]) -> dict[str, str]:
    """Category name (lower case) → object kind, for every kind that syncs."""
    out: dict[str, str] = {}
    for kind in kinds:
        policy = policies.for_kind(kind)
        if policy.direction is not Direction.OFF:
            out.setdefault(policy.category.lower(), kind)
    return out


def meeting_uid(item: ExchangeItem) -> str | None:
    """The iCalUId of a meeting (an item with attendees), the same in every attendee's copy."""
    fields = item.fields
    has_attendees = bool(fields.get("required_attendees") or fields.get("optional_attendees"))
    return item.uid if item.uid and (has_attendees or item.is_meeting) else None


def _exchange_change(
    item: ExchangeItem,
    kind: str,
    time_zone: str,
    shared: SharedRelations | None,
    modified: Mapping[str, list[dict[str, Any]]] | None = None,
) -> ExchangeChange:
    """A fetched calendar item as a ``changed`` record (``modified``: a series' modified occurrences with
    their content, `sync.series.read_modified_occurrences`)."""
    data = dict(item.fields)
    if modified and item.item_id in modified:
        data["modified_occurrences"] = modified[item.item_id]
    result = entry_from_exchange(data, kind=kind, default_time_zone=time_zone)
    return ExchangeChange(
        item.item_id,
        ChangeType.CHANGED,
        kind=kind,
        entry=result.entry,
        issues=result.issues,
        change_key=item.change_key,
        sync_key=item.sync_key,
        modified_at=item.modified_at,
        is_organizer=item.is_organizer,
        is_cancelled=item.is_cancelled,
        shared=shared,
        uid=meeting_uid(item),
    )


def read_exchange(
    connector: ExchangeCalendar,
    *,
    sync_state: str | None,
    links: Sequence[LinkState],
    policies: PolicySet,
    kinds: Iterable[str],
    mailbox_email: str,
    time_zone: str,
    shared: dict[str, SharedRelations] | None = None,
) -> ExchangeFeed:
    feed = connector.changes(sync_state)
    by_id = {link.exchange_id: link for link in links if link.exchange_id}
    by_key = {link.sync_key: link for link in links}
    categories = _kind_by_category(policies, kinds)
    shared = shared or {}

    wanted: dict[str, tuple[str, str | None]] = {}  # item id → (kind, change key)
    changes: dict[str, ExchangeChange] = {}
    seen: set[str] = set()
    untagged: list[tuple[str, str | None]] = []
    tagged_count = 0
    for change in feed.changes:
        seen.add(change.item_id)
        link = by_id.get(change.item_id) or (by_key.get(change.sync_key) if change.sync_key else None)
        if change.change == REMOVED:
            # Left the feed's view without a known deletion (Graph): only a direct fetch can confirm one.
            changes.pop(change.item_id, None)
            if link is not None and link.is_live and link.exchange_id == change.item_id:
                wanted[change.item_id] = (link.kind, None)
            continue
        if change.change == DELETE:
            changes.pop(change.item_id, None)
            wanted.pop(change.item_id, None)
            if link is not None:
                changes[change.item_id] = ExchangeChange(change.item_id, ChangeType.DELETED, kind=link.kind)
            continue
        tags = {c.lower() for c in change.categories}
        tag_kind = next((categories[c] for c in sorted(tags) if c in categories), None)
        if feed.full and tag_kind is None and link is None:
            untagged.append((change.item_id, change.sync_key))
        # For the guard's "empty side" check: tagged items, and linked items still there without the tag (an
        # unshared item proves the listing reads the right mailbox as well as a tagged one does).
        if tag_kind is not None or (link is not None and link.is_live):
            tagged_count += 1
        if link is not None and link.is_live:
            # Our own last write (or nothing new): no need to fetch it. A pending link's create may never have
            # happened (a crash before it): fetch, so the planner makes it (found by the simulation).
            if (
                change.change_key
                and change.change_key == link.exchange_change_key
                and not feed.full
                and link.state is not LinkStatus.PENDING
            ):
                continue
            own = policies.for_kind(link.kind).category.lower()
            if own not in tags:
                changes[change.item_id] = ExchangeChange(
                    change.item_id, ChangeType.UNSHARED, kind=link.kind, change_key=change.change_key
                )
                continue
            wanted[change.item_id] = (link.kind, change.change_key)
        elif tag_kind is not None:
            # New, or a tombstone shared again (the planner decides).
            wanted[change.item_id] = (link.kind if link is not None else tag_kind, change.change_key)

    # A full listing (first session, lost state) says nothing about absent items: confirm each directly. Nor
    # does an incremental feed about a pending link's item: the saved cursor may predate it, and the server
    # folds an item that entered and left the calendar since into nothing (see `sync.links`).
    confirm: list[str] = []
    for link in links:
        unconfirmed = feed.full or link.state is LinkStatus.PENDING
        if unconfirmed and link.is_live and link.exchange_id and link.exchange_id not in seen:
            wanted.setdefault(link.exchange_id, (link.kind, None))
            confirm.append(link.exchange_id)

    # Creates cut short by a crash (pending, no item id yet) whose item the user already deleted: the feed's
    # Delete change carried only an id we never saved, so look for the key in Deleted Items (found by the
    # simulation: the retried create made the item again).
    pending = sorted(link.sync_key for link in links if link.state is LinkStatus.PENDING and not link.exchange_id)
    if pending:
        trashed = connector.find_by_sync_key(pending, deleted_items=True)
        in_calendar = connector.find_by_sync_key(list(trashed)) if trashed else {}
        for key, item_id in sorted(trashed.items()):
            if key not in in_calendar:
                changes[item_id] = ExchangeChange(item_id, ChangeType.DELETED, kind=by_key[key].kind, sync_key=key)

    ids = sorted(wanted)
    fetched = connector.fetch(ids) if ids else []
    # An absent item that still exists was moved out of the calendar (to Deleted Items, as Outlook deletes): the
    # incremental feed reports that as a Delete; a full listing must too (found by the simulation: lost state
    # after a deletion in Outlook kept the Salesforce Event for ever).
    moved = connector.outside_calendar([i for i, item in zip(ids, fetched, strict=True) if item and i in confirm])
    # Graph answers 404 for an event in Deleted Items (EWS still reads it, above): found there by its sync key, it
    # is a deletion too, and the guard counts it as proof the listing read the right mailbox (found by the
    # simulation on Graph: lost state after the last item went to Deleted Items tripped the guard).
    gone = {by_id[i].sync_key: i for i, item in zip(ids, fetched, strict=True) if item is None and i in confirm}
    if gone:
        moved = set(moved) | {gone[k] for k in connector.find_by_sync_key(sorted(gone), deleted_items=True)}
    modified = read_modified_occurrences(connector, fetched)
    for item_id, item in zip(ids, fetched, strict=True):
        kind = wanted[item_id][0]
        if item is None or item_id in moved:
            if item_id in by_id:
                changes[item_id] = ExchangeChange(item_id, ChangeType.NOT_FOUND, kind=kind)
            continue
        change = _exchange_change(item, kind, time_zone, shared.get(item_id), modified)
        link = by_id.get(item_id) or (by_key.get(item.sync_key) if item.sync_key else None)
        changes[item_id] = _pending_series(change, link)
    return ExchangeFeed(
        changes=[changes[k] for k in sorted(changes)],
        sync_state=feed.cursor,
        full_count=tagged_count + len(moved) if feed.full else None,
        untagged=untagged,
    )


def unshared_counterparts(
    exchange_feed: ExchangeFeed, salesforce_feed: SalesforceFeed, *, links: Sequence[LinkState], mailbox_email: str
) -> None:
    """After a full listing, the untagged Outlook items whose pair's key belongs to a Salesforce record without a
    link: items unshared before their link was lost. A pair's key is the one an item carries (made by sync) or the
    one derived from its origin's id. Reported as ``unshared``, so the planner pairs them again instead of copying
    the record down beside them (found by the checker, docs/invariants.md #6, #12). Appends to the Exchange feed in
    place; no API call."""
    if not exchange_feed.untagged:
        return
    known = {link.sync_key for link in links}
    keys = {
        c.sync_key or new_sync_key(mailbox_email, Side.SALESFORCE, c.salesforce_id)
        for c in salesforce_feed.changes
        if c.type is ChangeType.CHANGED
    } - known
    if not keys:
        return
    for item_id, carried in exchange_feed.untagged:
        key = carried or new_sync_key(mailbox_email, Side.EXCHANGE, item_id)
        if key in keys:
            exchange_feed.changes.append(ExchangeChange(item_id, ChangeType.UNSHARED, kind=EVENT, sync_key=carried))


def _pending_series(change: ExchangeChange, link: LinkState | None) -> ExchangeChange:
    """A series whose create may have been cut short (pending link) shows the exceptions the create was to
    write: the applier writes them again once the link is confirmed (`sync.series`, idempotent), and the
    missing ones must not read as a change that would drop them on the other side (found by the simulation:
    a crash after the series' create, before its occurrence writes)."""
    entry = change.entry
    if link is None or link.state is not LinkStatus.PENDING or link.exchange_id or entry is None:
        return change  # a pending link with its item id: a create that landed, awaiting the cursor only
    base = link.exchange_base or link.salesforce_base
    if entry.recurrence is None or not base or not base.get("recurrence"):
        return change
    held = entry_from_projection(base).recurrence
    if held is None or held.rrule != entry.recurrence.rrule:
        return change
    return dataclasses.replace(change, entry=entry.replace(recurrence=entry.recurrence.with_exceptions(held)))


def _unchanged(row: dict[str, Any], by_id: Mapping[str, LinkState]) -> bool:
    link = by_id.get(row.get("Id") or "")
    if link is None or link.state is not LinkStatus.ACTIVE or link.salesforce_modstamp is None:
        return False
    return record_meta(row).system_modstamp == link.salesforce_modstamp


def _base_attendees(link: LinkState | None) -> list[str]:
    return list((link.salesforce_base or {}).get("attendees") or []) if link is not None else []


def salesforce_object(policy: Policy) -> str:
    if policy.kind == EVENT:
        return "Event"
    if policy.kind == TASK:
        return "Task"
    assert policy.custom is not None
    return policy.custom.object_name


def salesforce_fields(policy: Policy) -> list[str]:
    if policy.kind == EVENT:
        return list(EVENT_FIELDS)
    if policy.kind == TASK:
        return list(TASK_FIELDS)
    mapping = policy.custom
    assert mapping is not None
    fields = ["Id", "OwnerId", "SystemModstamp", "LastModifiedDate", "IsDeleted", mapping.subject_field]
    for name in (mapping.date_field, mapping.start_field, mapping.end_field, mapping.description_field,
                 mapping.location_field):  # fmt: skip
        if name:
            fields.append(name)
    return list(dict.fromkeys(fields))


def _salesforce_changes(
    connector: SalesforceOrg,
    policy: Policy,
    sobject: str,
    rows: Sequence[dict[str, Any]],
    by_id: Mapping[str, LinkState],
    time_zone: str,
    pending: Mapping[str, LinkState] | None = None,
) -> list[SalesforceChange]:
    """Rows of one object kind as change records (invitees read only where they can matter). ``pending``:
    pending links by sync key (a create cut short: its record has no id in the link yet)."""
    kind = policy.kind
    gone_occurrences: dict[str, list[dict[str, Any]]] = {}
    occurrence_rows: dict[str, list[dict[str, Any]]] = {}
    if kind == EVENT:
        # Occurrence Events belong to their series, which is the item that syncs (sync.series); deleted ones
        # become deleted occurrences of their (linked) series; edited ones make the series read its
        # occurrence Events again (one query), for its changed occurrences.
        edited: set[str] = set()
        for row in rows:
            series_id = row.get("RecurrenceActivityId")
            if series_id and row.get("IsDeleted"):
                gone_occurrences.setdefault(series_id, []).append(row)
            elif series_id and not row.get("IsDeleted") and (series_id in by_id or row.get("IsRecurrence2Exception")):
                edited.add(series_id)
        rows = [r for r in rows if not r.get("RecurrenceActivityId")]
        listed = {r["Id"] for r in rows}
        missing = sorted(
            i
            for i in (set(gone_occurrences) | edited) & set(by_id)
            if i not in listed and (i in edited or _new_gaps(by_id[i], gone_occurrences[i]))
        )
        if missing:
            rows = [*rows, *(r for r in connector.get_records(sobject, missing, salesforce_fields(policy)) if r)]
        series_ids = {r["Id"] for r in rows if not r.get("IsDeleted")} & (edited | set(gone_occurrences))
        if series_ids:
            occurrence_rows = series.read_salesforce_occurrences(connector, series_ids)
    invitees: dict[str, list[str]] = {}
    if kind == EVENT:
        live = [r["Id"] for r in rows if not r.get("IsDeleted")]
        invitees = {i: _base_attendees(by_id.get(i)) for i in live}
        wanted = [i for i in live if policy.attendees_to_exchange or invitees[i]]
        if wanted:
            found = connector.event_invitees(wanted)
            invitees.update({i: [r.email for r in rel if r.email] for i, rel in found.items()})
    changes: list[SalesforceChange] = []
    for row in rows:
        meta = record_meta(row)
        if meta.is_deleted:
            changes.append(
                SalesforceChange(
                    meta.id,
                    ChangeType.DELETED,
                    kind=kind,
                    salesforce_object=sobject,
                    sync_key=meta.sync_key,
                    modstamp=meta.system_modstamp,
                )  # fmt: skip
            )
            continue
        result = from_salesforce(row, policy, time_zone=time_zone, invitee_emails=invitees.get(meta.id, ()))
        entry = result.entry
        if entry is not None and entry.recurrence is not None:
            link = by_id.get(meta.id) or (pending or {}).get(meta.sync_key or "")
            entry = _series_entry(entry, link, gone_occurrences.get(meta.id), occurrence_rows.get(meta.id))
        changes.append(
            SalesforceChange(
                meta.id,
                ChangeType.WITHDRAWN if result.withdrawn else ChangeType.CHANGED,
                kind=kind,
                salesforce_object=sobject,
                entry=entry,
                issues=result.issues,
                sync_key=meta.sync_key,
                modstamp=meta.system_modstamp,
                modified_at=meta.last_modified,
            )
        )
    return changes


def _series_entry(
    entry: Entry,
    link: LinkState | None,
    gone: list[dict[str, Any]] | None,
    occurrences: list[dict[str, Any]] | None,
) -> Entry:
    """A Salesforce series with its changed and deleted occurrences (sync.series): as last synced, with the
    occurrence Events deleted since (``gone``) and, when some were edited, as its live occurrence Events
    (``occurrences``) say. A series whose pattern, start or length changed keeps the exceptions the new
    pattern still has (the org re-created its occurrence Events: neither list says anything then)."""
    assert entry.recurrence is not None
    base = (link.salesforce_base or {}) if link is not None else {}
    held_entry = entry_from_projection(base) if base.get("recurrence") else None
    recurrence = entry.recurrence.with_exceptions(held_entry.recurrence if held_entry is not None else None)
    bounds = series.series_bounds(entry)
    if held_entry is not None and series.reshaped(held_entry, entry):
        held_bounds = series.series_bounds(held_entry)
        if bounds is not None:
            recurrence, _ = series.in_pattern(recurrence, bounds[0], entry.time_zone)
            if held_bounds is not None:
                recurrence = series.follow_pattern(recurrence, held_bounds, bounds, entry.time_zone)
        return entry.replace(recurrence=recurrence)
    gaps = deleted_occurrence_dates(gone, link.sync_key if link else "", entry.time_zone) if gone else set()
    if occurrences is not None and bounds is not None:
        recurrence = series.salesforce_exceptions(
            occurrences, recurrence, bounds[0], bounds[1], entry.time_zone, link.sync_key if link else None,
            gaps=gaps, subject=entry.subject, location=entry.location,
        )  # fmt: skip
    elif gaps:
        recurrence = dataclasses.replace(recurrence, exdates=tuple(set(recurrence.exdates) | gaps))
    return entry.replace(recurrence=recurrence)


def _new_gaps(link: LinkState, rows: list[dict[str, Any]]) -> bool:
    """Whether these deleted occurrence Events delete occurrences the link's series still holds (our own
    deletions come back in the feed: no need to read their series again)."""
    rec = (link.salesforce_base or {}).get("recurrence") or {}
    tz = rec.get("time_zone") or "UTC"
    return bool(deleted_occurrence_dates(rows, link.sync_key, tz) - set(dt.date.fromisoformat(d) for d in
                                                                          rec.get("exdates") or ()))  # fmt: skip


def read_salesforce(
    connector: SalesforceOrg,
    *,
    owner_id: str,
    policies: PolicySet,
    kinds: Iterable[str],
    watermarks: dict[str, str],
    time_zone: str,
    now: dt.datetime,
    linked_kinds: Iterable[str] = (),
    links: Sequence[LinkState] = (),
) -> SalesforceFeed:
    """``linked_kinds``: kinds with live links; a full listing of one of them that comes back empty is
    reported through ``full_count`` so the mass-deletion guard can stop the session.
    ``links``: the mailbox's links. A row still at the SystemModstamp its active link was synced at is unchanged
    (the watermark overlap reads it again) and is left out. Invitees (EventRelation) are read only where they
    can matter: with ``attendees_to_exchange``, or for Events whose last synced state had attendees; elsewhere
    the Event's attendees are taken as last synced, which saves a query per 200 Events."""
    by_id = {link.salesforce_id: link for link in links if link.salesforce_id}
    pending = {link.sync_key: link for link in links if link.state is LinkStatus.PENDING and not link.salesforce_id}
    out = SalesforceFeed(watermarks=dict(watermarks))
    linked = set(linked_kinds)
    for kind in kinds:
        policy = policies.for_kind(kind)
        if policy.direction is Direction.OFF or (is_custom_kind(kind) and policy.custom is None):
            continue
        sobject = salesforce_object(policy)
        mark = watermarks.get(kind)
        since = dt.datetime.fromisoformat(mark) - WATERMARK_OVERLAP if mark else None
        rows = connector.changed_records(sobject, salesforce_fields(policy), owner_id=owner_id, since=since)
        # The org's clock when it answered: every row committed by then has been read (but for late commits,
        # which the overlap catches). Moving the watermark there, not just to the newest row, keeps a burst of
        # writes (an initial sync) from being read again at every session.
        answered_at = connector.usage.server_time
        if since is None and kind in linked:
            # Deleted rows count too: a listing that returns the user's deletions is not the empty answer of a
            # wrong owner or lost access the guard is for (found by the simulation: lost cursors after the
            # user deleted their last Event stopped every later session).
            out.full_count = (out.full_count or 0) + len(rows)
        newest = dt.datetime.fromisoformat(mark) if mark else None
        rows = [r for r in rows if r.get("IsDeleted") or not _unchanged(r, by_id)]
        for row in rows:
            meta = record_meta(row)
            if meta.system_modstamp and (newest is None or meta.system_modstamp > newest):
                newest = meta.system_modstamp
        out.changes += _salesforce_changes(connector, policy, sobject, rows, by_id, time_zone, pending)
        for candidate in (answered_at, now if answered_at is None else None):
            if candidate is not None and (newest is None or candidate > newest):
                newest = candidate
        out.watermarks[kind] = newest.isoformat()
    return out


def refresh_failed(
    exchange: ExchangeCalendar,
    salesforce: SalesforceOrg,
    *,
    links: Sequence[LinkState],
    exchange_feed: ExchangeFeed,
    salesforce_feed: SalesforceFeed,
    policies: PolicySet,
    time_zone: str,
    mailbox_email: str,
    shared: dict[str, SharedRelations] | None = None,
) -> None:
    """Read directly the other side of every *failed* link that one feed reports: a failed pair is planned
    from both sides' current content, never from a base that misses a refused change (issue 23: an Outlook
    edit Salesforce refused was dropped, and its health entry closed, when only the Salesforce side moved).

    Costs one GetItem and/or one Salesforce read per object kind, and only in sessions where a failed pair
    moved on one side; a quiet session costs nothing more. Appends to the feeds in place."""
    failed = [link for link in links if link.state is LinkStatus.FAILED and not link.joined]
    if not failed:
        return
    shared = shared or {}
    ex_ids = {c.exchange_id for c in exchange_feed.changes}
    ex_keys = {c.sync_key for c in exchange_feed.changes if c.sync_key}
    sf_ids = {c.salesforce_id for c in salesforce_feed.changes}
    sf_keys = {c.sync_key for c in salesforce_feed.changes if c.sync_key}
    on_ex = {link.sync_key for link in failed if link.exchange_id in ex_ids or link.sync_key in ex_keys}
    on_sf = {link.sync_key for link in failed if link.salesforce_id in sf_ids or link.sync_key in sf_keys}

    need_ex = [link for link in failed if link.exchange_id and link.sync_key in on_sf - on_ex]
    exchange_feed.changes += exchange_changes_for(
        exchange, [(link.exchange_id, link.kind) for link in need_ex if link.exchange_id], policies=policies,
        time_zone=time_zone, mailbox_email=mailbox_email, shared=shared,
    )  # fmt: skip
    need_sf = [link for link in failed if link.salesforce_id and link.sync_key in on_ex - on_sf]
    salesforce_feed.changes += salesforce_changes_for(
        salesforce, [(link.salesforce_id, link.kind) for link in need_sf if link.salesforce_id], policies=policies,
        links=links, time_zone=time_zone,
    )  # fmt: skip


def exchange_changes_for(
    connector: ExchangeCalendar,
    items: Sequence[tuple[str, str]],
    *,
    policies: PolicySet,
    time_zone: str,
    mailbox_email: str,
    shared: Mapping[str, SharedRelations] | None = None,
) -> list[ExchangeChange]:
    """Change records for (item id, kind) pairs read directly (one GetItem): ``changed``, ``unshared`` when the
    kind's category is gone, ``not_found`` when the item no longer exists (a confirmed deletion)."""
    if not items:
        return []
    shared = shared or {}
    out: list[ExchangeChange] = []
    fetched = connector.fetch([i for i, _ in items])
    modified = read_modified_occurrences(connector, fetched)
    for (item_id, kind), item in zip(items, fetched, strict=True):
        if item is None:
            out.append(ExchangeChange(item_id, ChangeType.NOT_FOUND, kind=kind))
        elif policies.for_kind(kind).category.lower() not in {c.lower() for c in item.categories}:
            out.append(ExchangeChange(item_id, ChangeType.UNSHARED, kind=kind, change_key=item.change_key))
        else:
            out.append(_exchange_change(item, kind, time_zone, shared.get(item_id), modified))
    return out


def salesforce_changes_for(
    connector: SalesforceOrg,
    records: Sequence[tuple[str, str]],
    *,
    policies: PolicySet,
    links: Sequence[LinkState],
    time_zone: str,
) -> list[SalesforceChange]:
    """Change records for (record id, kind) pairs read directly (one read per object kind); a record that no
    longer exists is ``not_found`` (a confirmed deletion)."""
    by_id = {link.salesforce_id: link for link in links if link.salesforce_id}
    out: list[SalesforceChange] = []
    for kind in sorted({k for _, k in records}):
        policy = policies.for_kind(kind)
        if policy.direction is Direction.OFF or (is_custom_kind(kind) and policy.custom is None):
            continue
        sobject = salesforce_object(policy)
        ids = [i for i, k in records if k == kind]
        present = [row for row in connector.get_records(sobject, ids, salesforce_fields(policy)) if row]
        out += _salesforce_changes(connector, policy, sobject, present, by_id, time_zone)
        found = {row["Id"] for row in present}
        out += [
            SalesforceChange(i, ChangeType.NOT_FOUND, kind=kind, salesforce_object=sobject)
            for i in ids
            if i not in found
        ]
    return out
