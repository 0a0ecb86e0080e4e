"""The add-in's "Sync now" reads the rep's Salesforce user again for the policy-profile rules (issue 19): a role
changed in Salesforce moves the rep at once instead of at the next daily read."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sandbox.salesforce.seed_data import ROLES
from sync import profiles
from sync.mailboxes import find
from sync.models import MailboxProfile, PolicyProfile
from sync.policies import Direction, Policy
from tests.backend.addin_fixtures import *  # noqa: F403
from tests.e2e.actors import at


@pytest.fixture
def auth(token_for, world):
    return {"Authorization": f"Bearer {token_for(world.rep.email)}"}


def test_sync_now_reads_the_role_again(api_client, auth, world, engine, run_worker):
    with engine.factory() as db:
        events = profiles.create(db, "Events team")
        profiles.set_policy(db, events, Policy(kind="event", direction=Direction.DOWNSYNC_ONLY))
        profiles.add_rule(db, "role", "Events Team", events)
        db.commit()
    world.outlook().create("Board prep", at(2, 10), at(2, 11))
    engine.sync()  # reads the rep's user: Field Sales, so the default profile
    world.set_salesforce_user(world.rep.salesforce_user_id, UserRoleId=ROLES[1][0])
    engine.sync()  # the same day: not read again
    with engine.factory() as db:
        assert profiles.effective(db, find(db, world.rep.email)).source == "default"

    response = api_client.post("/api/v1/sync", headers=auth)
    assert response.status_code == 202
    with engine.factory() as db:
        assert db.get(MailboxProfile, find(db, world.rep.email).id).facts_read_at is None
    assert run_worker() == 1
    with engine.factory() as db:
        eff = profiles.effective(db, find(db, world.rep.email))
        name = db.scalars(select(PolicyProfile.name).where(PolicyProfile.id == eff.profile_id)).one()
    assert (name, eff.source) == ("Events team", "rule")
