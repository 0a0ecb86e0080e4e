"""The sandbox answers UserRecordAccess queries as Salesforce does (fields, the UserId + RecordId restriction,
at most 200 ids), over HTTP with simple-salesforce; the seed's owners make some records invisible to some
users."""

from __future__ import annotations

import pytest
from simple_salesforce import SalesforceMalformedRequest, format_soql

from sandbox.seed import ACCOUNTS, PEOPLE, REPS

ALICE, BOB = REPS[0].salesforce_user_id, REPS[1].salesforce_user_id
WILE = PEOPLE[0].salesforce_id  # Contact owned by Alice
ROAD = PEOPLE[1].salesforce_id  # Contact owned by Bob
PETER = PEOPLE[4].salesforce_id  # Lead owned by Alice
JOANNA = PEOPLE[5].salesforce_id  # Lead owned by Bob
GLOBEX = ACCOUNTS[1][0]  # Account owned by Bob (Accounts are Public Read Only)
FIELDS = "RecordId, HasReadAccess, HasEditAccess, HasDeleteAccess, HasTransferAccess, HasAllAccess, MaxAccessLevel"


def _access(sf, user_id, record_ids):
    soql = format_soql(f"SELECT {FIELDS} FROM UserRecordAccess WHERE UserId = {{}} AND RecordId IN {{}}", user_id,
                       record_ids)  # fmt: skip
    return {row["RecordId"]: row for row in sf.query(soql)["records"]}


def test_owners_see_their_records_and_private_objects_hide_the_others(sf):
    alice = _access(sf, ALICE, [WILE, ROAD, PETER, JOANNA, GLOBEX])
    assert alice[WILE]["MaxAccessLevel"] == "All" and alice[WILE]["HasAllAccess"] is True
    assert alice[PETER]["HasReadAccess"] is True
    assert alice[ROAD]["HasReadAccess"] is False and alice[ROAD]["MaxAccessLevel"] == "None"
    assert alice[JOANNA]["HasReadAccess"] is False
    assert alice[GLOBEX]["HasReadAccess"] is True and alice[GLOBEX]["HasEditAccess"] is False
    bob = _access(sf, BOB, [WILE, JOANNA])
    assert (bob[WILE]["HasReadAccess"], bob[JOANNA]["HasReadAccess"]) == (False, True)


def test_a_single_record_id_and_a_filter_on_the_access_fields(sf):
    soql = format_soql("SELECT RecordId FROM UserRecordAccess WHERE UserId = {} AND RecordId = {} AND "
                       "HasReadAccess = true", BOB, JOANNA)  # fmt: skip
    assert [r["RecordId"] for r in sf.query(soql)["records"]] == [JOANNA]


@pytest.mark.parametrize("where", ["RecordId = '003000000000000001'", "UserId = '005000000000000001'",
                                   "UserId != '005000000000000001' AND RecordId = '003000000000000001'"])  # fmt: skip
def test_the_query_must_name_one_user_and_the_records(sf, where):
    with pytest.raises(SalesforceMalformedRequest, match="MALFORMED_QUERY"):
        sf.query(f"SELECT RecordId, HasReadAccess FROM UserRecordAccess WHERE {where}")


def test_at_most_200_record_ids(sf):
    ids = [f"003{n:015d}" for n in range(1, 202)]
    with pytest.raises(SalesforceMalformedRequest, match="at most 200"):
        _access(sf, ALICE, ids)
    assert len(_access(sf, ALICE, ids[:200])) == 200


def test_only_the_access_fields_can_be_selected(sf):
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD"):
        sf.query(format_soql("SELECT RecordId, Name FROM UserRecordAccess WHERE UserId = {} AND RecordId = {}", ALICE,
                             WILE))  # fmt: skip
