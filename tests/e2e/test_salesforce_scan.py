"""The org-wide Salesforce change scan (docs/push.md, Salesforce scan) through the real connector, simple-salesforce
and the Salesforce sandbox: what it requests, what sessions then cost in Salesforce calls, and the fallback.

The engine signs in with the client credentials flow (the sandbox's integration user, as in production), so that
its writes carry the integration user in ``LastModifiedById`` and the reps' own edits carry the rep's.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from click.testing import CliRunner

from calsync.cli import main
from calsync.settings import Settings
from sync import mailboxes
from sync.models import Mailbox
from sync.push import salesforce_rows
from sync.push.echo import RecordingExchange, RecordingSalesforce
from sync.push.requests import pending_requests
from sync.push.salesforce_rows import ScannedSalesforce
from sync.push.salesforce_scan import STATE_KEY, SalesforceScanner, ScanConfig, load_watermarks
from sync.session import run_session
from tests.e2e.actors import at
from tests.e2e.conftest import REDIS_URL
from tests.e2e.engine import Engine, check_meeting_messages

BOB = "bob.baker@calsync.example"
# Event two-way and Task down (the default policies): one scan query each.
OBJECTS = 2


def _clean(redis) -> None:
    for pattern in ("calsync:sfscan:*", "calsync:push:*", "calsync:salesforce-scan:*"):
        keys = list(redis.scan_iter(pattern))
        if keys:
            redis.delete(*keys)


@pytest.fixture
def scan_settings(sandbox_info_file, database_url) -> Settings:
    return Settings.from_env(
        {
            "CALSYNC_ENV": "test",
            "CALSYNC_SANDBOX_INFO": str(sandbox_info_file),
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "SALESFORCE_AUTH": "client_credentials",
        }
    )


@pytest.fixture
def scan_engine(world, scan_settings):
    made = Engine(scan_settings, world, world.rep.email)
    _clean(made.runtime.redis)
    yield made
    check_meeting_messages(made)
    _clean(made.runtime.redis)
    made.runtime.close()


def _scanner(engine: Engine, **config) -> SalesforceScanner:
    return SalesforceScanner(engine.runtime.redis, engine.factory, lambda: engine.runtime.salesforce(engine.settings),
                             ScanConfig(**config))  # fmt: skip


def _enqueueing_scanner(engine: Engine):
    """An empty session queue and a scanner that enqueues the sessions it requests on it."""
    from sync.job_queue import session_queue
    from sync.schedule import ScheduleConfig

    redis = engine.runtime.redis
    queue = session_queue("sync", redis)
    queue.empty()
    scanner = SalesforceScanner(redis, engine.factory, lambda: engine.runtime.salesforce(engine.settings),
                                ScanConfig(), queue=queue, schedule=ScheduleConfig())  # fmt: skip
    return queue, scanner


def _mailbox_id(engine: Engine, email: str) -> int:
    with engine.factory() as db:
        return mailboxes.find(db, email).id


def _session(engine: Engine, email: str | None = None, *, clock=time.time, healthy: float = 180.0):
    """A session as a worker runs it: its Salesforce connector wrapped to read the scan's rows."""
    email = email or engine.email
    connectors = engine.connectors(email)
    scanned = ScannedSalesforce(connectors["salesforce"], engine.runtime.redis, _mailbox_id(engine, email),
                                healthy_seconds=healthy, clock=clock)  # fmt: skip
    result = run_session(engine.factory, email, salesforce=scanned, exchange=connectors["exchange"])
    assert result.status == "ok", result.to_json()
    return result, scanned


def _calls(world, before) -> dict[str, int]:
    return dict(world.salesforce_requests() - before)


