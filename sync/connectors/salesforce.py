"""Salesforce connector on simple-salesforce: batched reads and writes, call counting, limit tracking.

Every method names the REST resource it uses. References:
- query / queryAll: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_queryall.htm
- sObject Collections: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections.htm
- Composite (queries batched, one API call): https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite_post.htm
- Limit header: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm

Sessions come from a `TokenProvider` (``sync.connectors.salesforce_auth``), acquired at the first call. When
Salesforce answers ``INVALID_SESSION_ID`` the connector renews the session once and retries that one call
once: a 401 refuses the whole request before any record is touched, so even a collection write is retried
only when nothing was written. A second refusal raises `AuthError` (the session ends as
``salesforce_auth_failed``). ``usage.reauthentications`` counts the renewals (the session record keeps it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import requests
from simple_salesforce import Salesforce, SalesforceError, format_soql

from sync.api_names import is_sobject
from sync.attendees import Relation
from sync.connectors.base import TRANSIENT_CODES, ApiUsage, ChangeQuery, RecordResult
from sync.connectors.errors import AuthError, BudgetExhausted, ConnectorError, TransientError
from sync.connectors.salesforce_auth import SalesforceSession, TokenProvider

COLLECTION_LIMIT = 200  # records per sObject Collections call
COMPOSITE_QUERIES = 5  # query subrequests per Composite request
_LIMIT_RE = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass(frozen=True)
class SalesforceConfig:
    instance_url: str = ""  # with ``session_id``: a fixed session (no provider)
    session_id: str = ""
    api_version: str = "59.0"
    ca_file: str = ""  # empty: the system trust store
    timeout: float = 30.0


def soql_datetime(value: dt.datetime) -> str:
    """A SOQL datetime literal (UTC, seconds)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SalesforceConnector:
    """One authenticated connection to an org, for one sync session."""

    service = "salesforce"

    def __init__(self, config: SalesforceConfig, session: requests.Session | None = None,
                 auth: TokenProvider | None = None) -> None:  # fmt: skip
        self.config = config
        self.auth = auth
        self.usage = ApiUsage()
        http = session or requests.Session()
        # REQUESTS_CA_BUNDLE would override `verify` if the environment were trusted.
        http.trust_env = False
        if config.ca_file:
            http.verify = config.ca_file
        http.hooks["response"].append(self._count)
        self._http = http
        self._timeout = config.timeout
        self._sf: Salesforce | None = None
        self._session_id = config.session_id

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce client of the current session (the first use acquires one)."""
        if self._sf is None:
            if self.auth is not None:
                self._use(self._call_plain(self.auth.session))
            else:
                self._use(SalesforceSession(self.config.session_id, self.config.instance_url))
        return self._sf

    @property
    def session(self) -> SalesforceSession:
        self.sf  # noqa: B018 - acquires
        return self._current

    def _use(self, session: SalesforceSession) -> None:
        self._current = session
        self._session_id = session.access_token
        self._sf = Salesforce(instance_url=session.instance_url, session_id=session.access_token,
                              version=self.config.api_version, session=self._http)  # fmt: skip

    # -- bookkeeping --------------------------------------------------------------------------------------
    def _count(self, response: requests.Response, *args, **kwargs) -> None:
        self.usage.calls += 1
        path = response.request.path_url.split("?", 1)[0]
        resource = path.split(f"/v{self.config.api_version}/", 1)[-1].split("/", 1)[0] or path
        self.usage.by_resource[resource] = self.usage.by_resource.get(resource, 0) + 1
        date = response.headers.get("Date")
        if date:
            try:
                self.usage.server_time = parsedate_to_datetime(date).astimezone(dt.UTC)
            except (TypeError, ValueError):
                pass
        match = _LIMIT_RE.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.usage.org_used, self.usage.org_max = int(match.group(1)), int(match.group(2))

    def _call(self, operation: str, /, *args: Any, **kwargs: Any) -> Any:
        """Run one simple-salesforce call (``self.sf.<operation>``, looked up afresh for the retry), turning its
        status-based exceptions into ours by errorCode; on ``INVALID_SESSION_ID`` renew once and retry once."""

        def request() -> Any:
            return getattr(self.sf, operation)(*args, **kwargs)

        try:
            return self._call_plain(request)
        except AuthError as exc:
            if self.auth is None or exc.code != "INVALID_SESSION_ID":
                raise
            refused = self._session_id
        self._use(self._call_plain(lambda: self.auth.renew(refused)))
        self.usage.reauthentications += 1
        try:
            return self._call_plain(request)
        except AuthError as exc:
            if exc.code != "INVALID_SESSION_ID":
                raise
            raise AuthError(f"Salesforce refused the renewed session too: {exc}", code=exc.code,
                            service=self.service, status=exc.status) from exc  # fmt: skip

    def _call_plain(self, request: Callable[[], Any]) -> Any:
        try:
            return request()
        except SalesforceError as exc:
            raise self._classify(exc) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"Salesforce did not answer: {exc}", service=self.service) from exc

    def _classify(self, exc: SalesforceError) -> ConnectorError:
        content = exc.content
        first = content[0] if isinstance(content, list) and content and isinstance(content[0], dict) else {}
        code = first.get("errorCode", "") if first else ""
        message = first.get("message", "") if first else str(content)
        status = exc.status
        if code == "REQUEST_LIMIT_EXCEEDED":
            return BudgetExhausted(message, code=code, service=self.service, status=status)
        if status == 401 or code == "INVALID_SESSION_ID":
            return AuthError(message or "session expired or invalid", code=code, service=self.service, status=status)
        if status >= 500 or code in TRANSIENT_CODES:
            return TransientError(message or f"HTTP {status}", code=code, service=self.service, status=status)
        return ConnectorError(message, code=code, service=self.service, status=status)

    # -- reads --------------------------------------------------------------------------------------------
    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """All rows of a query, following ``nextRecordsUrl`` (query / queryAll resources)."""
        rows: list[dict[str, Any]] = []
        result = self._call("query", soql, include_deleted=include_deleted)
        while True:
            rows.extend(result.get("records", []))
            if result.get("done", True):
                return rows
            result = self._call(
                "query_more", result["nextRecordsUrl"], identifier_is_url=True, include_deleted=include_deleted
            )

    def changed_records(
        self,
        sobject: str,
        fields: Iterable[str],
        *,
        owner_id: str,
        since: dt.datetime | None,
        where: str = "",
    ) -> list[dict[str, Any]]:
        """Rows of ``owner_id`` modified at or after ``since``, deleted ones included (``IsDeleted``)."""
        columns = ", ".join(dict.fromkeys(["Id", "IsDeleted", "SystemModstamp", *fields]))
        soql = format_soql(f"SELECT {columns} FROM {sobject} WHERE OwnerId = {{}}", owner_id)
        if since is not None:
            soql += f" AND SystemModstamp >= {soql_datetime(since)}"
        if where:
            soql += f" AND ({where})"
        soql += " ORDER BY SystemModstamp, Id"
        return self.query(soql, include_deleted=True)

    def query_batch(self, soqls: Sequence[str], *, include_deleted: bool = False) -> list[list[dict[str, Any]]]:
        """Several queries, their rows in order, five to a Composite request (POST composite: one API call for
        all five, the SOQL in the body, so no URI limit; up to 100,000 characters each). Further pages of a
        large answer are one ``nextRecordsUrl`` GET each, as for `query`."""
        resource = "queryAll" if include_deleted else "query"
        out: list[list[dict[str, Any]]] = []
        for group in _chunks(list(soqls), COMPOSITE_QUERIES):
            subrequests = [
                {"method": "GET", "referenceId": f"q{n}",
                 "url": f"/services/data/v{self.config.api_version}/{resource}/?{urlencode({'q': soql})}"}
                for n, soql in enumerate(group)
            ]  # fmt: skip
            answer = self._call("restful", "composite", method="POST", json={"compositeRequest": subrequests},
                                timeout=self._timeout)  # fmt: skip
            for item in (answer or {}).get("compositeResponse") or []:
                status, body = int(item.get("httpStatusCode") or 0), item.get("body")
                if status >= 400:
                    first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
                    code, message = first.get("errorCode", ""), first.get("message", "") or f"HTTP {status}"
                    kind = TransientError if status >= 500 or code in TRANSIENT_CODES else ConnectorError
                    raise kind(message, code=code, service=self.service, status=status)
                rows = list((body or {}).get("records") or [])
                while not (body or {}).get("done", True):
                    body = self._call("query_more", body["nextRecordsUrl"], identifier_is_url=True,
                                      include_deleted=include_deleted)  # fmt: skip
                    rows.extend(body.get("records", []))
                out.append(rows)
        if len(out) != len(soqls):
            raise ConnectorError("Salesforce answered fewer composite subrequests than sent", service=self.service)
        return out

    def owners_changed_batch(
        self, queries: Sequence[ChangeQuery], *, composite: bool = True
    ) -> list[list[dict[str, Any]]]:
        """`owners_changed_records` for several (object, fields, owner ids, since), their rows in order: five to
        a Composite request (one API call) with ``composite``, else one queryAll each."""
        soqls = [self.owners_changed_soql(q.sobject, q.fields, owner_ids=q.owner_ids, since=q.since) for q in queries]
        if composite:
            return self.query_batch(soqls, include_deleted=True)
        return [self.query(soql, include_deleted=True) for soql in soqls]

    def owners_changed_soql(self, sobject: str, fields: Iterable[str], *, owner_ids: Sequence[str] | None,
                            since: dt.datetime) -> str:  # fmt: skip
        """The SOQL of `owners_changed_records` and `owners_changed_batch`."""
        columns = ", ".join(dict.fromkeys(["Id", "IsDeleted", "SystemModstamp", "OwnerId", "LastModifiedById",
                                           *fields]))  # fmt: skip
        soql = f"SELECT {columns} FROM {sobject} WHERE SystemModstamp >= {soql_datetime(since)}"
        if owner_ids is not None:
            soql += format_soql(" AND OwnerId IN {}", list(owner_ids))
        return soql + " ORDER BY SystemModstamp, Id"

    def owners_changed_records(
        self, sobject: str, fields: Iterable[str], *, owner_ids: Sequence[str] | None, since: dt.datetime
    ) -> list[dict[str, Any]]:
        """Rows of any of ``owner_ids`` (``None``: of every owner) modified at or after ``since``, deleted ones
        included: the org-wide change scan's query (``sync.push.salesforce_scan``), one queryAll and its pages.
        The caller keeps the IN list short enough for the URI limit (16,384 bytes with the headers)."""
        return self.query(self.owners_changed_soql(sobject, fields, owner_ids=owner_ids, since=since),
                          include_deleted=True)  # fmt: skip

    def get_records(self, sobject: str, ids: Sequence[str], fields: Iterable[str]) -> list[dict[str, Any] | None]:
        """Records by id, ``None`` where one no longer exists (GET composite/sobjects/{T})."""
        field_list = ",".join(dict.fromkeys(["Id", *fields]))
        found: list[dict[str, Any] | None] = []
        for chunk in _chunks(list(ids), COLLECTION_LIMIT):
            result = self._call(
                "restful",
                f"composite/sobjects/{sobject}",
                params={"ids": ",".join(chunk), "fields": field_list},
                timeout=self._timeout,
            )
            found.extend(result or [None] * len(chunk))
        return found

    # -- writes (sObject Collections, at most 200 records a call, allOrNone false) -------------------------
    def create(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]:
        """POST composite/sobjects."""
        payload = [{"attributes": {"type": sobject}, **r} for r in records]
        return self._collection("POST", "composite/sobjects", payload)

    def upsert(self, sobject: str, external_id_field: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]:
        """PATCH composite/sobjects/{T}/{externalIdField}: a retried create finds its record instead of
        making a second one."""
        payload = [{"attributes": {"type": sobject}, **r} for r in records]
        return self._collection("PATCH", f"composite/sobjects/{sobject}/{external_id_field}", payload)

    def update(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]:
        """PATCH composite/sobjects; each record carries its ``Id``."""
        payload = [{"attributes": {"type": sobject}, **r} for r in records]
        return self._collection("PATCH", "composite/sobjects", payload)

    def delete(self, ids: Sequence[str]) -> list[RecordResult]:
        """DELETE composite/sobjects?ids=... An id that is already gone counts as deleted."""
        results: list[RecordResult] = []
        for chunk in _chunks(list(ids), COLLECTION_LIMIT):
            answer = self._call(
                "restful",
                "composite/sobjects",
                method="DELETE",
                params={"ids": ",".join(chunk), "allOrNone": "false"},
                timeout=self._timeout,
            )
            for record_id, item in zip(chunk, answer or [], strict=False):
                result = _result(item)
                if not result.success and result.error_code in {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"}:
                    result = RecordResult(id=record_id, success=True)
                results.append(result)
        return results

    def _collection(self, method: str, path: str, payload: list[dict[str, Any]]) -> list[RecordResult]:
        results: list[RecordResult] = []
        for chunk in _chunks(payload, COLLECTION_LIMIT):
            answer = self._call(
                "restful",
                path,
                method=method,
                json={"allOrNone": False, "records": list(chunk)},
                timeout=self._timeout,
            )
            results.extend(_result(item) for item in answer or [])
        return results

    # -- metadata and lookups -----------------------------------------------------------------------------
    def describe(self, sobject: str | None = None) -> dict[str, Any]:
        """GET sobjects/ (global) or sobjects/{T}/describe."""
        if sobject is None:
            return self._call("describe")
        if not is_sobject(sobject):  # never an attribute of the client or another REST path (../)
            raise ConnectorError(f"{sobject!r} is not an sObject API name", code="INVALID_TYPE", service="salesforce")
        return self._call("restful", f"sobjects/{sobject}/describe")

    def active_user_id(self, email: str) -> str | None:
        """SOQL query on User by e-mail (``format_soql`` quotes the address)."""
        rows = self.query(format_soql("SELECT Id FROM User WHERE Email = {} AND IsActive = true", email))
        return rows[0]["Id"] if rows else None

    def people_by_email(self, emails: Iterable[str]) -> dict[str, tuple[str, str]]:
        """E-mail (lower case) → (object, id) for matching Contacts, Leads (not converted) and Users.

        Contacts win over Leads, Leads over Users, as a rep would expect for WhoId."""
        wanted = sorted({e.strip().lower() for e in emails if e and "@" in e})
        found: dict[str, tuple[str, str]] = {}
        for sobject, extra in (("User", " AND IsActive = true"), ("Lead", " AND IsConverted = false"), ("Contact", "")):
            for chunk in _chunks(wanted, 100):
                soql = format_soql(f"SELECT Id, Email FROM {sobject} WHERE Email IN {{}}", list(chunk)) + extra
                for row in self.query(soql):
                    if row.get("Email"):
                        found[row["Email"].lower()] = (sobject, row["Id"])
        return found

    def event_invitees(self, event_ids: Iterable[str]) -> dict[str, list[Relation]]:
        """Event id → its EventRelation invitees (one query per 200 Events)."""
        ids = sorted(set(event_ids))
        found: dict[str, list[Relation]] = {i: [] for i in ids}
        for chunk in _chunks(ids, 200):
            soql = format_soql(
                "SELECT Id, EventId, RelationId, Relation.Email FROM EventRelation "
                "WHERE IsInvitee = true AND EventId IN {}",
                list(chunk),
            )
            for row in self.query(soql):
                email = (row.get("Relation") or {}).get("Email")
                relation = Relation(row["Id"], row["EventId"], row["RelationId"], email.lower() if email else None)
                found.setdefault(row["EventId"], []).append(relation)
        return found

    def limits(self) -> dict[str, Any]:
        """GET limits/."""
        return self._call("restful", "limits/")


def _result(item: dict[str, Any]) -> RecordResult:
    return RecordResult(
        id=item.get("id"),
        success=bool(item.get("success")),
        created=bool(item.get("created", False)),
        errors=tuple(item.get("errors") or ()),
    )
