"""Connections saved in the panel drive real sessions: the Exchange service account typed into the form (and
stored encrypted) is what the engine then uses against the EWS sandbox."""

from __future__ import annotations

from dataclasses import replace

from backend.globals import runtime_of
from calsync.web import create_app
from sync import mailboxes
from sync.session import run_session
from tests.admin_panel.conftest import ADMIN, REDIS_URL, add_accounts, csrf_of, log_in
from tests.e2e.actors import at


def test_exchange_account_saved_in_the_panel_is_used_by_the_next_session(sandbox_settings, sandboxes, world, redis_db):
    account = sandboxes.info["exchange"]["service_account"]
    # The environment knows where EWS is but not the service account's password: only the panel does.
    settings = replace(sandbox_settings, redis_url=REDIS_URL, exchange_password="", exchange_username="")
    add_accounts(settings.database_url)
    app = create_app(settings, {"TESTING": True})
    client = app.test_client()
    assert log_in(client, *ADMIN).status_code == 303
    token = csrf_of(client.get("/admin/connections"))
    response = client.post("/admin/connections/exchange", data={
        "csrf_token": token, "endpoint": settings.exchange_endpoint, "username": account["username"],
        "password": account["password"], "auth_type": "basic", "version": settings.exchange_version})  # fmt: skip
    assert response.status_code == 303, response.get_data(as_text=True)

    world.outlook().create("Shared from Outlook", at(2, 10), at(2, 11), categories=["Salesforce"])
    runtime = runtime_of(app)
    with runtime.session_factory() as db:
        mailboxes.add(db, world.rep.email, world.rep.salesforce_user_id)
        db.commit()
    assert runtime.connection_settings().exchange_password == account["password"]
    # What a worker's session runs on: the stored connections laid over the environment's.
    result = run_session(runtime.session_factory, world.rep.email, salesforce=runtime.salesforce(),
                         exchange=runtime.exchange(world.rep.email))  # fmt: skip
    assert result.status == "ok", result.error
    assert world.salesforce().find_event("Shared from Outlook") is not None
    runtime.close()
