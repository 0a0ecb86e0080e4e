"""The numbered invariants of docs/invariants.md, checked on a `World` after every step of a history.

Every failure is an `InvariantViolation` whose message starts with the invariant's number (``#6 at most one
counterpart: ...``), then the history so far, so a shrunk Hypothesis example reads as a bug report.

What is checked, and when:

- after every step: #6 (at most one live item per side per meeting, and no item that belongs to no meeting);
- after every session: #3 (an item that went does not come back, unless a one-way policy re-creates it or the
  user shared it again), #4 (an item disappears only when the user deleted it or its counterpart, under a
  deleting policy, or unshared it under ``delete_salesforce``, or switched the kind off), #5 (no session deletes
  more than the guard allows; a session the guard stopped writes nothing), #8 (a side the direction makes
  read-only gets no write), #1/#2 (a field both sides now agree on has the value the model expects: the edited
  side's, the conflict winner's, or the old one where a one-way policy reverts), #2 (an edit made identically on
  both sides costs no write for that pair);
- at ``converge`` (clean sessions until one writes nothing): #10 (every live, shared, syncable pair equal on the
  fields that flow both ways under the policy), #1 (every pending edit folded; every meeting the policy always
  sent across has its counterpart), #9 (within three sessions, a session writes nothing), #11 (a bad item has an
  open health entry and the others converged; fixed, it converges), #7/#12 (converging after a kill or lost
  state needs no more than a clean history would: the same checks);
- #13 (order independence) by the feed faults (reversed, duplicated, paged, replayed feeds) under the same
  checks, and by `check_order`: the same inputs planned in reverse order give the same plan.
"""

from __future__ import annotations

from typing import Any

from sync import preview
from sync.mapping.exchange import SYNC_KEY_ATTR
from sync.mapping.salesforce import SYNC_KEY_FIELD
from sync.planner.model import canonical_order
from sync.store import as_store
from tests.checker.world import BAD_LOCATION, SIDES, Meeting, World

SYMMETRIC = ("subject", "when", "location", "is_private", "show_as")


class InvariantViolation(AssertionError):
    """An invariant of docs/invariants.md does not hold; the message names its number."""


def fail(number: int, name: str, detail: str, world: World) -> None:
    history = "\n  ".join(world.log[-40:])
    raise InvariantViolation(f"#{number} {name}: {detail}\nhistory:\n  {history}")


def other(side: str) -> str:
    return "salesforce" if side == "exchange" else "exchange"


# -- after every step ---------------------------------------------------------------------------------------
def check_counterparts(world: World) -> None:
    """#6: at most one counterpart per item; every item belongs to a meeting the user made."""
    keys = {m.key for m in world.meetings}
    origins = {m.origin_id for m in world.meetings}
    sides = world.sides()
    for m in world.meetings:
        for side, ids in world.items_of(m, sides).items():
            if len(ids) > 1:
                fail(6, "at most one counterpart per item", f"{m.token} has {len(ids)} items in {side}: {ids}", world)
    for item_id, fields in sides[0].items():
        if item_id not in origins and fields.get(SYNC_KEY_ATTR) not in keys:
            fail(6, "at most one counterpart per item", f"Outlook item {item_id} {fields.get('subject')!r} "
                 f"belongs to no meeting (key {fields.get(SYNC_KEY_ATTR)})", world)  # fmt: skip
    for record_id, record in sides[1].items():
        if record_id not in origins and record.get(SYNC_KEY_FIELD) not in keys:
            fail(6, "at most one counterpart per item", f"Salesforce Event {record_id} {record.get('Subject')!r} "
                 f"belongs to no meeting", world)  # fmt: skip


