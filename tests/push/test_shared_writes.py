"""Batched Salesforce writes across mailboxes (`sync.push.batching`): the sessions of several mailboxes, run
together as a group job runs them (`run_group`, each its own `run_session`, connectors and database session),
share one sObject Collections call; each gets its own per-record results. Real sandboxes over HTTP
(simple-salesforce, exchangelib), a real database; the worker-process path is in test_push_processes.py.
"""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox.seed import REPS
from sync.push.batching import run_group
from sync.session import run_session
from tests.e2e.actors import at

WRITES = ("collection_create", "collection_update", "collection_delete", "collection_upsert")


@pytest.fixture
def reps(engine, world) -> list[str]:
    """The four sandbox reps' mailboxes, each synced once (nothing to write yet)."""
    emails = [rep.email for rep in REPS]
    for email in emails[1:]:
        engine.add_mailbox(email)
    for email in emails:
        assert run_session(engine.factory, email, **engine.connectors(email)).status == "ok"
    return emails


def _writes(world, before: Counter) -> dict[str, int]:
    return {k: v for k, v in (world.salesforce_requests() - before).items() if k in WRITES}


def _group(engine, emails, *, checkpoints=None):
    """The sessions of ``emails`` as `sync.jobs.sync_group` runs them; their results and the writer's figures."""
    checkpoints = checkpoints or {}

    def one(email):
        def run(writer):
            connectors = engine.connectors(email)
            client = writer.client(connectors["salesforce"])
            result = run_session(engine.factory, email, salesforce=client, exchange=connectors["exchange"],
                                 checkpoint=checkpoints.get(email))  # fmt: skip
            connectors["exchange"].close()
            return result, client

        return run

    outcomes, stats = run_group([one(e) for e in emails], wait_seconds=5.0)
    for outcome in outcomes:
        assert not isinstance(outcome, BaseException), outcome
    return outcomes, stats


def test_four_mailboxes_edited_together_make_one_collections_call(engine, world, reps):
    for n, email in enumerate(reps):
        world.outlook(email).create(f"Batched {n}", at(2, 9 + n), at(2, 10 + n))
    before = world.salesforce_requests()
    outcomes, stats = _group(engine, reps)
    # Four mailboxes' creates, one upsert call (sync-key external id) for all of them.
    assert _writes(world, before) == {"collection_upsert": 1}
    assert stats.calls == 1 and stats.callers == 4 and stats.records == 4
    for n, (result, _client) in enumerate(outcomes):
        assert result.status == "ok" and result.writes >= 1, result.to_json()
        event = world.salesforce(reps[n]).find_event(f"Batched {n}")
        assert event is not None and event["OwnerId"] == REPS[n].salesforce_user_id
    # Counted once: the session whose connector made the call carries it, the other three show it as shared.
    clients = [client for _result, client in outcomes]
    assert sorted(c.usage.by_resource.get("composite", 0) for c in clients) == [0, 0, 0, 1]
    assert sorted(c.shared for c in clients) == [0, 1, 1, 1]
    # Edits of those events in Outlook: one update call.
    for n, email in enumerate(reps):
        outlook = world.outlook(email)
        outlook.edit(outlook.find(f"Batched {n}")["id"], subject=f"Batched {n} (moved)")
    before = world.salesforce_requests()
    outcomes, stats = _group(engine, reps)
    assert _writes(world, before) == {"collection_update": 1} and stats.callers == 4
    for n, email in enumerate(reps):
        assert world.salesforce(email).find_event(f"Batched {n} (moved)") is not None
    # Nothing left to write anywhere.
    before = world.salesforce_requests()
    for email in reps:
        assert run_session(engine.factory, email, **engine.connectors(email)).writes == 0
    assert _writes(world, before) == {}


def test_a_failing_record_fails_only_its_own_mailbox(engine, world, reps):
    for n, email in enumerate(reps):
        world.outlook(email).create(f"Locked {n}", at(3, 9 + n), at(3, 10 + n))
    world.set_salesforce_faults(fail_next_writes=1)  # the first record of the shared call: UNABLE_TO_LOCK_ROW
    outcomes, stats = _group(engine, reps)
    assert stats.calls == 1 and stats.callers == 4
    statuses = Counter(result.status for result, _client in outcomes)
    assert statuses == {"ok": 3, "partial": 1}, [r.to_json() for r, _c in outcomes]
    failed = next(reps[n] for n, (result, _c) in enumerate(outcomes) if result.status == "partial")
    assert next(r for r, _c in outcomes if r.status == "partial").failed == 1
    for n, email in enumerate(reps):
        found = world.salesforce(email).find_event(f"Locked {n}")
        assert (found is None) == (email == failed)
    # The failed one comes back at its next session, alone.
    assert run_session(engine.factory, failed, **engine.connectors(failed)).status == "ok"
    assert world.salesforce(failed).find_event(f"Locked {reps.index(failed)}") is not None


def test_a_crash_after_the_shared_write_before_the_commit_makes_no_duplicate(engine, world, reps):
    for n, email in enumerate(reps):
        world.outlook(email).create(f"Crash {n}", at(4, 9 + n), at(4, 10 + n))

    def crash(point: str) -> None:
        if point == "salesforce_created":  # the shared upsert has answered; its links are not committed
            raise RuntimeError(f"crashed at {point}")

    victim = reps[2]
    outcomes, stats = _group(engine, reps, checkpoints={victim: crash})
    assert stats.calls == 1 and stats.records == 4
    by_email = {email: result for email, (result, _c) in zip(reps, outcomes, strict=True)}
    assert by_email[victim].status == "failed" and "salesforce_created" in by_email[victim].error
    assert all(r.status == "ok" for e, r in by_email.items() if e != victim)
    # The victim's record is in Salesforce, its link only pending: its next session finds the record by the
    # sync key (the engine's recovery of a create whose answer was never committed) and writes no second one.
    before = world.salesforce_requests()
    assert run_session(engine.factory, victim, **engine.connectors(victim)).status == "ok"
    assert "collection_create" not in _writes(world, before)
    for n, email in enumerate(reps):
        subjects = [e["Subject"] for e in world.salesforce(email).events()]
        assert subjects.count(f"Crash {n}") == 1, subjects
    for email in reps:
        assert run_session(engine.factory, email, **engine.connectors(email)).writes == 0
