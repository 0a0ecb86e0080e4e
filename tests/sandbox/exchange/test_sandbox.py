"""Schema validation (a deliberately invalid request and response are caught), the demo seed, persistence across
a restart, info() and the admin log."""

from __future__ import annotations

import base64
import datetime as dt

import requests
from exchangelib import EWSDateTime, EWSTimeZone
from lxml import etree

from sandbox import seed
from sandbox.exchange import EWS_PATH, ExchangeSandbox
from sandbox.exchange.schema import Validator
from sandbox.exchange.services import OPERATIONS
from sandbox.server import ServerThread

from .conftest import ALICE

INVALID_GET_FOLDER = (
    b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    b'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body><m:GetFolder>'
    b'<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder></s:Body></s:Envelope>'
)

VALID_GET_FOLDER = INVALID_GET_FOLDER.replace(
    b"<m:FolderIds>", b"<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>"
)


def _auth():
    return "Basic " + base64.b64encode(f"{ALICE.email}:{ALICE.password}".encode()).decode()


def test_invalid_request_is_refused_and_recorded():
    sandbox = ExchangeSandbox(seed="empty", validate_schema=True)
    with ServerThread(sandbox.wsgi_app) as server:
        r = requests.post(
            server.url + EWS_PATH,
            data=INVALID_GET_FOLDER,
            timeout=10,
            headers={"Authorization": _auth(), "Content-Type": "text/xml"},
        )
    assert r.status_code == 500 and b"ErrorSchemaValidation" in r.content
    assert len(sandbox.schema_errors) == 1
    assert "request GetFolder" in sandbox.schema_errors[0] and "FolderShape" in sandbox.schema_errors[0]


def test_invalid_response_is_recorded(monkeypatch, env):
    def broken(ctx, req):
        m = "{http://schemas.microsoft.com/exchange/services/2006/messages}"
        response = etree.Element(f"{m}GetFolderResponse")
        etree.SubElement(etree.SubElement(response, f"{m}ResponseMessages"), f"{m}NotAMessage")
        return response

    OPERATIONS.get("GetFolder")  # load the registry before patching it
    monkeypatch.setitem(OPERATIONS, "GetFolder", broken)
    requests.post(env.endpoint, data=VALID_GET_FOLDER, headers={"Authorization": _auth()}, timeout=10)
    assert len(env.sandbox.schema_errors) == 1 and "NotAMessage" in env.sandbox.schema_errors[0]
    env.sandbox.schema_errors.clear()  # expected here; the fixture fails any other test that records one


def test_validator_accepts_valid_and_names_the_problem():
    validator = Validator()
    ok = etree.fromstring(VALID_GET_FOLDER)[0][0]
    assert validator.errors(ok) == []
    bad = etree.fromstring(INVALID_GET_FOLDER)[0][0]
    assert (
        "Expected is ( {http://schemas.microsoft.com/exchange/services/2006/messages}FolderShape )"
        in validator.errors(bad)[0]
    )


def test_demo_seed_is_realistic_and_schema_valid(make_env):
    env = make_env(seed="demo")
    today = dt.datetime.now(dt.UTC)
    for rep in seed.REPS:
        account = env.account(rep)
        items = list(account.calendar.all())
        assert len(items) >= 20
        starts = [i.start for i in items if isinstance(i.start, dt.datetime)]
        assert min(starts) >= today - dt.timedelta(days=16) and max(starts) <= today + dt.timedelta(days=44)
        assert any(i.is_all_day for i in items)
        assert any(i.sensitivity == "Private" for i in items)
        assert any("Salesforce" in (i.categories or []) for i in items)
        meetings = [i for i in items if i.is_meeting and i.my_response_type == "Organizer"]
        emails = {a.mailbox.email_address for m in meetings for a in (m.required_attendees or [])}
        assert emails & {r.email for r in seed.REPS} and emails & {p.email for p in seed.PEOPLE}
        [series] = [i for i in items if i.type == "RecurringMaster"]
        assert len(series.modified_occurrences) == 1 and len(series.deleted_occurrences) == 1
        view = list(
            account.calendar.view(
                start=EWSDateTime.from_datetime(today - dt.timedelta(days=15)),
                end=EWSDateTime.from_datetime(today + dt.timedelta(days=60)),
            )
        )
        assert sum(1 for i in view if i.subject and i.subject.startswith("Weekly pipeline sync")) == 9
    # Deterministic: a second sandbox seeds the same calendars.
    other = ExchangeSandbox(seed="demo")
    mine = sorted(i.fields["Subject"].text for i in env.sandbox.store.mailbox(ALICE.email).items.values())
    theirs = sorted(i.fields["Subject"].text for i in other.store.mailbox(ALICE.email).items.values())
    assert mine == theirs


def test_state_survives_a_restart(make_env, tmp_path):
    state = tmp_path / "exchange.json"
    env = make_env(seed="demo", state_file=state)
    account = env.account(ALICE)
    before = account.calendar.all().count()
    from exchangelib import CalendarItem

    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="persisted",
        start=EWSDateTime(2026, 6, 1, 9, tzinfo=EWSTimeZone("UTC")),
        end=EWSDateTime(2026, 6, 1, 10, tzinfo=EWSTimeZone("UTC")),
    )
    item.save(send_meeting_invitations="SendToNone")
    restarted = make_env(state_file=state)  # seed ignored: the file wins
    again = restarted.account(ALICE)
    assert again.calendar.all().count() == before + 1
    got = again.calendar.get(id=item.id)
    assert got.subject == "persisted" and got.changekey == item.changekey
    assert again.calendar.get_user_configuration(name="CategoryList").xml_data


def test_info_and_mailboxes(env):
    info = env.sandbox.info(env.endpoint)
    assert info["endpoint"] == env.endpoint and info["version"] == "Exchange2013_SP1"
    assert info["service_account"] == {"username": seed.SERVICE_ACCOUNT[0], "password": seed.SERVICE_ACCOUNT[1]}
    assert {m["email"] for m in info["mailboxes"]} == {r.email for r in seed.REPS}
    assert info["admin_url"] == env.url + "/__sandbox__"
    env.sandbox.add_mailbox("new.rep@calsync.example", "pw")
    assert "new.rep@calsync.example" in env.sandbox.mailbox_emails()
    assert requests.get(env.admin + "/info", timeout=10).json()["mailboxes"][-1]["email"] == "new.rep@calsync.example"
