"""The task pane signs in for real in Chromium: msal-browser (the vendored build) against the sandbox identity
provider's authorization code flow with PKCE, the same code path as nested app authentication inside Outlook minus
Outlook's bridge (``createNestablePublicClientApplication`` without a bridge is the standard public client).

Office is stubbed only for the item context (NestedAppAuth 1.1 supported, Office SSO failing, so only msal-browser
can produce a token). The backend checks the tokens as in production (JWKS, iss, aud, exp with no leeway here).
Nothing may be fetched from outside the test machine.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from sandbox.identity.provider import ADDIN_CLIENT_ID, NAA_REDIRECT_URI
from tests.addin.test_taskpane import PANE_WIDTH, STUB, pick, wait_for_sync_to_finish
from tests.browser import SCREENSHOTS, screenshot
from tests.e2e.actors import at

TOKEN_LIFETIME = 12  # seconds: short, so that the test sees a token expire and renew


@pytest.fixture
def addin_settings(addin_settings):
    # No clock leeway: a token is refused the second it expires, as the renewal test needs.
    return replace(addin_settings, auth_leeway=0)


@pytest.fixture
def idp(sandboxes, backend_url):
    """The sandbox identity provider with the add-in's SPA redirect URI on this backend, short-lived tokens, and no
    grants or sessions left from earlier tests."""
    identity = sandboxes.identity
    identity.spa.reset()
    identity.sessions.clear()
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sandboxes.tls.ca_file)
    registered = session.post(
        f"{identity.base_url}/__sandbox__/spa-clients",
        json={
            "client_id": ADDIN_CLIENT_ID,
            "redirect_uris": [NAA_REDIRECT_URI, f"{backend_url}/addin/auth-redirect.html"],
            "token_lifetime": TOKEN_LIFETIME,
        },
    )
    assert registered.status_code == 201, registered.text
    yield identity
    identity.spa.reset()


@pytest.fixture
def pane(chromium, backend_url, world, idp):
    """A browser context that trusts nothing outside loopback (and accepts the sandbox CA's certificates); yields a
    function opening the task pane for an item."""
    context = chromium.new_context(ignore_https_errors=True, viewport={"width": PANE_WIDTH, "height": 760})
    outside: list[str] = []
    blocked: set[str] = set()  # loopback origins the test makes unreachable

    def guard(route):
        url = urlsplit(route.request.url)
        if f"{url.scheme}://{url.netloc}" in blocked:
            route.abort("connectionrefused")
        elif url.hostname in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    statuses: list[tuple[str, int]] = []
    page.on("response", lambda r: statuses.append((urlsplit(r.url).path, r.status)))
    page.statuses = statuses

    def open_(item_id: str, subject: str, *, idp_down: bool = False, sso_token: str | None = None):
        if idp_down:
            blocked.add(idp.base_url)
        stub = {
            "itemId": item_id,
            "subject": subject,
            "nestedAppAuth": sso_token is None,
            "token": sso_token,
            "tokenError": None
            if sso_token
            else {"code": 13003, "message": "SSO must not be used when nested app authentication works"},
        }
        page.add_init_script(f"window.__calsyncStub = {json.dumps(stub)};\n{STUB}")
        page.goto(f"{backend_url}/addin/taskpane.html")
        return page

    try:
        yield open_
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "signin-final.png"), full_page=True)
        context.close()
    assert outside == [], f"the task pane fetched outside resources: {outside}"


def sign_in_through_popup(page, email: str, password: str, shot: str | None = None) -> None:
    with page.expect_popup() as popup_info:
        page.get_by_role("button", name="Sign in").click()
    popup = popup_info.value
    popup.wait_for_load_state()
    expect(popup.get_by_role("heading", name="Sign in")).to_be_visible()
    popup.get_by_label("Email").fill(email)
    popup.get_by_label("Password").fill(password)
    if shot:
        screenshot(popup, shot)
    popup.get_by_role("button", name="Sign in").click()
    popup.wait_for_event("close", timeout=15_000)  # the redirect page hands the code back and closes


def test_sign_in_with_msal_renew_share_and_sign_out(pane, world, idp, run_worker):
    item_id = world.outlook().create("Quarterly review with Acme", at(2, 10), at(2, 11), categories=())
    page = pane(item_id, "Quarterly review with Acme")

    # First run: nothing cached, so the pane asks for a click (browsers open popups on clicks only).
    expect(page.locator("#messages")).to_contain_text("Sign in with your work account")
    expect(page.locator("#item-section")).to_be_hidden()
    screenshot(page, "signin-first-run")
    sign_in_through_popup(page, world.rep.email, world.rep.password, "signin-popup")

    expect(page.locator("#state-badge")).to_have_text("Not shared")
    expect(page.locator("#sign-out")).to_be_visible()
    assert idp.spa.grant_log[0] == "authorization_code"
    assert ["getAccessToken"] not in [c[:1] for c in page.evaluate("window.__officeCalls")]  # no Office SSO
    screenshot(page, "signin-signed-in")

    # The API token expires; the API refuses it (401), msal-browser renews it with its refresh token, and the
    # call goes through.
    renewals_before = idp.spa.grant_log.count("refresh_token")
    time.sleep(TOKEN_LIFETIME + 1)
    page.statuses.clear()
    pick(page, "who-input", "coy", "Wile Coyote")
    lookups = [status for path, status in page.statuses if path.endswith("/salesforce/lookup")]
    assert lookups[:1] == [401] and 200 in lookups, page.statuses
    assert idp.spa.grant_log.count("refresh_token") > renewals_before
    assert idp.spa.grant_log.count("authorization_code") == 1  # renewed silently, no second sign-in

    page.locator("#share").click()
    expect(page.locator("#state-badge")).to_have_text("Waiting for sync")
    wait_for_sync_to_finish(page, run_worker)
    expect(page.locator("#messages")).to_contain_text("Sync finished.")
    expect(page.locator("#state-badge")).to_have_text("Shared")
    event = world.salesforce().find_event("Quarterly review with Acme")
    assert event is not None and event["WhoId"]

    # Sign-out ends the identity provider's session (popup), revokes the refresh tokens and clears MSAL's cache.
    with page.expect_popup() as popup_info:
        page.locator("#sign-out").click()
    popup_info.value.wait_for_event("close", timeout=15_000)
    expect(page.locator("#messages")).to_contain_text("You are signed out of calsync.")
    expect(page.locator("#item-section")).to_be_hidden()
    assert not any(g.email == world.rep.email for g in idp.spa.refresh_tokens.values())
    assert idp.sessions == {}
    cached = page.evaluate("Object.keys(localStorage).filter((k) => k.includes('accesstoken'))")
    assert cached == []
    screenshot(page, "signin-signed-out")

    # Signing in again needs the password again.
    with page.expect_popup() as popup_info:
        page.get_by_role("button", name="Sign in").click()
    again = popup_info.value
    again.wait_for_load_state()
    expect(again.get_by_label("Password")).to_be_visible()
    again.close()


def test_a_wrong_password_stays_in_the_popup(pane, world, idp):
    item_id = world.outlook().create("Anything", at(1, 10), at(1, 11), categories=())
    page = pane(item_id, "Anything")
    with page.expect_popup() as popup_info:
        page.get_by_role("button", name="Sign in").click()
    popup = popup_info.value
    popup.get_by_label("Email").fill(world.rep.email)
    popup.get_by_label("Password").fill("not-the-password")
    popup.get_by_role("button", name="Sign in").click()
    expect(popup.get_by_role("alert")).to_contain_text("Your account or password is incorrect")
    assert idp.spa.grant_log == []
    popup.close()
    # msal-browser v5 notices a closed sign-in window only at its popup timeout (60 s); nothing was signed in.
    expect(page.locator("#item-section")).to_be_hidden()
    assert idp.spa.refresh_tokens == {}


def test_when_nested_app_auth_and_office_sso_both_fail_the_pane_says_so(pane, world):
    item_id = world.outlook().create("Anything", at(1, 10), at(1, 11), categories=())
    page = pane(item_id, "Anything", idp_down=True)
    # Nothing is cached, so the identity provider is first needed when the rep presses "Sign in".
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("neither Outlook's nested sign-in", timeout=15_000)
    expect(alert).to_contain_text("nor Office single sign-on (13003)")
    expect(alert.get_by_role("button", name="Try again")).to_be_visible()
    assert ["getAccessToken"] in [c[:1] for c in page.evaluate("window.__officeCalls")]  # SSO was tried second
    expect(page.locator("#item-section")).to_be_hidden()
    screenshot(page, "signin-both-failed")


def test_without_nested_app_auth_the_pane_signs_in_with_office_sso(pane, world, token_for):
    item_id = world.outlook().create("Anything", at(1, 10), at(1, 11), categories=())
    page = pane(item_id, "Anything", sso_token=token_for(world.rep.email))
    expect(page.locator("#state-badge")).to_have_text("Not shared")
    calls = page.evaluate("window.__officeCalls")
    assert [
        "getAccessToken",
        {"allowSignInPrompt": True, "allowConsentPrompt": True, "forMSGraphAccess": False},
    ] in calls
    assert not [path for path, _ in page.statuses if path.endswith("/auth-config.json")]  # MSAL was not started
    expect(page.locator("#sign-out")).to_be_hidden()  # Office owns the sign-in


def test_vendored_msal_matches_the_pinned_package():
    vendor = Path(__file__).resolve().parents[2] / "addin" / "taskpane" / "vendor"
    lock = json.loads((vendor.parent.parent / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/@azure/msal-browser"]["version"]
    for name in ("msal-browser.min.js", "msal-redirect-bridge.min.js"):
        assert (vendor / name).read_text().startswith(f"/*! @azure/msal-browser v{version} "), name
    assert "MIT License" in (vendor / "LICENSE-msal-browser.txt").read_text()
