"""Settings saved in the panel are what the worker's session job uses: intervals and the API budget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync import jobs, mailboxes, settings_store
from sync.models import Mailbox
from sync.runtime import Runtime
from tests.e2e.actors import at


@pytest.fixture
def job_context(redis_db, sandbox_settings) -> Iterator[jobs.WorkerContext]:
    context = Runtime.build(sandbox_settings, redis=redis_db).worker_context()
    jobs.install(context)
    yield context
    jobs.install(None)


def _mailbox(context, world) -> int:
    with context.db()() as db:
        mailbox = mailboxes.add(db, world.rep.email, world.rep.salesforce_user_id)
        db.commit()
        return mailbox.id


def test_the_session_job_follows_the_intervals_set_in_the_panel(job_context, world):
    mailbox_id = _mailbox(job_context, world)
    with job_context.db()() as db:
        settings_store.save(db, settings_store.OrgSettings(intervals=(7, 21)))
        db.commit()
    world.salesforce().create_event(Subject="Kick-off", StartDateTime=at(1, 10), EndDateTime=at(1, 11))
    assert jobs.sync_mailbox(mailbox_id)["writes"] == 1
    with job_context.db()() as db:
        assert db.get(Mailbox, mailbox_id).sync_interval_minutes == 7  # a change: the first step
    jobs.sync_mailbox(mailbox_id)
    with job_context.db()() as db:
        assert db.get(Mailbox, mailbox_id).sync_interval_minutes == 21  # quiet: one step longer


def test_the_session_job_stops_at_the_api_budget_set_in_the_panel(job_context, world, redis_db):
    mailbox_id = _mailbox(job_context, world)
    assert jobs.sync_mailbox(mailbox_id)["status"] == "ok"  # records the org's usage (a few requests)
    with job_context.db()() as db:
        settings_store.save(db, settings_store.OrgSettings(budget_max_requests=1))
        db.commit()
    outcome = jobs.sync_mailbox(mailbox_id)
    assert outcome["status"] == "skipped" and "guard: 1 requests" in outcome["reason"]
    with job_context.db()() as db:
        assert db.get(Mailbox, mailbox_id).backoff_until is not None
