"""Salesforce records the task pane picks as Who and What: search by name, describe by id.

User input reaches SOQL only through simple-salesforce's ``format_soql`` (values quoted and escaped; ``:like``
also escapes ``%`` and ``_`` so a search for "100%" finds that text, not everything). Object names and fields
come from the fixed table below, never from the request.

``visible_to`` (a Salesforce user id) keeps only the records that user may read (`backend.visibility`):
the views pass the caller's, so a rep never sees or links a record Salesforce hides from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from simple_salesforce import format_soql

from backend import visibility
from sync.connectors.base import SalesforceOrg


@dataclass(frozen=True)
class RecordType:
    name: str  # API name
    prefix: str  # key prefix of its ids
    role: str  # "who" (Event.WhoId) or "what" (Event.WhatId)
    detail: str | None  # a second field shown under the name


TYPES: dict[str, RecordType] = {
    t.name: t
    for t in (
        RecordType("Contact", "003", "who", "Email"),
        RecordType("Lead", "00Q", "who", "Company"),
        RecordType("Account", "001", "what", "BillingCity"),
        RecordType("Opportunity", "006", "what", "StageName"),
    )
}
BY_PREFIX = {t.prefix: t for t in TYPES.values()}
SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
MAX_RESULTS = 10
EVERYONE = object()  # no visibility filter: the integration user's view


def _visible(sf: SalesforceOrg, rows: list[dict[str, Any]], visible_to: object) -> list[dict[str, Any]]:
    if visible_to is EVERYONE:
        return rows
    allowed = visibility.readable(sf, visible_to if isinstance(visible_to, str) else None, [r["id"] for r in rows])
    return [r for r in rows if visibility.id18(r["id"]) in allowed]


def type_of(record_id: str) -> RecordType | None:
    return BY_PREFIX.get(record_id[:3]) if SALESFORCE_ID.match(record_id) else None


def id_pattern(role: str) -> str:
    """The ids of the record types that play ``role`` ("who" or "what"), as a regular expression."""
    prefixes = "|".join(t.prefix for t in TYPES.values() if t.role == role)
    return f"^({prefixes})[A-Za-z0-9]{{12}}([A-Za-z0-9]{{3}})?$"


def type_list_pattern() -> str:
    """A comma-separated list of record type names, as a regular expression."""
    names = "|".join(TYPES)
    return f"^({names})(,({names}))*$"


def _row(record_type: RecordType, raw: dict[str, Any]) -> dict[str, Any]:
    detail = raw.get(record_type.detail) if record_type.detail else None
    return {"id": raw["Id"], "type": record_type.name, "name": raw.get("Name") or raw["Id"], "detail": detail}


def search(sf: SalesforceOrg, text: str, types: Iterable[str], limit: int = MAX_RESULTS, *,
           visible_to: object = EVERYONE) -> list[dict[str, Any]]:  # fmt: skip
    """Records of ``types`` whose name contains ``text`` (one SOQL query per type), best matches first."""
    out: list[dict[str, Any]] = []
    for name in types:
        record_type = TYPES[name]
        fields = "Id, Name" + (f", {record_type.detail}" if record_type.detail else "")
        soql = format_soql(
            f"SELECT {fields} FROM {record_type.name} WHERE Name LIKE '%{{:like}}%' ORDER BY Name LIMIT {{}}",
            text,
            limit,
        )
        out += [_row(record_type, raw) for raw in sf.query(soql)]
    out = _visible(sf, out, visible_to)
    needle = text.lower()
    # Names that start with the text first, then the others; each group by name.
    out.sort(key=lambda r: (not str(r["name"]).lower().startswith(needle), str(r["name"]).lower()))
    return out[: limit * 2]


def describe(sf: SalesforceOrg, ids: Iterable[str], *, visible_to: object = EVERYONE) -> dict[str, dict[str, Any]]:
    """Id → {id, type, name, detail} for the ids that exist (and that ``visible_to`` may read; one query per
    type, one UserRecordAccess query per 200 ids)."""
    by_type: dict[str, list[str]] = {}
    for record_id in dict.fromkeys(ids):
        record_type = type_of(record_id)
        if record_type is not None:
            by_type.setdefault(record_type.name, []).append(record_id)
    found: dict[str, dict[str, Any]] = {}
    for name, wanted in by_type.items():
        record_type = TYPES[name]
        fields = "Id, Name" + (f", {record_type.detail}" if record_type.detail else "")
        soql = format_soql(f"SELECT {fields} FROM {record_type.name} WHERE Id IN {{}}", wanted)
        for row in _visible(sf, [_row(record_type, raw) for raw in sf.query(soql)], visible_to):
            found[row["id"]] = row
            if visibility.id18(row["id"][:15]) == row["id"]:  # its true 15-character form names it too
                found[row["id"][:15]] = row
    return found


def event_relations(sf: SalesforceOrg, event_id: str) -> tuple[list[str], str | None]:
    """The WhoId (as a list) and WhatId of an Event; empty when it is gone."""
    rows = sf.query(format_soql("SELECT Id, WhoId, WhatId FROM Event WHERE Id = {}", event_id))
    if not rows:
        return [], None
    who = [rows[0]["WhoId"]] if rows[0].get("WhoId") else []
    return who, rows[0].get("WhatId")
