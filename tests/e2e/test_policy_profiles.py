"""Policy profiles and previews (issue 19) through the real engine, clients and sandboxes.

- a mailbox gets a profile explicitly or by a rule on its rep's Salesforce user (a role change moves the rep
  at the next daily read, or at "sync now");
- two reps on different profiles share one meeting: one Event, each rep's side follows its own profile;
- a preview's numbers are what the next real session does, item by item, for a switch to ``off``, to
  ``downsync_only`` and to ``salesforce_deletion=delete``;
- a dry run writes nothing anywhere (both sandboxes' logs show reads only, the database is unchanged) and the
  next session's result is the same as without it.
"""

from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner
from sqlalchemy import select

from calsync.cli import main
from sandbox.salesforce.seed_data import ROLES
from sandbox.seed import REPS
from sync import preview, preview_jobs, profile_rules, profiles
from sync.mailboxes import find
from sync.models import AuditEntry, HealthEntry, Link, Mailbox, MailboxProfile, ProfileRule, SyncSession, utcnow
from sync.policies import Direction, Policy, SalesforceDeletion
from tests.e2e.actors import at
from tests.e2e.engine import Engine

ALICE, BOB = REPS[0], REPS[1]
EVENTS_TEAM = ROLES[1][0]
SIDED = ("created", "updated", "deleted", "reverted")


def _profile(engine: Engine, name: str, **event_settings) -> int:
    with engine.factory() as db:
        row = profiles.create(db, name)
        if event_settings:
            profiles.set_policy(db, row, Policy(kind="event", **event_settings))
        db.commit()
        return row.id


def _preview(engine: Engine, change: preview_jobs.Change | None = None) -> preview.MailboxPreview:
    """What the panel's preview job computes for the engine's mailbox: the proposed policies, read and planned."""
    with engine.factory() as db:
        mailbox = find(db, engine.email)
        if change is None:
            policies, name = profiles.policies_for(db, mailbox)[0], None
        else:
            policies, name = preview_jobs.proposed_policies(db, mailbox, change)
        connectors = engine.connectors()
        return preview.preview_mailbox(db, mailbox, connectors["salesforce"], connectors["exchange"], policies,
                                       utcnow(), profile=name)  # fmt: skip


def _assert_same(planned: preview.MailboxPreview, result) -> None:
    """The session did what the preview said: the same counts per action and side."""
    for name in SIDED:
        assert planned.counts[name] == getattr(result, name), (name, planned.to_json(), result.to_json())


def _link_states(engine: Engine) -> dict[str, str]:
    with engine.factory() as db:
        return {link.sync_key: link.state for link in db.scalars(select(Link))}


def _synced_pair(engine, world) -> tuple[str, str, str]:
    """An Outlook-created item synced up and a Salesforce-created Event synced down; returns (Outlook item id,
    id of the item sync created from Salesforce, the Event's id)."""
    outlook, sf = world.outlook(), world.salesforce()
    mine = outlook.create("Own meeting", at(2, 10), at(2, 11))
    event_id = sf.create_event(Subject="From Salesforce", StartDateTime=at(3, 9), EndDateTime=at(3, 10))
    engine.converge()
    made = outlook.find("From Salesforce")
    assert made is not None
    return mine, made["id"], event_id


# -- profiles -----------------------------------------------------------------------------------------------
def test_explicit_profile_off_previews_and_removes_only_what_sync_created(engine, world, sandbox_info_file):
    mine, made, event_id = _synced_pair(engine, world)
    off = _profile(engine, "No events", direction=Direction.OFF)
    with engine.factory() as db:
        mailbox_id = find(db, engine.email).id
    change = preview_jobs.Change("assign", off, mailbox_ids=(mailbox_id,))
    planned = _preview(engine, change)
    assert planned.profile == "No events"
    assert planned.counts["deleted"] == {"salesforce": 0, "exchange": 1}
    assert planned.counts["unlinked"] == 2
    assert [(i.action, i.side, i.item_id) for i in planned.items if i.action == "deleted"] == [
        ("deleted", "exchange", engine.item_id(made))
    ]
    unlinked = {i.sync_key for i in planned.items if i.action == "unlinked"}

    runner = CliRunner()
    env = {"CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": engine.settings.database_url}
    assigned = runner.invoke(main, ["mailboxes", "set-profile", engine.email, "No events"], env=env)
    assert assigned.exit_code == 0, assigned.output
    assert "No events (assigned explicitly" in assigned.output
    result = engine.sync()
    _assert_same(planned, result)
    states = _link_states(engine)
    assert {key for key, state in states.items() if state == "unlinked"} == unlinked
    outlook, sf = world.outlook(), world.salesforce()
    assert outlook.get(made) is None  # sync made it: removed
    assert outlook.get(mine) is not None and sf.get("Event", event_id) is not None  # the rest stays
    with engine.factory() as db:
        eff = profiles.effective(db, find(db, engine.email))
        audit = db.scalars(select(AuditEntry)).all()
    assert (eff.name, eff.source) == ("No events", "explicit")
    entry = next(a for a in audit if a.action == "mailbox.set_profile")
    assert entry.before["name"] == "Default" and entry.after["name"] == "No events"
    assert engine.sync().writes == 0


