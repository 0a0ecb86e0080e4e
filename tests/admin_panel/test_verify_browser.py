"""The mailbox page's Verify section in Debian's Chromium (Playwright), against the served panel, the sandboxes,
a real RQ worker (in-process, burst mode) and the real engine. Screenshot: test-artifacts/screenshots/
``admin-verify.png``."""

from __future__ import annotations

import pytest

from tests.admin_panel.conftest import ADMIN
from tests.admin_panel.test_browser import log_in, nav, run_queued_jobs
from tests.browser import screenshot
from tests.e2e.actors import at

pytestmark = pytest.mark.slow


def test_run_verify_and_read_the_findings(served_panel, engine, world, browser_page):
    page = browser_page
    outlook, sf = world.outlook(), world.salesforce()
    outlook.create("Quarterly review", at(2, 10), at(2, 11), location="Room 1")
    gone = outlook.create("Lunch with Acme", at(3, 12), at(3, 13))
    engine.converge()
    event = sf.find_event("Quarterly review")
    sf.update("Event", event["Id"], Location="Room 7")
    outlook.delete(gone)

    log_in(page, served_panel.url, *ADMIN)
    nav(page, "Mailboxes")
    page.get_by_role("link", name=world.rep.email).click()
    assert page.locator("#verify-report").inner_text() == "No verify has run for this mailbox yet."
    page.get_by_role("button", name="Run verify").click()
    page.wait_for_selector("text=verify enqueued")
    assert page.locator("#verify-state").inner_text() == "A verify is queued."

    run_queued_jobs(served_panel)
    page.reload()
    summary = page.locator("#verify-summary").inner_text()
    assert "2 findings (exchange_gone 1, fields_differ 1)" in summary and "by admin@calsync.example" in summary
    rows = page.locator("#verify-findings tr")
    assert rows.count() == 3  # the header and two findings
    differ = page.locator("#verify-findings tr", has_text="fields_differ").locator("td").all_inner_texts()
    assert "location: Room 1 / Room 7" in differ[3] and differ[4] == "exchange"
    gone_row = page.locator("#verify-findings tr", has_text="exchange_gone").locator("td").all_inner_texts()
    assert "Lunch with Acme" in gone_row[1] and gone_row[4] == "salesforce"
    screenshot(page, "admin-verify")
