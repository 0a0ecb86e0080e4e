"""Finding 12: the custom-object describe takes only a custom object's API name, checked before any call."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backend.globals import runtime_of
from calsync.web import create_app
from tests.admin_panel.conftest import ADMIN, REDIS_URL, add_accounts, csrf_of, log_in


@pytest.fixture
def sandbox_admin(sandbox_settings, world, redis_db):
    settings = replace(sandbox_settings, redis_url=REDIS_URL)
    add_accounts(settings.database_url)
    app = create_app(settings, {"TESTING": True})
    client = app.test_client()
    assert log_in(client, *ADMIN).status_code == 303
    yield client
    runtime_of(app).close()


@pytest.mark.parametrize("name", ["session_id", "../../limits", "Site_Visit__c/../../limits", "Event", "x__c?a=b",
                                  "sf_version", "A" * 70 + "__c"])  # fmt: skip
def test_a_name_that_is_not_a_custom_object_is_a_form_error_before_any_call(sandbox_admin, world, name):
    before = world.salesforce_stats()["total_requests"]
    response = sandbox_admin.get("/admin/policies/custom/new", query_string={"object": name})
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert "is not the API name of a custom object" in response.get_data(as_text=True)
    form = {"csrf_token": csrf_of(sandbox_admin.get("/admin/policies")), "object": name, "subject_field": "Name"}
    assert sandbox_admin.post("/admin/policies/custom/new", data=form).status_code == 400
    assert world.salesforce_stats()["total_requests"] == before  # Salesforce was never asked


def test_a_real_custom_object_still_shows_its_fields(sandbox_admin):
    response = sandbox_admin.get("/admin/policies/custom/new", query_string={"object": "Site_Visit__c"})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert "Site_Visit__c" in response.get_data(as_text=True)