def test_a_role_change_in_salesforce_moves_the_rep_at_the_next_daily_read(engine, world):
    world.outlook().create("Board prep", at(2, 10), at(2, 11))
    events = _profile(engine, "Events team", direction=Direction.DOWNSYNC_ONLY)
    with engine.factory() as db:
        profiles.add_rule(db, "role", "events team", db.get(profiles.PolicyProfile, events))
        db.commit()
    now = utcnow()
    first = engine.sync(now=now)
    assert first.created["salesforce"] == 1  # Field Sales: the default, two-way
    with engine.factory() as db:
        mailbox = find(db, engine.email)
        assert profiles.effective(db, mailbox).source == "default"
        assert db.get(MailboxProfile, mailbox.id).user_facts["role"] == "Field Sales"
    requests_before = world.salesforce_requests()

    world.set_salesforce_user(ALICE.salesforce_user_id, UserRoleId=EVENTS_TEAM)
    engine.sync(now=now + dt.timedelta(hours=2))  # same day: the role is not read again
    read = world.salesforce_requests() - requests_before
    with engine.factory() as db:
        assert profiles.effective(db, find(db, engine.email)).source == "default"
    assert read  # the session's own reads

    engine.sync(now=now + dt.timedelta(hours=25))  # the next daily read
    with engine.factory() as db:
        eff = profiles.effective(db, find(db, engine.email))
    assert (eff.name, eff.source, eff.reason) == ("Events team", "rule", "rule 1: role is 'events team'")
    # The new profile is a policy change for this mailbox only: an Outlook edit is now reverted from Salesforce.
    item = world.outlook().find("Board prep")
    world.outlook().edit(item["id"], subject="Board prep (Outlook edit)")
    result = engine.sync(now=now + dt.timedelta(hours=26))
    assert result.reverted["exchange"] == 1
    assert world.outlook().get(item["id"])["subject"] == "Board prep"

    # Back to Field Sales, and "sync now" reads the role again at once.
    world.set_salesforce_user(ALICE.salesforce_user_id, UserRoleId=ROLES[0][0])
    with engine.factory() as db:
        profiles.mark_stale(db, find(db, engine.email))
        db.commit()
    engine.sync(now=now + dt.timedelta(hours=27))
    with engine.factory() as db:
        assert profiles.effective(db, find(db, engine.email)).source == "default"


