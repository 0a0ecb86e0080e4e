"""Policy profiles in the panel through Flask's test client (issue 19): admins change, viewers look, bad input is a
form error, every change is audited with before and after, and a preview of a change starts one RQ job per
mailbox picked (the jobs themselves run against the sandboxes in tests/admin_panel/test_profiles_browser.py)."""

from __future__ import annotations

import json

from sqlalchemy import select

from backend.globals import runtime_of
from sync import mailboxes, preview_jobs, profiles
from sync.job_queue import session_queue
from sync.models import AuditEntry, MailboxProfile, PolicyProfile
from tests.admin_panel.conftest import VIEWER, csrf_of, log_in


def _db(app):
    return runtime_of(app).session_factory()


def _add_mailboxes(app, *emails: str) -> list[int]:
    with _db(app) as db:
        ids = [mailboxes.add(db, e, "005000000000000001") for e in emails]
        db.commit()
        return [m.id for m in ids]


def _audit(app, action: str) -> list[AuditEntry]:
    with _db(app) as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_the_migration_made_todays_policies_the_default_profile(app, admin_client):
    with _db(app) as db:
        (row,) = db.scalars(select(PolicyProfile)).all()
    assert (row.name, row.is_default, row.policies) == ("Default", True, {})
    page = admin_client.get("/admin/profiles").get_data(as_text=True)
    assert "Default" in page and "the org's policies" in page


def test_viewers_see_profiles_and_cannot_change_them(app, client):
    (mailbox_id,) = _add_mailboxes(app, "rep@calsync.example")
    assert log_in(client, *VIEWER).status_code == 303
    page = client.get("/admin/profiles")
    assert page.status_code == 200 and "rep@calsync.example" in page.get_data(as_text=True)
    token = csrf_of(page)
    assert client.post("/admin/profiles", data={"name": "Sneaky", "csrf_token": token}).status_code == 403
    refused = client.post(f"/admin/mailboxes/{mailbox_id}/profile", data={"profile_id": "1", "csrf_token": token})
    assert refused.status_code == 403
    with _db(app) as db:
        assert db.scalars(select(PolicyProfile).where(PolicyProfile.name == "Sneaky")).first() is None


def test_profiles_rules_and_assignment_are_audited(app, admin_client):
    (mailbox_id,) = _add_mailboxes(app, "rep@calsync.example")
    token = csrf_of(admin_client.get("/admin/profiles"))
    bad = admin_client.post("/admin/profiles", data={"name": "  ", "csrf_token": token})
    assert bad.status_code == 400 and "A profile name is 1 to 80" in bad.get_data(as_text=True)
    made = admin_client.post("/admin/profiles", data={"name": "Events team", "csrf_token": token})
    assert made.status_code == 303
    with _db(app) as db:
        events = profiles.find(db, "Events team")
        events_id = events.id
    form = {"direction": "downsync_only", "salesforce_deletion": "delete", "scope_past_days": "7",
            "scope_future_days": "90", "csrf_token": token}  # fmt: skip
    saved = admin_client.post(f"/admin/profiles/{events_id}/policies/event", data=form)
    assert saved.status_code == 303
    refused = admin_client.post(f"/admin/profiles/{events_id}/policies/event", data={**form, "direction": "sideways"})
    assert refused.status_code == 400, refused.status_code
    assert "is not one of" in refused.get_data(as_text=True), refused.get_data(as_text=True)[-3000:]
    with _db(app) as db:
        stored = db.get(PolicyProfile, events_id).policies["event"]
    assert stored["direction"] == "downsync_only" and stored["scope"] == {"past_days": 7, "future_days": 90}
    (update,) = _audit(app, "profile.policy_update")
    assert update.before is None and update.after["salesforce_deletion"] == "delete"

    rule = {"attribute": "field", "field": "Depart ment", "value": "Events", "profile_id": str(events_id),
            "csrf_token": token}  # fmt: skip
    bad_rule = admin_client.post("/admin/profile-rules", data=rule)
    assert bad_rule.status_code == 400 and "is not a Salesforce field API name" in bad_rule.get_data(as_text=True)
    assert admin_client.post("/admin/profile-rules", data={**rule, "field": "Department"}).status_code == 303
    (added,) = _audit(app, "profile.rule_add")
    assert added.after == {"attribute": "field:Department", "value": "Events", "profile": "Events team", "position": 1}

    assigned = admin_client.post(f"/admin/mailboxes/{mailbox_id}/profile",
                                 data={"profile_id": str(events_id), "csrf_token": token})  # fmt: skip
    assert assigned.status_code == 303
    detail = admin_client.get(f"/admin/mailboxes/{mailbox_id}").get_data(as_text=True)
    assert "Follows <strong>Events team</strong>: assigned explicitly by admin@calsync.example" in detail
    (entry,) = _audit(app, "mailbox.set_profile")
    assert entry.before["name"] == "Default" and entry.before["source"] == "default"
    assert entry.after["name"] == "Events team" and entry.after["source"] == "explicit"
    listing = admin_client.get("/admin/mailboxes").get_data(as_text=True)
    assert "Events team" in listing and "assigned explicitly" in listing
    # An assigned profile cannot be removed.
    admin_client.post(f"/admin/profiles/{events_id}/delete", data={"csrf_token": token})
    with _db(app) as db:
        assert db.get(PolicyProfile, events_id) is not None
        assert db.get(MailboxProfile, mailbox_id).profile_id == events_id