def _ready(engine: Engine, world, *emails: str) -> SalesforceScanner:
    """Mailboxes synced once (their own queries), then a first scan that covers them: their next sessions need
    no Salesforce query."""
    for email in emails or (engine.email,):
        _session(engine, email)
    scanner = _scanner(engine)
    first = scanner.scan()
    assert not first.errors, first.to_json()
    # A row stamped in the same second as a session's watermark (the Date header's resolution) may be new to
    # it: requested, to be safe. That session reads the scan's rows already.
    for mailbox_id in first.requested:
        with engine.factory() as db:
            result, scanned = _session(engine, db.get(Mailbox, mailbox_id).email)
        assert result.api_calls["salesforce"] == 0 and scanned.fallbacks == [], result.to_json()
    again = scanner.scan()
    assert again.requested == [] and not again.errors, again.to_json()  # nothing new since their sessions
    return scanner


def test_a_salesforce_edit_reaches_outlook_through_the_scan_with_no_salesforce_call_in_the_session(scan_engine, world):
    engine, sf, outlook = scan_engine, world.salesforce(), world.outlook()
    event_id = sf.create_event(Subject="Scan me", StartDateTime=at(2, 10), EndDateTime=at(2, 11))
    scanner = _ready(engine, world)
    mailbox_id = _mailbox_id(engine, engine.email)
    assert outlook.find("Scan me") is not None

    sf.update("Event", event_id, Subject="Scan me (moved)", Location="Room 9")
    before = world.salesforce_requests()
    report = scanner.scan()
    # One query per object for the whole org, both in one Composite request: one API call.
    assert _calls(world, before) == {"composite": 1} and report.queries == OBJECTS and report.calls == 1
    assert report.requested == [mailbox_id]
    assert mailbox_id in pending_requests(engine.runtime.redis)  # what the scheduler's push pass enqueues

    before = world.salesforce_requests()
    result, scanned = _session(engine)
    assert result.updated["exchange"] == 1
    assert outlook.find("Scan me (moved)")["location"] == "Room 9"
    # The session read the scan's rows: no Salesforce call at all.
    assert _calls(world, before) == {} and result.api_calls["salesforce"] == 0
    assert scanned.scan_reads == OBJECTS and scanned.fallbacks == []

    # Quiet afterwards: the scan requests nothing (the row is held at that stamp), the session costs nothing.
    assert scanner.scan().requested == []
    quiet, scanned = _session(engine)
    assert quiet.writes == 0 and quiet.api_calls["salesforce"] == 0, (scanned.fallbacks, scanned.usage.by_resource)


def test_an_outlook_triggered_session_makes_exactly_its_write_and_the_echo_requests_nothing(scan_engine, world):
    engine, outlook = scan_engine, world.outlook()
    item_id = outlook.create("Pricing", at(3, 9), at(3, 10))
    scanner = _ready(engine, world)

    outlook.edit(item_id, subject="Pricing (v2)")
    before = world.salesforce_requests()
    result, scanned = _session(engine)  # as the EWS / Graph notification would trigger it
    assert result.updated["salesforce"] == 1
    assert _calls(world, before) == {"collection_update": 1}  # exactly 1 Salesforce call: the write
    assert result.api_calls["salesforce"] == 1 and scanned.fallbacks == []

    report = scanner.scan()  # reads our own write back: LastModifiedById is the integration user
    assert report.new_rows == 1 and report.echoes == 1 and report.requested == []
    assert pending_requests(engine.runtime.redis) == {}
    quiet, scanned = _session(engine)
    assert quiet.writes == 0 and quiet.api_calls["salesforce"] == 0, (scanned.fallbacks, scanned.usage.by_resource)


def test_a_reps_edit_just_after_our_write_is_not_taken_for_its_echo(scan_engine, world):
    """Our write's modstamp is not known, so an unknown-version echo matches stamps up to the write's end plus a
    clock margin; a rep's edit inside that margin carries the rep in LastModifiedById and must still sync."""
    engine, outlook = scan_engine, world.outlook()
    item_id = outlook.create("Renewal", at(3, 14), at(3, 15))
    scanner = _ready(engine, world)

    outlook.edit(item_id, subject="Renewal (v2)")
    result, _ = _recorded_session(engine)  # our writes recorded for the echo check
    assert result.updated["salesforce"] == 1
    record = world.salesforce().find_event("Renewal (v2)")
    world.salesforce().update("Event", record["Id"], Location="Room 4")  # at once: inside the clock margin

    report = scanner.scan()
    mailbox_id = _mailbox_id(engine, engine.email)
    assert report.new_rows == 1 and report.echoes == 0 and report.requested == [mailbox_id], report.to_json()
    result, _ = _session(engine)
    assert outlook.get(item_id)["location"] == "Room 4", result.to_json()