def test_two_reps_on_different_profiles_share_one_meeting(engine, world, sandbox_settings):
    """One meeting, one Event owned by the organiser's rep: the Event follows the owner's profile; another
    rep's profile decides only what that rep's own side does (docs/policies.md#profiles, conflicts)."""
    bob_engine = Engine(sandbox_settings, world, BOB.email)
    downsync = _profile(engine, "Publish only", direction=Direction.DOWNSYNC_ONLY)
    with engine.factory() as db:
        profiles.assign(db, find(db, BOB.email), db.get(profiles.PolicyProfile, downsync), actor="test")
        db.commit()
    meeting = world.outlook().create("Joint pitch", at(5, 14), at(5, 15), attendees=[BOB.email])
    engine.sync()
    bob_copy = world.deliver_meeting(meeting, BOB.email)
    world.outlook(BOB.email).add_category(bob_copy, "Salesforce")
    bob_first = bob_engine.sync()
    events = [e for e in world.salesforce_records("Event") if e["Subject"] == "Joint pitch" and not e["IsDeleted"]]
    # The Event, and its invitees, follow the owner's (Alice's, two-way) profile: Bob is invited as an attendee.
    assert len(events) == 1 and events[0]["OwnerId"] == ALICE.salesforce_user_id
    relations = world.salesforce().relations(events[0]["Id"])
    assert BOB.salesforce_user_id in {r["RelationId"] for r in relations}
    # Bob's own side follows his profile: nothing of his goes up (no second Event, no link), a note says why.
    assert bob_first.created["salesforce"] == 0 and bob_first.writes == 0
    assert "not_sent_up" in {h.code for h in bob_engine.health()}
    with engine.factory() as db:
        bob_id = find(db, BOB.email).id
        assert not db.scalars(select(Link).where(Link.mailbox_id == bob_id)).all()
    # Alice edits the meeting: her profile takes it to the Event; Bob's session still writes nothing.
    world.outlook().edit(meeting, location="Globex HQ")
    assert engine.sync().updated["salesforce"] == 1
    assert bob_engine.sync().writes == 0

    # Bob back on the default (two-way): his next session joins the same Event instead of making a second.
    with engine.factory() as db:
        profiles.assign(db, find(db, BOB.email), None, actor="test")
        db.commit()
    world.outlook(BOB.email).edit(bob_copy, categories=["Salesforce"])  # his copy changes again: read again
    joined = bob_engine.sync()
    assert joined.created["salesforce"] == 0
    events = [e for e in world.salesforce_records("Event") if e["Subject"] == "Joint pitch" and not e["IsDeleted"]]
    assert len(events) == 1 and events[0]["Location"] == "Globex HQ"
    with engine.factory() as db:
        (link,) = db.scalars(select(Link).where(Link.mailbox_id == bob_id)).all()
    assert link.joined_event and link.salesforce_id == events[0]["Id"]
    world.assert_no_meeting_messages()


# -- previews equal the next session --------------------------------------------------------------------
def test_preview_of_downsync_only_is_what_the_next_session_does(engine, world):
    mine, made, _ = _synced_pair(engine, world)
    outlook = world.outlook()
    outlook.edit(mine, subject="Own meeting (edited in Outlook)")
    outlook.create("New in Outlook", at(4, 10), at(4, 11))
    with engine.factory() as db:
        default = profiles.default_profile(db).id
    policy = Policy(kind="event", direction=Direction.DOWNSYNC_ONLY)
    change = preview_jobs.Change("policy", default, policy=policy.to_dict())
    planned = _preview(engine, change)
    assert planned.counts["reverted"] == {"salesforce": 0, "exchange": 1}
    assert [i.item_id for i in planned.items if i.action == "reverted"] == [engine.item_id(mine)]
    assert "not_sent_up" in {h["code"] for h in planned.health}
    engine.set_policy(direction="downsync_only")
    result = engine.sync()
    _assert_same(planned, result)
    assert outlook.get(mine)["subject"] == "Own meeting"
    assert world.salesforce().find_event("New in Outlook") is None


def test_preview_of_salesforce_deletion_delete_is_what_the_next_session_does(engine, world):
    mine, made, event_id = _synced_pair(engine, world)
    up = world.salesforce().find_event("Own meeting")
    world.salesforce().delete("Event", up["Id"])
    world.salesforce().delete("Event", event_id)
    with engine.factory() as db:
        default = profiles.default_profile(db).id
    today = _preview(engine)  # keep (the Event default): both items lose the category and are unlinked
    policy = Policy(kind="event", salesforce_deletion=SalesforceDeletion.DELETE)
    planned = _preview(engine, preview_jobs.Change("policy", default, policy=policy.to_dict()))
    assert today.counts["deleted"]["exchange"] == 0 and today.counts["untagged"] == 2
    assert planned.counts["deleted"] == {"salesforce": 0, "exchange": 2}
    assert sorted(i.item_id for i in planned.items if i.action == "deleted") == sorted(
        map(engine.item_id, [mine, made])
    )
    engine.set_policy(salesforce_deletion="delete")
    result = engine.sync()
    _assert_same(planned, result)
    assert world.outlook().get(mine) is None and world.outlook().get(made) is None


