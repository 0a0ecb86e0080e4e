"""The panel's Microsoft 365 connection and mailbox backends: a certificate typed into Connections (sealed, never
shown back) is what the next Graph session signs in with; bad input is a form error (400), never a 500;
Test connection says per mailbox what a session would meet; the Mailboxes page shows, sets and moves the
backend. The real app, the sandboxes over HTTPS, a real Redis."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.globals import runtime_of
from calsync.web import create_app
from sandbox.seed import REPS
from sync import mailboxes
from sync.connectors.graph import GraphCalendar
from sync.models import AuditEntry, Connection, Link
from sync.session import run_session
from tests.admin_panel.conftest import ADMIN, add_accounts, csrf_of, log_in
from tests.e2e.actors import at

from .conftest import REDIS_URL

ON_PREMISES = next(r for r in REPS if not r.exchange_online)


@pytest.fixture
def bare_settings(sandbox_settings, redis):
    """The sandboxes' settings without any Graph app in the environment: only the panel can set one up."""
    return replace(sandbox_settings, redis_url=REDIS_URL, graph_tenant_id="", graph_client_id="",
                   graph_private_key_file="", graph_certificate_thumbprint="", graph_client_secret="")  # fmt: skip


@pytest.fixture
def panel(bare_settings):
    add_accounts(bare_settings.database_url)
    app = create_app(bare_settings, {"TESTING": True})
    client = app.test_client()
    assert log_in(client, *ADMIN).status_code == 303
    yield client, runtime_of(app)
    runtime_of(app).close()


def _post(client, path: str, data: dict, page: str = "/admin/connections"):
    return client.post(path, data={"csrf_token": csrf_of(client.get(page)), **data})


def _certificate_form(info: dict) -> dict:
    return {"tenant_id": info["tenant_id"], "client_id": info["client_id"], "method": "certificate",
            "thumbprint": ":".join(info["thumbprint"][i:i + 2] for i in range(0, 40, 2)).upper(),
            "private_key": Path(info["private_key_file"]).read_text()}  # fmt: skip


def test_a_certificate_saved_in_the_panel_signs_in_the_next_graph_session(panel, graph_info, world):
    client, runtime = panel
    page = client.get("/admin/connections").get_data(as_text=True)
    assert "Not set up: Graph mailboxes cannot sync" in page and "New-ManagementRoleAssignment" in page
    form = _certificate_form(graph_info)
    response = _post(client, "/admin/connections/microsoft365", form)
    assert response.status_code == 303, response.get_data(as_text=True)
    with runtime.session_factory() as db:
        row = db.scalars(select(Connection).where(Connection.service == "microsoft365")).one()
        assert "PRIVATE KEY" not in (row.secret or "") and row.config["thumbprint"] == graph_info["thumbprint"]
        assert db.scalars(select(AuditEntry.action)).all()[-1] == "connection.microsoft365"
        mailboxes.add(db, world.rep.email, world.rep.salesforce_user_id, backend="graph")
        db.commit()
    page = client.get("/admin/connections").get_data(as_text=True)
    assert "Stored in the panel; private key set (encrypted)" in page and "BEGIN" not in page
    world.salesforce().create_event(Subject="From the panel's app", StartDateTime=at(2, 9), EndDateTime=at(2, 10))
    exchange = runtime.exchange(world.rep.email)  # the stored connection laid over the environment's
    assert isinstance(exchange, GraphCalendar)
    result = run_session(runtime.session_factory, world.rep.email, salesforce=runtime.salesforce(), exchange=exchange)
    assert result.status == "ok" and result.created["exchange"] == 1, result.to_json()
    # Same app, no new key: the stored one is kept; a secret instead replaces it.
    assert _post(client, "/admin/connections/microsoft365", {**form, "private_key": ""}).status_code == 303
    secret = {**form, "method": "secret", "private_key": "", "client_secret": graph_info["client_secret"]}
    assert _post(client, "/admin/connections/microsoft365", secret).status_code == 303
    assert runtime.connection_settings().graph_private_key == ""
    assert runtime.connection_settings().graph_client_secret == graph_info["client_secret"]
    assert _post(client, "/admin/connections/microsoft365/disconnect", {}).status_code == 303
    assert runtime.connection_settings().graph_tenant_id == ""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tenant_id": "not a tenant"}, "The tenant id must be the directory (tenant) id"),
        ({"client_id": "calsync"}, "The client id must be the app registration"),
        ({"thumbprint": "abc"}, "40 hexadecimal characters"),
        ({"private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"}, "unencrypted PEM"),
        ({"private_key": ""}, "Paste the private key"),
        ({"method": "secret", "private_key": ""}, "Enter the client secret"),
        ({"method": "kerberos"}, "Choose a certificate or a client secret"),
    ],
    ids=["tenant", "client", "thumbprint", "bad-key", "no-key", "no-secret", "method"],
)
def test_bad_input_is_a_form_error_and_stores_nothing(panel, graph_info, changes, message):
    client, runtime = panel
    response = _post(client, "/admin/connections/microsoft365", {**_certificate_form(graph_info), **changes})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with runtime.session_factory() as db:
        assert db.scalars(select(Connection).where(Connection.service == "microsoft365")).one_or_none() is None


