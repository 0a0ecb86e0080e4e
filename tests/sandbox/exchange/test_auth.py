"""Authentication (Basic, Bearer), impersonation by the service account (allowed) and by anyone else (refused),
the ServerVersionInfo header, and EWS over HTTPS with the sandbox CA."""

from __future__ import annotations

import base64

import pytest
import requests
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    OAUTH2,
    Account,
    CalendarItem,
    Configuration,
    EWSDateTime,
    EWSTimeZone,
    OAuth2AuthorizationCodeCredentials,
)
from exchangelib.errors import ErrorImpersonateUserDenied, ErrorNonExistentMailbox, UnauthorizedError
from exchangelib.protocol import BaseProtocol
from exchangelib.version import EXCHANGE_2013_SP1, Version

from sandbox import seed
from sandbox.exchange import EWS_PATH, ExchangeSandbox
from sandbox.server import ServerThread
from sandbox.tls import make_tls_files

from .conftest import ALICE, BOB, make_config

GET_FOLDER = (
    '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
    '<t:RequestServerVersion Version="Exchange2013_SP1"/></s:Header><s:Body><m:GetFolder><m:FolderShape>'
    "<t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds>"
    '<t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder></s:Body></s:Envelope>'
)


def _basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_401_with_challenge_when_credentials_are_missing_or_wrong(env):
    for headers in ({}, {"Authorization": _basic(ALICE.email, "wrong")}, {"Authorization": "Bearer nope"}):
        r = requests.post(env.endpoint, data=GET_FOLDER, headers={"Content-Type": "text/xml", **headers}, timeout=10)
        assert r.status_code == 401
        challenge = r.headers["WWW-Authenticate"]
        assert challenge.startswith("Basic realm=") and "Bearer" in challenge
    wrong = Account(
        ALICE.email, config=make_config(env.endpoint, ALICE.email, "wrong"), autodiscover=False, access_type=DELEGATE
    )
    with pytest.raises(UnauthorizedError):
        wrong.calendar.all().count()


def test_basic_auth_answer_carries_server_version_info(env):
    r = requests.post(
        env.endpoint,
        data=GET_FOLDER,
        timeout=10,
        headers={"Content-Type": "text/xml", "Authorization": _basic(ALICE.email, ALICE.password)},
    )
    assert r.status_code == 200
    assert (
        '<t:ServerVersionInfo MajorVersion="15" MinorVersion="0" MajorBuildNumber="847" MinorBuildNumber="31" '
        'Version="Exchange2013_SP1"/>' in r.text
    )
    assert "<t:DisplayName>Calendar</t:DisplayName>" in r.text


def test_impersonation_by_the_service_account(env):
    for rep in (ALICE, BOB):
        account = env.service_account(rep)
        item = CalendarItem(
            account=account,
            folder=account.calendar,
            subject=f"for {rep.first_name}",
            start=EWSDateTime(2026, 2, 2, 9, tzinfo=EWSTimeZone("UTC")),
            end=EWSDateTime(2026, 2, 2, 10, tzinfo=EWSTimeZone("UTC")),
        )
        item.save(send_meeting_invitations="SendToNone")
        got = account.calendar.get(id=item.id)
        assert got.organizer.email_address == rep.email  # written into the impersonated mailbox
    assert [i.subject for i in env.account(BOB).calendar.all()] == ["for Bob"]


def test_impersonation_by_anyone_else_is_denied(env):
    config = make_config(env.endpoint, BOB.email, BOB.password)
    as_alice = Account(ALICE.email, config=config, autodiscover=False, access_type=IMPERSONATION)
    with pytest.raises(ErrorImpersonateUserDenied):
        as_alice.calendar.all().count()
    # Even impersonating oneself needs the right.
    as_bob = Account(BOB.email, config=config, autodiscover=False, access_type=IMPERSONATION)
    with pytest.raises(ErrorImpersonateUserDenied):
        as_bob.calendar.all().count()
    config = make_config(env.endpoint, *seed.SERVICE_ACCOUNT)
    ghost = Account("ghost@calsync.example", config=config, autodiscover=False, access_type=IMPERSONATION)
    with pytest.raises(ErrorNonExistentMailbox):
        ghost.calendar.all().count()


def _oauth_account(endpoint: str, token: str, email: str = ALICE.email) -> Account:
    credentials = OAuth2AuthorizationCodeCredentials(access_token={"access_token": token, "token_type": "Bearer"})
    config = Configuration(
        service_endpoint=endpoint, credentials=credentials, auth_type=OAUTH2, version=Version(build=EXCHANGE_2013_SP1)
    )
    return Account(email, config=config, autodiscover=False, access_type=DELEGATE)


def test_bearer_tokens_issued_by_the_sandbox_and_by_a_validator(make_env, monkeypatch):
    # exchangelib's OAuth refuses plain http unless told otherwise (NOTES.md).
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    env = make_env(bearer_tokens=lambda token: BOB.email if token == "idp-token-for-bob" else None)
    alice_token = env.sandbox.issue_token(ALICE.email)
    assert _oauth_account(env.endpoint, alice_token).calendar.name == "Calendar"
    assert _oauth_account(env.endpoint, "idp-token-for-bob", BOB.email).calendar.all().count() == 0
    with pytest.raises(UnauthorizedError):
        _oauth_account(env.endpoint, "forged").calendar.all().count()


def test_https_with_the_sandbox_ca(tmp_path, monkeypatch):
    tls = make_tls_files(tmp_path / "tls")
    sandbox = ExchangeSandbox(seed="empty", validate_schema=True)
    server = ServerThread(sandbox.wsgi_app, ssl_context=tls.server_context())

    class RootCAAdapter(requests.adapters.HTTPAdapter):
        # exchangelib's documented way to trust a private CA (REQUESTS_CA_BUNDLE would otherwise win).
        def cert_verify(self, conn, url, verify, cert):
            super().cert_verify(conn=conn, url=url, verify=str(tls.ca_file), cert=cert)

    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", RootCAAdapter)
    try:
        assert server.url.startswith("https://")
        endpoint = server.url + EWS_PATH
        basic = Account(
            ALICE.email,
            config=make_config(endpoint, ALICE.email, ALICE.password),
            autodiscover=False,
            access_type=DELEGATE,
        )
        assert basic.calendar.name == "Calendar"
        token = sandbox.issue_token(ALICE.email)
        assert _oauth_account(endpoint, token).calendar.all().count() == 0
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(endpoint, data=GET_FOLDER, timeout=10, verify=True)  # the system store lacks our CA
    finally:
        server.stop()
    assert sandbox.schema_errors == []