def test_two_owners_changes_in_one_scan_request_both_mailboxes_with_one_query_per_object(scan_engine, world):
    engine = scan_engine
    engine.add_mailbox(BOB)
    alice_event = world.salesforce().create_event(Subject="Alice's", StartDateTime=at(1, 9), EndDateTime=at(1, 10))
    bob_task = world.salesforce(BOB).create_task(Subject="Bob's task", ActivityDate=at(2, 9).date())
    scanner = _ready(engine, world, engine.email, BOB)
    ids = {_mailbox_id(engine, engine.email), _mailbox_id(engine, BOB)}

    world.salesforce().update("Event", alice_event, Subject="Alice's (edited)")
    world.salesforce(BOB).update("Task", bob_task, Subject="Bob's task (edited)")
    world.salesforce(BOB).create_event(Subject="Bob's new", StartDateTime=at(4, 9), EndDateTime=at(4, 10))
    before = world.salesforce_requests()
    report = scanner.scan()
    assert _calls(world, before) == {"composite": 1} and report.queries == OBJECTS
    assert set(report.requested) == ids and report.new_rows == 3
    for email, subject in ((engine.email, "Alice's (edited)"), (BOB, "Bob's new")):
        result, _ = _session(engine, email)
        assert result.api_calls["salesforce"] == 0, result.to_json()
        assert world.outlook(email).find(subject) is not None
    assert world.outlook(BOB).find("Bob's task (edited)") is not None


def test_owners_beyond_one_chunk_cost_one_query_per_chunk_five_to_a_composite_call(scan_engine, world):
    engine = scan_engine
    carol = "carol.chen@calsync.example"
    engine.add_mailbox(BOB)
    engine.add_mailbox(carol)
    world.salesforce(BOB).create_event(Subject="Chunked", StartDateTime=at(1, 9), EndDateTime=at(1, 10))
    bob = _mailbox_id(engine, BOB)
    # Three owners, one per chunk, two objects: six queries, five to a Composite request.
    before = world.salesforce_requests()
    chunked = _scanner(engine, owner_chunk=1).scan()
    assert chunked.queries == 3 * OBJECTS and _calls(world, before) == {"composite": 2}
    assert chunked.requested == [bob] and chunked.mailboxes == 3
    # Without the Composite API: one queryAll GET per query.
    _clean(engine.runtime.redis)
    before = world.salesforce_requests()
    plain = _scanner(engine, owner_chunk=1, composite=False).scan()
    assert plain.queries == 3 * OBJECTS and _calls(world, before) == {"query": 3 * OBJECTS}
    assert plain.requested == [bob]
    # Org-wide: no OwnerId filter, one query per object however many reps.
    _clean(engine.runtime.redis)
    before = world.salesforce_requests()
    wide = _scanner(engine, owner_chunk=1, org_wide=True, composite=False).scan()
    assert wide.queries == OBJECTS and _calls(world, before) == {"query": OBJECTS}
    assert wide.requested == [bob]


