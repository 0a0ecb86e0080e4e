"""SOQL semantics: resolve a parsed query against the schema, type-check it, and run it over records.

``compile_query(text)`` parses and checks (``INVALID_TYPE``, ``INVALID_FIELD``, ...); the result's ``run()``
filters, sorts, pages and shapes rows like the REST API (parent fields nested under their relationship name
with their own ``attributes``; polymorphic ``Who``/``What`` report the type ``Name``).

Comparison rules follow SOQL: text compares case-insensitively; ids match on their 15-character form;
``!=`` and ``NOT IN`` also match nulls; date keywords (``TODAY``, ``LAST_N_DAYS:n``...) are day ranges,
computed in UTC here (a real org uses the running user's time zone).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.salesforce import soql
from sandbox.salesforce.errors import ApiError, QueryError
from sandbox.salesforce.ids import canonical, is_well_formed
from sandbox.salesforce.schema import (
    ID_TYPES,
    NAME_OBJECT,
    TEXT_TYPES,
    Field,
    SObject,
    get_object,
    to_wire,
    wire_converter,
)

MAX_OFFSET = 2000
Record = dict[str, Any]


class RecordSource(Protocol):
    def rows(self, object_name: str, include_deleted: bool) -> Iterable[Record]: ...

    def parent(self, record_id: str) -> tuple[SObject, Record] | None: ...

    def today(self) -> dt.date: ...


@dataclass(frozen=True)
class ResolvedPath:
    hops: tuple[Field, ...]  # reference fields followed, in order
    target: Field
    polymorphic: tuple[bool, ...]  # per hop

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(h.relationship_name or h.name for h in self.hops) + (self.target.name,)


def name_view(obj: SObject, record: Record) -> Record:
    """A record seen through the polymorphic ``Name`` object (Who, What, Relation)."""
    view = {f: record.get(f) for f in NAME_OBJECT.fields}
    view["Type"] = obj.name
    return view


def date_range(keyword: str, n: int | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The [start, end) dates a date keyword stands for."""
    day = dt.timedelta(days=1)
    week_start = today - dt.timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday (en_US)
    month_start = today.replace(day=1)

    def add_months(d: dt.date, months: int) -> dt.date:
        index = d.year * 12 + d.month - 1 + months
        return dt.date(index // 12, index % 12 + 1, 1)

    k = n or 0
    ranges = {
        "YESTERDAY": (today - day, today),
        "TODAY": (today, today + day),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_WEEK": (week_start - 7 * day, week_start),
        "THIS_WEEK": (week_start, week_start + 7 * day),
        "NEXT_WEEK": (week_start + 7 * day, week_start + 14 * day),
        "LAST_MONTH": (add_months(month_start, -1), month_start),
        "THIS_MONTH": (month_start, add_months(month_start, 1)),
        "NEXT_MONTH": (add_months(month_start, 1), add_months(month_start, 2)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "THIS_YEAR": (dt.date(today.year, 1, 1), dt.date(today.year + 1, 1, 1)),
        "LAST_YEAR": (dt.date(today.year - 1, 1, 1), dt.date(today.year, 1, 1)),
        "NEXT_YEAR": (dt.date(today.year + 1, 1, 1), dt.date(today.year + 2, 1, 1)),
        "LAST_N_DAYS": (today - k * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (k + 1) * day),
        "N_DAYS_AGO": (today - k * day, today - (k - 1) * day),
        "LAST_N_WEEKS": (week_start - 7 * k * day, week_start),
        "NEXT_N_WEEKS": (week_start + 7 * day, week_start + 7 * (k + 1) * day),
        "LAST_N_MONTHS": (add_months(month_start, -k), month_start),
        "NEXT_N_MONTHS": (add_months(month_start, 1), add_months(month_start, k + 1)),
    }
    return ranges[keyword]


def _like_regex(raw: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw) and raw[i + 1] in "%_":
            out.append(re.escape(raw[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _type_name(f: Field) -> str:
    if f.type in TEXT_TYPES or f.type in ID_TYPES:
        return "string"
    return {"datetime": "dateTime", "int": "integer", "currency": "double", "percent": "double"}.get(f.type, f.type)


class Compiler:
    def __init__(self, text: str, query: soql.Query) -> None:
        self.text = text
        self.query = query
        obj = get_object(query.object_name)
        if obj is None:
            raise QueryError(
                "INVALID_TYPE",
                text,
                query.object_pos,
                f"sObject type '{query.object_name}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL or the "
                "describe call for the appropriate names.",
            )
        self.obj = obj
        # The query's notion of "today"; ``matching()`` points it at the record source's clock.
        self.today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date()

    def error(self, pos: int, detail: str, code: str = "INVALID_FIELD") -> QueryError:
        return QueryError(code, self.text, pos, detail)

    def resolve(self, path: soql.Path) -> ResolvedPath:
        parts = list(path.parts)
        if (
            len(parts) > 1
            and parts[0].lower() == self.obj.name.lower()
            and parts[0].lower() not in self.obj.relationships
        ):
            parts = parts[1:]
        obj = self.obj
        hops: list[Field] = []
        poly: list[bool] = []
        for part in parts[:-1]:
            hop = obj.relationships.get(part.lower())
            if hop is None or len(hops) >= 5:
                raise self.error(
                    path.pos,
                    f"Didn't understand relationship '{part}' in field path. If you are attempting to use a "
                    "custom relationship, be sure to append the '__r' after the custom relationship name. Please "
                    "reference your WSDL or the describe call for the appropriate names.",
                )
            hops.append(hop)
            poly.append(hop.polymorphic)
            target_obj = NAME_OBJECT if hop.polymorphic else get_object(hop.reference_to[0])
            assert target_obj is not None
            obj = target_obj
        target = obj.field(parts[-1])
        if target is None:
            entity = obj.name
            raise self.error(
                path.pos,
                f"No such column '{parts[-1]}' on entity '{entity}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your WSDL or "
                "the describe call for the appropriate names.",
            )
        return ResolvedPath(tuple(hops), target, tuple(poly))

    def compile(self) -> CompiledQuery:
        q = self.query
        counts = [s for s in q.select if isinstance(s, soql.Count)]
        plain = [s for s in q.select if not isinstance(s, soql.Count)]
        if counts and plain:
            first = plain[0]
            raise self.error(
                first.pos,
                f"Field must be grouped or aggregated: {first.text if isinstance(first, soql.Path) else 'FIELDS'}",
                "MALFORMED_QUERY",
            )
        if any(c.path is None for c in counts) and len(counts) > 1:
            raise self.error(counts[1].pos, "unexpected token: ','", "MALFORMED_QUERY")
        select: list[ResolvedPath] = []
        seen: set[tuple[str, ...]] = set()
        for item in plain:
            if isinstance(item, soql.Fields):
                if item.kind in {"ALL", "CUSTOM"} and (q.limit is None or q.limit > 200):
                    raise self.error(
                        item.pos, "The SOQL FIELDS function must have a LIMIT of at most 200", "MALFORMED_QUERY"
                    )
                paths = [
                    ResolvedPath((), f, ())
                    for f in self.obj.fields.values()
                    if item.kind == "ALL" or (item.kind == "CUSTOM") == f.custom
                ]
            else:
                paths = [self.resolve(item)]
            for rp in paths:
                key = tuple(n.lower() for n in rp.output_names)
                if key in seen:
                    raise self.error(
                        item.pos, f"duplicate field selected: {'.'.join(rp.output_names)}", "MALFORMED_QUERY"
                    )
                seen.add(key)
                select.append(rp)
        count_paths = [self.resolve(c.path) if c.path else None for c in counts]
        where = self.condition(q.where) if q.where is not None else None
        order = []
        for item in q.order_by:
            rp = self.resolve(item.path)
            if rp.target.type == "textarea" and rp.target.length > 255:
                raise self.error(item.path.pos, f"field '{rp.target.name}' can not be sorted in a query call")
            order.append((rp, item))
        if q.offset is not None and q.offset > MAX_OFFSET:
            raise ApiError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        return CompiledQuery(self.obj, select, counts, count_paths, where, order, q.limit, q.offset)

    # -- WHERE ------------------------------------------------------------------------------------------------
    def check_value(self, rp: ResolvedPath, value: soql.Literal, path: soql.Path) -> None:
        f = rp.target
        if value.kind == "null":
            return
        expected = {
            "string": value.kind == "string",
            "boolean": value.kind == "boolean",
            "date": value.kind in {"date", "datekw"},
            "dateTime": value.kind in {"datetime", "datekw"},
            "integer": value.kind == "number",
            "double": value.kind == "number",
        }
        type_name = _type_name(f)
        if not expected.get(type_name, False):
            quoted = "should be enclosed in quotes" if type_name == "string" else "should not be enclosed in quotes"
            raise self.error(
                value.pos, f"value of filter criterion for field '{path.text}' must be of type {type_name} and {quoted}"
            )
        if f.type in ID_TYPES and value.value != "" and not is_well_formed(soql.unescape_plain(value.value)):
            raise self.error(value.pos, f"invalid ID field: {value.value}", "INVALID_QUERY_FILTER_OPERATOR")

    def getter(self, rp: ResolvedPath) -> Callable[[Record, RecordSource], Any]:
        name = rp.target.name
        if not rp.hops:
            return lambda record, source: record.get(name)
        hops = list(zip(rp.hops, rp.polymorphic, strict=True))

        def get(record: Record, source: RecordSource) -> Any:
            current: Record | None = record
            for hop, poly in hops:
                ref = current.get(hop.name) if current is not None else None
                if ref is None:
                    return None
                found = source.parent(ref)
                if found is None:
                    return None
                current = name_view(*found) if poly else found[1]
            return current.get(name) if current is not None else None

        return get

    def condition(self, node: soql.Condition) -> Callable[[Record, RecordSource], bool]:
        if isinstance(node, soql.BoolOp):
            parts = [self.condition(o) for o in node.operands]
            if node.op == "AND":
                return lambda r, s: all(p(r, s) for p in parts)
            return lambda r, s: any(p(r, s) for p in parts)
        if isinstance(node, soql.Not):
            inner = self.condition(node.operand)
            return lambda r, s: not inner(r, s)
        rp = self.resolve(node.path)
        f = rp.target
        if f.type == "textarea" and f.length > 255:
            raise self.error(node.path.pos, f"field '{f.name}' can not be filtered in a query call")
        get = self.getter(rp)
        if isinstance(node, soql.Like):
            if f.type not in TEXT_TYPES and f.type not in ID_TYPES:
                raise self.error(
                    node.pattern.pos,
                    f"invalid operator on {_type_name(f)} field: LIKE",
                    "INVALID_QUERY_FILTER_OPERATOR",
                )
            regex = _like_regex(node.pattern.value)
            return lambda r, s: (v := get(r, s)) is not None and regex.fullmatch(str(v)) is not None
        if isinstance(node, soql.InList):
            for v in node.values:
                self.check_value(rp, v, node.path)
            tests = [self.comparator(f, "=", v) for v in node.values]
            if node.negated:
                return lambda r, s: not any(t(get(r, s)) for t in tests)
            return lambda r, s: any(t(get(r, s)) for t in tests)
        assert isinstance(node, soql.Compare)
        self.check_value(rp, node.value, node.path)
        if f.type == "boolean" and node.op not in {"=", "!="} and node.value.kind != "null":
            raise self.error(
                node.value.pos, f"invalid operator on boolean field: {node.op}", "INVALID_QUERY_FILTER_OPERATOR"
            )
        test = self.comparator(f, node.op, node.value)
        return lambda r, s: test(get(r, s))

    def comparator(self, f: Field, op: str, literal: soql.Literal) -> Callable[[Any], bool]:
        if literal.kind == "null":
            if op == "=":
                return lambda v: v is None
            if op == "!=":
                return lambda v: v is not None
            return lambda v: False
        if literal.kind == "datekw":
            keyword, n = literal.value
            return self.range_comparator(f, op, keyword, n)
        target: Any = literal.value
        norm: Callable[[Any], Any] = lambda v: v  # noqa: E731
        if f.type in ID_TYPES:
            target = canonical(soql.unescape_plain(target))
            norm = canonical
        elif f.type in TEXT_TYPES:
            target = soql.unescape_plain(target).lower()
            norm = str.lower
        elif f.type == "date" and isinstance(target, dt.datetime):
            target = target.date()
        return _operator(op, target, norm)

    def range_comparator(self, f: Field, op: str, keyword: str, n: int | None) -> Callable[[Any], bool]:
        def bounds() -> tuple[Any, Any]:
            start, end = date_range(keyword, n, self.today())
            if f.type == "datetime":
                return (
                    dt.datetime.combine(start, dt.time(), dt.UTC),
                    dt.datetime.combine(end, dt.time(), dt.UTC),
                )
            return start, end

        def test(v: Any) -> bool:
            if v is None:
                return op == "!="
            start, end = bounds()
            return {
                "=": start <= v < end,
                "!=": not (start <= v < end),
                "<": v < start,
                "<=": v < end,
                ">": v >= end,
                ">=": v >= start,
            }[op]

        return test


def _operator(op: str, target: Any, norm: Callable[[Any], Any]) -> Callable[[Any], bool]:
    if op == "=":
        return lambda v: v is not None and norm(v) == target
    if op == "!=":
        return lambda v: v is None or norm(v) != target
    if op == "<":
        return lambda v: v is not None and norm(v) < target
    if op == "<=":
        return lambda v: v is not None and norm(v) <= target
    if op == ">":
        return lambda v: v is not None and norm(v) > target
    return lambda v: v is not None and norm(v) >= target


@dataclass
class CompiledQuery:
    obj: SObject
    select: list[ResolvedPath]
    counts: list[soql.Count]
    count_paths: list[ResolvedPath | None]
    where: Callable[[Record, RecordSource], bool] | None
    order: list[tuple[ResolvedPath, soql.OrderItem]]
    limit: int | None
    offset: int | None
    compiler: Compiler | None = None

    @property
    def count_only(self) -> bool:
        return len(self.counts) == 1 and self.counts[0].path is None

    def matching(self, source: RecordSource, include_deleted: bool) -> list[Record]:
        if self.compiler is not None:
            self.compiler.today = source.today
        rows = source.rows(self.obj.name, include_deleted)
        where = self.where
        matched = [r for r in rows if where(r, source)] if where is not None else list(rows)
        for rp, item in reversed(self.order):
            get = self.compiler.getter(rp) if self.compiler else (lambda r, s, n=rp.target.name: r.get(n))
            nulls_first = item.nulls_last is not True
            null_rank = (0 if nulls_first else 1) if not item.descending else (1 if nulls_first else 0)
            text = rp.target.type in TEXT_TYPES

            def key(record: Record, get=get, null_rank=null_rank, text=text) -> tuple[int, Any]:
                v = get(record, source)
                if v is None:
                    return (null_rank, 0)
                return (1 - null_rank, v.lower() if text else v)

            matched.sort(key=key, reverse=item.descending)
        if self.offset:
            matched = matched[self.offset :]
        if self.limit is not None:
            matched = matched[: self.limit]
        return matched

    def aggregate(self, rows: list[Record], source: RecordSource) -> list[Record]:
        out: Record = {"attributes": {"type": "AggregateResult"}}
        for i, (count, rp) in enumerate(zip(self.counts, self.count_paths, strict=True)):
            assert rp is not None and self.compiler is not None
            get = self.compiler.getter(rp)
            out[count.alias or f"expr{i}"] = sum(1 for r in rows if get(r, source) is not None)
        return [out]

    def project(self, rows: list[Record], source: RecordSource, version: str) -> list[Record]:
        obj_name = self.obj.name
        prefix = f"/services/data/v{version}/sobjects/"
        out = []
        converters = [(rp.target.name, wire_converter(rp.target)) for rp in self.select]
        for record in rows:
            shaped: Record = {"attributes": {"type": obj_name, "url": f"{prefix}{obj_name}/{record['Id']}"}}
            for rp, (name, convert) in zip(self.select, converters, strict=True):
                if not rp.hops:
                    value = record.get(name)
                    shaped[name] = convert(value) if convert is not None and value is not None else value
                    continue
                container = shaped
                current: Record | None = record
                for hop, poly in zip(rp.hops, rp.polymorphic, strict=True):
                    rel = hop.relationship_name or hop.name
                    if rel in container:
                        nested = container[rel]
                        if nested is None:
                            current = None
                            break
                        found = source.parent(current[hop.name]) if current is not None else None
                    else:
                        ref = current.get(hop.name) if current is not None else None
                        found = source.parent(ref) if ref is not None else None
                        if found is None:
                            container[rel] = None
                            current = None
                            break
                        parent_obj, _ = found
                        container[rel] = {
                            "attributes": {
                                "type": "Name" if poly else parent_obj.name,
                                "url": f"{prefix}{parent_obj.name}/{found[1]['Id']}",
                            }
                        }
                    if found is None:
                        current = None
                        break
                    container = container[rel]
                    current = name_view(*found) if poly else found[1]
                if current is not None:
                    container[rp.target.name] = to_wire(rp.target, current.get(rp.target.name))
            out.append(shaped)
        return out


def compile_query(text: str) -> CompiledQuery:
    if not text or not text.strip():
        raise ApiError("MALFORMED_QUERY", "A query string has to be specified")
    parsed = soql.parse(text)
    compiler = Compiler(text, parsed)
    compiled = compiler.compile()
    compiled.compiler = compiler
    return compiled
