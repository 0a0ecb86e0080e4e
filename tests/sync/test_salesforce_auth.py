"""Pure parts of the Salesforce token provider: the JWT audience per login URL, what each flow needs, and the
identity URL of a session."""

from __future__ import annotations

import pytest

from sync.connectors.salesforce_auth import SalesforceAuth, SalesforceSession, jwt_audience


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://test.salesforce.com/", "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("https://localhost:9443", "https://localhost:9443"),
    ],
)
def test_jwt_audience_follows_the_login_url(login_url, audience):
    assert jwt_audience(login_url) == audience


def test_each_flow_says_what_it_lacks():
    assert SalesforceAuth("jwt").problems() == [
        "The JWT bearer flow needs the consumer key.",
        "The JWT bearer flow needs the integration user's user name.",
        "The JWT bearer flow needs the private key of the app's certificate.",
    ]
    assert SalesforceAuth("client_credentials", login_url="http://acme.my.salesforce.com", client_id="k",
                          client_secret="s").problems() == [
        "The login URL must be an https URL, not 'http://acme.my.salesforce.com'."]  # fmt: skip
    assert SalesforceAuth("token", access_token="t", instance_url="https://x").problems() == []
    assert SalesforceAuth("password").problems()[0].startswith("SALESFORCE_AUTH must be one of")


def test_session_identity_names_org_and_user():
    session = SalesforceSession("t", "https://x", "https://login.salesforce.com/id/00D000000000001/005000000000002")
    assert (session.org_id, session.user_id) == ("00D000000000001", "005000000000002")
    assert SalesforceSession("t", "https://x").org_id == ""
