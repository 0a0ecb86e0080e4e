"""Contract tests: the Salesforce REST behaviour calsync relies on, checked through simple-salesforce.

These tests run against the sandbox by default. They use only the public REST API (no admin endpoints, no
seed data: they make and clean up their own records), so the same module can be pointed at a real org to
check that the sandbox still tells the truth:

    CALSYNC_SF_CONTRACT_INSTANCE_URL=https://<domain>.my.salesforce.com \\
    CALSYNC_SF_CONTRACT_SESSION_ID=<access token> \\
    [CALSYNC_SF_CONTRACT_CA_FILE=<ca bundle>] [CALSYNC_SF_CONTRACT_VERSION=59.0] \\
    .venv/bin/pytest tests/sandbox/salesforce/test_contract.py

The org needs the calsync package's field ``CalSync_Key__c`` (Text(64), External ID, Unique) on Event and
Task, and a user that may create Contacts, Events and Tasks. Use a scratch org or a developer sandbox: the
tests create and delete a few hundred Events.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from tests.sandbox.salesforce.conftest import client, error_codes, iso

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
ID18 = re.compile(r"^[0-9A-Za-z]{18}$")
REAL_ORG = os.environ.get("CALSYNC_SF_CONTRACT_INSTANCE_URL")


@pytest.fixture
def sf(request: pytest.FixtureRequest) -> Salesforce:
    """A real org when CALSYNC_SF_CONTRACT_* is set, else the sandbox."""
    if REAL_ORG:
        return client(
            REAL_ORG,
            os.environ["CALSYNC_SF_CONTRACT_SESSION_ID"],
            os.environ.get("CALSYNC_SF_CONTRACT_CA_FILE"),
            os.environ.get("CALSYNC_SF_CONTRACT_VERSION", "59.0"),
        )
    return request.getfixturevalue("sandbox_sf")


@pytest.fixture
def cleanup(sf: Salesforce) -> Iterator[list[str]]:
    """Ids appended here are deleted after the test (already deleted ones are fine)."""
    made: list[str] = []
    yield made
    for start in range(0, len(made), 200):
        sf.restful("composite/sobjects", params={"ids": ",".join(made[start : start + 200])}, method="DELETE")


def future(hours: float = 24 * 7) -> dt.datetime:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)


def new_event(sf: Salesforce, cleanup: list[str], **fields: Any) -> str:
    start = future()
    values = {"Subject": f"contract {uuid.uuid4().hex[:8]}", "StartDateTime": iso(start), "DurationInMinutes": 30}
    values.update(fields)
    result = sf.Event.create(values)
    cleanup.append(result["id"])
    return result["id"]


@pytest.fixture
def contact(sf: Salesforce, cleanup: list[str]) -> dict[str, str]:
    email = f"contract-{uuid.uuid4().hex[:8]}@example.com"
    result = sf.Contact.create({"FirstName": "Contract", "LastName": "Tester", "Email": email})
    cleanup.append(result["id"])
    return {"id": result["id"], "email": email}


# -- sessions, versions, limits ---------------------------------------------------------------------------
def test_versions_list_is_public_and_includes_59(sf: Salesforce) -> None:
    response = sf.session.get(f"https://{sf.sf_instance}/services/data/")
    assert response.status_code == 200
    versions = {v["version"]: v["url"] for v in response.json()}
    assert versions["59.0"] == "/services/data/v59.0"


def test_every_answer_reports_api_usage(sf: Salesforce) -> None:
    sf.query("SELECT Id FROM User LIMIT 1")
    usage = sf.api_usage["api-usage"]
    assert 0 < usage.used <= usage.total


def test_limits_report_daily_api_requests(sf: Salesforce) -> None:
    limits = sf.limits()
    daily = limits["DailyApiRequests"]
    assert isinstance(daily["Max"], int) and isinstance(daily["Remaining"], int)
    assert 0 <= daily["Remaining"] <= daily["Max"]
    assert sf.restful("limits/")["DailyApiRequests"]["Max"] == daily["Max"]


def test_bad_session_is_401_invalid_session_id(sf: Salesforce) -> None:
    bad = Salesforce(
        instance_url=f"https://{sf.sf_instance}", session_id="00Dbad!token", session=sf.session, version=sf.sf_version
    )
    with pytest.raises(SalesforceExpiredSession) as caught:
        bad.query("SELECT Id FROM Event LIMIT 1")
    assert caught.value.status == 401
    assert caught.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


# -- query -------------------------------------------------------------------------------------------------
def test_query_shape_and_datetime_format(sf: Salesforce, cleanup: list[str]) -> None:
    event_id = new_event(sf, cleanup, Location="Room 1")
    result = sf.query(f"SELECT Id, Subject, StartDateTime, Location, IsAllDayEvent FROM Event WHERE Id = '{event_id}'")
    assert result["totalSize"] == 1 and result["done"] is True and "nextRecordsUrl" not in result
    (record,) = result["records"]
    assert record["attributes"] == {
        "type": "Event",
        "url": f"/services/data/v{sf.sf_version}/sobjects/Event/{event_id}",
    }
    assert list(record)[1:] == ["Id", "Subject", "StartDateTime", "Location", "IsAllDayEvent"]
    assert DATETIME.match(record["StartDateTime"]) and record["IsAllDayEvent"] is False


def test_field_names_are_case_insensitive_and_answered_canonically(sf: Salesforce, cleanup: list[str]) -> None:
    event_id = new_event(sf, cleanup)
    record = sf.query(f"select id, subject from EVENT where ID = '{event_id}'")["records"][0]
    assert set(record) == {"attributes", "Id", "Subject"}


def test_parent_fields_are_nested_with_attributes(sf: Salesforce, cleanup: list[str], contact: dict[str, str]) -> None:
    event_id = new_event(sf, cleanup, WhoId=contact["id"])
    record = sf.query(f"SELECT Owner.Email, Who.Name, Who.Email, What.Name FROM Event WHERE Id = '{event_id}'")[
        "records"
    ][0]
    assert record["Owner"]["attributes"]["type"] == "User" and "@" in record["Owner"]["Email"]
    assert record["Who"]["attributes"]["type"] == "Name"  # Who is polymorphic
    assert record["Who"]["attributes"]["url"].endswith(f"/sobjects/Contact/{contact['id']}")
    assert record["Who"]["Name"] == "Contract Tester" and record["Who"]["Email"] == contact["email"]
    assert record["What"] is None


def test_paging_with_next_records_url(sf: Salesforce, cleanup: list[str]) -> None:
    marker = uuid.uuid4().hex[:10]
    start = future(24 * 20)
    records = [
        {
            "attributes": {"type": "Event"},
            "Subject": f"page {marker} {i:03d}",
            "StartDateTime": iso(start + dt.timedelta(minutes=i)),
            "DurationInMinutes": 15,
        }
        for i in range(205)
    ]
    for chunk in (records[:200], records[200:]):
        results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": chunk})
        assert all(r["success"] for r in results)
        cleanup.extend(r["id"] for r in results)
    soql = f"SELECT Id, Subject FROM Event WHERE Subject LIKE 'page {marker}%' ORDER BY Subject"
    first = sf.query(soql, headers={"Sforce-Query-Options": "batchSize=200"})
    assert first["totalSize"] == 205 and first["done"] is False and len(first["records"]) == 200
    assert re.match(rf"^/services/data/v{sf.sf_version}/query/01g[0-9A-Za-z]+-200$", first["nextRecordsUrl"])
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["done"] is True and len(second["records"]) == 5 and "nextRecordsUrl" not in second
    subjects = [r["Subject"] for r in first["records"] + second["records"]]
    assert subjects == sorted(subjects) and len(set(subjects)) == 205
    assert len(list(sf.query_all_iter(soql))) == 205
    assert sf.query_all(soql)["totalSize"] == 205


def test_query_all_returns_deleted_rows(sf: Salesforce, cleanup: list[str]) -> None:
    event_id = new_event(sf, cleanup)
    sf.Event.delete(event_id)
    soql = f"SELECT Id, IsDeleted FROM Event WHERE Id = '{event_id}'"
    assert sf.query(soql)["totalSize"] == 0
    rows = sf.query_all(soql, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(event_id, True)]


def test_count_query(sf: Salesforce, cleanup: list[str]) -> None:
    marker = uuid.uuid4().hex[:10]
    for _ in range(3):
        new_event(sf, cleanup, Subject=f"count {marker}")
    result = sf.query(f"SELECT COUNT() FROM Event WHERE Subject = 'count {marker}'")
    assert result == {"totalSize": 3, "done": True, "records": []}


def test_malformed_query_message_points_at_the_error(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM Event WHERE")
    assert error_codes(caught.value) == ["MALFORMED_QUERY"]
    assert "ERROR at Row:1:Column:" in caught.value.content[0]["message"]


def test_unknown_field_is_invalid_field(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Foo FROM Event")
    assert error_codes(caught.value) == ["INVALID_FIELD"]
    message = caught.value.content[0]["message"]
    assert message.startswith("\nSELECT Foo FROM Event\n       ^\nERROR at Row:1:Column:8\n")
    assert "No such column 'Foo' on entity 'Event'" in message


def test_unknown_object_is_invalid_type(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM NoSuchThing__c")
    assert error_codes(caught.value) == ["INVALID_TYPE"]
    assert "sObject type 'NoSuchThing__c' is not supported" in caught.value.content[0]["message"]


def test_string_literal_escapes_round_trip(sf: Salesforce, cleanup: list[str]) -> None:
    from simple_salesforce import format_soql

    subject = f'O\'Brien \\ "quoted" {uuid.uuid4().hex[:6]}'
    event_id = new_event(sf, cleanup, Subject=subject)
    result = sf.query(format_soql("SELECT Id, Subject FROM Event WHERE Subject = {}", subject))
    assert [(r["Id"], r["Subject"]) for r in result["records"]] == [(event_id, subject)]


# -- single records ------------------------------------------------------------------------------------------
def test_create_get_update_delete(sf: Salesforce, cleanup: list[str]) -> None:
    start = future()
    created = sf.Event.create(
        {"Subject": "lifecycle", "StartDateTime": iso(start), "EndDateTime": iso(start + dt.timedelta(hours=1))}
    )
    cleanup.append(created["id"])
    assert created["success"] is True and created["errors"] == [] and ID18.match(created["id"])
    assert created["id"].startswith("00U")
    record = sf.Event.get(created["id"])
    assert record["DurationInMinutes"] == 60 and record["ActivityDateTime"] == record["StartDateTime"]
    for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert DATETIME.match(record[stamp])
    partial = sf.Event.get(created["id"], params={"fields": "Subject,DurationInMinutes"})
    assert set(partial) == {"attributes", "Subject", "DurationInMinutes"}
    assert sf.Event.update(created["id"], {"Subject": "renamed"}) == 204
    assert sf.Event.get(created["id"])["Subject"] == "renamed"
    assert sf.Event.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Event.get(created["id"])
    assert error_codes(caught.value)[0] in {"NOT_FOUND", "ENTITY_IS_DELETED"}


def test_get_unknown_id_is_404(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Event.get("00U000000000000AAA")
    assert error_codes(caught.value) == ["NOT_FOUND"]


def test_moving_start_keeps_duration(sf: Salesforce, cleanup: list[str]) -> None:
    event_id = new_event(sf, cleanup, DurationInMinutes=45)
    later = future(24 * 8)
    sf.Event.update(event_id, {"StartDateTime": iso(later)})
    record = sf.Event.get(event_id)
    assert record["StartDateTime"] == iso(later)
    assert record["EndDateTime"] == iso(later + dt.timedelta(minutes=45))


def test_all_day_event_dates(sf: Salesforce, cleanup: list[str]) -> None:
    day = future().date()
    event_id = new_event(
        sf,
        cleanup,
        IsAllDayEvent=True,
        ActivityDate=day.isoformat(),
        DurationInMinutes=2 * 1440,
        StartDateTime=None,
    )
    record = sf.Event.get(event_id)
    midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
    assert record["StartDateTime"] == iso(midnight)
    # The end of an all-day event is midnight of its last day (the end date is inclusive).
    assert record["EndDateTime"] == iso(midnight + dt.timedelta(days=1))
    assert record["DurationInMinutes"] == 2880 and record["ActivityDate"] == day.isoformat()


def test_upsert_by_external_id(sf: Salesforce, cleanup: list[str]) -> None:
    key = uuid.uuid4().hex
    start = future()
    response = sf.Event.upsert(
        f"CalSync_Key__c/{key}",
        {"Subject": "upserted", "StartDateTime": iso(start), "DurationInMinutes": 30},
        raw_response=True,
    )
    assert response.status_code == 201
    body = response.json()
    cleanup.append(body["id"])
    assert body["success"] is True and body["created"] is True
    again = sf.Event.upsert(f"CalSync_Key__c/{key}", {"Subject": "upserted again"}, raw_response=True)
    assert again.status_code == 200
    assert again.json() == {"id": body["id"], "success": True, "errors": [], "created": False}
    found = sf.Event.get_by_custom_id("CalSync_Key__c", key)
    assert found["Id"] == body["id"] and found["Subject"] == "upserted again"


def test_unknown_external_id_field_is_404(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Event.upsert("Subject/abc", {"Location": "x"})
    assert error_codes(caught.value) == ["NOT_FOUND"]


# -- validation ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"DurationInMinutes": None}, "REQUIRED_FIELD_MISSING"),
        ({"Subject": "x" * 256}, "STRING_TOO_LONG"),
        ({"Location": "x" * 256}, "STRING_TOO_LONG"),
        ({"Description": "x" * 32001}, "STRING_TOO_LONG"),
        ({"DurationInMinutes": 14 * 1440 + 1}, "FIELD_INTEGRITY_EXCEPTION"),
        ({"ShowAs": "Tentative"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"WhoId": "not-an-id"}, "MALFORMED_ID"),
        ({"WhoId": "003000000000000ZZZ"}, "INVALID_CROSS_REFERENCE_KEY"),
        ({"NoSuchField__c": 1}, "INVALID_FIELD"),
        ({"IsDeleted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"StartDateTime": "tomorrow"}, "JSON_PARSER_ERROR"),
    ],
)
def test_event_validation(sf: Salesforce, fields: dict[str, Any], code: str) -> None:
    values = {"Subject": "invalid", "StartDateTime": iso(future()), "DurationInMinutes": 30, **fields}
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.create(values)
    assert caught.value.status == 400
    assert error_codes(caught.value) == [code]
    assert caught.value.content[0]["message"]


def test_end_before_start_is_rejected(sf: Salesforce) -> None:
    start = future()
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.create({"StartDateTime": iso(start), "EndDateTime": iso(start - dt.timedelta(hours=1))})
    assert error_codes(caught.value) == ["FIELD_INTEGRITY_EXCEPTION"]


def test_duplicate_external_id_is_duplicate_value(sf: Salesforce, cleanup: list[str]) -> None:
    key = uuid.uuid4().hex
    new_event(sf, cleanup, CalSync_Key__c=key)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        new_event(sf, cleanup, CalSync_Key__c=key)
    assert error_codes(caught.value) == ["DUPLICATE_VALUE"]


# -- replication -----------------------------------------------------------------------------------------------
def test_get_updated_and_get_deleted(sf: Salesforce, cleanup: list[str]) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    event_id = new_event(sf, cleanup)
    after = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    updated = sf.Event.updated(before, after)
    assert event_id in updated["ids"] and DATETIME.match(updated["latestDateCovered"])
    sf.Event.delete(event_id)
    deleted = sf.Event.deleted(before, after)
    entry = next(d for d in deleted["deletedRecords"] if d["id"] == event_id)
    assert DATETIME.match(entry["deletedDate"])
    assert DATETIME.match(deleted["earliestDateAvailable"]) and DATETIME.match(deleted["latestDateCovered"])
    assert event_id not in sf.Event.updated(before, after)["ids"]


def test_replication_dates_are_checked(sf: Salesforce) -> None:
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.updated(now, now - dt.timedelta(hours=1))
    assert error_codes(caught.value) == ["INVALID_REPLICATION_DATE"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.updated(now - dt.timedelta(days=31), now)
    assert error_codes(caught.value) == ["INVALID_REPLICATION_DATE"]


# -- describe --------------------------------------------------------------------------------------------------
def test_describe_event(sf: Salesforce) -> None:
    describe = sf.Event.describe()
    assert describe["name"] == "Event" and describe["keyPrefix"] == "00U"
    fields = {f["name"]: f for f in describe["fields"]}
    key = fields["CalSync_Key__c"]
    assert key["externalId"] is True and key["unique"] is True and key["length"] == 64 and key["custom"] is True
    assert fields["Subject"]["length"] == 255 and fields["Description"]["length"] == 32000
    assert {"Busy", "Free", "OutOfOffice"} <= {v["value"] for v in fields["ShowAs"]["picklistValues"]}
    who = fields["WhoId"]
    assert who["type"] == "reference" and who["relationshipName"] == "Who"
    assert {"Contact", "Lead"} <= set(who["referenceTo"])
    assert fields["SystemModstamp"]["createable"] is False and fields["SystemModstamp"]["type"] == "datetime"


def test_global_describe(sf: Salesforce) -> None:
    sobjects = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert sobjects["Event"]["keyPrefix"] == "00U" and sobjects["Task"]["keyPrefix"] == "00T"
    assert sobjects["Event"]["urls"]["describe"] == f"/services/data/v{sf.sf_version}/sobjects/Event/describe"


# -- sObject Collections ---------------------------------------------------------------------------------------
def _events(n: int, **fields: Any) -> list[dict[str, Any]]:
    start = future()
    return [
        {
            "attributes": {"type": "Event"},
            "Subject": f"collection {i}",
            "StartDateTime": iso(start),
            "DurationInMinutes": 30,
            **fields,
        }
        for i in range(n)
    ]


def test_collection_create_partial_success(sf: Salesforce, cleanup: list[str]) -> None:
    records = _events(2)
    records[1]["Subject"] = "x" * 300
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert results[0]["success"] is True and ID18.match(results[0]["id"]) and results[0]["errors"] == []
    cleanup.append(results[0]["id"])
    assert results[1]["success"] is False
    (error,) = results[1]["errors"]
    assert error["statusCode"] == "STRING_TOO_LONG" and error["fields"] == ["Subject"] and error["message"]


def test_collection_all_or_none_rolls_back(sf: Salesforce) -> None:
    marker = uuid.uuid4().hex[:10]
    records = _events(3, Location=marker)
    records[2]["ShowAs"] = "Sideways"
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert [r["success"] for r in results] == [False, False, False]
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]
    assert sf.query(f"SELECT COUNT() FROM Event WHERE Location = '{marker}'")["totalSize"] == 0


def test_collection_over_200_records_is_refused(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": _events(201)})
    assert error_codes(caught.value) == ["EXCEEDED_ID_LIMIT"]


def test_collection_update_retrieve_delete(sf: Salesforce, cleanup: list[str]) -> None:
    created = sf.restful("composite/sobjects", method="POST", json={"records": _events(2)})
    ids = [r["id"] for r in created]
    cleanup.extend(ids)
    updates = [{"attributes": {"type": "Event"}, "id": i, "Location": f"room {n}"} for n, i in enumerate(ids)]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": updates})
    assert results == [{"id": i, "success": True, "errors": []} for i in ids]
    missing = "00U000000000000AAA"
    fetched = sf.restful("composite/sobjects/Event", params={"ids": ",".join([*ids, missing]), "fields": "Location"})
    assert [f["Location"] if f else None for f in fetched] == ["room 0", "room 1", None]
    assert fetched[0]["attributes"]["type"] == "Event"
    deleted = sf.restful("composite/sobjects", params={"ids": ",".join(ids), "allOrNone": "false"}, method="DELETE")
    assert deleted == [{"id": i, "success": True, "errors": []} for i in ids]


def test_collection_upsert_reports_created(sf: Salesforce, cleanup: list[str]) -> None:
    keys = [uuid.uuid4().hex, uuid.uuid4().hex]
    records = _events(2)
    for record, key in zip(records, keys, strict=True):
        record["CalSync_Key__c"] = key
    first = sf.restful("composite/sobjects/Event/CalSync_Key__c", method="PATCH", json={"records": records})
    assert [r["created"] for r in first] == [True, True] and all(r["success"] for r in first)
    cleanup.extend(r["id"] for r in first)
    records[0]["Subject"] = "changed"
    second = sf.restful("composite/sobjects/Event/CalSync_Key__c", method="PATCH", json={"records": records})
    assert [(r["id"], r["created"]) for r in second] == [(r["id"], False) for r in first]
    assert sf.Event.get(first[0]["id"])["Subject"] == "changed"


# -- event series (Recurrence2PatternText): each occurrence its own Event under the series (issue 23) -----
def _occurrences(sf: Salesforce, series_id: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    soql = (
        "SELECT Id, StartDateTime, EndDateTime, Subject, Location, IsRecurrence2Exception, IsRecurrence2, IsDeleted "
        f"FROM Event WHERE RecurrenceActivityId = '{series_id}' ORDER BY StartDateTime"
    )
    return sf.query_all(soql, include_deleted=include_deleted)["records"]


def test_a_series_has_one_event_per_occurrence_under_it(sf: Salesforce, cleanup: list[str]) -> None:
    start = future()
    series_id = new_event(
        sf, cleanup, StartDateTime=iso(start), DurationInMinutes=60, Location="Room 1",
        Recurrence2PatternText="RRULE:FREQ=DAILY;INTERVAL=1;COUNT=4", Recurrence2PatternTimeZone="Europe/London",
    )  # fmt: skip
    series = sf.Event.get(series_id)
    assert series["IsRecurrence2"] is True and series["Recurrence2PatternText"].endswith("COUNT=4")
    rows = _occurrences(sf, series_id)
    assert [r["StartDateTime"] for r in rows] == [iso(start + dt.timedelta(days=n)) for n in range(4)]
    assert all(r["Location"] == "Room 1" and not r["IsRecurrence2"] and not r["IsRecurrence2Exception"] for r in rows)
    cleanup.extend(r["Id"] for r in rows)


def test_an_occurrence_is_edited_and_deleted_on_its_own(sf: Salesforce, cleanup: list[str]) -> None:
    start = future()
    series_id = new_event(
        sf, cleanup, StartDateTime=iso(start), DurationInMinutes=30,
        Recurrence2PatternText="RRULE:FREQ=WEEKLY;INTERVAL=1;COUNT=3", Recurrence2PatternTimeZone="UTC",
    )  # fmt: skip
    first, second, third = _occurrences(sf, series_id)
    cleanup.extend(r["Id"] for r in (first, second, third))
    moved = start + dt.timedelta(days=7, hours=2)
    assert sf.Event.update(second["Id"], {"StartDateTime": iso(moved), "Subject": "moved"}) == 204
    assert sf.Event.delete(third["Id"]) == 204
    live = _occurrences(sf, series_id)
    assert [(r["Id"], r["IsRecurrence2Exception"]) for r in live] == [(first["Id"], False), (second["Id"], True)]
    assert live[1]["StartDateTime"] == iso(moved) and live[1]["EndDateTime"] == iso(moved + dt.timedelta(minutes=30))
    assert [r["Id"] for r in _occurrences(sf, series_id, include_deleted=True) if r["IsDeleted"]] == [third["Id"]]
    # The series keeps its pattern; a series edit reaches the occurrences that follow it, not the exception.
    sf.Event.update(series_id, {"Location": "Online"})
    assert [r["Location"] for r in _occurrences(sf, series_id)] == ["Online", None]


def test_an_all_day_series_has_one_all_day_event_per_date(sf: Salesforce, cleanup: list[str]) -> None:
    """All-day Events sit at midnight UTC of their date: the pattern runs on dates, whatever the series' zone
    (west of UTC, expanding midnight UTC in the zone would put every occurrence on the day before)."""
    day = future().date()
    series_id = new_event(
        sf, cleanup, IsAllDayEvent=True, ActivityDate=day.isoformat(), DurationInMinutes=1440,
        Recurrence2PatternText="RRULE:FREQ=DAILY;INTERVAL=1;COUNT=3", Recurrence2PatternTimeZone="America/New_York",
    )  # fmt: skip
    rows = sf.query_all(
        f"SELECT Id, ActivityDate, StartDateTime, IsAllDayEvent FROM Event WHERE RecurrenceActivityId = '{series_id}' "
        "ORDER BY StartDateTime"
    )["records"]
    cleanup.extend(r["Id"] for r in rows)
    assert [(r["ActivityDate"], r["IsAllDayEvent"]) for r in rows] == [
        ((day + dt.timedelta(days=n)).isoformat(), True) for n in range(3)
    ]


def test_deleting_a_series_deletes_its_occurrences(sf: Salesforce, cleanup: list[str]) -> None:
    series_id = new_event(sf, cleanup, Recurrence2PatternText="RRULE:FREQ=DAILY;COUNT=2",
                          Recurrence2PatternTimeZone="UTC")  # fmt: skip
    assert len(_occurrences(sf, series_id)) == 2
    sf.Event.delete(series_id)
    assert _occurrences(sf, series_id) == []
