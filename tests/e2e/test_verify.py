"""`calsync verify` against the sandboxes, on both Exchange protocols: each finding made by a real divergence
through the real clients (exchangelib in Outlook, simple-salesforce in Salesforce), a clean mailbox, ``--all``,
the JSON schema, and zero writes on both sides (the sandboxes count them)."""

from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner
from exchangelib import HTMLBody
from exchangelib.recurrence import DailyPattern, Recurrence
from sqlalchemy import select

from calsync.cli import main
from sandbox.seed import PEOPLE, REPS
from sync import verify_read
from sync.models import Link, Mailbox
from sync.models import VerifyReport as VerifyRow
from sync.policies import PrivateItems
from sync.session import run_session
from sync.verify import KINDS, SCHEMA, VerifyReport
from tests.e2e.actors import SALESFORCE_CATEGORY, at, day
from tests.e2e.conftest import REDIS_URL
from tests.e2e.engine import Engine
from tests.e2e.test_sync_tasks_and_custom_objects import SITE_VISITS

REPORT_KEYS = {"schema", "mailbox", "status", "error", "checked_at", "profile", "exit_code", "counts", "summary",
               "findings", "guard", "api_calls"}  # fmt: skip
CONTACT = next(p.email for p in PEOPLE if p.kind == "Contact")
FINDING_KEYS = {"kind", "message", "object_kind", "sync_key", "exchange_id", "salesforce_id", "salesforce_object",
                "subject", "fields", "related", "health", "next_session", "after_reset"}  # fmt: skip


def writes(world) -> tuple[int, int, int]:
    """Writes so far: Salesforce record writes, Exchange write calls (EWS and Graph), the Exchange store's
    write sequence (any change to any item or folder moves it)."""
    return (world.salesforce_stats()["writes"], len(world.exchange_log()["calls"]),
            world.sandboxes.exchange.store.seq)  # fmt: skip


def run_verify(engine, email: str | None = None) -> VerifyReport:
    """Verify through the library, asserting that it wrote nothing to either side or to the link store."""
    before, links_before = writes(engine.world), _links(engine)
    report = verify_read.verify(engine.factory, email or engine.email, lambda e: tuple(engine.connectors(e).values()))
    assert writes(engine.world) == before, "verify wrote to a side"
    assert _links(engine) == links_before, "verify changed the link store"
    assert report.status == "ok", report.error
    return report


def _links(engine) -> list[tuple]:
    with engine.factory() as db:
        rows = db.scalars(select(Link).order_by(Link.sync_key))
        return [(r.sync_key, r.state, r.exchange_item_id, r.exchange_change_key, r.salesforce_id,
                 r.salesforce_modstamp, r.exchange_base, r.salesforce_base) for r in rows]  # fmt: skip


def _cursors(engine) -> tuple:
    with engine.factory() as db:
        m = db.scalars(select(Mailbox).where(Mailbox.email == engine.email)).one()
        return m.exchange_sync_state, dict(m.salesforce_watermarks or {})


def kinds(report: VerifyReport) -> list[str]:
    return [f.kind for f in report.findings]


