"""The task pane in Chromium with a stubbed ``Office`` global, against the real backend (werkzeug in a thread),
an in-process RQ worker, the sandboxes and the database. Nothing may be fetched from outside the test machine.

Screenshots are saved under ``test-artifacts/screenshots/`` (``taskpane-*.png``).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from sandbox.seed import PEOPLE
from sync import mailboxes
from sync.push import record_channel, request_sync
from sync.schedule import Scheduler, schedule_config
from tests.browser import screenshot
from tests.e2e.actors import at

STUB = (Path(__file__).parent / "office_stub.js").read_text()
CONTACT = PEOPLE[0]  # Wile Coyote
PANE_WIDTH = 340  # Outlook's task pane is narrow


@pytest.fixture
def open_pane(browser_page, backend_url, token_for, world):
    """Open the task pane for an item, with the Office stub; returns the page. Outside requests are refused and
    remembered (the test fails if there was one)."""
    page = browser_page
    page.set_viewport_size({"width": PANE_WIDTH, "height": 760})
    outside: list[str] = []

    def guard(route):
        host = urlsplit(route.request.url).hostname
        if host in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)

    def open_(item_id: str, subject: str, *, token_error: dict | None = None):
        config = {"itemId": item_id, "subject": subject, "token": token_for(world.rep.email), "tokenError": token_error}
        page.add_init_script(f"window.__calsyncStub = {json.dumps(config)};\n{STUB}")
        page.goto(f"{backend_url}/addin/taskpane.html")
        return page

    yield open_
    assert outside == [], f"the task pane fetched outside resources: {outside}"


def office_calls(page) -> list:
    return page.evaluate("window.__officeCalls")


def pick(page, input_id: str, text: str, name: str) -> None:
    """Search in a picker with the keyboard and choose ``name`` with ↓/Enter."""
    field = page.locator(f"#{input_id}")
    field.click()
    field.press_sequentially(text, delay=20)
    options = page.locator(f"#{input_id.replace('input', 'list')} .option")
    expect(options.first).to_be_visible()
    names = options.locator(".option-name").all_inner_texts()
    assert name in names, names
    for _ in range(names.index(name)):
        field.press("ArrowDown")
    field.press("Enter")


def wait_for_sync_to_finish(page, run_worker, shot: str | None = None) -> None:
    expect(page.locator("#progress")).to_be_visible()
    expect(page.locator("#progress-text")).to_have_text("Waiting for a sync worker…")
    if shot:
        screenshot(page, shot)
    assert run_worker() == 1
    expect(page.locator("#progress")).to_be_hidden(timeout=15_000)


def test_share_with_who_and_what_then_unshare(open_pane, world, run_worker):
    item_id = world.outlook().create("Pipeline review with Acme", at(2, 10), at(2, 11), categories=())
    page = open_pane(item_id, "Pipeline review with Acme")
    expect(page.locator("#state-badge")).to_have_text("Not shared")
    expect(page.locator("#subject")).to_have_text("Pipeline review with Acme")
    calls = office_calls(page)
    assert ["masterCategories.addAsync", [{"displayName": "Salesforce", "color": "Preset7"},
                                          {"displayName": "SF Task", "color": "Preset4"}]] in calls  # fmt: skip
    screenshot(page, "taskpane-not-shared")

    pick(page, "who-input", "coy", "Wile Coyote")
    pick(page, "what-input", "acme", "Acme Corporation")
    expect(page.locator("#who-chips .chip")).to_have_text(["Wile Coyote×"])
    screenshot(page, "taskpane-pickers")
    page.locator("#share").focus()
    page.keyboard.press("Enter")  # keyboard only
    expect(page.locator("#state-badge")).to_have_text("Waiting for sync")
    assert ["item.categories.addAsync", ["Salesforce"]] in office_calls(page)
    assert "Salesforce" in world.outlook().get(item_id)["categories"]  # set server-side through EWS

    wait_for_sync_to_finish(page, run_worker, "taskpane-sync-waiting")
    expect(page.locator("#messages")).to_contain_text("Sync finished.")
    expect(page.locator("#progress-text")).to_be_hidden()
    expect(page.locator("#state-badge")).to_have_text("Shared")
    event = world.salesforce().find_event("Pipeline review with Acme")
    assert event["WhoId"] == CONTACT.salesforce_id and event["WhatId"] == "001000000000000001"
    link = page.locator("#record-link")
    expect(link).to_have_attribute("href", re.compile(rf"/lightning/r/Event/{event['Id']}/view$"))
    expect(page.locator("#what-chips .chip")).to_contain_text("Acme Corporation")
    screenshot(page, "taskpane-shared")

    page.locator("#unshare").click()
    expect(page.locator("#messages")).to_contain_text("stays in Salesforce")
    assert ["item.categories.removeAsync", ["Salesforce"]] in office_calls(page)
    wait_for_sync_to_finish(page, run_worker)
    expect(page.locator("#state-badge")).to_have_text("Not shared")
    assert world.salesforce().get("Event", event["Id"]) is not None  # on_unshare = keep_salesforce
    assert not world.outlook().get(item_id)["categories"]
    screenshot(page, "taskpane-unshared")


def test_sign_in_failure_says_what_to_do(open_pane, world):
    item_id = world.outlook().create("Anything", at(1, 10), at(1, 11), categories=())
    page = open_pane(item_id, "Anything", token_error={"code": 13001, "message": "not signed in"})
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("You are not signed in to Outlook")
    expect(alert.get_by_role("button", name="Try again")).to_be_visible()
    expect(page.locator("#item-section")).to_be_hidden()
    expect(page.locator("#sync")).to_be_hidden()
    screenshot(page, "taskpane-sign-in-failed")


def test_a_sync_error_is_shown_in_plain_words(open_pane, world, run_worker, addin_settings):
    item_id = world.outlook().create("Board meeting", at(1, 15), at(1, 16), categories=())
    page = open_pane(item_id, "Board meeting")
    expect(page.locator("#state-badge")).to_have_text("Not shared")
    assert world.expire_salesforce_session(addin_settings.salesforce_access_token)
    page.locator("#share").click()
    wait_for_sync_to_finish(page, run_worker)
    expect(page.get_by_role("alert")).to_contain_text("Sync failed: Salesforce did not accept calsync's connection")
    expect(page.locator("#health-list li")).to_have_count(1)
    expect(page.locator("#health-list")).to_contain_text("refused our credentials")
    expect(page.locator("#state-badge")).to_have_text("Waiting for sync")
    screenshot(page, "taskpane-sync-error")


def test_salesforce_tasks_are_read_only(open_pane, world, engine):
    world.salesforce().create_task(Subject="Send the proposal", ActivityDate=at(3, 9).date().isoformat())
    engine.sync()
    item = world.outlook().find("Send the proposal")
    page = open_pane(item["id"], "Send the proposal")
    expect(page.locator("#readonly-badge")).to_be_visible()
    expect(page.locator("#readonly-reason")).to_contain_text("Salesforce Task")
    expect(page.locator("#share")).to_be_hidden()
    expect(page.locator("#pickers")).to_be_hidden()
    expect(page.locator("#state-badge")).to_have_text("Shared")
    screenshot(page, "taskpane-read-only-task")


def test_last_sync_says_a_change_made_it_and_that_changes_sync_within_a_minute(
    open_pane, world, run_worker, addin_settings, redis11, engine
):
    """Issue 18: a session the push pass enqueued for a change notification (the real scheduler and worker)."""
    item_id = world.outlook().create("Moved by the rep", at(2, 10), at(2, 11))
    with engine.factory() as db:
        mailbox_id = mailboxes.find(db, world.rep.email).id
    record_channel(redis11, mailbox_id, "ews-streaming", "up", ttl=300)
    request_sync(redis11, mailbox_id, source="ews")
    page = open_pane(item_id, "Moved by the rep")
    expect(page.locator("#last-sync")).to_have_text("Not synced yet. · A change was noticed: syncing in a moment.")
    scheduler = Scheduler(redis11, engine.factory, schedule_config(addin_settings), epoch=lambda: time.time() + 60)
    assert scheduler.push_tick().pushed == [mailbox_id]
    assert run_worker() == 1
    page.reload()
    expect(page.locator("#state-badge")).to_have_text("Shared")
    expect(page.locator("#last-sync")).to_have_text(re.compile(r"^Last sync \(after a change\): .+ · Changes sync "
                                                               r"within a minute\.$"))  # fmt: skip
    screenshot(page, "taskpane-last-sync-push")
