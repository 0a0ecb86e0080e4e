"""Policy profiles and the Preview in Debian's Chromium (Playwright), against the served panel, the sandboxes, a
real RQ worker (in-process, burst mode) and the real engine (issue 19). Screenshots go to
test-artifacts/screenshots/ (``admin-profiles*``, ``admin-preview*``)."""

from __future__ import annotations

import pytest

from tests.admin_panel.conftest import ADMIN, VIEWER
from tests.admin_panel.test_browser import log_in, nav, run_queued_jobs
from tests.browser import screenshot
from tests.e2e.actors import at

pytestmark = pytest.mark.slow


def test_a_profile_previewed_assigned_and_followed_by_the_next_session(served_panel, engine, world, browser_page):
    page = browser_page
    outlook, sf = world.outlook(), world.salesforce()
    mine = outlook.create("Own meeting", at(2, 10), at(2, 11))
    sf.create_event(Subject="Published event", StartDateTime=at(3, 9), EndDateTime=at(3, 10))
    engine.converge()
    made = outlook.find("Published event")["id"]

    log_in(page, served_panel.url, *ADMIN)
    nav(page, "Profiles")
    page.get_by_label("Name", exact=True).fill("No events")
    page.get_by_label("Description").fill("Reps who keep Salesforce out of their calendar")
    page.get_by_role("button", name="Create profile").click()
    page.wait_for_selector("text=Profile No events created")
    page.get_by_role("link", name="Edit event").click()
    page.locator("#direction-off").check()
    page.get_by_role("button", name="Save policy").click()
    page.wait_for_selector("text=No events: policy for event saved")
    screenshot(page, "admin-profile-detail")

    # The mailbox's page: pick the profile and preview before saving.
    nav(page, "Mailboxes")
    page.get_by_role("link", name=world.rep.email).click()
    assert "Follows Default: org default" in page.locator("#effective-profile").inner_text()
    page.get_by_label("Explicit profile").select_option(label="No events")
    page.locator("#assign-profile").get_by_role("button", name="Preview this change").click()
    page.wait_for_selector("h1:has-text('Preview:')")
    assert page.locator("#cost dd").first.inner_text() == "1"
    assert "read request" in page.locator("#cost").inner_text()
    screenshot(page, "admin-preview-setup")
    page.get_by_role("button", name="Run preview").click()
    page.wait_for_selector("#progress")
    assert "0 of 1 mailbox done" in page.locator("#progress").inner_text()
    screenshot(page, "admin-preview-queued")

    run_queued_jobs(served_panel)
    page.reload()
    page.wait_for_selector("text=1 of 1 mailbox done")
    row = page.locator("#per-mailbox tr", has_text=world.rep.email)
    cells = row.locator("td").all_inner_texts()
    assert cells[2] == "No events"
    assert cells[3] == "0 / 0 / 0 / 0" and cells[4] == "0 / 0 / 1 / 0"  # one Exchange deletion: what sync made
    assert cells[5] == "2" and cells[7] == "passes"
    assert page.locator(".samples", has_text="deleted in exchange: Published event").count() == 1
    screenshot(page, "admin-preview-results")

    # Nothing changed yet; saving from the preview assigns the profile, and the next session does what it showed.
    assert outlook.get(made) is not None
    page.get_by_role("button", name="Save this change").click()
    page.wait_for_selector("text=Profile saved for 1 mailbox(es)")
    result = engine.sync()
    assert result.deleted == {"salesforce": 0, "exchange": 1} and result.created == {"salesforce": 0, "exchange": 0}
    assert outlook.get(made) is None and outlook.get(mine) is not None

    nav(page, "Profiles")
    effective = page.locator("#effective tr", has_text=world.rep.email).inner_text()
    assert "No events" in effective and "assigned explicitly by admin@calsync.example" in effective
    page.get_by_label("Attribute").select_option("role")
    page.get_by_label("Value").fill("Events Team")
    page.get_by_label("Profile", exact=True).select_option(label="No events")
    page.get_by_role("button", name="Add rule").click()
    page.wait_for_selector("text=Rule added")
    assert "role" in page.locator("#rules").inner_text()
    screenshot(page, "admin-profiles")
    nav(page, "Audit log")
    assert page.locator("td:has-text('mailbox.set_profile')").count() == 1
    assert page.locator("td:has-text('preview.start')").count() == 1


def test_a_viewer_sees_profiles_and_is_refused_a_change(served_panel, engine, browser_page):
    page = browser_page
    log_in(page, served_panel.url, *VIEWER)
    nav(page, "Profiles")
    assert page.locator("#effective").inner_text().count("Default") == 1
    page.get_by_label("Name", exact=True).fill("Viewer's own")
    page.get_by_role("button", name="Create profile").click()
    assert "may look but not change anything" in page.content()
    screenshot(page, "admin-profiles-viewer-refused")
