"""Records a rep may see in Salesforce: lookups, linked names and shares are limited to them.

calsync reads Salesforce as its integration user, who sees every record of the org. A rep must not: the
task pane shows and accepts only records that Salesforce's sharing lets the rep's own user read, as
``UserRecordAccess`` reports it (``HasReadAccess`` for ``UserId = <rep> AND RecordId IN (...)``, at most 200
ids a query; https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/
sforce_api_objects_userrecordaccess.htm). A mailbox whose Salesforce user is not known yet is looked up by
its e-mail, as a session does; without one, nothing is visible (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable

from simple_salesforce import format_soql

from sync.connectors.base import SalesforceOrg

MAX_IDS = 200  # UserRecordAccess checks at most 200 record ids per query
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character Salesforce id (the case-safe suffix)."""
    if len(record_id) != 15:
        return record_id
    suffix = ""
    for block in range(3):
        bits = sum(1 << i for i, c in enumerate(record_id[block * 5 : block * 5 + 5]) if c.isupper())
        suffix += _SUFFIX[bits]
    return record_id + suffix


def salesforce_user(sf: SalesforceOrg, mailbox) -> str | None:
    """The mailbox's Salesforce user id (found by e-mail when the first session has not run yet)."""
    if mailbox.salesforce_user_id:
        return mailbox.salesforce_user_id
    rows = sf.query(format_soql("SELECT Id FROM User WHERE Email = {} AND IsActive = true", mailbox.email))
    return rows[0]["Id"] if rows else None


def readable(sf: SalesforceOrg, user_id: str | None, record_ids: Iterable[str]) -> set[str]:
    """The 18-character ids among ``record_ids`` that ``user_id`` may read (one query per 200 ids)."""
    wanted = list(dict.fromkeys(id18(i) for i in record_ids))
    if not wanted or not user_id:
        return set()
    found: set[str] = set()
    for start in range(0, len(wanted), MAX_IDS):
        soql = format_soql("SELECT RecordId, HasReadAccess FROM UserRecordAccess WHERE UserId = {} AND RecordId IN {}",
                           user_id, wanted[start : start + MAX_IDS])  # fmt: skip
        found.update(id18(row["RecordId"]) for row in sf.query(soql) if row.get("HasReadAccess"))
    return found


def viewer() -> str | None:
    """The current add-in caller's Salesforce user id (for the views: ``visible_to=visibility.viewer()``)."""
    from flask import g

    from backend.api import remote
    from backend.auth import current_caller

    mailbox = current_caller().mailbox
    if mailbox.salesforce_user_id:
        return mailbox.salesforce_user_id
    # The request's connector when the view made one already (backend.limits reads its API usage).
    return salesforce_user(g.get("calsync_salesforce") or remote.salesforce(), mailbox)
