"""Fixtures for the Graph sandbox contract tests: the sandboxes started as ``calsync sandbox`` starts them, and
clients built only from the info file with msal and requests (no project code beyond starting the sandbox)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import msal
import pytest
import requests
from exchangelib import BASIC, DELEGATE, Account, CalendarItem, Configuration, Credentials, Version
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.version import EXCHANGE_2013_SP1

from sandbox.runner import SandboxOptions, start_sandboxes

SCOPE = ["https://graph.microsoft.com/.default"]
_windows = itertools.count()


@pytest.fixture(scope="session")
def running(tmp_path_factory):
    options = SandboxOptions(state_dir=tmp_path_factory.mktemp("graph-sandbox"), seed="empty", validate_schema=True)
    with start_sandboxes(options) as sbx:
        yield sbx
    # What Graph wrote must stay valid EWS for exchangelib, and no request may have hit a sandbox bug.
    assert not sbx.exchange.schema_errors, sbx.exchange.schema_errors[:5]
    assert not sbx.graph.internal_errors, sbx.graph.internal_errors[:5]


@pytest.fixture(scope="session")
def info(running) -> dict:
    return running.info["graph"]


def http_session(ca_file: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file
    return session


def msal_app(info: dict, credential, client_id: str | None = None, authority: str | None = None):
    return msal.ConfidentialClientApplication(
        client_id or info["client_id"],
        client_credential=credential,
        authority=authority or info["authority"],
        http_client=http_session(info["ca_file"]),
        instance_discovery=False,
    )


class Graph:
    """requests against the sandbox's Graph base URL with a bearer token from msal."""

    def __init__(self, info: dict, token: str) -> None:
        self.info = info
        self.base = info["base_url"]
        self.session = http_session(info["ca_file"])
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.admin = info["admin_url"]

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else self.base + path

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.url(path), timeout=30, **kw)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        return self.session.post(self.url(path), json=json, timeout=30, **kw)

    def patch(self, path: str, json=None, **kw) -> requests.Response:
        return self.session.patch(self.url(path), json=json, timeout=30, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.session.delete(self.url(path), timeout=30, **kw)

    def control(self, method: str, path: str, json=None) -> dict:
        answer = requests.request(method, self.admin + path, json=json, verify=self.info["ca_file"], timeout=30)
        answer.raise_for_status()
        return answer.json()


@pytest.fixture(scope="session")
def token(info) -> str:
    result = msal_app(info, info["client_secret"]).acquire_token_for_client(scopes=SCOPE)
    assert "access_token" in result, result
    return result["access_token"]


@pytest.fixture
def graph(info, token) -> Graph:
    client = Graph(info, token)
    yield client
    client.control("POST", "/reset")
    client.control("PUT", "/scopes", {info["client_id"]: None})


@pytest.fixture(scope="session")
def mailboxes(info) -> list[str]:
    return [m["email"] for m in info["mailboxes"]]


class ContractKey(ExtendedProperty):
    """The sync key as exchangelib clients write it (named property CalSyncKey in its own property set)."""

    property_set_id = "3f0d1c4e-6a5b-4c1e-9d7a-0c5a1ca15c01"
    property_name = "CalSyncKey"
    property_type = "String"


@pytest.fixture
def ews_account(running):
    """exchangelib accounts (Basic auth over the EWS endpoint of the info file), with ``contract_key``."""
    CalendarItem.register("contract_key", ContractKey)
    made: list[Account] = []

    def factory(email: str) -> Account:
        ex = running.info["exchange"]
        mailbox = next(m for m in ex["mailboxes"] if m["email"] == email)
        config = Configuration(
            service_endpoint=ex["http_endpoint"],
            credentials=Credentials(mailbox["username"], mailbox["password"]),
            auth_type=BASIC,
            version=Version(build=EXCHANGE_2013_SP1),
        )
        account = Account(email, config=config, autodiscover=False, access_type=DELEGATE)
        made.append(account)
        return account

    try:
        yield factory
    finally:
        for account in made:
            account.protocol.close()
        CalendarItem.deregister("contract_key")


@pytest.fixture
def window() -> tuple[dt.datetime, dt.datetime]:
    """A month of its own for each test (years ahead), so tests sharing a mailbox do not see each other."""
    n = next(_windows)
    start = dt.datetime(2031, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=40 * n)
    return start, start + dt.timedelta(days=30)


def event_body(start: dt.datetime, subject: str = "Graph test", minutes: int = 30, **extra) -> dict:
    end = start + dt.timedelta(minutes=minutes)
    return {
        "subject": subject,
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        **extra,
    }


def iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def read_file(path: str) -> str:
    return Path(path).read_text()


# The event shape the sandbox documents (Graph v1.0 event resource): property -> allowed JSON types.
EVENT_SHAPE = {
    "@odata.etag": str,
    "id": str,
    "createdDateTime": str,
    "lastModifiedDateTime": str,
    "changeKey": str,
    "categories": list,
    "transactionId": (str, type(None)),
    "originalStartTimeZone": str,
    "originalEndTimeZone": str,
    "iCalUId": str,
    "reminderMinutesBeforeStart": int,
    "isReminderOn": bool,
    "hasAttachments": bool,
    "subject": str,
    "bodyPreview": str,
    "importance": str,
    "sensitivity": str,
    "isAllDay": bool,
    "isCancelled": bool,
    "isOrganizer": bool,
    "responseRequested": bool,
    "seriesMasterId": (str, type(None)),
    "showAs": str,
    "type": str,
    "webLink": str,
    "responseStatus": dict,
    "body": dict,
    "start": dict,
    "end": dict,
    "location": dict,
    "locations": list,
    "recurrence": (dict, type(None)),
    "attendees": list,
    "organizer": dict,
}
ENUMS = {
    "importance": {"low", "normal", "high"},
    "sensitivity": {"normal", "personal", "private", "confidential"},
    "showAs": {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"},
    "type": {"singleInstance", "occurrence", "exception", "seriesMaster"},
}


def check_event(event: dict) -> dict:
    """Assert that an event has the documented Graph v1.0 shape; return it."""
    if "@removed" in event:
        assert event["@removed"] == {"reason": "deleted"} and isinstance(event["id"], str)
        return event
    for name, kind in EVENT_SHAPE.items():
        assert name in event, f"event lacks {name}"
        assert isinstance(event[name], kind), f"{name}: {event[name]!r}"
    for name, allowed in ENUMS.items():
        assert event[name] in allowed, f"{name}: {event[name]!r}"
    for edge in ("start", "end"):
        assert set(event[edge]) == {"dateTime", "timeZone"}
        dt.datetime.fromisoformat(event[edge]["dateTime"][:26])
    assert event["body"]["contentType"] in ("text", "html") and isinstance(event["body"]["content"], str)
    assert event["@odata.etag"] == f'W/"{event["changeKey"]}"'
    for attendee in event["attendees"]:
        assert attendee["type"] in ("required", "optional", "resource")
        assert set(attendee["emailAddress"]) == {"name", "address"} and "response" in attendee["status"]
    assert (event["type"] in ("occurrence", "exception")) == (event["seriesMasterId"] is not None)
    assert (event["recurrence"] is not None) == (event["type"] == "seriesMaster")
    return event
