"""State files (a demo survives a restart), the demo and empty seeds, the info section, and TLS trust."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
import requests
from simple_salesforce.exceptions import SalesforceExpiredSession

from sandbox.salesforce import SalesforceSandbox
from sandbox.salesforce.oauth import session_id_for
from sandbox.salesforce.seed_data import PROFILES, ROLES
from sandbox.seed import ACCOUNTS, ORG_ID, PEOPLE, REPS
from sandbox.server import ServerThread
from sandbox.tls import TLSFiles
from tests.sandbox.salesforce.conftest import client


def _serve(sandbox: SalesforceSandbox, tls: TLSFiles) -> ServerThread:
    return ServerThread(sandbox.wsgi_app, ssl_context=tls.server_context())


def test_state_survives_a_restart(tmp_path: Path, sf_tls: TLSFiles) -> None:
    state = tmp_path / "salesforce-state.json"
    first = SalesforceSandbox(seed="empty", state_file=state)
    assert state.exists() and stat.S_IMODE(state.stat().st_mode) == 0o600
    with _serve(first, sf_tls) as server:
        info = first.info(server.url)
        sf = client(info["instance_url"], info["users"][0]["session_id"], sf_tls.ca_file)
        kept = sf.Event.create(
            {
                "Subject": "kept",
                "StartDateTime": "2026-12-01T10:00:00Z",
                "DurationInMinutes": 30,
                "CalSync_Key__c": "key-1",
            }
        )["id"]
        gone = sf.Task.create({"Subject": "gone"})["id"]
        sf.Task.delete(gone)
        oauth = info["oauth"]
        http = requests.Session()
        http.trust_env = False
        http.verify = str(sf_tls.ca_file)
        location = http.get(
            oauth["authorize_url"],
            params={
                "response_type": "code",
                "client_id": oauth["client_id"],
                "redirect_uri": oauth["redirect_uris"][0],
                "login_hint": REPS[1].email,
            },
            allow_redirects=False,
        ).headers["Location"]
        code = location.split("code=")[1].split("&")[0]
        token = http.post(
            oauth["token_url"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": oauth["client_id"],
                "client_secret": oauth["client_secret"],
                "redirect_uri": oauth["redirect_uris"][0],
            },
        ).json()
        sf.query("SELECT Id FROM User LIMIT 1")
        used = sf.api_usage["api-usage"].used

    second = SalesforceSandbox(seed="demo", state_file=state)  # the file wins over the seed
    with _serve(second, sf_tls) as server:
        info = second.info(server.url)
        sf = client(info["instance_url"], info["users"][0]["session_id"], sf_tls.ca_file)
        record = sf.Event.get_by_custom_id("CalSync_Key__c", "key-1")
        assert record["Id"] == kept and record["EndDateTime"] == "2026-12-01T10:30:00.000+0000"
        assert sf.query("SELECT COUNT() FROM Event")["totalSize"] == 1  # still the empty seed plus one
        deleted = sf.query_all(f"SELECT Id, IsDeleted FROM Task WHERE Id = '{gone}'", include_deleted=True)
        assert deleted["records"][0]["IsDeleted"] is True
        sf.query("SELECT Id FROM User LIMIT 1")
        assert sf.api_usage["api-usage"].used > used  # the day's usage carried over
        new_id = sf.Event.create({"StartDateTime": "2026-12-02T10:00:00Z", "DurationInMinutes": 5})["id"]
        assert new_id not in {kept, gone}
        oauth_sf = client(info["instance_url"], token["access_token"], sf_tls.ca_file)
        assert oauth_sf.Task.create({"Subject": "still logged in"})["success"] is True


def test_unsupported_state_version_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"version": 999}))
    with pytest.raises(ValueError, match="unsupported"):
        SalesforceSandbox(state_file=state)


def test_reset_endpoint_reseeds(sf_tls: TLSFiles) -> None:
    sandbox = SalesforceSandbox(seed="empty")
    with _serve(sandbox, sf_tls) as server:
        http = requests.Session()
        http.trust_env = False
        http.verify = str(sf_tls.ca_file)
        assert http.post(f"{server.url}/__sandbox__/reset", json={"seed": "demo"}).json() == {"seed": "demo"}
        assert len(sandbox.store.tables["Event"]) > 50
        assert http.post(f"{server.url}/__sandbox__/reset", json={"seed": "bogus"}).status_code == 400


def test_info_section(sf_info: dict) -> None:
    assert sf_info["api_version"] == "59.0" and sf_info["org_id"] == ORG_ID
    assert [u["user_id"] for u in sf_info["users"]] == [r.salesforce_user_id for r in REPS]
    assert all(u["session_id"] == session_id_for(u["user_id"]) for u in sf_info["users"])
    assert sf_info["oauth"]["token_url"] == f"{sf_info['instance_url']}/services/oauth2/token"
    assert sf_info["admin_url"] == f"{sf_info['instance_url']}/__sandbox__"
    assert "ca_file" not in SalesforceSandbox(seed="empty").info("https://localhost:1")


def test_empty_seed_has_only_the_shared_people() -> None:
    tables = SalesforceSandbox(seed="empty").store.tables
    counts = {name: len(rows) for name, rows in tables.items() if rows}
    contacts = sum(p.kind == "Contact" for p in PEOPLE)
    # The reps and the integration user that server-to-server sessions run as.
    leads = len(PEOPLE) - contacts
    # The org's roles and profiles, which calsync's policy-profile rules match on.
    assert counts == {"User": len(REPS) + 1, "Account": len(ACCOUNTS), "Contact": contacts, "Lead": leads,
                      "UserRole": len(ROLES), "Profile": len(PROFILES)}  # fmt: skip


def test_demo_seed_gives_every_rep_a_calendar() -> None:
    sandbox = SalesforceSandbox(seed="demo")
    store = sandbox.store
    today = store.today()
    for rep in REPS:
        # Occurrence Events of a seeded series (RecurrenceActivityId) run on past the window: not counted.
        events = [
            e
            for e in store.tables["Event"].values()
            if e["OwnerId"] == rep.salesforce_user_id and not e.get("RecurrenceActivityId")
        ]
        timed = [e for e in events if not e["IsAllDayEvent"]]
        assert any(e["StartDateTime"].date() < today - dt.timedelta(days=7) for e in timed)
        assert any(e["StartDateTime"].date() > today + dt.timedelta(days=21) for e in timed)
        assert all(
            today - dt.timedelta(days=15) <= e["StartDateTime"].date() <= today + dt.timedelta(days=29) for e in events
        )
        assert any(e["IsAllDayEvent"] and e["DurationInMinutes"] == 2880 for e in events)
        assert any(e["IsPrivate"] for e in events)
        assert any(e["Recurrence2PatternText"] for e in events)
        assert any(e["WhoId"] and e["WhoId"].startswith("00Q") for e in events)
        assert any(e["WhatId"] and e["WhatId"].startswith("006") for e in events)
        relations = {r["EventId"] for r in store.tables["EventRelation"].values()}
        assert any(e["Id"] in relations and e["IsGroupEvent"] for e in events)
        tasks = [t for t in store.tables["Task"].values() if t["OwnerId"] == rep.salesforce_user_id]
        assert {t["IsClosed"] for t in tasks} == {True, False}
        assert any(t["ActivityDate"] and t["ActivityDate"] < today and not t["IsClosed"] for t in tasks)  # overdue
        for custom in ("Site_Visit__c", "Renewal__c"):
            assert any(r["OwnerId"] == rep.salesforce_user_id for r in store.tables[custom].values())
    # Seeded records look older than now, inside the 30-day getUpdated window.
    stamps = [e["SystemModstamp"] for e in store.tables["Task"].values()]
    assert all(store.now() - dt.timedelta(days=30) < s < store.now() for s in stamps)
    # Deterministic: the same day gives the same data.
    again = SalesforceSandbox(seed="demo").store
    assert [e["Subject"] for e in again.tables["Event"].values()] == [
        e["Subject"] for e in store.tables["Event"].values()
    ]


def test_the_ca_file_is_what_makes_tls_work(sf_info: dict, user: dict) -> None:
    untrusting = requests.Session()
    untrusting.trust_env = False  # REQUESTS_CA_BUNDLE must not decide for us
    with pytest.raises(requests.exceptions.SSLError):
        untrusting.get(f"{sf_info['instance_url']}/services/data/")
    trusting = client(sf_info["instance_url"], user["session_id"], sf_info["ca_file"])
    assert trusting.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1
    # Plain http to the TLS port does not get an API answer.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(sf_info["instance_url"].replace("https://", "http://") + "/services/data/", timeout=5)


def test_expired_fixed_session_is_rejected(sf_tls: TLSFiles) -> None:
    sandbox = SalesforceSandbox(seed="empty")
    token = session_id_for(REPS[0].salesforce_user_id)
    sandbox.oauth.expire(token)
    with _serve(sandbox, sf_tls) as server:
        sf = client(server.url, token, sf_tls.ca_file)
        with pytest.raises(SalesforceExpiredSession):
            sf.query("SELECT Id FROM User")