def test_the_guard_a_preview_shows(engine, world):
    outlook = world.outlook()
    ids = [outlook.create(f"Meeting {n}", at(2, 8 + n), at(2, 8 + n, 30)) for n in range(7)]
    engine.converge()
    for event in world.salesforce().events():
        world.salesforce().delete("Event", event["Id"])
    policy = Policy(kind="event", salesforce_deletion=SalesforceDeletion.DELETE)
    with engine.factory() as db:
        default = profiles.default_profile(db).id
    planned = _preview(engine, preview_jobs.Change("policy", default, policy=policy.to_dict()))
    assert planned.guard["tripped"] and planned.counts["deleted"]["exchange"] == 0
    assert "mass_deletion_guard" in {h["code"] for h in planned.health}
    assert sorted(i.item_id for i in planned.stopped if i.action == "deleted") == sorted(map(engine.item_id, ids))
    engine.set_policy(salesforce_deletion="delete")
    result = engine.sync()
    assert result.status == "partial" and "mass-deletion guard" in (result.error or "")
    assert all(outlook.get(i) is not None for i in ids)


# -- a dry run writes nothing -------------------------------------------------------------------------
def _db_snapshot(engine: Engine) -> dict:
    with engine.factory() as db:
        mailbox = db.scalars(select(Mailbox).where(Mailbox.email == engine.email)).one()
        return {
            "links": sorted((lk.sync_key, lk.state, lk.exchange_change_key, str(lk.salesforce_modstamp),
                             json.dumps(lk.exchange_base, sort_keys=True)) for lk in db.scalars(select(Link))),
            "cursor": mailbox.exchange_sync_state, "watermarks": mailbox.salesforce_watermarks,
            "user": mailbox.salesforce_user_id, "categories": mailbox.category_state,
            "health": sorted((h.item_ref, h.code, h.status, h.attempts) for h in db.scalars(select(HealthEntry))),
            "sessions": len(db.scalars(select(SyncSession)).all()),
        }  # fmt: skip