def test_a_converged_mailbox_is_clean_and_verify_writes_nothing(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    outlook.create("Clean from Outlook", at(1, 10), at(1, 11), location="Room 1", body="Agenda")
    outlook.create("Private one", at(2, 9), at(2, 10), private=True)
    outlook.create("Tentative one", at(2, 11), at(2, 12), show_as="Tentative")
    sf.create_event(Subject="Clean from Salesforce", StartDateTime=at(3, 14), EndDateTime=at(3, 15))
    engine.converge()
    cursors = _cursors(engine)
    report = run_verify(engine)
    assert report.findings == [], [f.to_json() for f in report.findings]
    assert report.exit_code == 0
    # The private item stays in Outlook (private_items=skip by default): by design, not a finding.
    assert report.counts["links"] == 3 and report.counts["pairs_compared"] == 3
    assert report.api_calls["salesforce"] >= 2 and report.api_calls["exchange"] >= 2
    assert _cursors(engine) == cursors, "verify moved a cursor"
    assert engine.sync().writes == 0  # the next session still has nothing to do


def test_a_salesforce_edit_shows_both_values_and_the_side_the_next_session_writes(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    outlook.create("Budget review", at(1, 10), at(1, 11), location="Room 1")
    engine.converge()
    event = sf.find_event("Budget review")
    sf.update("Event", event["Id"], Subject="Budget review (moved)", Location="Room 2")
    report = run_verify(engine)
    assert kinds(report) == ["fields_differ"]
    finding = report.findings[0]
    assert finding.salesforce_id == event["Id"]
    diffs = {d.field: (d.exchange, d.salesforce) for d in finding.fields}
    assert diffs == {"subject": ("Budget review", "Budget review (moved)"), "location": ("Room 1", "Room 2")}
    assert finding.next_session.writes == ("exchange",)  # the planner's decision: Salesforce's edit goes down
    assert finding.after_reset.writes == ("exchange",)
    engine.sync()
    assert run_verify(engine).findings == []  # the session fixed it; verify agrees


def test_an_outlook_deletion_is_a_link_whose_item_is_gone(engine, world):
    outlook = world.outlook()
    item = outlook.create("Deleted in Outlook", at(1, 10), at(1, 11))
    engine.converge()
    outlook.delete(item)
    report = run_verify(engine)
    assert kinds(report) == ["exchange_gone"]
    finding = report.findings[0]
    assert finding.exchange_id == engine.item_id(item) and finding.subject == "Deleted in Outlook"
    assert finding.next_session.writes == ("salesforce",)  # exchange_deletion=delete: the Event goes too
    assert [(a["action"], a["side"]) for a in finding.next_session.actions] == [
        ("deleted", "salesforce"),
        ("unlinked", "both"),
    ]


def test_a_salesforce_deletion_is_a_link_whose_record_is_gone(engine, world):
    world.salesforce().create_event(Subject="Deleted in SF", StartDateTime=at(1, 10), EndDateTime=at(1, 11))
    engine.converge()
    event = world.salesforce().find_event("Deleted in SF")
    world.salesforce().delete("Event", event["Id"])
    report = run_verify(engine)
    assert kinds(report) == ["salesforce_gone"]
    assert report.findings[0].salesforce_id == event["Id"]
    assert report.findings[0].next_session.writes  # the policy's salesforce_deletion decides which


def test_a_copy_of_a_salesforce_record_is_a_duplicate(engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    outlook.create("Copied", at(1, 10), at(1, 11))
    engine.converge()
    original = sf.find_event("Copied")
    copy = sf.create_event(Subject="Copied", StartDateTime=original["StartDateTime"],
                           EndDateTime=original["EndDateTime"])  # fmt: skip
    report = run_verify(engine)
    assert kinds(report) == ["duplicate_salesforce"]
    assert report.findings[0].salesforce_id == copy and report.findings[0].related == (original["Id"],)
    assert report.findings[0].next_session.writes == ("exchange",)  # the next session would copy it down


def test_an_outlook_copy_with_the_sync_key_is_a_duplicate(engine, world):
    sf = world.salesforce()
    sf.create_event(Subject="Keyed", StartDateTime=at(1, 10), EndDateTime=at(1, 11))
    engine.converge()
    link = engine.links()[0]
    # Outlook's copy of an item keeps its extended properties: the sync key among them.
    copy = world.outlook().create("Keyed (copy)", at(2, 10), at(2, 11), calsync_key=link.sync_key)
    report = run_verify(engine)
    assert kinds(report) == ["duplicate_exchange"]
    finding = report.findings[0]
    assert finding.sync_key == link.sync_key and finding.exchange_id == link.exchange_item_id
    assert finding.related == (engine.item_id(copy),)


def test_a_salesforce_record_with_a_sync_key_and_no_link(engine, world):
    sf = world.salesforce()
    record = sf.create_event(Subject="Orphan", StartDateTime=at(1, 10), EndDateTime=at(1, 11),
                             CalSync_Key__c="00000000-0000-4000-8000-000000000001")  # fmt: skip
    report = run_verify(engine)
    assert kinds(report) == ["salesforce_unlinked"]
    assert report.findings[0].salesforce_id == record
    assert report.findings[0].sync_key == "00000000-0000-4000-8000-000000000001"


def test_unsynced_items_on_either_side(engine, world):
    item = world.outlook().create("Only in Outlook", at(1, 10), at(1, 11))
    world.outlook().create("Not tagged", at(1, 12), at(1, 13), categories=())
    record = world.salesforce().create_event(Subject="Only in SF", StartDateTime=at(2, 10), EndDateTime=at(2, 11))
    report = run_verify(engine)
    assert kinds(report) == ["exchange_only", "salesforce_only"]
    ex_only, sf_only = report.findings
    assert sf_only.salesforce_id == record and sf_only.next_session.writes == ("exchange",)
    assert ex_only.exchange_id == engine.item_id(item) and ex_only.next_session.writes == ("salesforce",)
    assert [a["action"] for a in ex_only.next_session.actions] == ["created"]


def test_a_divergence_the_next_session_does_not_see(engine, world):
    """Lost cursor coverage: the link's base is rewritten to the edited value, so the incremental feed sees
    no change worth writing; verify still finds the two sides apart, and says a full read would fix it."""
    world.outlook().create("Drift", at(1, 10), at(1, 11))
    engine.converge()
    event = world.salesforce().find_event("Drift")
    world.salesforce().update("Event", event["Id"], Subject="Drift (SF)")
    with engine.factory() as db:  # a session that read the edit, then lost its write (the bug verify is for)
        row = db.scalars(select(Link)).one()
        row.salesforce_base = {**row.salesforce_base, "subject": "Drift (SF)"}
        row.salesforce_modstamp = world.salesforce().get("Event", event["Id"])["SystemModstamp"]
        db.commit()
    report = run_verify(engine)
    assert kinds(report) == ["fields_differ"]
    assert report.findings[0].next_session.writes == ()


def test_cli_json_schema_exit_codes_and_the_stored_report(engine, world, sandbox_info_file, database_url):
    env = {"CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL}
    runner = CliRunner()
    other = REPS[1].email
    engine.add_mailbox(other)
    world.outlook().create("Synced", at(1, 10), at(1, 11))
    engine.converge()
    run_session(engine.factory, other, **engine.connectors(other))  # the second rep's mailbox: synced too
    clean = runner.invoke(main, ["verify", engine.email, "--json"], env=env)
    assert clean.exit_code == 0, clean.output
    data = json.loads(clean.output)
    assert set(data) == REPORT_KEYS and data["schema"] == SCHEMA and data["findings"] == []
    world.salesforce(other).create_event(Subject="Other only", StartDateTime=at(2, 9), EndDateTime=at(2, 10))
    before = writes(world)
    every = runner.invoke(main, ["verify", "--all", "--json"], env=env)
    assert writes(world) == before
    assert every.exit_code == 1, every.output
    data = json.loads(every.output)
    assert set(data) == {"reports", "total"}
    assert [r["mailbox"] for r in data["reports"]] == sorted([engine.email, other])
    assert data["total"]["mailboxes"] == 2 and data["total"]["findings"] == 1 and data["total"]["exit_code"] == 1
    found = next(r for r in data["reports"] if r["mailbox"] == other)["findings"]
    assert [f["kind"] for f in found] == ["salesforce_only"] and set(found[0]) == FINDING_KEYS
    assert all(f["kind"] in KINDS for r in data["reports"] for f in r["findings"])
    text = runner.invoke(main, ["verify", other], env=env)
    assert text.exit_code == 1 and "salesforce_only" in text.output and "Other only" in text.output
    with engine.factory() as db:
        stored = {r.mailbox_id: r for r in db.scalars(select(VerifyRow))}
        assert len(stored) == 2 and sorted(r.findings for r in stored.values()) == [0, 1]
    unknown = runner.invoke(main, ["verify", "nobody@calsync.example", "--json"], env=env)
    assert unknown.exit_code == 2 and "is not a synced mailbox" in unknown.stderr
    failed = json.loads(unknown.stdout)  # a script reads one report, failed, whatever went wrong
    assert set(failed) == REPORT_KEYS and failed["status"] == "failed" and failed["exit_code"] == 2


def test_an_unshared_item_is_not_a_finding_once_unlinked(engine, world):
    item = world.outlook().create("Unshared", at(1, 10), at(1, 11))
    engine.converge()
    world.outlook().remove_category(item, SALESFORCE_CATEGORY)
    engine.converge()
    assert run_verify(engine).findings == []


def _occurrence(outlook, master_id: str, index: int):
    occurrence = outlook.calendar.get(id=master_id).occurrence(index=index)
    occurrence.refresh()
    return occurrence


def test_a_varied_converged_calendar_is_clean(engine, world, sandbox_settings):
    """No false finding on what sync keeps apart by design or holds lossily: series with exceptions from both
    sides, all-day items across zones, tasks (one completed), custom objects, meetings with matched and unmatched
    attendees, a masked private item, an HTML body, a meeting shared by two reps (one Event, joined)."""
    engine.set_policy(private_items=PrivateItems.MASKED)
    engine.set_policy(kind="custom:Site_Visit__c", custom=SITE_VISITS)
    outlook, sf = world.outlook(), world.salesforce()
    start = at(2, 9)
    daily = Recurrence(pattern=DailyPattern(interval=1), start=start.date(), number=5)
    master = outlook.create("Daily stand-up", start, at(2, 9, 30), recurrence=daily)
    moved = _occurrence(outlook, master, 2)
    moved.start, moved.end = moved.start + dt.timedelta(hours=2), moved.end + dt.timedelta(hours=2)
    moved.save(update_fields=["start", "end"], send_meeting_invitations="SendToNone")
    _occurrence(outlook, master, 4).delete(send_meeting_cancellations="SendToNone")
    sf.create_event(Subject="Team sync", StartDateTime=at(1, 11), DurationInMinutes=30,
                    Recurrence2PatternText="RRULE:FREQ=DAILY;INTERVAL=1;COUNT=3",
                    Recurrence2PatternTimeZone="Europe/London")  # fmt: skip
    outlook.create("Trade show", day(4), day(5), all_day=True, tz="America/New_York")
    sf.create_event(Subject="Offsite", IsAllDayEvent=True, ActivityDate=day(6), DurationInMinutes=1440)
    sf.create_task(Subject="Send the quote", ActivityDate=day(3), Status="Not Started")
    done = sf.create_task(Subject="Call back", ActivityDate=day(2))
    sf.create_record("Site_Visit__c", Name="Visit Acme plant", Visit_Start__c=at(2, 13), Visit_End__c=at(2, 15),
                     OwnerId=world.rep.salesforce_user_id)  # fmt: skip
    outlook.create("Customer call", at(3, 10), at(3, 11), attendees=[CONTACT, "stranger@nowhere.test"])
    outlook.create("Doctor", at(3, 12), at(3, 13), private=True, location="Clinic", body="Private notes")
    outlook.create("Styled", at(4, 10), at(4, 11), body=HTMLBody("<p>Hello <b>there</b></p><p>Line two</p>"))
    outlook.create("Tentative hold", at(4, 14), at(4, 15), show_as="Tentative")
    bob = Engine(sandbox_settings, world, REPS[1].email, protocol=engine.protocol)
    pitch = outlook.create("Joint pitch", at(5, 14), at(5, 15), attendees=[REPS[1].email])
    engine.converge()
    sf.update("Task", done, Status="Completed")
    engine.converge()
    bob_copy = world.deliver_meeting(pitch, REPS[1].email)
    world.outlook(REPS[1].email).add_category(bob_copy, SALESFORCE_CATEGORY)
    bob.converge()
    engine.converge()

    report = run_verify(engine)
    assert report.findings == [], [f.to_json() for f in report.findings]
    assert report.counts["pairs_compared"] == report.counts["links"] == 12
    other = run_verify(engine, REPS[1].email)
    assert other.findings == [], [f.to_json() for f in other.findings]
    assert other.counts["links"] == 1  # Bob's joined link: Alice's Event, compared in Alice's mailbox


def test_a_meeting_salesforce_cannot_hold_is_outlook_only_and_says_why(engine, world):
    """ "My meeting is missing": an Outlook item longer than Salesforce's 14 days never syncs; verify names it
    and the health code the next session raises for it."""
    item = world.outlook().create("Two-week trip", at(1, 9), at(17, 9))
    engine.sync()
    report = run_verify(engine)
    assert kinds(report) == ["exchange_only"]
    finding = report.findings[0]
    assert finding.exchange_id == engine.item_id(item) and finding.subject == "Two-week trip"
    # The session that met it raised the entry; the next one does not read it again (its cursor moved on), a
    # full read would: the open entry is the answer to "why".
    assert finding.health == ("duration_over_14_days",) == tuple(h.code for h in engine.health())
    assert finding.next_session.writes == () and finding.after_reset.health == ("duration_over_14_days",)


def test_lost_link_rows_are_records_no_link_knows_and_a_full_read_pairs_them_again(engine, world):
    """The link rows lost while the cursors stay: each Salesforce record's key names its Outlook item (the key
    on the item, or the item's id, whichever side the pair came from). The next session, reading from the
    cursors, would not see the Outlook items and would copy the records down again; verify says so, and that a
    full read would write nothing. After "Reset sync state" the session pairs them again (docs/invariants.md
    #12), copying nothing, and verify is clean."""
    mine = world.outlook().create("From Outlook", at(1, 10), at(1, 11))
    world.salesforce().create_event(Subject="From Salesforce", StartDateTime=at(2, 10), EndDateTime=at(2, 11))
    engine.converge()
    with engine.factory() as db:
        for row in db.scalars(select(Link)):
            db.delete(row)
        db.commit()
    report = run_verify(engine)
    assert kinds(report) == ["salesforce_unlinked", "salesforce_unlinked"], [f.to_json() for f in report.findings]
    pairs = {f.subject: f for f in report.findings}
    assert pairs["From Outlook"].exchange_id == engine.item_id(mine) and pairs["From Salesforce"].exchange_id
    for finding in report.findings:
        assert [a["action"] for a in finding.next_session.actions] == ["created"]  # a copy in waiting
        assert finding.after_reset.writes == ()  # a full read adopts the pair instead
    with engine.factory() as db:  # the panel's "Reset sync state"
        mailbox = db.scalars(select(Mailbox).where(Mailbox.email == engine.email)).one()
        mailbox.exchange_sync_state, mailbox.salesforce_watermarks = None, {}
        db.commit()
    result = engine.sync()
    assert result.created == {"salesforce": 0, "exchange": 0}, result.to_json()
    assert run_verify(engine).findings == []


def test_verify_needs_one_mailbox_or_all(database_url):
    for args in (["verify"], ["verify", "a@b.example", "--all"]):
        result = CliRunner().invoke(main, args, env={"DATABASE_URL": database_url})
        assert result.exit_code == 2 and "give one EMAIL or --all" in result.stderr
