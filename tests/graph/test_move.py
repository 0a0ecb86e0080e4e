"""``calsync mailboxes move``: a mailbox switched between EWS and Graph keeps every link (item ids translated
with Graph's translateExchangeIds, in batches of 1,000), and the next session — a full round on the new
protocol — creates and deletes nothing on either side. Real sandboxes (one store behind EWS and Graph)."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from exchangelib import CalendarItem
from sqlalchemy import select

from calsync.cli import main
from sync import mailboxes
from sync.jobs import MailboxLock
from sync.mailboxes import MailboxError
from sync.models import HealthEntry, Link, Mailbox, ShareRequest
from tests.e2e.actors import at, sf_datetime
from tests.e2e.engine import Engine

FROM_SALESFORCE, FROM_OUTLOOK = 400, 100  # 500 links


def _salesforce_events(sf, n: int) -> None:
    """``n`` Events of the rep, made 200 at a time through the sObject Collections API."""
    for start in range(0, n, 200):
        records = []
        for i in range(start, min(n, start + 200)):
            begin = at(1 + i % 50, 8 + i % 9)
            end = begin + dt.timedelta(minutes=30)
            records.append({"attributes": {"type": "Event"}, "Subject": f"Visit {i}",
                            "StartDateTime": sf_datetime(begin), "EndDateTime": sf_datetime(end)})  # fmt: skip
        answer = sf.sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
        assert all(r["success"] for r in answer), answer[:3]


def _outlook_items(outlook, n: int) -> None:
    items = []
    for i in range(n):
        begin = at(2 + i % 50, 7 + i % 10, 15)
        end = begin + dt.timedelta(minutes=45)
        items.append(CalendarItem(account=outlook.account, folder=outlook.calendar, subject=f"Outlook {i}",
                                  start=begin, end=end, categories=["Salesforce"]))  # fmt: skip
    outlook.account.bulk_create(outlook.calendar, items, send_meeting_invitations="SendToNone")


def _links(engine) -> dict[str, tuple[str | None, str]]:
    with engine.factory() as db:
        return {link.sync_key: (link.exchange_item_id, link.state) for link in db.scalars(select(Link))}


@pytest.fixture
def ews_engine(graph_settings, world):
    eng = Engine(graph_settings, world, world.rep.email)
    yield eng
    eng.runtime.close()


def test_500_links_move_from_ews_to_graph_and_the_next_session_creates_and_deletes_nothing(ews_engine, world):
    outlook, sf = world.outlook(), world.salesforce()
    _salesforce_events(sf, FROM_SALESFORCE)
    _outlook_items(outlook, FROM_OUTLOOK)
    first = ews_engine.sync()
    assert first.created == {"exchange": FROM_SALESFORCE, "salesforce": FROM_OUTLOOK}, first.to_json()
    ews_engine.converge()
    before = _links(ews_engine)
    assert len(before) == 500 and {state for _, state in before.values()} == {"active"}
    items_before = {i["id"] for i in outlook.items()}
    events_before = {e["Id"] for e in sf.events()}

    report = ews_engine.runtime.move_mailbox(world.rep.email, "graph")
    assert (report.links, report.ids, report.requests) == (500, 500, 1)
    after = _links(ews_engine)
    assert set(after) == set(before)  # the same links, by sync key
    assert all(after[k][0] != before[k][0] and after[k][1] == "active" for k in before)
    with ews_engine.factory() as db:
        box = mailboxes.find(db, world.rep.email)
        assert box.backend == "graph" and box.exchange_sync_state is None

    full = ews_engine.sync()  # now over Graph: a full round
    assert full.created == {"exchange": 0, "salesforce": 0} and full.deleted == {"exchange": 0, "salesforce": 0}, (
        full.to_json()
    )
    assert {i["id"] for i in outlook.items()} == items_before  # (EWS ids: the store still has each item once)
    assert {e["Id"] for e in sf.events()} == events_before
    assert _links(ews_engine).keys() == before.keys()
    quiet = ews_engine.converge()
    assert quiet.writes == 0
    # The move is reversible the same way.
    back = ews_engine.runtime.move_mailbox(world.rep.email, "ews")
    assert back.links == 500
    assert {k: v[0] for k, v in _links(ews_engine).items()} == {k: v[0] for k, v in before.items()}
    again = ews_engine.sync()
    assert again.created == {"exchange": 0, "salesforce": 0} and again.deleted == {"exchange": 0, "salesforce": 0}
    world.assert_no_meeting_messages(strict=False)


def test_a_move_translates_share_requests_and_item_health_too(ews_engine, world):
    outlook = world.outlook()
    item_id = outlook.create("Shared later", at(3, 10), at(3, 11), categories=())
    with ews_engine.factory() as db:
        box = mailboxes.find(db, world.rep.email)
        db.add(ShareRequest(mailbox_id=box.id, exchange_item_id=item_id, who_ids=[], what_id=None))
        db.add(HealthEntry(mailbox_id=box.id, item_ref=f"exchange:{item_id}", side="exchange", code="x",
                           message="m"))  # fmt: skip
        db.commit()
    ews_engine.runtime.move_mailbox(world.rep.email, "graph")
    with ews_engine.factory() as db:
        [share] = db.scalars(select(ShareRequest))
        [entry] = db.scalars(select(HealthEntry))
    assert share.exchange_item_id != item_id and entry.item_ref == f"exchange:{share.exchange_item_id}"
    # The translated id is the one the Graph connector reads the item by.
    graph = ews_engine.runtime.exchange(world.rep.email)
    [item] = graph.fetch([share.exchange_item_id])
    assert item is not None and item.item_id == share.exchange_item_id and item.fields["subject"] == "Shared later"


def test_a_move_is_refused_and_changes_nothing_when_ids_do_not_translate(ews_engine, world):
    with ews_engine.factory() as db:
        box = mailboxes.find(db, world.rep.email)
        box.exchange_sync_state = "some-cursor"
        db.add(Link(mailbox_id=box.id, kind="event", origin="exchange", state="active", exchange_item_id="bogus-id"))
        db.commit()
    with pytest.raises(MailboxError, match="1 of 1 item ids cannot be translated.*nothing was moved"):
        ews_engine.runtime.move_mailbox(world.rep.email, "graph")
    with ews_engine.factory() as db:
        box = mailboxes.find(db, world.rep.email)
        assert (box.backend, box.exchange_sync_state) == ("ews", "some-cursor")
        assert db.scalar(select(Link.exchange_item_id)) == "bogus-id"


def test_a_move_waits_for_the_running_session_and_refuses_nonsense(ews_engine, world, redis):
    with ews_engine.factory() as db:
        box_id = mailboxes.find(db, world.rep.email).id
    with MailboxLock(redis, box_id, 30) as lock:
        assert lock.held
        with pytest.raises(MailboxError, match="syncing right now"):
            ews_engine.runtime.move_mailbox(world.rep.email, "graph")
    with pytest.raises(MailboxError, match="already syncs over EWS"):
        ews_engine.runtime.move_mailbox(world.rep.email, "ews")
    with pytest.raises(MailboxError, match="no mailbox"):
        ews_engine.runtime.move_mailbox("nobody@example.com", "graph")


def test_cli_move(world, graph_settings, sandbox_info_file, database_url):
    from tests.graph.conftest import REDIS_URL

    env = {"DATABASE_URL": database_url, "CALSYNC_ENV": "test", "CALSYNC_SANDBOX_INFO": str(sandbox_info_file),
           "REDIS_URL": REDIS_URL}  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(main, ["mailboxes", "add", world.rep.email], env=env).exit_code == 0
    moved = runner.invoke(main, ["mailboxes", "move", world.rep.email, "--to", "graph"], env=env)
    assert moved.exit_code == 0, moved.output
    assert "moved from EWS to Microsoft Graph" in moved.output and "full round" in moved.output
    again = runner.invoke(main, ["mailboxes", "move", world.rep.email, "--to", "graph"], env=env)
    assert again.exit_code == 1 and "already syncs over Microsoft Graph" in again.output
    bad = runner.invoke(main, ["mailboxes", "move", world.rep.email, "--to", "imap"], env=env)
    assert bad.exit_code == 2
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert connection.execute(select(Mailbox.backend)).scalar_one() == "graph"
    engine.dispose()