def test_a_dry_run_writes_nothing_and_leaves_the_next_session_unchanged(engine, world, sandbox_info_file):
    mine, made, event_id = _synced_pair(engine, world)
    outlook, sf = world.outlook(), world.salesforce()
    outlook.edit(mine, location="Room 9")
    sf.update("Event", event_id, Subject="From Salesforce (renamed)")
    outlook.create("Another one", at(6, 10), at(6, 11))
    before_db = _db_snapshot(engine)
    writes_before = world.salesforce_stats()["writes"]
    calls_before = len(world.exchange_log()["calls"])

    env = {"CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": engine.settings.database_url}
    shown = CliRunner().invoke(main, ["sync", engine.email, "--dry-run", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    plan = json.loads(shown.output)
    text = CliRunner().invoke(main, ["sync", engine.email, "--dry-run"], env=env)
    assert text.exit_code == 0 and "dry run (nothing written)" in text.output

    assert world.salesforce_stats()["writes"] == writes_before  # Salesforce: reads only
    assert len(world.exchange_log()["calls"]) == calls_before  # Exchange: no CreateItem/UpdateItem/DeleteItem
    assert _db_snapshot(engine) == before_db  # no link, cursor, watermark, health or session row changed
    assert plan["counts"]["created"] == {"salesforce": 1, "exchange": 0}
    assert plan["counts"]["updated"] == {"salesforce": 1, "exchange": 1}
    assert plan["api_calls"]["salesforce"] >= 1 and plan["api_calls"]["exchange"] >= 1

    result = engine.sync()
    for name in SIDED:
        assert plan["counts"][name] == getattr(result, name), name
    assert outlook.get(made)["subject"] == "From Salesforce (renamed)"
    assert sf.find_event("Another one") is not None
    assert engine.sync().writes == 0


def test_dry_run_of_an_unknown_mailbox_is_a_clear_error(world, sandbox_info_file, database_url):
    env = {"CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": database_url}
    result = CliRunner().invoke(main, ["sync", "nobody@calsync.example", "--dry-run"], env=env)
    assert result.exit_code == 1 and "is not a synced mailbox" in result.output and "Traceback" not in result.output


def test_a_rule_on_a_field_the_org_lacks_stops_the_session_with_a_clear_entry(engine, world):
    world.outlook().create("Kept back", at(2, 10), at(2, 11))
    with engine.factory() as db:
        target = profiles.create(db, "Regional")
        profiles.add_rule(db, "field:Region__c", "EMEA", target)
        db.commit()
    from sync.session import run_session

    result = run_session(engine.factory, engine.email, **engine.connectors())
    assert result.status == "failed" and "Region__c" in (result.error or "")
    assert world.salesforce().find_event("Kept back") is None  # no session under a profile that may be wrong
    assert "session_failed" in {h.code for h in engine.health()}
    # Fixed (the rule names a field the org has): the session runs, and the entry closes.
    with engine.factory() as db:
        rule = db.scalars(select(ProfileRule)).one()
        rule.attribute = "field:Department"
        db.commit()
    assert engine.sync().created["salesforce"] == 1
    assert "session_failed" not in {h.code for h in engine.health()}
    with engine.factory() as db:
        facts = db.get(MailboxProfile, find(db, engine.email).id).user_facts
    assert facts["fields"] == {"Department": "Field Sales"}


def test_the_profiles_cli(engine, world, sandbox_info_file):
    env = {"CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": engine.settings.database_url}
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert "profile Events created" in run("profiles", "create", "Events", "--description", "Publish events")
    run("profiles", "set", "Events", "event", "direction=downsync_only", "salesforce_deletion=delete",
        "scope.future_days=120")  # fmt: skip
    assert "rule 1: role = 'Events Team' → Events" in run("profiles", "add-rule", "role", "Events Team", "Events")
    refused = runner.invoke(main, ["profiles", "set", "Events", "task", "direction=two_way"], env=env)
    assert refused.exit_code == 1 and "sync one way only" in refused.output and "Traceback" not in refused.output
    unknown = runner.invoke(main, ["mailboxes", "set-profile", engine.email, "Nope"], env=env)
    assert unknown.exit_code == 1 and "no profile 'Nope'" in unknown.output
    listing = json.loads(run("profiles", "list", "--json"))
    (events,) = [p for p in listing["profiles"] if p["name"] == "Events"]
    assert events["kinds"] == ["event"] and listing["rules"][0]["profile"] == "Events"
    assert listing["mailboxes"] == [{"email": engine.email, "profile": "Default", "source": "default",
                                     "reason": "org default (the rep's Salesforce user has not been read for the "
                                               "rules yet)"}]  # fmt: skip
    with engine.factory() as db:
        policy = profiles.policy_set(db, profiles.find(db, "Events")).for_kind("event")
    assert (policy.direction, policy.salesforce_deletion, policy.scope.future_days) == (
        Direction.DOWNSYNC_ONLY, SalesforceDeletion.DELETE, 120,
    )  # fmt: skip
    world.set_salesforce_user(ALICE.salesforce_user_id, UserRoleId=EVENTS_TEAM)
    engine.sync()  # the first session reads the rep's user for the rules
    listing = json.loads(run("profiles", "list", "--json"))
    assert listing["mailboxes"][0]["profile"] == "Events" and listing["mailboxes"][0]["source"] == "rule"
    assert json.loads(run("mailboxes", "list", "--json"))[0]["profile"] == "Events"
    run("mailboxes", "set-profile", engine.email, "Default")
    assert json.loads(run("profiles", "list", "--json"))["mailboxes"][0]["source"] == "explicit"
    assert "profile Events removed" in run("profiles", "delete", "Events")


def test_preview_of_a_new_rule_is_what_the_next_session_does(engine, world):
    mine, made, _ = _synced_pair(engine, world)
    off = _profile(engine, "No events", direction=Direction.OFF)
    change = preview_jobs.Change("rule", off, rule={"attribute": "role", "value": "field sales", "position": None})
    with engine.factory() as db:
        mailbox = find(db, engine.email)
        assert [m.email for m in preview_jobs.affected(db, change)] == [engine.email]  # never read: may move
        connectors = engine.connectors()
        # What the preview job does: the rep's values read now, then the proposed policies, read and planned.
        facts = profile_rules.read_facts(connectors["salesforce"], mailbox.salesforce_user_id, [])
        policies, name = preview_jobs.proposed_policies(db, mailbox, change, facts=facts)
        planned = preview.preview_mailbox(db, mailbox, connectors["salesforce"], connectors["exchange"], policies,
                                          utcnow(), profile=name)  # fmt: skip
        assert preview_jobs.estimate(db, change, [mailbox])["salesforce_reads"] == 3  # Events, Tasks, the user
    assert facts["role"] == "Field Sales" and name == "No events"
    assert planned.counts["deleted"] == {"salesforce": 0, "exchange": 1} and planned.counts["unlinked"] == 2
    with engine.factory() as db:
        profiles.add_rule(db, "role", "field sales", db.get(profiles.PolicyProfile, off))
        db.commit()
    result = engine.sync()
    _assert_same(planned, result)
    assert world.outlook().get(made) is None and world.outlook().get(mine) is not None
    with engine.factory() as db:
        assert preview_jobs.affected(db, change) == []  # read now: the same rule again would move nobody
