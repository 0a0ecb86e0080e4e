"""Sandbox behaviour beyond the contract: paging knobs, budget, sessions, derived fields, recycle bin, errors.

The client is always unmodified simple-salesforce over HTTPS; admin calls go to ``/__sandbox__``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sandbox.salesforce import SalesforceSandbox
from sandbox.seed import PEOPLE, REPS
from tests.sandbox.salesforce.conftest import Admin, client, error_codes, iso

WILE = PEOPLE[0].salesforce_id
BOB = REPS[1]


def event(sf: Salesforce, **fields: Any) -> str:
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    values = {"Subject": f"rest {uuid.uuid4().hex[:8]}", "StartDateTime": iso(start), "DurationInMinutes": 60}
    values.update(fields)
    return sf.Event.create(values)["id"]


# -- API surface -----------------------------------------------------------------------------------------------
def test_later_versions_work_and_older_ones_do_not(sf_info: dict[str, Any], user: dict[str, str]) -> None:
    v62 = client(sf_info["instance_url"], user["session_id"], sf_info["ca_file"], version="62.0")
    rows = v62.query("SELECT Id FROM User LIMIT 1")["records"]
    assert rows[0]["attributes"]["url"].startswith("/services/data/v62.0/sobjects/User/")
    v58 = client(sf_info["instance_url"], user["session_id"], sf_info["ca_file"], version="58.0")
    with pytest.raises(SalesforceResourceNotFound):
        v58.query("SELECT Id FROM User")


def test_resource_index_and_unknown_resources(sf: Salesforce) -> None:
    assert sf.restful("")["query"] == f"/services/data/v{sf.sf_version}/query"
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.restful("nosuchresource")
    assert error_codes(caught.value) == ["NOT_FOUND"]
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("sobjects/NoSuchObject/describe")


def test_wrong_method_is_405_with_allow(sf: Salesforce) -> None:
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.restful("limits/", method="POST")
    assert caught.value.status == 405 and error_codes(caught.value) == ["METHOD_NOT_ALLOWED"]


def test_invalid_json_body(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("sobjects/Event/", method="POST", data="{not json")
    assert error_codes(caught.value) == ["JSON_PARSER_ERROR"]


def test_user_is_read_only(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.User.create({"LastName": "New"})
    assert error_codes(caught.value) == ["INVALID_TYPE_FOR_OPERATION"]


def test_sobject_basic_info(sf: Salesforce) -> None:
    info = sf.Event.metadata()
    assert info["objectDescribe"]["name"] == "Event" and isinstance(info["recentItems"], list)


# -- sessions and budget ------------------------------------------------------------------------------------------
def test_expired_session_gets_401(sf_info: dict[str, Any], admin: Admin, sf_sandbox: SalesforceSandbox) -> None:
    rep = sf_info["users"][3]
    own = client(sf_info["instance_url"], rep["session_id"], sf_info["ca_file"])
    own.query("SELECT Id FROM User LIMIT 1")
    admin.expire_session(rep["session_id"])
    try:
        with pytest.raises(SalesforceExpiredSession) as caught:
            own.query("SELECT Id FROM User LIMIT 1")
        assert error_codes(caught.value) == ["INVALID_SESSION_ID"]
    finally:
        sf_sandbox.oauth.add_fixed_sessions()


def test_ids_work_with_15_or_18_characters(sf: Salesforce) -> None:
    event_id = event(sf)
    assert len(event_id) == 18
    assert sf.Event.get(event_id[:15])["Id"] == event_id
    assert sf.query(f"SELECT Id FROM Event WHERE Id = '{event_id[:15]}'")["records"][0]["Id"] == event_id


def test_the_running_user_owns_what_they_create(sf_info: dict[str, Any]) -> None:
    rep = sf_info["users"][1]
    bob = client(sf_info["instance_url"], rep["session_id"], sf_info["ca_file"])
    record = bob.Event.get(event(bob))
    assert record["OwnerId"] == rep["user_id"] == record["CreatedById"] == record["LastModifiedById"]


def test_budget_counts_and_runs_out(sf: Salesforce, admin: Admin) -> None:
    admin.faults(daily_budget=50, api_used=40)
    sf.query("SELECT Id FROM User LIMIT 1")
    assert sf.api_usage["api-usage"].used == 41 and sf.api_usage["api-usage"].total == 50
    assert sf.limits()["DailyApiRequests"] == {"Max": 50, "Remaining": 8}
    admin.stats()  # admin calls are free
    admin.faults(api_used=50)
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM User LIMIT 1")
    assert caught.value.status == 403
    assert caught.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert admin.faults()["api_used"] == 50


def test_budget_window_rolls_after_a_day(sf: Salesforce, admin: Admin) -> None:
    admin.faults(daily_budget=10, api_used=10)
    with pytest.raises(SalesforceRefusedRequest):
        sf.query("SELECT Id FROM User LIMIT 1")
    admin.shift_clock(24 * 3600 + 60)
    sf.query("SELECT Id FROM User LIMIT 1")
    assert sf.api_usage["api-usage"].used == 1


def test_request_counters_per_endpoint(sf: Salesforce, admin: Admin) -> None:
    admin.reset_stats()
    event_id = event(sf)
    sf.Event.get(event_id)
    sf.Event.update(event_id, {"Location": "x"})
    sf.query("SELECT Id FROM Event LIMIT 1")
    sf.restful("composite/sobjects", params={"ids": event_id}, method="DELETE")
    stats = admin.stats()
    assert stats["requests"] == {
        "sobject_create": 1,
        "sobject_get": 1,
        "sobject_update": 1,
        "query": 1,
        "collection_delete": 1,
    }
    assert stats["total_requests"] == 5 and stats["writes"] == 3


# -- paging ---------------------------------------------------------------------------------------------------------
def test_paging_with_a_small_page_size(sf: Salesforce, admin: Admin) -> None:
    admin.faults(page_size=7)
    soql = "SELECT Id, Subject FROM Event WHERE IsAllDayEvent = false ORDER BY Id"
    first = sf.query(soql)
    assert len(first["records"]) == 7 and first["done"] is False
    assert first["nextRecordsUrl"].endswith("-7")
    everything = sf.query_all(soql)["records"]
    assert len(everything) == first["totalSize"] > 50
    assert [r["Id"] for r in everything] == sorted(r["Id"] for r in everything)
    # The header may ask for smaller pages, never for larger ones than the sandbox serves.
    assert len(sf.query(soql, headers={"Sforce-Query-Options": "batchSize=500"})["records"]) == 7


def test_batch_size_header_is_clamped_to_200(sf: Salesforce) -> None:
    result = sf.query("SELECT Id FROM Event", headers={"Sforce-Query-Options": "batchSize=10"})
    assert len(result["records"]) == min(200, result["totalSize"])


def test_query_more_with_a_bad_locator(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more("01g000000000000AAA-2000")
    assert error_codes(caught.value) == ["INVALID_QUERY_LOCATOR"]


def test_query_all_iter_pages_deleted_rows_too(sf: Salesforce, admin: Admin) -> None:
    admin.faults(page_size=3)
    marker = uuid.uuid4().hex[:8]
    made = [event(sf, Location=marker) for _ in range(5)]
    for event_id in made[:2]:
        sf.Event.delete(event_id)
    soql = f"SELECT Id, IsDeleted FROM Event WHERE Location = '{marker}' ORDER BY Id"
    rows = list(sf.query_all_iter(soql, include_deleted=True))
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(i, n < 2) for n, i in enumerate(made)]
    assert [r["Id"] for r in sf.query_all(soql)["records"]] == made[2:]


# -- external ids ---------------------------------------------------------------------------------------------------
def test_several_matches_answer_300(sf: Salesforce) -> None:
    ref = uuid.uuid4().hex
    ids = sorted([event(sf, External_Ref__c=ref), event(sf, External_Ref__c=ref)])
    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf.Event.get_by_custom_id("External_Ref__c", ref)
    assert caught.value.status == 300
    assert caught.value.content == [f"/services/data/v59.0/sobjects/Event/{i}" for i in ids]
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Event.upsert(f"External_Ref__c/{ref}", {"Subject": "which one?"})
    results = sf.restful(
        "composite/sobjects/Event/External_Ref__c",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Event"}, "External_Ref__c": ref, "Subject": "x"}]},
    )
    assert results[0]["success"] is False and results[0]["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"


def test_external_ids_match_case_insensitively_and_delete_by_key(sf: Salesforce) -> None:
    key = uuid.uuid4().hex
    event_id = event(sf, CalSync_Key__c=key)
    assert sf.Event.get_by_custom_id("CalSync_Key__c", key.upper())["Id"] == event_id
    assert sf.Event.delete(f"CalSync_Key__c/{key}") == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Event.get_by_custom_id("CalSync_Key__c", key)
    # A deleted record frees its key: upserting it creates a new record.
    response = sf.Event.upsert(
        f"CalSync_Key__c/{key}",
        {"StartDateTime": "2026-12-01T10:00:00Z", "DurationInMinutes": 30},
        raw_response=True,
    )
    assert response.status_code == 201 and response.json()["id"] != event_id


def test_upsert_body_key_must_match_url(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.upsert("CalSync_Key__c/abc", {"CalSync_Key__c": "xyz", "DurationInMinutes": 5})
    assert error_codes(caught.value) == ["INVALID_FIELD"]


# -- Event rules ------------------------------------------------------------------------------------------------------
def test_activity_date_is_the_owners_local_date(sf_info: dict[str, Any]) -> None:
    dan = sf_info["users"][3]  # America/Los_Angeles
    sf = client(sf_info["instance_url"], dan["session_id"], sf_info["ca_file"])
    record = sf.Event.get(event(sf, StartDateTime="2026-12-02T03:00:00Z", DurationInMinutes=30))
    assert record["ActivityDate"] == "2026-12-01" and record["EndDate"] == "2026-12-01"


def test_event_time_fields_stay_consistent(sf: Salesforce) -> None:
    event_id = event(sf, StartDateTime="2026-12-01T10:00:00Z", DurationInMinutes=60)
    sf.Event.update(event_id, {"DurationInMinutes": 90})
    record = sf.Event.get(event_id)
    assert record["EndDateTime"] == "2026-12-01T11:30:00.000+0000"
    sf.Event.update(event_id, {"EndDateTime": "2026-12-01T12:00:00Z"})
    assert sf.Event.get(event_id)["DurationInMinutes"] == 120
    sf.Event.update(event_id, {"ActivityDateTime": "2026-12-03T08:00:00Z"})
    record = sf.Event.get(event_id)
    assert (record["StartDateTime"], record["EndDateTime"]) == (
        "2026-12-03T08:00:00.000+0000",
        "2026-12-03T10:00:00.000+0000",
    )
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.update(event_id, {"EndDateTime": "2026-12-03T09:00:00Z", "DurationInMinutes": 5})
    assert error_codes(caught.value) == ["FIELD_INTEGRITY_EXCEPTION"]


def test_switching_between_timed_and_all_day(sf: Salesforce) -> None:
    event_id = event(sf, StartDateTime="2026-12-01T10:00:00Z", DurationInMinutes=60)
    sf.Event.update(event_id, {"IsAllDayEvent": True})
    record = sf.Event.get(event_id)
    assert record["StartDateTime"] == record["EndDateTime"] == "2026-12-01T00:00:00.000+0000"
    assert record["DurationInMinutes"] == 1440 and record["EndDate"] == "2026-12-01"
    sf.Event.update(event_id, {"EndDateTime": "2026-12-03T00:00:00Z"})
    assert sf.Event.get(event_id)["DurationInMinutes"] == 3 * 1440
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.update(event_id, {"DurationInMinutes": 15 * 1440})
    assert error_codes(caught.value) == ["FIELD_INTEGRITY_EXCEPTION"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.update(event_id, {"IsAllDayEvent": False})
    assert error_codes(caught.value) == ["REQUIRED_FIELD_MISSING"]
    sf.Event.update(
        event_id, {"IsAllDayEvent": False, "StartDateTime": "2026-12-01T09:00:00Z", "DurationInMinutes": 30}
    )
    assert sf.Event.get(event_id)["EndDateTime"] == "2026-12-01T09:30:00.000+0000"


def test_recurrence_pattern(sf: Salesforce) -> None:
    event_id = event(sf, Recurrence2PatternText="RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;COUNT=4")
    record = sf.Event.get(event_id)
    assert record["IsRecurrence2"] is True and record["Recurrence2PatternTimeZone"] == "Europe/London"
    assert record["Recurrence2PatternStartDate"] == record["StartDateTime"]
    assert record["IsRecurrence2Exception"] is False
    with pytest.raises(SalesforceMalformedRequest) as caught:
        event(sf, Recurrence2PatternText="RRULE:FREQ=SOMETIMES")
    assert error_codes(caught.value) == ["FIELD_INTEGRITY_EXCEPTION"]
    # The series time zone may be given; it must be a real one.
    tokyo = sf.Event.get(
        event(sf, Recurrence2PatternText="RRULE:FREQ=DAILY;COUNT=3", Recurrence2PatternTimeZone="Asia/Tokyo")
    )
    assert tokyo["Recurrence2PatternTimeZone"] == "Asia/Tokyo"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        event(sf, Recurrence2PatternText="RRULE:FREQ=DAILY;COUNT=3", Recurrence2PatternTimeZone="Mars/Olympus")
    assert caught.value.content[0]["fields"] == ["Recurrence2PatternTimeZone"]


def test_reference_type_must_match(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        event(sf, WhoId="001000000000000001")  # an Account is not a Who
    assert error_codes(caught.value) == ["FIELD_INTEGRITY_EXCEPTION"]
    record = sf.Event.get(event(sf, WhoId=WILE))
    assert record["AccountId"] == "001000000000000001"  # from the Contact's account


def test_invitees_make_a_group_event(sf: Salesforce, admin: Admin) -> None:
    event_id = event(sf)
    before = sf.Event.get(event_id)
    relation = sf.EventRelation.create({"EventId": event_id, "RelationId": BOB.salesforce_user_id})
    after = sf.Event.get(event_id)
    assert after["IsGroupEvent"] is True and before["IsGroupEvent"] is False
    # An automated change: SystemModstamp moves, LastModifiedDate does not.
    assert after["LastModifiedDate"] == before["LastModifiedDate"]
    assert after["SystemModstamp"] >= before["SystemModstamp"]
    rows = sf.query(
        f"SELECT Relation.Name, Relation.Type, Status, IsInvitee FROM EventRelation WHERE EventId = '{event_id}'"
    )
    assert [(r["Relation"]["Name"], r["Relation"]["Type"], r["Status"], r["IsInvitee"]) for r in rows["records"]] == [
        ("Bob Baker", "User", "New", True)
    ]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.EventRelation.create({"EventId": event_id, "RelationId": BOB.salesforce_user_id})
    assert error_codes(caught.value) == ["DUPLICATE_VALUE"]
    sf.Event.delete(event_id)  # cascades to the invitees
    deleted = [r for r in admin.records("EventRelation") if r["Id"] == relation["id"]]
    assert deleted[0]["IsDeleted"] is True


def test_task_closure_is_derived(sf: Salesforce) -> None:
    task_id = sf.Task.create({"Subject": "call back", "ActivityDate": "2026-12-01", "Priority": "High"})["id"]
    task = sf.Task.get(task_id)
    assert (task["Status"], task["IsClosed"], task["IsHighPriority"], task["CompletedDateTime"]) == (
        "Not Started",
        False,
        True,
        None,
    )
    sf.Task.update(task_id, {"Status": "Completed"})
    task = sf.Task.get(task_id)
    assert task["IsClosed"] is True and task["CompletedDateTime"] is not None
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Task.update(task_id, {"Status": "Done-ish"})
    assert error_codes(caught.value) == ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Task.update(task_id, {"IsClosed": False})
    assert error_codes(caught.value) == ["INVALID_FIELD_FOR_INSERT_UPDATE"]


def test_custom_objects_are_validated(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Site_Visit__c.create({"Name": "visit"})
    assert error_codes(caught.value) == ["REQUIRED_FIELD_MISSING"]
    assert caught.value.content[0]["fields"] == ["Visit_Start__c"]
    visit = sf.Site_Visit__c.create({"Name": "visit", "Visit_Start__c": "2026-12-01T10:00:00Z"})
    assert visit["id"].startswith("a0X")
    renewal = sf.Renewal__c.create(
        {"Name": "renewal", "Renewal_Date__c": "2027-01-31", "Account__c": "001000000000000002"}
    )
    rows = sf.query(f"SELECT Name, Account__r.Name FROM Renewal__c WHERE Id = '{renewal['id']}'")["records"]
    assert rows[0]["Account__r"]["Name"] == "Globex Ltd"


# -- replication and recycle bin -------------------------------------------------------------------------------
def test_touch_moves_only_system_modstamp(sf: Salesforce, admin: Admin) -> None:
    start = dt.datetime.now(dt.UTC)
    event_id = event(sf)
    before = sf.Event.get(event_id)
    admin.touch(event_id)
    after = sf.Event.get(event_id)
    assert after["LastModifiedDate"] == before["LastModifiedDate"]
    assert event_id in sf.Event.updated(start - dt.timedelta(minutes=1), start + dt.timedelta(minutes=5))["ids"]


def test_purged_recycle_bin_needs_a_full_resync(sf: Salesforce, admin: Admin) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    task_id = sf.Task.create({"Subject": "soon gone"})["id"]
    sf.Task.delete(task_id)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    assert task_id in [d["id"] for d in sf.Task.deleted(start, end)["deletedRecords"]]
    assert admin.purge_recycle_bin("Task") >= 1
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Task.deleted(start, end)
    assert error_codes(caught.value) == ["INVALID_REPLICATION_DATE"]
    assert sf.query_all(f"SELECT Id FROM Task WHERE Id = '{task_id}'", include_deleted=True)["totalSize"] == 0
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Task.get(task_id)
    assert error_codes(caught.value) == ["NOT_FOUND"]


def test_recycle_bin_empties_after_15_days(sf: Salesforce, admin: Admin) -> None:
    event_id = event(sf)
    sf.Event.delete(event_id)
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Event.delete(event_id)
    assert error_codes(caught.value) == ["ENTITY_IS_DELETED"]
    soql = f"SELECT Id FROM Event WHERE Id = '{event_id}'"
    assert sf.query_all(soql, include_deleted=True)["totalSize"] == 1
    admin.shift_clock(16 * 24 * 3600)
    assert sf.query_all(soql, include_deleted=True)["totalSize"] == 0
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=16)
    earliest = sf.Event.deleted(now - dt.timedelta(days=14), now)["earliestDateAvailable"]
    assert earliest >= (now - dt.timedelta(days=15, minutes=1)).strftime("%Y-%m-%dT%H:%M")


def test_replication_needs_a_replicateable_object_and_dates(sf: Salesforce) -> None:
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.EventRelation.updated(now - dt.timedelta(hours=1), now)
    assert error_codes(caught.value) == ["INVALID_TYPE_FOR_OPERATION"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("sobjects/Event/updated/", params={"start": "yesterday", "end": "today"})
    assert error_codes(caught.value) == ["INVALID_REPLICATION_DATE"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("sobjects/Event/deleted/", params={"start": now.isoformat()})
    assert error_codes(caught.value) == ["MISSING_ARGUMENT"]


# -- collections edge cases -----------------------------------------------------------------------------------------
def test_collection_record_errors(sf: Salesforce) -> None:
    event_id = event(sf)
    sf.Event.delete(event_id)
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Event"}, "Location": "no id"},
                {"attributes": {"type": "Event"}, "id": event_id, "Location": "deleted"},
                {"attributes": {"type": "Event"}, "id": "00U000000000000AAA", "Location": "unknown"},
                {"attributes": {"type": "Nope"}, "id": event_id},
                {"attributes": {"type": "Event"}, "id": "bad", "Location": "x"},
            ]
        },
    )
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "MISSING_ARGUMENT",
        "ENTITY_IS_DELETED",
        "INVALID_CROSS_REFERENCE_KEY",
        "INVALID_TYPE",
        "MALFORMED_ID",
    ]
    assert results[1]["id"] == event_id and "id" not in results[0]


def test_collection_delete_all_or_none(sf: Salesforce) -> None:
    keep = event(sf)
    results = sf.restful(
        "composite/sobjects", params={"ids": f"{keep},00U000000000000AAA", "allOrNone": "true"}, method="DELETE"
    )
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "INVALID_CROSS_REFERENCE_KEY",
    ]
    assert sf.Event.get(keep)["Id"] == keep


def test_collection_retrieve_by_post_and_limits(sf: Salesforce) -> None:
    event_id = event(sf, Location="by post")
    fetched = sf.restful("composite/sobjects/Event", method="POST", json={"ids": [event_id], "fields": ["Location"]})
    assert fetched[0]["Location"] == "by post"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", params={"ids": ",".join([event_id] * 201)}, method="DELETE")
    assert error_codes(caught.value) == ["EXCEEDED_ID_LIMIT"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects/Event", params={"ids": event_id})
    assert error_codes(caught.value) == ["MISSING_ARGUMENT"]


def test_composite_runs_queries_as_one_request_within_its_limits(sf: Salesforce) -> None:
    base = f"/services/data/v{sf.sf_version}"

    def sub(n: int, url: str, method: str = "GET") -> dict[str, Any]:
        return {"method": method, "url": url, "referenceId": f"r{n}"}

    answer = sf.restful("composite", method="POST", json={"compositeRequest": [
        sub(0, f"{base}/query/?q=SELECT+Id+FROM+User+LIMIT+1"),
        sub(1, f"{base}/queryAll/?q=SELECT+Id+FROM+Event+WHERE+IsDeleted+%3D+true"),
        sub(2, f"{base}/query/?q=SELECT+Nope+FROM+User"),
        sub(3, f"{base}/sobjects/Account", "POST"),
    ]})  # fmt: skip
    slots = answer["compositeResponse"]
    assert [s["referenceId"] for s in slots] == ["r0", "r1", "r2", "r3"]
    assert slots[0]["httpStatusCode"] == 200 and len(slots[0]["body"]["records"]) == 1
    assert slots[1]["httpStatusCode"] == 200 and slots[1]["body"]["done"] is True
    assert slots[2]["httpStatusCode"] == 400 and slots[2]["body"][0]["errorCode"] == "INVALID_FIELD"
    assert slots[3]["httpStatusCode"] == 400 and slots[3]["body"][0]["errorCode"] == "NOT_SUPPORTED"
    six = [sub(n, f"{base}/query/?q=SELECT+Id+FROM+User") for n in range(6)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite", method="POST", json={"compositeRequest": six})
    assert error_codes(caught.value) == ["LIMIT_EXCEEDED"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite", method="POST", json={"compositeRequest": []})
    assert error_codes(caught.value) == ["JSON_PARSER_ERROR"]