# -- after every session ------------------------------------------------------------------------------------
def check_session(world: World, result: Any, writes: list, links_before: int, twin_pairs: set[str]) -> None:
    policy = world.policies.for_kind("event")
    direction = str(policy.direction)
    event_writes = [(side, op, ids) for side, op, ids in writes]
    # #8 policy respect
    for side, op, ids in event_writes:
        if direction == "downsync_only" and side == "salesforce":
            fail(8, "policy respect", f"downsync_only, yet Salesforce got {op} {ids}", world)
        if direction == "upsync_only" and side == "exchange" and op in ("update", "delete"):
            fail(8, "policy respect", f"upsync_only, yet Outlook got {op} {ids}", world)
        if direction == "off" and not (side == "exchange" and op == "delete"):
            fail(8, "policy respect", f"the kind is off, yet {side} got {op} {ids}", world)
    # #5 mass-deletion guard
    deletions = sum(len(ids) for side, op, ids in event_writes if op == "delete" and direction != "off")
    threshold = world.policies.guard.threshold(links_before)
    if deletions > threshold:
        fail(5, "mass-deletion guard", f"{deletions} deletions of {links_before} links (threshold {threshold:g})",
             world)  # fmt: skip
    if result is not None and "mass-deletion guard" in (result.error or "") and event_writes:
        fail(5, "mass-deletion guard", f"the guard tripped, yet the session wrote {event_writes}", world)
    # #2 an edit made identically on both sides costs nothing
    if twin_pairs:
        touched = {i for _, _, ids in event_writes for i in ids}
        for m in world.meetings:
            if m.token in twin_pairs and touched & (m.seen["exchange"] | m.seen["salesforce"]):
                fail(2, "equal changes cost nothing", f"{m.token} was written after the same edit on both sides",
                     world)  # fmt: skip
    check_deletions(world)
    # A killed or failed session may have stopped before committing the new bases: what both sides agree on is
    # not known to be the engine's base, so a later edit on one side may meet the other's as a conflict.
    settle(world, based=result is not None and result.status != "failed")


def check_deletions(world: World) -> None:
    """#3 no resurrection and #4 no deletion from absence, item by item."""
    ever = world.ever
    sides = world.sides()
    for m in world.meetings:
        now = world.items_of(m, sides)
        for side in SIDES:
            live = set(now[side])
            vanished = m.seen[side] - live
            fresh = live - m.seen[side]
            for item_id in sorted(vanished):
                if item_id in m.user_deleted:
                    continue
                if not _deletion_explained(world, m, side, item_id):
                    fail(4, "no deletion from absence", f"{m.token}'s {side} item {item_id} went, though the user "
                         f"deleted {sorted(m.deleted) or 'nothing'} (unshared: {m.unshared}; policies ever: "
                         f"{_ever_text(ever)})", world)  # fmt: skip
            if fresh and m.seen[side] and side in m.deleted and not m.lost_tombstone:
                revert = {"exchange": "downsync_only", "salesforce": "upsync_only"}[side]
                if revert not in ever["direction"] and not (side == "salesforce" and m.reshared_after_loss):
                    fail(3, "no resurrection", f"{m.token} came back in {side} ({sorted(fresh)}) after the user "
                         f"deleted it there", world)  # fmt: skip
            m.seen[side] |= live
            if fresh and not (m.origin == side and m.origin_id in fresh):
                m.made_by_sync[side] |= fresh


def _deletion_explained(world: World, m: Meeting, side: str, item_id: str) -> bool:
    ever = world.ever
    if side == "exchange":
        by_sync = item_id in m.made_by_sync["exchange"]
        if by_sync and "off" in ever["direction"]:
            return True
        if "salesforce" in m.deleted or m.unshared:
            return "delete" in ever["salesforce_deletion"] or (
                by_sync and "delete_salesforce_created" in ever["salesforce_deletion"]
            )
        return False
    if "exchange" in m.deleted:
        return "delete" in ever["exchange_deletion"]
    return m.unshared and "delete_salesforce" in ever["on_unshare"]


def _ever_text(ever: dict[str, set[Any]]) -> str:
    return "; ".join(f"{k}={sorted(map(str, v))}" for k, v in sorted(ever.items()) if len(v) > 1 or k != "guard")


def expected(world: World, m: Meeting, name: str) -> tuple[bool, Any]:
    """(known, value): the value a pending edit of ``name`` must end at, if the model can tell."""
    edits = m.pending.get(name, {})
    s = world.settings
    if not edits or name in m.free or m.bad:
        return False, None
    if s["private_items"] != "full" and (m.agreed.get("is_private") or any(m.pending.get("is_private", {}).values())):
        return False, None
    if name in ("is_private", "attendees") or (name == "body" and s["description"] != "two_way"):
        return False, None
    direction = s["direction"]
    if direction == "downsync_only":
        return True, edits.get("salesforce", m.agreed.get(name))
    if direction == "upsync_only":
        return True, edits.get("exchange", m.agreed.get(name))
    if direction == "off":
        return False, None
    if len(edits) == 1:
        return True, next(iter(edits.values()))
    if s["conflict_winner"] == "latest":
        return False, None
    return True, edits[s["conflict_winner"]]


