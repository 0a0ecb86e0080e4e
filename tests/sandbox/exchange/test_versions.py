"""Schema versions through exchangelib: its version guessing finds Exchange 2013 SP1 (newer versions answer
ErrorInvalidServerVersion, as a 2013 server answers them), older request versions are accepted, and an operation
the sandbox does not implement fails once instead of being retried under every version."""

from __future__ import annotations

import pytest
import requests
from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, FailFast
from exchangelib.errors import ErrorInvalidOperation
from exchangelib.version import EXCHANGE_2010, Version
from lxml import etree

from .conftest import ALICE


def _account(env, version=None) -> Account:
    cfg = Configuration(
        service_endpoint=env.endpoint,
        credentials=Credentials(ALICE.email, ALICE.password),
        auth_type=BASIC,
        version=version,
        retry_policy=FailFast(),
    )
    return Account(ALICE.email, config=cfg, autodiscover=False, access_type=DELEGATE)


def _requests(env) -> dict:
    return env.log()["requests"]


def test_version_guessing_lands_on_exchange_2013_sp1(env):
    account = _account(env)
    assert account.version.api_version == "Exchange2013_SP1"
    assert account.version.build.major_version == 15
    guesses = _requests(env)["ConvertId"]
    assert 1 < guesses <= 6  # the newer versions exchangelib knows, each refused once
    assert list(account.calendar.all()[:1]) == []
    account.protocol.close()


def test_a_newer_version_is_an_invalid_server_version_fault(env):
    body = (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
        '<t:RequestServerVersion Version="{}"/></s:Header><s:Body><m:GetFolder><m:FolderShape>'
        "<t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>"
        '<t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder></s:Body></s:Envelope>'
    )
    for version, status, code in (
        ("Exchange2016", 500, "ErrorInvalidServerVersion"),
        ("V2_9", 500, "ErrorInvalidServerVersion"),
        ("Exchange2010_SP2", 200, "NoError"),
        ("Exchange2007_SP1", 200, "NoError"),
    ):
        answer = requests.post(
            env.endpoint,
            data=body.format(version),
            auth=(ALICE.email, ALICE.password),
            headers={"Content-Type": "text/xml; charset=utf-8"},
            timeout=30,
        )
        doc = etree.fromstring(answer.content)
        assert (answer.status_code, doc.findtext(".//{*}ResponseCode")) == (status, code), version


def test_an_older_configured_version_is_served(env):
    account = _account(env, Version(build=EXCHANGE_2010))
    assert [f.name for f in [account.calendar]] == ["Calendar"]
    assert "ConvertId" not in _requests(env)
    account.protocol.close()


def test_an_unimplemented_operation_fails_once_without_version_retries(env, alice):
    env.sandbox.reset_log()
    with pytest.raises(ErrorInvalidOperation):
        list(alice.protocol.get_timezones())
    assert _requests(env) == {"GetServerTimeZones": 1}
