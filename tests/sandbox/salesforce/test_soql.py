"""SOQL tokenizer, parser and evaluator, tested directly (no HTTP) from tables of queries and answers."""

from __future__ import annotations

import datetime as dt

import pytest

from sandbox.salesforce import soql
from sandbox.salesforce.errors import ApiError, QueryError
from sandbox.salesforce.query import compile_query, date_range
from sandbox.salesforce.schema import OBJECTS
from sandbox.salesforce.seed_data import build
from sandbox.salesforce.store import Store
from sandbox.seed import PEOPLE, REPS

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)  # a Monday
ALICE = REPS[0].salesforce_user_id
BOB = REPS[1].salesforce_user_id
WILE = PEOPLE[0].salesforce_id  # Contact at Acme
PETER = next(p for p in PEOPLE if p.kind == "Lead").salesforce_id


# -- tokenizer ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT Id", [("IDENT", "SELECT"), ("IDENT", "Id")]),
        ("Owner.Email", [("IDENT", "Owner.Email")]),
        ("'it''s'", None),  # two adjacent strings, not an escape: checked below
        (r"'O\'Brien'", [("STRING", "O'Brien")]),
        (r"'back\\slash'", [("STRING", "back\\slash")]),
        (r"'a\nb\tc'", [("STRING", "a\nb\tc")]),
        (r"'100\%'", [("STRING", "100\\%")]),  # kept escaped for LIKE
        (r"'\u00e9'", [("STRING", "é")]),
        ("42 -7 3.5", [("NUMBER", 42), ("NUMBER", -7), ("NUMBER", 3.5)]),
        ("2026-11-23", [("DATE", dt.date(2026, 11, 23))]),
        ("2026-11-23T10:00:00Z", [("DATETIME", dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC))]),
        ("2026-11-23T10:00:00+01:00", [("DATETIME", dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC))]),
        ("2026-11-23T10:00:00.250-05:00", [("DATETIME", dt.datetime(2026, 11, 23, 15, 0, 0, 250000, tzinfo=dt.UTC))]),
        ("TODAY LAST_N_DAYS:7", [("DATEKW", ("TODAY", None)), ("DATEKW", ("LAST_N_DAYS", 7))]),
        ("a<>b", [("IDENT", "a"), ("OP", "!="), ("IDENT", "b")]),
        ("<= >= != = < >", [("OP", op) for op in ("<=", ">=", "!=", "=", "<", ">")]),
    ],
)
def test_tokenizer(text: str, expected: list[tuple[str, object]] | None) -> None:
    tokens = soql.tokenize(text)
    assert tokens[-1].kind == "EOF"
    if expected is None:
        assert [t.value for t in tokens[:-1]] == ["it", "s"]
        return
    assert [(t.kind, t.value) for t in tokens[:-1]] == expected


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("'unterminated", "Unterminated string literal"),
        (r"'bad \q escape'", "Illegal character sequence '\\q' in string literal."),
        ("SELECT # FROM Event", "no viable alternative at character '#'"),
        ("2026-13-40", "Invalid date: 2026-13-40"),
        ("2026-11-23T10:00:00", "expecting a datetime"),  # SOQL datetimes need a zone
        ("LAST_N_DAYS", "unexpected token: 'LAST_N_DAYS'"),
        ("Id = :bound", "no viable alternative at character ':'"),  # Apex binds are not SOQL over REST
    ],
)
def test_tokenizer_errors(text: str, detail: str) -> None:
    with pytest.raises(QueryError) as caught:
        soql.tokenize(text)
    assert caught.value.error_code == "MALFORMED_QUERY"
    assert detail in caught.value.message


