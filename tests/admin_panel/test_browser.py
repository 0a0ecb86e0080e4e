"""The admin panel in Debian's Chromium (Playwright) against the served app, the sandboxes and the real engine:
log in with the keyboard, change a policy and see the next session follow it, forms that refuse bad input,
a viewer and a request without CSRF token refused, Salesforce connected through the sandbox's OAuth flow and
a custom object mapped from describe. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import pytest
from rq import SimpleWorker

from backend.globals import runtime_of
from sync import jobs, mailboxes
from sync.job_queue import session_queue, worker_options
from sync.push import record_channel, record_notification
from sync.push.health import record_status
from tests.admin_panel.conftest import ADMIN, VIEWER
from tests.browser import screenshot
from tests.e2e.actors import at

pytestmark = pytest.mark.slow


def nav(page, section: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name=section, exact=True).click()


def run_queued_jobs(served_panel) -> None:
    """What `calsync worker` does with the jobs the panel queued (previews, verify runs), in this process."""
    panel_runtime = runtime_of(served_panel.app)
    jobs.install(panel_runtime.worker_context())
    try:
        queue = session_queue(panel_runtime.settings.sync_queue, panel_runtime.redis)
        SimpleWorker([queue], connection=panel_runtime.redis, **worker_options()).work(burst=True, with_scheduler=False)
    finally:
        jobs.install(None)


def log_in(page, url: str, email: str, password: str) -> None:
    """With the keyboard only: the e-mail field has focus (autofocus), Tab moves on, Enter submits."""
    page.goto(f"{url}/admin/")
    assert "/admin/login" in page.url
    page.wait_for_function("document.activeElement && document.activeElement.id === 'email'")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:has-text('Overview')")


def test_a_policy_changed_in_the_panel_rules_the_next_session(served_panel, engine, world, browser_page):
    page = browser_page
    outlook, sf = world.outlook(), world.salesforce()
    sf.create_event(Subject="Board meeting", StartDateTime=at(3, 10), EndDateTime=at(3, 11))
    engine.sync()
    item = outlook.find("Board meeting")
    assert item is not None

    log_in(page, served_panel.url, *ADMIN)
    assert page.locator("svg.chart").count() == 7  # 5 per-day counts, 2 latency charts
    screenshot(page, "admin-overview")

    nav(page, "Policies")
    page.get_by_role("link", name="Edit event").click()
    page.locator("#direction-downsync_only").check()
    page.get_by_role("button", name="Save policy").click()
    page.wait_for_selector("text=Policy for event saved")
    assert page.locator("#direction-downsync_only").is_checked()
    screenshot(page, "admin-policy-event-downsync")

    # Outlook edits a linked item; under downsync_only the next session puts Salesforce's version back.
    outlook.edit(item["id"], subject="Board meeting (edited in Outlook)")
    result = engine.sync()
    assert result.reverted["exchange"] == 1
    assert outlook.get(item["id"])["subject"] == "Board meeting"

    nav(page, "Sessions")
    assert page.locator("table.sessions tr.status-ok").count() == 2
    nav(page, "Audit log")
    assert page.locator("td:has-text('policy.update')").count() == 1
    assert page.locator("td:has-text('admin@calsync.example')").count() >= 1
    screenshot(page, "admin-audit-log")


def test_the_overview_shows_push_health_and_the_latency_of_real_sessions(served_panel, engine, world, browser_page,
                                                                          redis_db):  # fmt: skip
    """Issue 18: the session's own latency samples (an Outlook item made, synced to Salesforce) and the push
    health a listener reports (the real `record_*` calls on the panel's Redis)."""
    page = browser_page
    world.outlook().create("Quarterly review", at(2, 10), at(2, 11))
    engine.sync()
    with engine.factory() as db:
        mailbox_id = mailboxes.find(db, world.rep.email).id
    record_channel(redis_db, mailbox_id, "ews-streaming", "up", ttl=300)
    record_notification(redis_db, mailbox_id, "ews-streaming")
    record_status(redis_db, "listener", "listener-1", {"shard": "0/1", "subscriptions": 1}, ttl=60)

    log_in(page, served_panel.url, *ADMIN)
    summary = page.locator("#push-summary")
    assert "1 of 1 mailboxes on push" in summary.inner_text() and "ews-streaming" in summary.inner_text()
    assert "listener-1" in page.locator("#push-listeners").inner_text()
    chart = page.get_by_role("img", name="Outlook → Salesforce latency over 14 days: p50 at most", exact=False)
    assert chart.count() == 1 and chart.locator("circle").count() == 2  # today's p50 and p95
    assert page.get_by_text("Outlook → Salesforce (1 write)").count() == 1
    page.locator("#push").scroll_into_view_if_needed()
    screenshot(page, "admin-overview-push")


def test_forms_refuse_bad_input_with_a_message(served_panel, browser_page):
    page = browser_page
    log_in(page, served_panel.url, *ADMIN)
    nav(page, "Settings")
    page.get_by_label("Session intervals (minutes)").fill("every now and then")
    page.get_by_label("Mass-deletion guard: share of links (%)").fill("250")
    page.get_by_role("button", name="Save settings").click()
    alert = page.get_by_role("alert")
    assert "whole minutes separated by commas" in alert.inner_text()
    assert "from 0 to 100 %" in alert.inner_text()
    screenshot(page, "admin-settings-bad-input")

    nav(page, "Mailboxes")
    page.get_by_label("E-mail").fill("no address")
    page.get_by_role("button", name="Add mailbox").click()
    assert "is not an e-mail address" in page.get_by_role("alert").inner_text()
    screenshot(page, "admin-mailbox-bad-input")


def test_a_viewer_and_a_request_without_csrf_token_are_refused(served_panel, browser_page):
    page = browser_page
    log_in(page, served_panel.url, *VIEWER)
    nav(page, "Settings")
    page.get_by_label("Session intervals (minutes)").fill("15")
    page.get_by_role("button", name="Save settings").click()
    assert page.locator("h1").inner_text().startswith("403")
    assert "may look but not change" in page.locator(".error-message").inner_text()
    screenshot(page, "admin-viewer-refused")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/admin/login")
    log_in(page, served_panel.url, *ADMIN)
    # The browser's own session cookie, but no token: refused before the view runs.
    response = page.request.post(f"{served_panel.url}/admin/settings", form={"intervals": "15"})
    assert response.status == 400
    assert "CSRF" in response.text()
    page.goto(f"{served_panel.url}/admin/settings")
    assert page.get_by_label("Session intervals (minutes)").input_value() == ""


def test_connect_salesforce_by_oauth_and_map_a_custom_object(served_panel, chromium, world, engine):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, ignore_https_errors=True)
    page = context.new_page()
    try:
        log_in(page, served_panel.url, *ADMIN)
        nav(page, "Connections")
        page.get_by_role("button", name="Connect Salesforce").click()
        # The Salesforce sandbox's own authorize page: log in as the integration user.
        rep = world.rep
        page.get_by_label("Username").fill(rep.email)
        page.get_by_label("Password").fill(rep.password)
        page.get_by_role("button", name="Log In").click()
        page.wait_for_selector("text=Salesforce connected")
        assert page.locator("#sf-instance").inner_text().startswith("https://")
        assert "access_token" not in page.content()
        screenshot(page, "admin-connections-salesforce")

        # Sessions (workers, `calsync sync`, the add-in API) now use the connection the panel stored, encrypted.
        runtime = runtime_of(served_panel.app)
        salesforce = runtime.salesforce()
        rows = salesforce.query(f"SELECT Id FROM User WHERE Email = '{rep.email}'")
        assert salesforce.auth.auth.flow == "refresh_token"
        assert salesforce.session.access_token != runtime.settings.salesforce_access_token
        assert [r["Id"] for r in rows] == [rep.salesforce_user_id]

        page.goto(f"{served_panel.url}/admin/policies/custom/new")
        page.get_by_label("Custom object").select_option("Site_Visit__c")
        page.get_by_role("button", name="Choose fields…").click()
        page.locator("#mode-range").check()
        page.get_by_label("Start field").select_option("Visit_Start__c")
        page.get_by_label("End field").select_option("Visit_Start__c")
        page.get_by_role("button", name="Save mapping").click()
        assert "two different Date/Time fields" in page.get_by_role("alert").inner_text()
        screenshot(page, "admin-custom-object-bad-input")
        page.get_by_label("End field").select_option("Visit_End__c")
        page.get_by_label("Category name").fill("SF Site Visit")
        page.get_by_role("button", name="Save mapping").click()
        page.wait_for_selector("text=now syncs to calendars")
        assert "Policy: custom:Site_Visit__c" in page.locator("h1").inner_text()
        screenshot(page, "admin-custom-object-mapped")

        # The next session brings the object's records down with the chosen category.
        world.salesforce().create_record("Site_Visit__c", Name="Visit Acme plant", Visit_Start__c=at(2, 9),
                                         Visit_End__c=at(2, 12), OwnerId=rep.salesforce_user_id)  # fmt: skip
        assert engine.sync().created["exchange"] == 1
        assert world.outlook().find("Visit Acme plant")["categories"] == ["SF Site Visit"]
    finally:
        context.close()
