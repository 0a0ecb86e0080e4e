"""The REST API resources under ``/services/data/vXX.X/`` (https://developer.salesforce.com/docs/atlas.en-us.
api_rest.meta/api_rest/resources_list.htm).

| resource | methods |
|---|---|
| ``/`` | GET: resources of the version |
| ``limits/`` | GET (DailyApiRequests and a few more) |
| ``query/?q=``, ``queryAll/?q=``, ``query/{locator}-{n}`` | GET (``Sforce-Query-Options: batchSize=N``) |
| ``sobjects/`` | GET: global describe |
| ``sobjects/{T}/`` | GET: basic information; POST: create |
| ``sobjects/{T}/describe/`` | GET |
| ``sobjects/{T}/updated/?start=&end=``, ``sobjects/{T}/deleted/?start=&end=`` | GET |
| ``sobjects/{T}/{id}`` | GET (``?fields=``), PATCH, DELETE |
| ``sobjects/{T}/{externalIdField}/{value}`` | GET, PATCH (upsert), DELETE |
| ``composite`` | POST: up to 25 subrequests (5 queries), one API call; runs query/queryAll GETs only, no ``@{}`` |
| ``composite/sobjects`` | POST (create), PATCH (update), DELETE (``?ids=&allOrNone=``) |
| ``composite/sobjects/{T}`` | GET (``?ids=&fields=``) or POST (body ``ids``, ``fields``): retrieve |
| ``composite/sobjects/{T}/{externalIdField}`` | PATCH: upsert |

Every handler runs with the sandbox lock held.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from sandbox.salesforce import ids, sharing
from sandbox.salesforce.errors import ApiError, RecordError, not_found
from sandbox.salesforce.query import compile_query
from sandbox.salesforce.schema import (
    SObject,
    get_object,
    parse_datetime,
)
from sandbox.salesforce.schema import (
    global_describe as schema_global_describe,
)
from sandbox.salesforce.store import MultipleMatches

if TYPE_CHECKING:
    from sandbox.salesforce.service import SalesforceSandbox

MAX_COLLECTION = 200
MAX_COMPOSITE, MAX_COMPOSITE_QUERIES = 25, 5  # subrequests per composite request, of which queries
CURSOR_IDLE_SECONDS = 15 * 60
MAX_CURSORS = 200
ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


@dataclass
class Result:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    request: Request
    version: str
    user_id: str
    segments: list[str]

    def json_body(self) -> Any:
        raw = self.request.get_data(cache=True)
        if not raw.strip():
            raise ApiError("JSON_PARSER_ERROR", "The request body is either invalid or incomplete")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError("JSON_PARSER_ERROR", f"Unexpected character in the request body: {exc}") from None

    def record_url(self, obj: SObject, record_id: str) -> str:
        return f"/services/data/v{self.version}/sobjects/{obj.name}/{record_id}"


@dataclass
class Cursor:
    records: list[dict[str, Any]]
    endpoint: str
    batch: int
    touched: float


class RestApi:
    def __init__(self, sandbox: SalesforceSandbox) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.cursor_counter = 0

    # -- routing -------------------------------------------------------------------------------------------
    def route(self, method: str, segments: list[str]) -> tuple[str, Callable[[Call], Result]]:
        """The endpoint name (for request counters) and its handler; ApiError for unknown resources."""
        n = len(segments)
        head = segments[0] if segments else ""
        table: dict[tuple[str, str], Callable[[Call], Result]] = {}
        if n == 0:
            table = {("GET", "resources"): self.resources}
        elif head == "limits" and n == 1:
            table = {("GET", "limits"): self.limits}
        elif head in {"query", "queryAll"} and n in {1, 2}:
            table = {("GET", "query" if n == 1 else "query_more"): self.query}
        elif head == "sobjects" and n == 1:
            table = {("GET", "global_describe"): self.global_describe}
        elif head == "sobjects" and n == 2:
            table = {("GET", "sobject_info"): self.sobject_info, ("POST", "sobject_create"): self.create}
        elif head == "sobjects" and n == 3 and segments[2] == "describe":
            table = {("GET", "describe"): self.describe}
        elif head == "sobjects" and n == 3 and segments[2] in {"updated", "deleted"}:
            table = {("GET", segments[2]): self.replication}
        elif head == "sobjects" and n == 3:
            table = {
                ("GET", "sobject_get"): self.get,
                ("PATCH", "sobject_update"): self.update,
                ("DELETE", "sobject_delete"): self.delete,
            }
        elif head == "sobjects" and n == 4:
            table = {
                ("GET", "external_id_get"): self.get_by_external_id,
                ("PATCH", "sobject_upsert"): self.upsert,
                ("DELETE", "external_id_delete"): self.delete_by_external_id,
            }
        elif head == "composite" and n == 1:
            table = {("POST", "composite"): self.composite}
        elif head == "composite" and n >= 2 and segments[1] == "sobjects":
            if n == 2:
                table = {
                    ("POST", "collection_create"): self.collection_create,
                    ("PATCH", "collection_update"): self.collection_update,
                    ("DELETE", "collection_delete"): self.collection_delete,
                }
            elif n == 3:
                table = {
                    ("GET", "collection_retrieve"): self.collection_retrieve,
                    ("POST", "collection_retrieve"): self.collection_retrieve,
                }
            elif n == 4:
                table = {("PATCH", "collection_upsert"): self.collection_upsert}
        if not table:
            raise not_found()
        for (allowed_method, name), handler in table.items():
            if allowed_method == method:
                return name, handler
        allowed = ",".join(sorted({m for m, _ in table}))
        raise MethodNotAllowed(method, allowed)

    def _object(self, name: str) -> SObject:
        obj = get_object(name)
        if obj is None:
            raise not_found()
        return obj

    # -- small resources -------------------------------------------------------------------------------------
    def resources(self, call: Call) -> Result:
        base = f"/services/data/v{call.version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "search", "recent", "tooling")
        return Result(200, {name: f"{base}/{name}" for name in names})

    def limits(self, call: Call) -> Result:
        usage = self.sandbox.usage
        remaining = usage.remaining(self.store.now())

        def limit(maximum: int, left: int) -> dict[str, int]:
            return {"Max": maximum, "Remaining": left}

        return Result(
            200,
            {
                "ConcurrentAsyncGetReportInstances": limit(200, 200),
                "DailyApiRequests": limit(usage.max, remaining),
                "DailyAsyncApexExecutions": limit(250000, 250000),
                "DailyBulkApiBatches": limit(15000, 15000),
                "DailyBulkV2QueryJobs": limit(10000, 10000),
                "DataStorageMB": limit(5, 5),
                "FileStorageMB": limit(20, 20),
                "SingleEmail": limit(5000, 5000),
            },
        )

    def global_describe(self, call: Call) -> Result:
        return Result(200, schema_global_describe(call.version))

    def sobject_info(self, call: Call) -> Result:
        obj = self._object(call.segments[1])
        recent = [
            self.store.wire(obj, r, [obj.fields["Id"]] + [f for f in obj.fields.values() if f.name_field], call.version)
            for r in list(self.store.rows(obj.name, False))[-3:]
        ]
        return Result(200, {"objectDescribe": obj.describe_summary(call.version), "recentItems": recent})

    def describe(self, call: Call) -> Result:
        return Result(200, self._object(call.segments[1]).describe(call.version))

    # -- query -----------------------------------------------------------------------------------------------
    def query(self, call: Call) -> Result:
        endpoint = call.segments[0]
        if len(call.segments) == 2:
            return self._next_page(call, endpoint, call.segments[1])
        text = call.request.args.get("q")
        if text is None:
            raise ApiError("MALFORMED_QUERY", "A query string has to be specified")
        compiled = compile_query(text)
        include_deleted = endpoint == "queryAll"
        source = self.store
        if compiled.obj.name == sharing.OBJECT:  # computed for the query's UserId and RecordIds
            source = sharing.VirtualSource(self.store, sharing.rows(self.store, compiled.compiler.query))
        rows = compiled.matching(source, include_deleted)
        if compiled.count_only:
            return Result(200, {"totalSize": len(rows), "done": True, "records": []})
        if compiled.counts:
            records = compiled.aggregate(rows, self.store)
            return Result(200, {"totalSize": len(records), "done": True, "records": records})
        records = compiled.project(rows, self.store, call.version)
        batch = self._batch_size(call.request)
        if len(records) <= batch:
            return Result(200, {"totalSize": len(records), "done": True, "records": records})
        self.cursor_counter += 1
        locator = ids.make_id("01g", self.cursor_counter)
        self._expire_cursors()
        self.cursors[locator] = Cursor(records, endpoint, batch, time.monotonic())
        return Result(200, self._page(call, locator, 0))

    def _batch_size(self, request: Request) -> int:
        size = self.sandbox.faults.page_size
        header = request.headers.get("Sforce-Query-Options", "")
        match = _BATCH_SIZE.search(header)
        if match:
            size = min(size, max(200, min(2000, int(match.group(1)))))
        return size

    def _expire_cursors(self) -> None:
        now = time.monotonic()
        for locator, cursor in list(self.cursors.items()):
            if now - cursor.touched > CURSOR_IDLE_SECONDS:
                del self.cursors[locator]
        while len(self.cursors) >= MAX_CURSORS:
            self.cursors.popitem(last=False)

    def _page(self, call: Call, locator: str, position: int) -> dict[str, Any]:
        cursor = self.cursors[locator]
        cursor.touched = time.monotonic()
        self.cursors.move_to_end(locator)
        end = position + cursor.batch
        body: dict[str, Any] = {"totalSize": len(cursor.records), "done": end >= len(cursor.records)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{call.version}/{cursor.endpoint}/{locator}-{end}"
        body["records"] = cursor.records[position:end]
        return body

    def _next_page(self, call: Call, endpoint: str, token: str) -> Result:
        locator, _, position_text = token.partition("-")
        self._expire_cursors()
        cursor = self.cursors.get(locator)
        if cursor is None or not position_text.isdigit() or int(position_text) >= len(cursor.records):
            raise ApiError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return Result(200, self._page(call, locator, int(position_text)))

    # -- composite -------------------------------------------------------------------------------------------
    def composite(self, call: Call) -> Result:
        """POST composite: subrequests in order, one API call for all (the caller charged one). Only queries
        and their next pages run here; each answer is ``{body, httpHeaders, httpStatusCode, referenceId}``."""
        body = call.json_body()
        subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subrequests, list) or not subrequests:
            raise ApiError("JSON_PARSER_ERROR", "compositeRequest must be a non-empty list of subrequests")
        if len(subrequests) > MAX_COMPOSITE:
            raise ApiError("LIMIT_EXCEEDED", f"Limit of {MAX_COMPOSITE} subrequests exceeded")
        prefix = f"/services/data/v{call.version}/"
        queries = 0
        answers = []
        for sub in subrequests:
            if not isinstance(sub, dict) or not sub.get("url") or not sub.get("referenceId"):
                raise ApiError("JSON_PARSER_ERROR", "each subrequest needs method, url and referenceId")
            path, _, query_string = str(sub["url"]).partition("?")
            segments = [p for p in path[len(prefix) :].split("/") if p] if path.startswith(prefix) else []
            method = str(sub.get("method") or "GET").upper()
            if method == "GET" and segments and segments[0] in {"query", "queryAll"} and len(segments) in {1, 2}:
                queries += 1
                if queries > MAX_COMPOSITE_QUERIES:
                    raise ApiError("LIMIT_EXCEEDED", f"Limit of {MAX_COMPOSITE_QUERIES} query subrequests exceeded")
                environ = EnvironBuilder(path=path, query_string=query_string, method="GET",
                                         headers=dict(sub.get("httpHeaders") or {})).get_environ()  # fmt: skip
                try:
                    result = self.query(Call(Request(environ), call.version, call.user_id, segments))
                except ApiError as exc:
                    result = Result(exc.status, exc.body())
            else:
                result = Result(400, [{"errorCode": "NOT_SUPPORTED",
                                       "message": "the sandbox runs only query subrequests in composite"}])  # fmt: skip
            self.sandbox.composite_subrequests += 1
            answers.append({"body": result.body, "httpHeaders": result.headers, "httpStatusCode": result.status,
                            "referenceId": sub["referenceId"]})  # fmt: skip
        return Result(200, {"compositeResponse": answers})

    # -- single records --------------------------------------------------------------------------------------
    def _fields_param(self, obj: SObject, raw: str | None) -> list[Any] | None:
        if not raw:
            return None
        fields = []
        for name in (n.strip() for n in raw.split(",")):
            f = obj.field(name)
            if f is None:
                raise ApiError(
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom field, "
                    "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
                    "describe call for the appropriate names.",
                )
            fields.append(f)
        return fields

    def get(self, call: Call) -> Result:
        obj = self._object(call.segments[1])
        record = self.store.get(obj, call.segments[2])
        fields = self._fields_param(obj, call.request.args.get("fields"))
        return Result(200, self.store.wire(obj, record, fields, call.version))

    def _write_fault(self) -> None:
        if self.sandbox.faults.take_lock_failure():
            raise RecordError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")

    def create(self, call: Call) -> Result:
        obj = self._object(call.segments[1])
        body = call.json_body()
        if not isinstance(body, dict):
            raise ApiError("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object value")
        self._write_fault()
        record = self.store.create(obj, body, call.user_id)
        return Result(
            201,
            {"id": record["Id"], "success": True, "errors": []},
            {"Location": call.record_url(obj, record["Id"])},
        )

    def update(self, call: Call) -> Result:
        obj = self._object(call.segments[1])
        body = call.json_body()
        if not isinstance(body, dict):
            raise ApiError("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object value")
        self.store.get(obj, call.segments[2])  # 404 before a lock fault
        self._write_fault()
        self.store.update(obj, call.segments[2], body, call.user_id)
        return Result(204)

    def delete(self, call: Call) -> Result:
        obj = self._object(call.segments[1])
        self.store.get(obj, call.segments[2])
        self._write_fault()
        self.store.delete(obj, call.segments[2], call.user_id)
        return Result(204)

    def _external_field(self, obj: SObject, name: str) -> Any:
        f = obj.field(name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {name}")
        return f

    def _matching(self, call: Call, obj: SObject) -> list[dict[str, Any]]:
        f = self._external_field(obj, call.segments[2])
        matches = self.store.find_by_external_id(obj, f, call.segments[3])
        if len(matches) > 1:
            raise Multiple([call.record_url(obj, m["Id"]) for m in matches])
        if not matches:
            raise not_found()
        return matches

    def get_by_external_id(self, call: Call) -> Result:
        obj = self._object(call.segments[1])
        record = self._matching(call, obj)[0]
        fields = self._fields_param(obj, call.request.args.get("fields"))
        return Result(200, self.store.wire(obj, record, fields, call.version))

    def delete_by_external_id(self, call: Call) -> Result:
        obj = self._object(call.segments[1])
        record = self._matching(call, obj)[0]
        self._write_fault()
        self.store.delete(obj, record["Id"], call.user_id)
        return Result(204)

    def upsert(self, call: Call) -> Result:
        obj = self._object(call.segments[1])
        f = self._external_field(obj, call.segments[2])
        body = call.json_body()
        if not isinstance(body, dict):
            raise ApiError("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object value")
        self._write_fault()
        try:
            record, created = self.store.upsert(obj, f, call.segments[3], body, call.user_id)
        except MultipleMatches as exc:
            raise Multiple([call.record_url(obj, i) for i in exc.record_ids]) from None
        # API 46.0+: 201 with created=true for an insert, 200 with created=false for an update.
        return Result(
            201 if created else 200,
            {"id": record["Id"], "success": True, "errors": [], "created": created},
            {"Location": call.record_url(obj, record["Id"])} if created else {},
        )

    def replication(self, call: Call) -> Result:
        obj = self._object(call.segments[1])
        args = call.request.args
        bounds = []
        for name in ("start", "end"):
            raw = args.get(name)
            if raw is None:
                raise ApiError("MISSING_ARGUMENT", f"{name} parameter is required")
            value = parse_datetime(raw.strip().replace(" ", "+"))
            if value is None:
                raise ApiError("INVALID_REPLICATION_DATE", f"{name} must be an ISO 8601 date and time, not {raw!r}")
            bounds.append(value)
        start, end = bounds
        if call.segments[2] == "updated":
            return Result(200, self.store.get_updated(obj, start, end))
        return Result(200, self.store.get_deleted(obj, start, end))

    # -- sObject Collections ---------------------------------------------------------------------------------
    def _collection(self, call: Call) -> tuple[list[Any], bool]:
        body = call.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise ApiError("JSON_PARSER_ERROR", "The request body must be an object with a records list")
        all_or_none = body.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            raise ApiError("JSON_PARSER_ERROR", "allOrNone must be true or false")
        records = body["records"]
        self._check_count(len(records))
        return records, all_or_none

    @staticmethod
    def _check_count(count: int) -> None:
        if count > MAX_COLLECTION:
            raise ApiError(
                "EXCEEDED_ID_LIMIT",
                f"Record limit reached. Cannot submit more than {MAX_COLLECTION} records into this call",
            )

    def _run_collection(
        self,
        items: list[Any],
        all_or_none: bool,
        apply: Callable[[Any], dict[str, Any]],
        id_of: Callable[[Any], str | None] = lambda item: None,
    ) -> list[dict[str, Any]]:
        """Apply each item (``apply`` returns its success result or raises); allOrNone rolls all back."""
        outcomes: list[tuple[dict[str, Any] | None, RecordError | None]] = []

        def run_all() -> None:
            for item in items:
                try:
                    outcomes.append((apply(item), None))
                except RecordError as exc:
                    outcomes.append((None, exc))
                except ApiError as exc:
                    outcomes.append((None, RecordError(exc.error_code, exc.message, exc.fields)))

        if all_or_none:
            try:
                with self.store.transaction():
                    run_all()
                    if any(error is not None for _, error in outcomes):
                        raise _RollBack
            except _RollBack:
                outcomes = [(None, error or ROLLED_BACK) for _, error in outcomes]
        else:
            run_all()
        out = []
        for item, (result, error) in zip(items, outcomes, strict=True):
            if error is None:
                assert result is not None
                out.append(result)
                continue
            entry: dict[str, Any] = {"success": False, "errors": [error.as_result_error()]}
            known_id = id_of(item)
            out.append({"id": known_id, **entry} if known_id else entry)
        return out

    def _typed(self, item: Any, expected: SObject | None = None) -> tuple[SObject, dict[str, Any]]:
        if not isinstance(item, dict):
            raise RecordError("JSON_PARSER_ERROR", "Each record must be a JSON object")
        attributes = item.get("attributes")
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        if type_name is None and expected is not None:
            return expected, item
        obj = get_object(type_name) if isinstance(type_name, str) else None
        if obj is None:
            raise RecordError("INVALID_TYPE", "Must send a concrete entity type.")
        if expected is not None and obj is not expected:
            raise RecordError("INVALID_TYPE", f"Record type {obj.name} doesn't match the URL type {expected.name}.")
        return obj, item

    def collection_create(self, call: Call) -> Result:
        records, all_or_none = self._collection(call)

        def apply(item: Any) -> dict[str, Any]:
            obj, values = self._typed(item)
            if any(k.lower() == "id" for k in values):
                raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"])
            self._write_fault()
            record = self.store.create(obj, values, call.user_id)
            return {"id": record["Id"], "success": True, "errors": []}

        return Result(200, self._run_collection(records, all_or_none, apply))

    def collection_update(self, call: Call) -> Result:
        records, all_or_none = self._collection(call)

        def apply(item: Any) -> dict[str, Any]:
            obj, values = self._typed(item)
            record_id = values.get("id") or values.get("Id")
            if not isinstance(record_id, str) or not record_id:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            self._existing(obj, record_id)
            self._write_fault()
            payload = {k: v for k, v in values.items() if k not in {"id", "Id"}}
            record = self.store.update(obj, record_id, payload, call.user_id)
            return {"id": record["Id"], "success": True, "errors": []}

        return Result(200, self._run_collection(records, all_or_none, apply, _given_id))

    def _existing(self, obj: SObject | None, record_id: str) -> None:
        if not ids.is_well_formed(record_id):
            raise RecordError("MALFORMED_ID", f"malformed id {record_id}", ["Id"] if obj else [])
        found = self.store.locate(record_id)
        if found is None or (obj is not None and found[0] is not obj):
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if found[1]["IsDeleted"]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])

    def collection_delete(self, call: Call) -> Result:
        raw = call.request.args.get("ids")
        if not raw:
            raise ApiError("MISSING_ARGUMENT", "ids parameter is required")
        record_ids = [i.strip() for i in raw.split(",") if i.strip()]
        self._check_count(len(record_ids))
        all_or_none = call.request.args.get("allOrNone", "false").lower() == "true"

        def apply(record_id: str) -> dict[str, Any]:
            self._existing(None, record_id)
            self._write_fault()
            record = self.store.delete(None, record_id, call.user_id)
            return {"id": record["Id"], "success": True, "errors": []}

        return Result(200, self._run_collection(record_ids, all_or_none, apply, lambda record_id: record_id))

    def collection_retrieve(self, call: Call) -> Result:
        obj = self._object(call.segments[2])
        if call.request.method == "POST":
            body = call.json_body()
            if not isinstance(body, dict):
                raise ApiError("JSON_PARSER_ERROR", "The request body must be an object with ids and fields")
            record_ids, field_names = body.get("ids"), body.get("fields")
            if not isinstance(record_ids, list) or not isinstance(field_names, list):
                raise ApiError("JSON_PARSER_ERROR", "ids and fields must be lists")
        else:
            record_ids = [i for i in (call.request.args.get("ids") or "").split(",") if i]
            field_names = [f for f in (call.request.args.get("fields") or "").split(",") if f]
        if not record_ids:
            raise ApiError("MISSING_ARGUMENT", "ids parameter is required")
        if not field_names:
            raise ApiError("MISSING_ARGUMENT", "fields parameter is required")
        self._check_count(len(record_ids))
        fields = self._fields_param(obj, ",".join(str(f) for f in field_names))
        out: list[Any] = []
        for record_id in record_ids:
            found = self.store.parent(str(record_id))
            if found is None or found[0] is not obj:
                out.append(None)
            else:
                out.append(self.store.wire(obj, found[1], fields, call.version))
        return Result(200, out)

    def collection_upsert(self, call: Call) -> Result:
        obj = self._object(call.segments[2])
        f = self._external_field(obj, call.segments[3])
        records, all_or_none = self._collection(call)

        def apply(item: Any) -> dict[str, Any]:
            _, values = self._typed(item, obj)
            key = next((v for k, v in values.items() if k.lower() == f.name.lower()), None)
            if key is None or key == "":
                raise RecordError("MISSING_ARGUMENT", f"{f.name} not specified", [f.name])
            self._write_fault()
            payload = {k: v for k, v in values.items() if k.lower() != f.name.lower()}
            try:
                record, created = self.store.upsert(obj, f, str(key), payload, call.user_id)
            except MultipleMatches as exc:
                raise RecordError(
                    "DUPLICATE_EXTERNAL_ID",
                    f"{f.name}: more than one record found for external id field: {exc.record_ids}",
                    [f.name],
                ) from None
            return {"id": record["Id"], "success": True, "errors": [], "created": created}

        return Result(200, self._run_collection(records, all_or_none, apply))


def _given_id(item: Any) -> str | None:
    record_id = item.get("id") or item.get("Id") if isinstance(item, dict) else None
    return record_id if isinstance(record_id, str) else None


class _RollBack(Exception):
    pass


class MethodNotAllowed(ApiError):
    def __init__(self, method: str, allowed: str) -> None:
        super().__init__("METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}", 405)
        self.allowed = allowed


class Multiple(Exception):
    """300 Multiple Choices: the external id matches several records; the body lists their URLs."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__(f"{len(urls)} records")
        self.urls = urls