# -- parser -----------------------------------------------------------------------------------------------------
def test_parse_full_query() -> None:
    q = soql.parse(
        "SELECT Id, Owner.Email, COUNT() FROM Event WHERE (IsDeleted = false AND Subject LIKE 'a%') OR NOT "
        "WhoId IN ('003000000000000001') ORDER BY StartDateTime DESC NULLS LAST, Subject LIMIT 10 OFFSET 5"
    )
    assert q.object_name == "Event" and q.limit == 10 and q.offset == 5
    assert [s.parts if isinstance(s, soql.Path) else type(s).__name__ for s in q.select] == [
        ("Id",),
        ("Owner", "Email"),
        "Count",
    ]
    assert isinstance(q.where, soql.BoolOp) and q.where.op == "OR"
    left, right = q.where.operands
    assert isinstance(left, soql.BoolOp) and left.op == "AND"
    assert isinstance(left.operands[1], soql.Like)
    assert isinstance(right, soql.Not) and isinstance(right.operand, soql.InList)
    assert [(o.path.text, o.descending, o.nulls_last) for o in q.order_by] == [
        ("StartDateTime", True, True),
        ("Subject", False, None),
    ]


@pytest.mark.parametrize(
    ("text", "position", "detail"),
    [
        ("SELECT Id FROM Event WHERE", 26, "unexpected token: <EOF>"),
        ("SELECT Id FRM Event", 10, "unexpected token: 'FRM'"),
        ("SELECT FROM Event", 7, "unexpected token: 'FROM'"),
        ("SELECT Id, FROM Event", 11, "unexpected token: 'FROM'"),
        ("SELECT Id FROM Event WHERE A = 1 AND B = 2 OR C = 3", 43, "unexpected token: 'OR'"),
        ("SELECT Id FROM Event WHERE A = 1 OR B = 2 AND C = 3", 42, "unexpected token: 'AND'"),
        ("SELECT Id FROM Event WHERE (A = 1", 33, "unexpected token: <EOF>"),
        ("SELECT Id FROM Event WHERE A NOT LIKE 'x'", 33, "unexpected token: 'LIKE'"),
        ("SELECT Id FROM Event LIMIT -1", 27, "unexpected token: '-1'"),
        ("SELECT Id FROM Event LIMIT 5 junk", 29, "unexpected token: 'junk'"),
        ("SELECT Id FROM Event GROUP BY Subject", 21, "GROUP is valid SOQL but not supported"),
        ("SELECT Id FROM Event WHERE Id IN (SELECT Id FROM Task)", 34, "Semi-join subqueries"),
        ("SELECT Id FROM Event ORDER BY Subject NULLS", 43, "unexpected token: <EOF>"),
    ],
)
def test_parse_errors(text: str, position: int, detail: str) -> None:
    with pytest.raises(QueryError) as caught:
        soql.parse(text)
    error = caught.value
    assert error.error_code == "MALFORMED_QUERY"
    assert error.position == position
    assert error.message.startswith(f"\n{text}\n{' ' * position}^\nERROR at Row:1:Column:{position + 1}\n")
    assert detail in error.message


def test_error_message_on_a_later_row() -> None:
    text = "SELECT Id\nFROM Event\nWHERE Foo = 1"
    with pytest.raises(QueryError) as caught:
        compile_query(text)
    assert caught.value.error_code == "INVALID_FIELD"
    assert caught.value.message.startswith("\nWHERE Foo = 1\n      ^\nERROR at Row:3:Column:7\nNo such column 'Foo'")