def test_a_preview_shows_its_cost_and_starts_one_job_per_mailbox_picked(app, admin_client, redis_db):
    ids = _add_mailboxes(app, *(f"rep{n}@calsync.example" for n in range(4)))
    token = csrf_of(admin_client.get("/admin/policies/event"))
    form = {"direction": "off", "scope_past_days": "14", "scope_future_days": "60", "csrf_token": token}
    setup = admin_client.post("/admin/policies/event/preview", data=form)
    text = setup.get_data(as_text=True)
    assert setup.status_code == 200
    assert "Affected mailboxes</dt><dd>4</dd>" in text and "read request" in text
    change = csrf_free_value(text, "change")
    assert json.loads(change)["policy"]["direction"] == "off"
    pick = {"change": change, "description": "event off", "which": "sample", "sample": "2", "csrf_token": token}
    started = admin_client.post("/admin/previews", data=pick)
    assert started.status_code == 303
    run_id = started.headers["Location"].rsplit("/", 1)[1]
    run = preview_jobs.load_run(redis_db, run_id)
    assert len(run["mailboxes"]) == 2 and set(map(int, run["mailboxes"])) <= set(ids)
    queue = session_queue(runtime_of(app).settings.sync_queue, redis_db)
    assert sorted(queue.job_ids) == sorted(preview_jobs.job_id(run_id, int(i)) for i in run["mailboxes"])
    page = admin_client.get(f"/admin/previews/{run_id}").get_data(as_text=True)
    assert "0 of 2 mailboxes done" in page and 'http-equiv="refresh"' in page
    # Nothing was saved by the preview.
    assert admin_client.get("/admin/policies/event").get_data(as_text=True).count('value="two_way" checked') == 1
    tampered = admin_client.post("/admin/previews", data={"change": "{not json", "csrf_token": token})
    assert tampered.status_code == 400
    bad_sample = admin_client.post("/admin/previews", data={"change": change, "which": "sample", "sample": "none",
                                                            "csrf_token": token})  # fmt: skip
    assert bad_sample.status_code == 400 and "sample size must be a whole number" in bad_sample.get_data(as_text=True)


def csrf_free_value(html: str, name: str) -> str:
    import html as html_lib
    import re

    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, name
    return html_lib.unescape(match.group(1))


def test_a_preview_of_no_affected_mailbox_says_so(app, admin_client):
    token = csrf_of(admin_client.get("/admin/policies/event"))
    form = {"direction": "off", "scope_past_days": "14", "scope_future_days": "60", "csrf_token": token}
    text = admin_client.post("/admin/policies/event/preview", data=form).get_data(as_text=True)
    assert "No enabled mailbox follows this policy" in text


def test_a_new_rule_can_be_previewed_before_it_is_added(app, admin_client, redis_db):
    _add_mailboxes(app, "rep@calsync.example")
    token = csrf_of(admin_client.get("/admin/profiles"))
    admin_client.post("/admin/profiles", data={"name": "Executives", "csrf_token": token})
    with _db(app) as db:
        target = profiles.find(db, "Executives").id
    form = {"attribute": "role", "value": "Executive", "profile_id": str(target), "position": "", "csrf_token": token}
    setup = admin_client.post("/admin/profile-rules/preview", data=form)
    text = setup.get_data(as_text=True)
    assert setup.status_code == 200 and "new rule: role is &#39;Executive&#39; → Executives" in text
    assert "Affected mailboxes</dt><dd>1</dd>" in text  # never read: the preview job reads the rep's user
    bad = admin_client.post("/admin/profile-rules/preview", data={**form, "position": "first"})
    assert bad.status_code == 400 and "The position must be a whole number." in bad.get_data(as_text=True)
    with _db(app) as db:
        assert profiles.rules(db) == []  # a preview adds nothing


JUNK = ["", "x" * 5000, "-1", "1e400", "nan", "<script>alert(1)</script>", "25:99", "ø∂ß", "0x10", "'; DROP TABLE x"]


def test_junk_in_every_profile_form_is_a_message_never_a_500(app, admin_client, redis_db):
    (mailbox_id,) = _add_mailboxes(app, "rep@calsync.example")
    token = csrf_of(admin_client.get("/admin/profiles"))
    admin_client.post("/admin/profiles", data={"name": "Field", "csrf_token": token})
    with _db(app) as db:
        field = profiles.find(db, "Field").id
    policy_fields = ["direction", "conflict_winner", "salesforce_deletion", "scope_past_days", "scope_future_days"]
    forms = {
        "/admin/profiles": ["name", "description", "copy_from"],
        "/admin/profile-rules": ["attribute", "field", "value", "profile_id", "position"],
        "/admin/profile-rules/preview": ["attribute", "field", "value", "profile_id", "position"],
        f"/admin/profiles/{field}/policies/event": policy_fields,
        f"/admin/profiles/{field}/policies/event/preview": policy_fields,
        "/admin/policies/event/preview": policy_fields,
        f"/admin/mailboxes/{mailbox_id}/profile": ["profile_id"],
        f"/admin/mailboxes/{mailbox_id}/profile/preview": ["profile_id"],
        "/admin/previews": ["change", "description", "which", "sample", "back"],
    }
    for url, names in forms.items():
        for junk in JUNK:
            response = admin_client.post(url, data={"csrf_token": token, **dict.fromkeys(names, junk)})
            assert response.status_code < 500, (url, junk, response.status_code)
            assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    for url in ("/admin/previews/nosuchrun", "/admin/previews/..%2f..", f"/admin/profiles/{field}/policies/nope"):
        assert admin_client.get(url).status_code == 404, url
