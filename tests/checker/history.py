"""Histories: lists of plain steps, replayed on a fresh `World` with every invariant checked after every step.

A step is a tuple, readable in a failure and literal in a regression test (``tests/checker/test_regressions.py``):

=====================================  ====================================================================
``("create", side, private)``          the user makes a meeting in Outlook (tagged) or in Salesforce
``("edit", side, m, field, v)``        the user edits meeting ``m`` (an index, taken modulo the meetings):
                                       subject, location, body, time, private, or attendees (Outlook)
``("twin", m, field, v)``              the same edit on both sides (docs/invariants.md #2)
``("delete", side, m)``                the user deletes the meeting's item on that side
``("unshare", m)`` / ``("reshare", m)``  the Salesforce category off / on again in Outlook
``("bad", m)`` / ``("fix", m)``        a location Salesforce cannot hold (300 characters), then a good one
``("policy", setting, value)``         an admin (or a profile switch) changes a policy setting
``("sync", fault)``                    a session; ``fault`` is None, ``("kill", n, after)``, ``("busy", n)``,
                                       or a feed fault (duplicate, reorder, replay, page)
``("lose", what)``                     lost cursors (``cursor``) or a lost database (``database``; with a
                                       third item ``"strict"``, see `World.lose`)
``("order",)``                         #13: the current inputs planned in two orders give one plan
``("converge",)``                      clean sessions until one writes nothing, then the quiescence checks
=====================================  ====================================================================

`run` always ends a history with ``converge``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.checker import invariants
from tests.checker.invariants import InvariantViolation, fail
from tests.checker.world import Database, Meeting, World

Step = tuple[Any, ...]
CONVERGE_SESSIONS = 4  # a revert policy needs two, a kill or a lost cursor one more


def _meeting(world: World, index: int) -> Meeting | None:
    return world.meetings[index % len(world.meetings)] if world.meetings else None


def run(db: Database, steps: Sequence[Step], **settings: Any) -> World:
    """Replay ``steps`` (then ``converge``) on a fresh world; raises `InvariantViolation` on the first failure."""
    world = World.fresh(db, **settings)
    for step in [*steps, ("converge",)]:
        world.log.append(repr(step))
        apply_step(world, step)
        invariants.check_counterparts(world)
    return world


def apply_step(world: World, step: Step) -> None:
    what = step[0]
    if what in ("edit", "delete", "unshare", "reshare", "bad", "fix") and world.meetings:
        m = _meeting(world, step[2] if what in ("edit", "delete") else step[1])
        world.twins.discard(m.token if m else "")  # another change to the pair: its writes are not free
    if what == "create":
        m = world.create(step[1], step[2])
        if not invariants.sendable(world, m):
            m.maybe_unsent = True
    elif what == "edit":
        m = _meeting(world, step[2])
        if m is not None:
            world.edit(m, step[1], step[3], world.value(m, step[1], step[3], step[4]))
            if not invariants.sendable(world, m):
                m.maybe_unsent = True  # made private before its first sync, under a policy that skips those
    elif what == "twin":
        m = _meeting(world, step[1])
        if m is not None and not m.pending and not m.deleted and not m.unshared:
            ids = world.items_of(m)
            if ids["exchange"] and ids["salesforce"]:
                value = world.value(m, "", step[2], step[3])
                world.edit(m, "exchange", step[2], value)
                world.edit(m, "salesforce", step[2], value)
                if not world.policy_switched and m.token not in world.reshared:
                    world.twins.add(m.token)
    elif what == "delete":
        m = _meeting(world, step[2])
        if m is not None:
            world.delete(m, step[1])
    elif what == "unshare":
        m = _meeting(world, step[1])
        if m is not None and not m.unshared and world.set_category(m, shared=False):
            m.unshared = True
    elif what == "reshare":
        m = _meeting(world, step[1])
        if m is not None and m.unshared and world.set_category(m, shared=True):
            m.unshared = False
            world.reshared.add(m.token)
            m.free |= set(m.pending) | set(m.agreed)  # pairs again with whatever each side holds now
            if not world.items_of(m)["salesforce"]:
                m.reshared_after_loss = True
    elif what == "bad":
        m = _meeting(world, step[1])
        if m is not None and not m.bad:
            world.set_bad(m, True)
    elif what == "fix":
        m = _meeting(world, step[1])
        if m is not None and m.bad:
            world.set_bad(m, False)
    elif what == "policy":
        world.set_policy(step[1], step[2])
        world.policy_switched, world.twins = True, set()
        for m in world.meetings:
            m.free |= set(m.pending)  # edits made under another policy: the model no longer says which wins
            if not invariants.sendable(world, m):
                m.maybe_unsent = True
    elif what == "sync":
        session(world, step[1])
    elif what == "lose":
        world.lose(step[1], strict=step[2:] == ("strict",))
    elif what == "order":
        invariants.check_order(world)
    elif what == "converge":
        converge(world)
    else:
        raise ValueError(f"unknown step {step!r}")


def session(world: World, fault: Any = None) -> Any:
    faults: dict[str, Any] = {}
    if isinstance(fault, tuple) and fault[0] == "kill":
        faults = {"kill_at": fault[1], "kill_after": fault[2]}
    elif isinstance(fault, tuple) and fault[0] == "busy":
        faults = {"busy_at": fault[1]}
    elif isinstance(fault, str):
        faults = {"feed": fault}
    links_before = world.live_links()
    twins, world.twins = world.twins, set()
    result, writes = world.session(**faults)
    if result is not None and result.status == "failed" and not fault:
        fail(11, "per-item isolation", f"a clean session failed: {result.error}", world)
    world.log.append(f"  -> {_summary(result, writes)}")
    invariants.check_session(world, result, writes, links_before, twins)
    return result


def _summary(result: Any, writes: list) -> str:
    if result is None:
        return f"killed after {len(writes)} writes"
    return f"{result.status} writes={result.writes} {result.error or ''}".strip()


def converge(world: World) -> None:
    """Clean sessions until one writes nothing (#9, #10), then the quiescence checks."""
    for _ in range(CONVERGE_SESSIONS):
        result = session(world)
        if result.status != "ok" and "mass-deletion guard" in (result.error or ""):
            return  # the guard holds the plan by design: an admin must look (#5 was checked)
        if result.status == "ok" and result.writes == 0:
            break
    else:
        fail(9, "no echo", f"no quiet session after {CONVERGE_SESSIONS}: the last wrote {result.writes} "
             f"({result.status} {result.error})", world)  # fmt: skip
    invariants.check_converged(world)


__all__ = ["InvariantViolation", "Step", "run"]