def settle(world: World, *, based: bool = True) -> None:
    """Fold the edits both sides now agree on into the model, checking the agreed value (#1, #2). ``based``:
    the session that made them agree committed its bases; when not, which value a later edit meets as the base
    is unknown, so the field stays free until a session confirms it."""
    sides = world.sides()
    for m in world.meetings:
        if m.unshared or m.deleted or m.bad:
            continue
        ids = world.items_of(m, sides)
        if not (ids["exchange"] and ids["salesforce"]):
            continue
        ex = world.ex_projection(sides[0][ids["exchange"][0]])
        sf = world.sf_projection(sides[1][ids["salesforce"][0]])
        if ex is None or sf is None:
            continue
        for name in list(m.pending):
            if ex.get(name) != sf.get(name):
                continue
            known, value = expected(world, m, name)
            if known and ex[name] != value:
                fail(1, "no lost update", f"{m.token}.{name} = {ex[name]!r} on both sides, expected {value!r} "
                     f"(edits {m.pending[name]}, policy {world.settings})", world)  # fmt: skip
            m.agreed[name] = ex[name]
            del m.pending[name]
            if based:
                m.free.discard(name)
            else:
                m.free.add(name)


# -- at quiescence ------------------------------------------------------------------------------------------
def sendable(world: World, m: Meeting) -> bool:
    """Whether the current policy sends this meeting across (for the create half of #1)."""
    s = world.settings
    if s["direction"] == "off":
        return False
    if m.origin == "exchange":
        private = bool(m.agreed.get("is_private"))
        return s["direction"] in ("two_way", "upsync_only") and not (private and s["private_items"] == "skip")
    return True


def check_converged(world: World) -> None:
    """#10 convergence and #1 no lost update, after a quiet session (#11: bad items aside, health open)."""
    s = world.settings
    if s["direction"] == "off":
        return
    sides = world.sides()
    open_refs = {ref for _, ref in world.open_health()}
    for m in world.meetings:
        ids = world.items_of(m, sides)
        goes_up = s["direction"] in ("two_way", "upsync_only") and s["private_items"] == "full"
        if m.bad and m.bad_contested and ids["exchange"]:
            m.bad = sides[0][ids["exchange"][0]].get("location") == BAD_LOCATION
        if m.bad:
            if m.unshared or m.deleted or not goes_up:
                continue
            mine = [*ids["exchange"], *ids["salesforce"], m.key]
            if ids["exchange"] and ids["salesforce"] and not any(i in ref for i in mine for ref in open_refs):
                fail(11, "per-item isolation", f"{m.token} cannot sync (location of 300 characters) but no health "
                     f"entry is open: {sorted(open_refs)}", world)  # fmt: skip
            continue
        if m.unshared or m.deleted:
            continue
        ex_ids, sf_ids = ids["exchange"], ids["salesforce"]
        if not ex_ids or not sf_ids:
            if not m.maybe_unsent and (ex_ids or sf_ids):
                fail(1, "no lost update", f"{m.token} (made in {m.origin}) never reached the other side", world)
            continue
        ex, sf = world.ex_projection(sides[0][ex_ids[0]]), world.sf_projection(sides[1][sf_ids[0]])
        if ex is None or sf is None:
            continue
        if s["private_items"] != "full" and (ex["is_private"] or sf["is_private"]):
            continue  # masked or skipped: the sides differ by design
        fields = SYMMETRIC + (("body",) if s["description"] == "two_way" else ())
        differ = {f: (ex[f], sf[f]) for f in fields if ex[f] != sf[f]}
        if differ:
            fail(10, "convergence", f"{m.token} differs after converging: {differ}", world)
        for name in list(m.pending):
            if name in fields or name in ("body", "is_private", "attendees"):
                m.agreed[name] = ex[name]
                m.pending.pop(name)
                m.free.discard(name)


def check_order(world: World) -> None:
    """#13: the session's inputs planned as read and in reverse order give the same plan (reads only)."""
    with world.db.factory() as opened:
        store = as_store(opened)
        mailbox = store.mailbox("rep@example.com")
        assert mailbox is not None
        inputs = preview.read_inputs(store, mailbox, world.org, world.calendar, world.policies, world.now)
        store.rollback()
    forward = preview.plan_inputs(inputs, world.now)
    inputs.exchange_feed.changes = list(reversed(inputs.exchange_feed.changes))
    inputs.salesforce_feed.changes = list(reversed(inputs.salesforce_feed.changes))
    inputs.links = list(reversed(inputs.links))
    backward = preview.plan_inputs(inputs, world.now)
    if sorted(forward.actions, key=canonical_order) != sorted(backward.actions, key=canonical_order):
        fail(13, "order independence", "the same feeds in reverse order give another plan", world)