# -- semantic errors ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "code", "detail"),
    [
        ("SELECT Id FROM Nope", "INVALID_TYPE", "sObject type 'Nope' is not supported."),
        ("SELECT Foo FROM Event", "INVALID_FIELD", "No such column 'Foo' on entity 'Event'."),
        ("SELECT Owner.Foo FROM Event", "INVALID_FIELD", "No such column 'Foo' on entity 'User'."),
        ("SELECT Who.Company FROM Event", "INVALID_FIELD", "No such column 'Company' on entity 'Name'."),
        ("SELECT Boss.Name FROM Event", "INVALID_FIELD", "Didn't understand relationship 'Boss' in field path."),
        ("SELECT Owner FROM Event", "INVALID_FIELD", "No such column 'Owner' on entity 'Event'."),
        (
            "SELECT Id FROM Event WHERE Subject = 5",
            "INVALID_FIELD",
            "value of filter criterion for field 'Subject' must be of type string and should be enclosed in quotes",
        ),
        ("SELECT Id FROM Event WHERE StartDateTime > 2026-01-01", "INVALID_FIELD", "must be of type dateTime"),
        ("SELECT Id FROM Event WHERE ActivityDate > 2026-01-01T00:00:00Z", "INVALID_FIELD", "must be of type date"),
        ("SELECT Id FROM Event WHERE IsPrivate = 'true'", "INVALID_FIELD", "must be of type boolean"),
        ("SELECT Id FROM Event WHERE DurationInMinutes = '30'", "INVALID_FIELD", "must be of type integer"),
        ("SELECT Id FROM Event WHERE IsPrivate > true", "INVALID_QUERY_FILTER_OPERATOR", "invalid operator"),
        ("SELECT Id FROM Event WHERE WhoId = 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: abc"),
        ("SELECT Id FROM Event WHERE Description = 'x'", "INVALID_FIELD", "can not be filtered"),
        ("SELECT Id FROM Event ORDER BY Description", "INVALID_FIELD", "can not be sorted"),
        ("SELECT Id, ID FROM Event", "MALFORMED_QUERY", "duplicate field selected: Id"),
        ("SELECT Subject, COUNT() FROM Event", "MALFORMED_QUERY", "Field must be grouped or aggregated: Subject"),
        ("SELECT FIELDS(ALL) FROM Event", "MALFORMED_QUERY", "must have a LIMIT of at most 200"),
    ],
)
def test_semantic_errors(text: str, code: str, detail: str) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(text)
    assert caught.value.error_code == code
    assert detail in caught.value.message


def test_offset_over_2000_is_refused() -> None:
    with pytest.raises(ApiError) as caught:
        compile_query("SELECT Id FROM Event OFFSET 2001")
    assert caught.value.error_code == "NUMBER_OUTSIDE_VALID_RANGE"


# -- evaluation -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def store() -> Store:
    """The ``empty`` seed plus six Events with known values, on a fixed clock."""
    s = Store(clock=lambda: NOW)
    build(s, "empty")
    events = [
        dict(
            Subject="Alpha",
            StartDateTime="2026-11-23T09:00:00Z",
            DurationInMinutes=30,
            WhoId=WILE,
            Location="Room 1",
            OwnerId=ALICE,
        ),
        dict(
            Subject="beta",
            StartDateTime="2026-11-22T09:00:00Z",
            DurationInMinutes=60,
            WhoId=PETER,
            OwnerId=ALICE,
            IsPrivate=True,
        ),
        dict(
            Subject="Gamma 100%",
            StartDateTime="2026-11-30T09:00:00Z",
            DurationInMinutes=90,
            OwnerId=BOB,
            Location="Room 2",
        ),
        dict(Subject="O'Brien", StartDateTime="2026-10-01T09:00:00Z", DurationInMinutes=15, OwnerId=BOB),
        dict(Subject="All day", IsAllDayEvent=True, ActivityDate="2026-11-24", OwnerId=ALICE),
        dict(
            Subject=None,
            StartDateTime="2026-11-25T09:00:00Z",
            DurationInMinutes=30,
            OwnerId=ALICE,
            WhatId="001000000000000001",
        ),
    ]
    for values in events:
        s.create(OBJECTS["Event"], values, ALICE)
    deleted = s.create(
        OBJECTS["Event"], {"Subject": "Gone", "StartDateTime": "2026-11-23T09:00:00Z", "DurationInMinutes": 5}, ALICE
    )
    s.delete(OBJECTS["Event"], deleted["Id"], ALICE)
    return s


