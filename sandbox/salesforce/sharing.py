"""Record visibility per user, and the ``UserRecordAccess`` object that reports it.

The sandbox's queries run with the integration user's view (it sees everything, like a user with "View All
Data"); what another user may see follows a small sharing model:

- the owner of a record has All access;
- everyone else gets the object's organization-wide default: Accounts are Public Read Only, Contacts, Leads,
  Opportunities, Events and Tasks are Private (only the owner), Users are readable by all, other objects
  (custom ones) are Public Read/Write;
- a deleted or unknown record gives no access.

With the seed's round-robin owners this makes some records invisible to some reps (Bob's Lead Joanna Smith to
Alice, Alice's Contact Wile Coyote to Bob, ...).

``UserRecordAccess`` (API 24.0+; https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/
object_reference/sforce_api_objects_userrecordaccess.htm) is read-only and answers queries only as Salesforce
restricts them: ``WHERE UserId = [single ID] AND RecordId = [single ID]`` or ``... AND RecordId IN [list of
IDs]``, at most 200 record ids, selecting ``RecordId``, ``HasReadAccess``, ``HasEditAccess``,
``HasDeleteAccess``, ``HasTransferAccess``, ``HasAllAccess`` and ``MaxAccessLevel`` (plus ``Id``). Deviation:
``RecordId`` is described as a reference here (Salesforce says picklist) so that 15- and 18-character ids
compare as ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sandbox.salesforce import soql
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.ids import canonical, is_well_formed, make_id

OBJECT = "UserRecordAccess"
MAX_RECORD_IDS = 200
ORG_WIDE_DEFAULTS = {"Account": "Read", "Contact": "None", "Lead": "None", "Opportunity": "None", "Event": "None",
                     "Task": "None", "EventRelation": "None", "User": "Read"}  # fmt: skip
PUBLIC_DEFAULT = "Edit"
LEVELS = ("None", "Read", "Edit", "Delete", "Transfer", "All")
SELECTABLE = {"Id", "RecordId", "UserId", "HasReadAccess", "HasEditAccess", "HasDeleteAccess", "HasTransferAccess",
              "HasAllAccess", "MaxAccessLevel"}  # fmt: skip


def max_access(store: Any, user_id: str, record_id: str) -> str:
    found = store.locate(record_id)
    if found is None or found[1].get("IsDeleted"):
        return "None"
    obj, record = found
    owner = record.get("OwnerId")
    if owner and canonical(owner) == canonical(user_id):
        return "All"
    return ORG_WIDE_DEFAULTS.get(obj.name, PUBLIC_DEFAULT)


def _malformed(detail: str) -> ApiError:
    return ApiError("MALFORMED_QUERY", detail)


def _restriction(where: soql.Condition | None) -> tuple[str, list[str]]:
    """The UserId and the RecordIds of a UserRecordAccess WHERE clause, or MALFORMED_QUERY."""
    parts: Iterable[soql.Condition]
    if isinstance(where, soql.BoolOp) and where.op == "AND":
        parts = where.operands
    elif where is not None:
        parts = (where,)
    else:
        parts = ()
    user_id: str | None = None
    record_ids: list[str] | None = None
    for part in parts:
        name = part.path.parts[-1].lower() if isinstance(part, soql.Compare | soql.InList) else ""
        if isinstance(part, soql.Compare) and part.op == "=" and name == "userid" and part.value.kind == "string":
            user_id = part.value.value
        elif isinstance(part, soql.Compare) and part.op == "=" and name == "recordid" and part.value.kind == "string":
            record_ids = [part.value.value]
        elif isinstance(part, soql.InList) and not part.negated and name == "recordid":
            record_ids = [v.value for v in part.values]
    if user_id is None or record_ids is None:
        raise _malformed("UserRecordAccess queries must filter on UserId = [single ID] AND RecordId = [single ID] "
                         "(or RecordId IN [list of IDs])")  # fmt: skip
    if len(record_ids) > MAX_RECORD_IDS:
        raise _malformed(f"UserRecordAccess queries can check at most {MAX_RECORD_IDS} RecordId values at once")
    for value in [user_id, *record_ids]:
        if not isinstance(value, str) or not is_well_formed(value):
            raise ApiError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}")
    return user_id, record_ids


def rows(store: Any, query: soql.Query) -> list[dict[str, Any]]:
    """The UserRecordAccess rows a query asks for (one per requested record id)."""
    for item in query.select:
        name = item.parts[-1] if isinstance(item, soql.Path) and len(item.parts) == 1 else None
        if name is None or name.lower() not in {s.lower() for s in SELECTABLE}:
            raise _malformed("UserRecordAccess queries can select only RecordId, the Has*Access fields and "
                             "MaxAccessLevel")  # fmt: skip
    user_id, record_ids = _restriction(query.where)
    out = []
    for index, record_id in enumerate(dict.fromkeys(canonical(r) for r in record_ids)):
        level = max_access(store, user_id, record_id)
        rank = LEVELS.index(level)
        out.append({
            "Id": make_id("0Sx", index + 1), "UserId": canonical(user_id), "RecordId": record_id,
            "HasReadAccess": rank >= 1, "HasEditAccess": rank >= 2, "HasDeleteAccess": rank >= 3,
            "HasTransferAccess": rank >= 4, "HasAllAccess": rank >= 5, "MaxAccessLevel": level, "IsDeleted": False,
        })  # fmt: skip
    return out


class VirtualSource:
    """A record source whose rows for UserRecordAccess are computed for one query; everything else is the store."""

    def __init__(self, store: Any, rows: list[dict[str, Any]]) -> None:
        self.store = store
        self._rows = rows

    def rows(self, object_name: str, include_deleted: bool) -> list[dict[str, Any]]:
        return self._rows if object_name == OBJECT else self.store.rows(object_name, include_deleted)

    def parent(self, record_id: str):
        return self.store.parent(record_id)

    def today(self):
        return self.store.today()
