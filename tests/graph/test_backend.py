"""The per-mailbox backend: ``mailboxes.backend`` chooses EWS or Graph for each mailbox, sessions over Graph
against the sandboxes, and what a mailbox Graph cannot reach becomes (a health entry, other mailboxes on).
Real sandboxes over HTTPS, real MSAL, real Redis, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from calsync.cli import main
from sandbox.seed import REPS
from sync import mailboxes
from sync.connectors.ews import ExchangeConnector
from sync.connectors.graph import GraphCalendar
from sync.models import HealthEntry, Mailbox
from sync.session import run_session
from tests.e2e.actors import at

from .conftest import graph_engine


def test_a_new_mailbox_takes_the_default_backend_and_keeps_its_own(db_session):
    ews = mailboxes.add(db_session, "a@example.com")
    graph = mailboxes.add(db_session, "b@example.com", default_backend="graph")
    chosen = mailboxes.add(db_session, "c@example.com", backend="graph", default_backend="ews")
    db_session.commit()
    assert (ews.backend, graph.backend, chosen.backend) == ("ews", "graph", "graph")
    with pytest.raises(mailboxes.MailboxError, match="calsync mailboxes move c@example.com --to ews"):
        mailboxes.add(db_session, "c@example.com", backend="ews")
    mailboxes.add(db_session, "c@example.com", time_zone="Europe/Paris")  # other changes keep the backend
    assert chosen.backend == "graph"
    with pytest.raises(mailboxes.MailboxError, match="not a mailbox backend"):
        mailboxes.add(db_session, "d@example.com", backend="imap")


def test_cli_add_with_backend_and_list(tmp_path, database_url):
    env = {"DATABASE_URL": database_url, "CALSYNC_ENV": "test"}
    runner = CliRunner()
    added = runner.invoke(main, ["mailboxes", "add", "rep@example.com", "--backend", "graph"], env=env)
    assert added.exit_code == 0, added.output
    assert "backend: graph" in added.output
    default = runner.invoke(main, ["mailboxes", "add", "other@example.com"],
                            env={**env, "CALSYNC_EXCHANGE_BACKEND": "graph"})  # fmt: skip
    assert default.exit_code == 0 and "backend: graph" in default.output
    bad = runner.invoke(main, ["mailboxes", "add", "x@example.com", "--backend", "imap"], env=env)
    assert bad.exit_code == 2 and "imap" in bad.output
    listed = runner.invoke(main, ["mailboxes", "list", "--json"], env=env)
    assert {m["email"]: m["backend"] for m in __import__("json").loads(listed.output)} == {
        "other@example.com": "graph",
        "rep@example.com": "graph",
    }
    imap = {**env, "CALSYNC_EXCHANGE_BACKEND": "imap"}
    refused = runner.invoke(main, ["mailboxes", "add", "x@example.com"], env=imap)
    assert refused.exit_code != 0 and "CALSYNC_EXCHANGE_BACKEND must be ews or graph" in refused.output


def test_runtime_builds_the_connector_of_each_mailbox_backend(gengine, world, graph_settings):
    runtime = gengine.runtime
    assert isinstance(runtime.exchange(world.rep.email, graph_settings), GraphCalendar)
    with runtime.db()() as db:
        mailboxes.add(db, REPS[1].email, REPS[1].salesforce_user_id)
        db.commit()
    assert isinstance(runtime.exchange(REPS[1].email, graph_settings), ExchangeConnector)


def test_a_graph_mailbox_syncs_both_ways(gengine, world):
    outlook, sf = world.outlook(), world.salesforce()
    outlook.create("Graph pricing review", at(2, 10), at(2, 11))
    sf.create_event(Subject="Graph call with Globex", StartDateTime=at(3, 9), EndDateTime=at(3, 9, 30))
    result = gengine.sync()
    assert result.created == {"salesforce": 1, "exchange": 1}, result.to_json()
    assert sf.find_event("Graph pricing review") is not None
    assert outlook.find("Graph call with Globex")["categories"] == ["Salesforce"]
    quiet = gengine.sync()
    assert quiet.writes == 0, quiet.to_json()
    world.assert_no_meeting_messages(strict=False)  # Graph has no SendToNone: no message was sent


def _open(engine, email: str) -> list[HealthEntry]:
    with engine.factory() as db:
        box = mailboxes.find(db, email)
        return list(db.scalars(select(HealthEntry).where(HealthEntry.mailbox_id == box.id,
                                                         HealthEntry.status == "open")))  # fmt: skip


def _other_graph_mailbox(graph_settings, world):
    other = graph_engine(graph_settings, world, REPS[1].email)
    world.salesforce(REPS[1].email).create_event(Subject="Other rep's call", StartDateTime=at(1, 9),
                                                 EndDateTime=at(1, 10))  # fmt: skip
    return other


def _session(engine, email):
    return run_session(engine.factory, email, salesforce=engine.runtime.salesforce(engine.settings),
                       exchange=engine.runtime.exchange(email, engine.settings))  # fmt: skip


def test_an_on_premises_mailbox_gets_a_health_entry_and_others_sync(gengine, world, graph_settings, graph_control):
    graph_control("PUT", "/on_premises", {"mailboxes": [world.rep.email]})
    other = _other_graph_mailbox(graph_settings, world)
    result = _session(gengine, world.rep.email)
    assert result.status == "failed"
    [entry] = _open(gengine, world.rep.email)
    assert entry.code == "graph_mailbox_on_premises" and entry.item_ref == "mailbox"
    assert "On-premises mailbox" in entry.message and "use EWS" in entry.message
    assert other.sync().created["exchange"] == 1  # the other mailbox is not affected
    # Moved back to EWS (it has no links to translate), it syncs and the entry closes.
    graph_control("PUT", "/on_premises", {"mailboxes": []})
    gengine.runtime.move_mailbox(world.rep.email, "ews", graph_settings)
    assert gengine.sync().status == "ok"
    assert _open(gengine, world.rep.email) == []


def test_a_mailbox_outside_the_app_scope_gets_a_health_entry_and_others_sync(
    gengine, world, graph_settings, graph_control, graph_info
):
    graph_control("PUT", "/scopes", {graph_info["client_id"]: [REPS[1].email]})  # RBAC scope: the other rep only
    other = _other_graph_mailbox(graph_settings, world)
    result = _session(gengine, world.rep.email)
    assert result.status == "failed"
    [entry] = _open(gengine, world.rep.email)
    assert entry.code == "graph_mailbox_not_in_scope"
    assert "management scope" in entry.message
    assert other.sync().created["exchange"] == 1
    graph_control("PUT", "/scopes", {graph_info["client_id"]: None})
    assert gengine.sync().status == "ok"
    assert _open(gengine, world.rep.email) == []


def test_refused_app_credentials_are_a_health_entry(world, graph_settings):
    from dataclasses import replace

    bad = replace(graph_settings, graph_private_key_file="", graph_client_secret="not-the-secret")
    eng = graph_engine(bad, world)
    result = _session(eng, world.rep.email)
    assert result.status == "failed"
    [entry] = _open(eng, world.rep.email)
    assert entry.code == "graph_credentials_refused" and "client secret is wrong" in entry.message
    unconfigured = graph_engine(replace(graph_settings, graph_tenant_id=""), world)
    assert _session(unconfigured, world.rep.email).status == "failed"
    assert "graph_not_configured" in {e.code for e in _open(unconfigured, world.rep.email)}


def test_token_expiry_mid_session_renews_once_and_the_session_goes_on(world, graph_settings, graph_control):
    from dataclasses import replace

    # By client secret: a certificate assertion is signed with this machine's clock, which the moved sandbox
    # clock would refuse as skewed (AADSTS700024), a different failure from the one under test.
    gengine = graph_engine(replace(graph_settings, graph_private_key_file=""), world)
    outlook, sf = world.outlook(), world.salesforce()
    for n in range(3):
        sf.create_event(Subject=f"Expiry {n}", StartDateTime=at(2 + n, 9), EndDateTime=at(2 + n, 10))
    gengine.sync()  # a token is cached (process copy and Redis)
    for n in range(3):
        sf.create_event(Subject=f"Later {n}", StartDateTime=at(6 + n, 9), EndDateTime=at(6 + n, 10))
    moved = []

    def checkpoint(point: str) -> None:
        if not moved:  # the first checkpoint: two hours pass, every token issued so far has expired
            graph_control("PUT", "/clock", {"offset_seconds": 7200})
            moved.append(point)

    exchange = gengine.runtime.exchange(world.rep.email, gengine.settings)
    result = run_session(gengine.factory, world.rep.email, salesforce=gengine.runtime.salesforce(gengine.settings),
                         exchange=exchange, checkpoint=checkpoint)  # fmt: skip
    assert moved and result.status == "ok", (result.to_json(), [(e.code, e.message) for e in gengine.health()])
    assert result.created["exchange"] == 3
    assert {f"Later {n}" for n in range(3)} <= {i["subject"] for i in outlook.items()}
    # The cached token was still good by this machine's clock: only Graph's refusal (401, invalidate) made the
    # source ask the identity provider, once.
    assert exchange.client.tokens.requests == 1


def test_mailbox_backend_column_defaults_to_ews_for_existing_rows(db_session):
    db_session.add(Mailbox(email="old@example.com", salesforce_watermarks={}, created_at=dt.datetime.now(dt.UTC)))
    db_session.commit()
    assert mailboxes.find(db_session, "old@example.com").backend == "ews"