def subjects(store: Store, where: str, *, order: str = "", include_deleted: bool = False) -> list[str | None]:
    compiled = compile_query(f"SELECT Subject FROM Event {where} {order}")
    rows = compiled.matching(store, include_deleted)
    return [r["Subject"] for r in rows]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("", ["Alpha", "beta", "Gamma 100%", "O'Brien", "All day", None]),
        ("WHERE Subject = 'ALPHA'", ["Alpha"]),  # text compares case-insensitively
        ("WHERE Subject != 'alpha'", ["beta", "Gamma 100%", "O'Brien", "All day", None]),  # != matches null
        ("WHERE Subject <> 'alpha'", ["beta", "Gamma 100%", "O'Brien", "All day", None]),
        ("WHERE Subject = null", [None]),
        ("WHERE Subject != null AND Location = null", ["beta", "O'Brien", "All day"]),
        (r"WHERE Subject = 'O\'Brien'", ["O'Brien"]),
        ("WHERE Subject LIKE 'a%'", ["Alpha", "All day"]),
        ("WHERE Subject LIKE '_eta'", ["beta"]),
        (r"WHERE Subject LIKE '%100\%'", ["Gamma 100%"]),
        (r"WHERE Subject LIKE '%1\_0%'", []),
        ("WHERE Subject IN ('alpha', 'BETA', 'nope')", ["Alpha", "beta"]),
        ("WHERE Subject NOT IN ('alpha', 'beta')", ["Gamma 100%", "O'Brien", "All day", None]),
        ("WHERE DurationInMinutes >= 60", ["beta", "Gamma 100%", "All day"]),
        ("WHERE DurationInMinutes < 30", ["O'Brien"]),
        ("WHERE StartDateTime > 2026-11-23T09:00:00Z", ["Gamma 100%", "All day", None]),
        ("WHERE StartDateTime >= 2026-11-23T10:00:00+01:00", ["Alpha", "Gamma 100%", "All day", None]),
        ("WHERE ActivityDate = 2026-11-24", ["All day"]),
        ("WHERE IsAllDayEvent = true", ["All day"]),
        ("WHERE IsPrivate = false AND IsAllDayEvent = false AND Subject != null", ["Alpha", "Gamma 100%", "O'Brien"]),
        ("WHERE NOT (IsPrivate = true OR IsAllDayEvent = true)", ["Alpha", "Gamma 100%", "O'Brien", None]),
        (f"WHERE OwnerId = '{BOB}'", ["Gamma 100%", "O'Brien"]),
        (f"WHERE WhoId = '{WILE}'", ["Alpha"]),
        ("WHERE Owner.Email = 'bob.baker@calsync.example'", ["Gamma 100%", "O'Brien"]),
        ("WHERE Who.Type = 'Lead'", ["beta"]),
        ("WHERE Who.Name LIKE 'Wile%'", ["Alpha"]),
        ("WHERE What.Name = 'Acme Corporation'", [None]),
        ("WHERE AccountId = '001000000000000001'", ["Alpha", None]),  # Who's or What's account
        ("WHERE Event.Subject = 'beta'", ["beta"]),  # fields may be qualified with the object name
        ("WHERE StartDateTime = TODAY", ["Alpha"]),
        ("WHERE StartDateTime = YESTERDAY", ["beta"]),
        ("WHERE StartDateTime = LAST_N_DAYS:1", ["Alpha", "beta"]),
        ("WHERE StartDateTime = NEXT_N_DAYS:7", ["Gamma 100%", "All day", None]),
        ("WHERE StartDateTime < THIS_MONTH", ["O'Brien"]),
        ("WHERE ActivityDate = THIS_WEEK", ["Alpha", "beta", "All day", None]),  # Sunday 22nd counts
    ],
)
def test_where(store: Store, where: str, expected: list[str | None]) -> None:
    assert subjects(store, where) == expected


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("ORDER BY Subject", [None, "All day", "Alpha", "beta", "Gamma 100%", "O'Brien"]),  # nulls first
        ("ORDER BY Subject NULLS LAST", ["All day", "Alpha", "beta", "Gamma 100%", "O'Brien", None]),
        ("ORDER BY Subject DESC", [None, "O'Brien", "Gamma 100%", "beta", "Alpha", "All day"]),
        ("ORDER BY Subject DESC NULLS LAST", ["O'Brien", "Gamma 100%", "beta", "Alpha", "All day", None]),
        ("ORDER BY OwnerId DESC, DurationInMinutes", ["O'Brien", "Gamma 100%", "Alpha", None, "beta", "All day"]),
        ("ORDER BY StartDateTime LIMIT 2", ["O'Brien", "beta"]),
        ("ORDER BY StartDateTime LIMIT 2 OFFSET 4", [None, "Gamma 100%"]),
        ("ORDER BY Owner.Email DESC, Subject LIMIT 2", ["Gamma 100%", "O'Brien"]),
    ],
)
def test_order_limit_offset(store: Store, order: str, expected: list[str | None]) -> None:
    assert subjects(store, "", order=order) == expected