def test_the_scan_pages_over_more_than_2000_rows(scan_engine, world):
    engine, sf = scan_engine, world.salesforce()
    engine.set_policy(kind="task", direction="off")  # one object, so the pages are easy to count
    _ready(engine, world)
    mailbox_id = _mailbox_id(engine, engine.email)
    start = at(20, 8)
    records = [
        {"attributes": {"type": "Event"}, "Subject": f"Bulk {n}", "OwnerId": sf.user_id,
         "StartDateTime": (start + dt.timedelta(minutes=n)).isoformat(),
         "EndDateTime": (start + dt.timedelta(minutes=n + 1)).isoformat()}
        for n in range(2100)
    ]  # fmt: skip
    for offset in range(0, len(records), 200):
        answer = sf.sf.restful("composite/sobjects", method="POST",
                               json={"allOrNone": True, "records": records[offset : offset + 200]})  # fmt: skip
        assert all(r["success"] for r in answer)
    before = world.salesforce_requests()
    report = _scanner(engine).scan()
    calls = _calls(world, before)
    assert calls == {"composite": 1, "query_more": 1}, calls  # 2,100 rows: two pages of at most 2,000
    assert report.rows == 2100 and report.requested == [mailbox_id]
    held = salesforce_rows.held_rows(engine.runtime.redis, mailbox_id, "Event", dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert len(held) == 2100 and len({r["Id"] for r in held}) == 2100


def test_the_watermark_survives_a_restart_and_a_lost_redis(scan_engine, world):
    engine, sf = scan_engine, world.salesforce()
    event_id = sf.create_event(Subject="Restart", StartDateTime=at(2, 9), EndDateTime=at(2, 10))
    first = _ready(engine, world)
    first.leader.release()
    with engine.factory() as db:
        marks = load_watermarks(db)
    assert set(marks) == {"Event", "Task"}

    sf.update("Event", event_id, Subject="Restart (edited while no scanner ran)")
    # A new scanner an hour later by this host's clock: without the stored watermark it would start at its own
    # "now" minus the overlap and miss the edit.
    later = _scanner(engine)
    later.clock = lambda: time.time() + 3600
    report = later.scan()
    assert report.requested == [_mailbox_id(engine, engine.email)]
    with engine.factory() as db:
        assert load_watermarks(db)["Event"] >= marks["Event"]

    # Redis lost (the rows and covers gone): the scan reads each mailbox again from its own watermark.
    _clean(engine.runtime.redis)
    again = _scanner(engine).scan()
    assert again.requested == [_mailbox_id(engine, engine.email)]  # the edit no session has synced yet
    result, scanned = _session(engine)
    assert result.updated["exchange"] == 1 and result.api_calls["salesforce"] == 0 and scanned.fallbacks == []
    assert STATE_KEY == "salesforce_scan"


def test_with_the_scan_down_sessions_fall_back_to_their_own_queries(scan_engine, world):
    engine, sf, outlook = scan_engine, world.salesforce(), world.outlook()
    event_id = sf.create_event(Subject="Fallback", StartDateTime=at(2, 14), EndDateTime=at(2, 15))
    _ready(engine, world)
    sf.update("Event", event_id, Subject="Fallback (edited, no scan since)")
    # The scan's last pass is older than the healthy window (the scanner stopped): the session queries itself.
    before = world.salesforce_requests()
    result, scanned = _session(engine, clock=lambda: time.time() + 600)
    assert _calls(world, before) == {"query": OBJECTS}
    assert scanned.scan_reads == 0 and scanned.fallbacks == ["Event: scan stale", "Task: scan stale"]
    assert outlook.find("Fallback (edited, no scan since)") is not None
    # A mailbox the scan never covered (no rows held) queries too.
    _clean(engine.runtime.redis)
    quiet, scanned = _session(engine)
    assert quiet.api_calls["salesforce"] == OBJECTS and scanned.fallbacks == ["Event: no scan", "Task: no scan"]


def test_only_the_leader_scans(scan_engine, world):
    engine = scan_engine
    one, two = _scanner(engine), _scanner(engine)
    try:
        assert one.tick().leader is True
        assert two.tick().leader is False
    finally:
        one.leader.release()
    assert two.tick().leader is True
    two.leader.release()


def test_the_cli_makes_one_pass(scan_engine, world, sandbox_info_file, database_url):
    world.salesforce().create_event(Subject="CLI", StartDateTime=at(1, 9), EndDateTime=at(1, 10))
    env = {"CALSYNC_SANDBOX_INFO": str(sandbox_info_file), "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
           "SALESFORCE_AUTH": "client_credentials"}  # fmt: skip
    result = CliRunner().invoke(main, ["salesforce-scan", "--once"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["queries"] == OBJECTS and report["requested"] == [_mailbox_id(scan_engine, scan_engine.email)]
    bad = CliRunner().invoke(main, ["salesforce-scan", "--interval", "0"], env=env)
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_a_failed_scan_keeps_nothing_reports_the_channel_down_and_sessions_fall_back(scan_engine, world):
    engine, sf = scan_engine, world.salesforce()
    event_id = sf.create_event(Subject="Flaky", StartDateTime=at(3, 9), EndDateTime=at(3, 10))
    scanner = _ready(engine, world)
    mailbox_id = _mailbox_id(engine, engine.email)
    with engine.factory() as db:
        marks = load_watermarks(db)
    sf.update("Event", event_id, Subject="Flaky (edited)")
    world.set_salesforce_faults(fail_next_requests=1)  # the Composite request answers 503
    failed = scanner.scan()
    assert failed.errors and failed.requested == [] and failed.rows == 0
    with engine.factory() as db:
        assert load_watermarks(db) == marks  # nothing moved: the next pass reads the same span
    channel = engine.runtime.redis.hgetall(f"calsync:push:channel:{mailbox_id}:salesforce-scan")
    assert channel[b"state"] == b"down"
    # The next pass finds the edit.
    assert scanner.scan().requested == [mailbox_id]
    assert engine.runtime.redis.hget(f"calsync:push:channel:{mailbox_id}:salesforce-scan", "state") == b"up"


def test_a_query_the_org_refuses_inside_the_composite_request_is_a_connector_error(scan_engine, world):
    from sync.connectors.base import ChangeQuery
    from sync.connectors.errors import ConnectorError

    connector = scan_engine.runtime.salesforce(scan_engine.settings)
    since = dt.datetime.now(dt.UTC)
    good = ChangeQuery("Event", ("Subject",), None, since)
    bad = ChangeQuery("Event", ("NoSuchField__c",), None, since)
    assert connector.owners_changed_batch([good, good]) == [[], []]
    with pytest.raises(ConnectorError) as refused:
        connector.owners_changed_batch([good, bad])
    assert refused.value.code == "INVALID_FIELD" and refused.value.status == 400


def test_a_salesforce_edit_reaches_outlook_through_real_scan_scheduler_and_worker_processes(
    scan_engine, world, sandbox_info_file, tmp_path
):
    """`calsync salesforce-scan`, `calsync scheduler` and `calsync worker` as processes: a Salesforce edit
    reaches Outlook with no periodic session due, in a session that makes no Salesforce call."""
    import datetime as _dt
    import os
    import sys
    from pathlib import Path

    from sqlalchemy import select

    from sync.models import SyncSession
    from tests.push.test_push_processes import Processes

    engine, sf, outlook = scan_engine, world.salesforce(), world.outlook()
    event_id = sf.create_event(Subject="Process scan", StartDateTime=at(2, 15), EndDateTime=at(2, 16))
    _ready(engine, world)
    mailbox_id = _mailbox_id(engine, engine.email)
    with engine.factory() as db:
        db.get(Mailbox, mailbox_id).next_sync_at = _dt.datetime.now(_dt.UTC) + _dt.timedelta(hours=12)
        db.commit()
        before = max(s.id for s in db.scalars(select(SyncSession)))
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, CALSYNC_SANDBOX_INFO=str(sandbox_info_file), DATABASE_URL=engine.settings.database_url,
               REDIS_URL=REDIS_URL, PYTHONPATH=str(root), SALESFORCE_AUTH="client_credentials",
               CALSYNC_PUSH_COALESCE_SECONDS="0.5", CALSYNC_PUSH_PASS_SECONDS="0.5")  # fmt: skip
    procs = Processes(env, tmp_path)
    assert Path(sys.executable).with_name("calsync").exists()
    try:
        procs.start("scan", "salesforce-scan", "--interval", "2")
        procs.start("scheduler", "scheduler")
        procs.start("worker", "worker", "--name", "sfscan-process")
        sf.update("Event", event_id, Subject="Process scan (moved in Salesforce)")
        deadline = time.monotonic() + 60
        while outlook.find("Process scan (moved in Salesforce)") is None:
            assert time.monotonic() < deadline, procs.log("scan") + procs.log("scheduler") + procs.log("worker")
            time.sleep(0.5)
    finally:
        procs.stop()
    with engine.factory() as db:
        sessions = list(db.scalars(select(SyncSession).where(SyncSession.id > before)))
    assert sessions and all(s.trigger == "push" for s in sessions), [(s.trigger, s.status) for s in sessions]
    assert all(s.api_calls["salesforce"] == 0 for s in sessions), [s.api_calls for s in sessions]


def test_the_safety_net_comes_back_to_30_minutes_while_the_scan_is_down(scan_engine, world):
    """Exchange push up keeps the 6-hour safety interval only while the scan is up too: with the scan down a
    Salesforce edit is found by the mailbox's own queries, at its next periodic session."""
    from sync.push import record_channel
    from sync.push.config import PushConfig
    from sync.push.salesforce_rows import with_scan
    from sync.schedule import Decision, with_push

    redis = scan_engine.runtime.redis
    scanner = _ready(scan_engine, world)
    mailbox_id = _mailbox_id(scan_engine, scan_engine.email)
    never = mailbox_id + 1000  # never scanned: its Exchange state stands
    for mid in (mailbox_id, never):
        record_channel(redis, mid, "ews-streaming", "up")
    assert with_scan(redis, {mailbox_id: "up", never: "up"}) == {mailbox_id: "up", never: "up"}
    now = dt.datetime.now(dt.UTC)
    plain = Decision(30, now + dt.timedelta(minutes=30), None, None)
    assert with_push(plain, "up", status="ok", now=now, push=PushConfig()).interval == 360

    world.set_salesforce_faults(fail_next_requests=1)
    assert scanner.scan().errors  # the scan reports every mailbox down
    state = with_scan(redis, {mailbox_id: "up", never: "up"})
    assert state == {mailbox_id: "down", never: "up"}
    assert with_push(plain, state[mailbox_id], status="ok", now=now, push=PushConfig()).interval == 30
    assert with_scan(redis, {mailbox_id: "down"}) == {mailbox_id: "down"}


def test_the_scan_enqueues_the_sessions_it_requests_itself_but_not_while_backing_off_or_twice(scan_engine, world):
    """With the session queue the pass enqueues the session at once (no wait for the scheduler's push pass),
    through `enqueue_session`'s dedupe; the request stays pending for the session to take."""
    from sync.schedule import job_id

    engine, sf = scan_engine, world.salesforce()
    event_id = sf.create_event(Subject="Direct", StartDateTime=at(4, 9), EndDateTime=at(4, 10))
    _ready(engine, world)
    mailbox_id = _mailbox_id(engine, engine.email)
    redis = engine.runtime.redis
    queue, scanner = _enqueueing_scanner(engine)
    try:
        with engine.factory() as db:
            db.get(Mailbox, mailbox_id).backoff_until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
            db.commit()
        sf.update("Event", event_id, Subject="Direct (backing off)")
        report = scanner.scan()
        assert report.requested == [mailbox_id] and report.enqueued == [] and len(queue) == 0
        assert mailbox_id in pending_requests(redis)  # the push pass serves it once the back-off ends

        with engine.factory() as db:
            db.get(Mailbox, mailbox_id).backoff_until = None
            db.commit()
        sf.update("Event", event_id, Subject="Direct (now)")
        report = scanner.scan()
        assert report.requested == [mailbox_id] and report.enqueued == [mailbox_id], report.to_json()
        job = queue.fetch_job(job_id(mailbox_id))
        assert list(job.args) == [mailbox_id, "push"] and queue.job_ids == [job.id]
        assert report.seconds >= report.query_seconds > 0

        sf.update("Event", event_id, Subject="Direct (again)")
        again = scanner.scan()  # the job still waits: a duplicate, one job
        assert again.requested == [mailbox_id] and again.enqueued == [] and queue.job_ids == [job.id]
    finally:
        queue.empty()


def test_a_salesforce_edit_reaches_outlook_with_the_scan_and_a_worker_only(scan_engine, world, sandbox_info_file,
                                                                          tmp_path):  # fmt: skip
    """No scheduler running: `calsync salesforce-scan` enqueues the session itself and a real `calsync worker`
    runs it."""
    import os
    import sys
    from pathlib import Path

    from tests.push.test_push_processes import Processes

    engine, sf, outlook = scan_engine, world.salesforce(), world.outlook()
    event_id = sf.create_event(Subject="Scan only", StartDateTime=at(2, 17), EndDateTime=at(2, 18))
    _ready(engine, world)
    with engine.factory() as db:
        db.get(Mailbox, _mailbox_id(engine, engine.email)).next_sync_at = dt.datetime.now(dt.UTC) + dt.timedelta(
            hours=12
        )
        db.commit()
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, CALSYNC_SANDBOX_INFO=str(sandbox_info_file), DATABASE_URL=engine.settings.database_url,
               REDIS_URL=REDIS_URL, PYTHONPATH=str(root), SALESFORCE_AUTH="client_credentials")  # fmt: skip
    procs = Processes(env, tmp_path)
    assert Path(sys.executable).with_name("calsync").exists()
    try:
        procs.start("scan", "salesforce-scan", "--interval", "2")
        procs.start("worker", "worker", "--name", "sfscan-direct")
        sf.update("Event", event_id, Subject="Scan only (moved in Salesforce)")
        deadline = time.monotonic() + 60
        while outlook.find("Scan only (moved in Salesforce)") is None:
            assert time.monotonic() < deadline, procs.log("scan") + procs.log("worker")
            time.sleep(0.5)
    finally:
        procs.stop()


def _recorded_session(engine: Engine, *, healthy: float = 180.0):
    """A session wired as the worker wires it (`sync.jobs`): the scan's rows under the recording of its own writes."""
    connectors = engine.connectors(engine.email)
    mailbox_id = _mailbox_id(engine, engine.email)
    scanned = ScannedSalesforce(connectors["salesforce"], engine.runtime.redis, mailbox_id, healthy_seconds=healthy)
    salesforce = RecordingSalesforce(scanned, engine.runtime.redis, mailbox_id)
    exchange = RecordingExchange(connectors["exchange"], engine.runtime.redis, mailbox_id)
    result = run_session(engine.factory, engine.email, salesforce=salesforce, exchange=exchange)
    assert result.status == "ok", result.to_json()
    return result, scanned


def test_a_session_before_the_next_scan_never_replays_the_rows_its_own_writes_superseded(scan_engine, world):
    """Found by the chaos soak (docs/soak.md): the scan holds a record's version from before our session wrote it
    until its next pass; a session meanwhile read that stale version in its watermark overlap as a Salesforce
    change: a pair deleted in Outlook came back as a new Outlook item, an Outlook edit written to Salesforce was
    reverted in Outlook."""
    engine, sf, outlook = scan_engine, world.salesforce(), world.outlook()
    doomed = sf.create_event(Subject="Doomed", StartDateTime=at(2, 10), EndDateTime=at(2, 11))
    sf.create_event(Subject="Kept", StartDateTime=at(3, 10), EndDateTime=at(3, 11))
    _ready(engine, world)  # held: both Events as created
    time.sleep(3)  # our writes below begin later than the held versions' SystemModstamp (whole seconds)
    outlook.delete(outlook.find("Doomed")["id"])
    outlook.edit(outlook.find("Kept")["id"], subject="Kept (renamed in Outlook)")
    first, _ = _recorded_session(engine)
    assert first.deleted["salesforce"] == 1 and first.updated["salesforce"] == 1, first.to_json()
    assert [e for e in sf.events() if e["Id"] == doomed] == []

    # No scan in between: the scan still holds both Events as they were before that session's writes.
    again, scanned = _recorded_session(engine)
    assert scanned.scan_reads == OBJECTS and scanned.fallbacks == []
    assert again.writes == 0, again.to_json()
    assert outlook.find("Doomed") is None
    assert outlook.find("Kept (renamed in Outlook)") is not None and outlook.find("Kept") is None


def test_the_scan_enqueues_the_oldest_edit_first(scan_engine, world):
    """One worker runs a pass's sessions one after the other: the mailbox whose edit waited longest goes first,
    whatever the mailbox ids."""
    from sync.schedule import job_id

    engine = scan_engine
    engine.add_mailbox(BOB)
    alice_event = world.salesforce().create_event(Subject="Alice's", StartDateTime=at(1, 9), EndDateTime=at(1, 10))
    bob_event = world.salesforce(BOB).create_event(Subject="Bob's", StartDateTime=at(1, 11), EndDateTime=at(1, 12))
    _ready(engine, world, engine.email, BOB)
    alice, bob = _mailbox_id(engine, engine.email), _mailbox_id(engine, BOB)
    queue, scanner = _enqueueing_scanner(engine)
    try:
        for first, second, order in ((bob_event, alice_event, [bob, alice]), (alice_event, bob_event, [alice, bob])):
            sf_first = world.salesforce(BOB if first == bob_event else None)
            sf_second = world.salesforce(BOB if second == bob_event else None)
            sf_first.update("Event", first, Subject="edited first")
            time.sleep(1.1)  # SystemModstamp has whole seconds
            sf_second.update("Event", second, Subject="edited second")
            report = scanner.scan()
            assert report.requested == sorted([alice, bob]) and report.enqueued == order, report.to_json()
            assert queue.job_ids == [job_id(m) for m in order]
            queue.empty()
    finally:
        queue.empty()


def test_the_scan_leaves_a_mailbox_with_a_batched_outlook_change_or_a_group_claim_to_the_push_pass(scan_engine,
                                                                                                   world):  # fmt: skip
    """Batched writes (docs/push.md): a mailbox whose Outlook change waits for the batching window, or whose
    session a group job will run, is not enqueued by the scan on its own; its request stays for the push pass."""
    from sync.push.requests import request_sync
    from sync.schedule import group_key

    engine, sf = scan_engine, world.salesforce()
    event_id = sf.create_event(Subject="Batched", StartDateTime=at(5, 9), EndDateTime=at(5, 10))
    _ready(engine, world)
    mailbox_id = _mailbox_id(engine, engine.email)
    redis = engine.runtime.redis
    queue, scanner = _enqueueing_scanner(engine)
    try:
        request_sync(redis, mailbox_id, source="ews")  # an Outlook change in the batching window
        sf.update("Event", event_id, Subject="Batched (Salesforce)")
        report = scanner.scan()
        assert report.requested == [mailbox_id] and report.enqueued == [] and len(queue) == 0, report.to_json()
        assert mailbox_id in pending_requests(redis)

        redis.delete("calsync:push:outlook", "calsync:push:pending")
        redis.set(group_key(mailbox_id), "group-test", ex=60)  # a group job will run its session
        sf.update("Event", event_id, Subject="Batched (again)")
        report = scanner.scan()
        assert report.requested == [mailbox_id] and report.enqueued == [] and len(queue) == 0, report.to_json()

        redis.delete(group_key(mailbox_id))
        sf.update("Event", event_id, Subject="Batched (alone)")
        assert scanner.scan().enqueued == [mailbox_id]
    finally:
        redis.delete(group_key(mailbox_id))
        queue.empty()