def test_test_connection_answers_per_mailbox(panel, graph_info, graph_control, world):
    client, runtime = panel
    _post(client, "/admin/connections/microsoft365", _certificate_form(graph_info))
    with runtime.session_factory() as db:
        mailboxes.add(db, world.rep.email, backend="graph")
        db.commit()
    graph_control("PUT", "/scopes", {graph_info["client_id"]: [world.rep.email, ON_PREMISES.email]})
    others = f"{ON_PREMISES.email}, {REPS[1].email} nobody@calsync.example"
    response = _post(client, "/admin/connections/microsoft365/test", {"mailboxes": [world.rep.email], "other": others})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    rows = page.split('id="m365-results"')[1].split("</table>")[0]
    assert f"{world.rep.email}</td><td>OK: Reachable: " in rows
    assert f"{ON_PREMISES.email}</td><td>graph_mailbox_on_premises: On-premises mailbox" in rows
    assert f"{REPS[1].email}</td><td>graph_mailbox_not_in_scope" in rows
    assert "nobody@calsync.example</td><td>graph_unknown_user" in rows
    # A refused credential is said once, before any mailbox.
    _post(client, "/admin/connections/microsoft365", {**_certificate_form(graph_info), "method": "secret",
                                                      "private_key": "", "client_secret": "wrong"})  # fmt: skip
    tested = _post(client, "/admin/connections/microsoft365/test", {"mailboxes": [world.rep.email]})
    page = tested.get_data(as_text=True)
    assert 'id="m365-token-error"' in page and "client secret is wrong" in page and 'id="m365-results"' not in page
    bad = _post(client, "/admin/connections/microsoft365/test", {"other": "not-an-address"})
    assert bad.status_code == 400 and "Not an e-mail address: not-an-address" in bad.get_data(as_text=True)
    assert _post(client, "/admin/connections/microsoft365/test", {}).status_code == 400


def test_mailboxes_page_shows_sets_and_moves_the_backend(panel, graph_info, world, engine):  # noqa: ARG001
    client, runtime = panel
    page = "/admin/mailboxes"
    added = _post(client, page, {"email": REPS[2].email, "backend": "graph"}, page)
    assert added.status_code == 303
    bad = _post(client, page, {"email": REPS[3].email, "backend": "imap"}, page)
    assert bad.status_code == 400 and "not a mailbox backend" in bad.get_data(as_text=True)
    listing = client.get(page).get_data(as_text=True)
    assert "Microsoft Graph" in listing and "Move to EWS" in listing
    with runtime.session_factory() as db:
        rep = mailboxes.add(db, world.rep.email, world.rep.salesforce_user_id)
        db.commit()
        rep_id = rep.id
    world.outlook().create("Linked before the move", at(2, 10), at(2, 11))
    run_session(runtime.session_factory, world.rep.email, salesforce=runtime.salesforce(),
                exchange=runtime.exchange(world.rep.email))  # fmt: skip
    # No Microsoft 365 connection yet: the move is refused, nothing changes.
    refused = _post(client, f"/admin/mailboxes/{rep_id}/backend", {"backend": "graph", "back": page}, page)
    assert refused.status_code == 303
    assert "Microsoft Graph is not configured" in client.get(page).get_data(as_text=True)
    _post(client, "/admin/connections/microsoft365", _certificate_form(graph_info))
    moved = _post(client, f"/admin/mailboxes/{rep_id}/backend", {"backend": "graph", "back": page}, page)
    assert moved.status_code == 303
    assert "moved from EWS to Microsoft Graph; 1 item ids translated" in client.get(page).get_data(as_text=True)
    with runtime.session_factory() as db:
        assert mailboxes.find(db, world.rep.email).backend == "graph"
        [link] = db.scalars(select(Link))
    detail = client.get(f"/admin/mailboxes/{rep_id}").get_data(as_text=True)
    assert 'id="mailbox-backend">Microsoft Graph' in detail
    result = run_session(runtime.session_factory, world.rep.email, salesforce=runtime.salesforce(),
                         exchange=runtime.exchange(world.rep.email))  # fmt: skip
    assert result.status == "ok" and result.created == {"salesforce": 0, "exchange": 0}, result.to_json()
    nonsense = _post(client, f"/admin/mailboxes/{rep_id}/backend", {"backend": "pop3", "back": page}, page)
    assert nonsense.status_code == 303 and "choose EWS or Microsoft Graph" in client.get(page).get_data(as_text=True)
    assert link.exchange_item_id