def test_query_all_includes_deleted_rows(store: Store) -> None:
    assert "Gone" not in subjects(store, "")
    assert subjects(store, "WHERE IsDeleted = true", include_deleted=True) == ["Gone"]


def test_projection_nests_parents(store: Store) -> None:
    compiled = compile_query(
        "SELECT Subject, Who.Name, Who.Email, Owner.Name, What.Name FROM Event WHERE Subject = 'Alpha'"
    )
    (row,) = compiled.project(compiled.matching(store, False), store, "60.0")
    assert row["attributes"]["url"].startswith("/services/data/v60.0/sobjects/Event/00U")
    assert row["Who"] == {
        "attributes": {"type": "Name", "url": f"/services/data/v60.0/sobjects/Contact/{WILE}"},
        "Name": "Wile Coyote",
        "Email": "wile.coyote@acme.test",
    }
    assert row["Owner"]["attributes"]["type"] == "User" and row["Owner"]["Name"] == "Alice Archer"
    assert row["What"] is None


def test_count_aggregates(store: Store) -> None:
    compiled = compile_query("SELECT COUNT(Id) total, COUNT(Location) FROM Event")
    rows = compiled.matching(store, False)
    assert compiled.aggregate(rows, store) == [{"attributes": {"type": "AggregateResult"}, "total": 6, "expr1": 2}]
    assert (
        compile_query("SELECT COUNT() FROM Event WHERE IsPrivate = true").matching(store, False)[0]["Subject"] == "beta"
    )


def test_fields_function_expands_the_schema(store: Store) -> None:
    compiled = compile_query("SELECT FIELDS(CUSTOM) FROM Event LIMIT 1")
    assert [p.target.name for p in compiled.select] == ["CalSync_Key__c", "External_Ref__c"]
    standard = compile_query("SELECT FIELDS(STANDARD) FROM Event")
    assert "Subject" in [p.target.name for p in standard.select]


@pytest.mark.parametrize(
    ("keyword", "n", "expected"),
    [
        ("TODAY", None, ("2026-11-23", "2026-11-24")),
        ("THIS_WEEK", None, ("2026-11-22", "2026-11-29")),  # weeks start on Sunday
        ("LAST_WEEK", None, ("2026-11-15", "2026-11-22")),
        ("THIS_MONTH", None, ("2026-11-01", "2026-12-01")),
        ("NEXT_MONTH", None, ("2026-12-01", "2027-01-01")),
        ("LAST_N_DAYS", 7, ("2026-11-16", "2026-11-24")),
        ("NEXT_N_DAYS", 2, ("2026-11-24", "2026-11-26")),
        ("N_DAYS_AGO", 3, ("2026-11-20", "2026-11-21")),
        ("LAST_N_MONTHS", 2, ("2026-09-01", "2026-11-01")),
        ("THIS_YEAR", None, ("2026-01-01", "2027-01-01")),
    ],
)
def test_date_keywords(keyword: str, n: int | None, expected: tuple[str, str]) -> None:
    start, end = date_range(keyword, n, NOW.date())
    assert (start.isoformat(), end.isoformat()) == expected
