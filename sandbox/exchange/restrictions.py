"""FindItem Restrictions and SortOrder evaluated against stored calendar items.

https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/restriction
Strings compare case-insensitively (as Exchange does); multi-valued properties (Categories, the extended
``...Array`` types) match when any value matches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from .calendar import extended_key, extended_values, field_name
from .errors import EwsError
from .schema import calendar_field_types
from .xml import Element, local, parse_bool, parse_datetime, t

Values = tuple[str, list[str]]  # (type, values)
Getter = Callable[[Element], Values | None]  # property element -> typed values of the current item


def _typed(kind: str, text: str):
    base = kind.removesuffix("Array")
    try:
        if base in ("xs:dateTime", "SystemTime"):
            return parse_datetime(text)
        if base in ("xs:int", "Integer", "Short", "Long", "t:ReminderMinutesBeforeStartType"):
            return int(text)
        if base in ("Double", "Float"):
            return float(text)
        if base in ("xs:boolean", "Boolean"):
            return parse_bool(text)
    except ValueError:
        raise EwsError("ErrorInvalidValueForProperty", f"{text!r} is not a valid {kind}") from None
    return text.casefold()


def make_getter(fields: dict[str, Element], extended: dict[tuple, Element]) -> Getter:
    types = calendar_field_types()

    def get(prop: Element) -> Values | None:
        name = local(prop)
        if name == "ExtendedFieldURI":
            stored = extended.get(extended_key(prop))
            return extended_values(stored) if stored is not None else None
        if name in ("FieldURI", "IndexedFieldURI"):
            fname = field_name(prop.get("FieldURI"))
            e = fields.get(fname)
            if e is None:
                return None
            if fname == "Categories":
                return "String", [s.text or "" for s in e.iter(t("String"))]
            if fname in ("Organizer",):
                return "xs:string", [e.findtext(f".//{t('EmailAddress')}") or ""]
            if fname in ("Body", "TextBody"):
                return "xs:string", [e.text or ""]
            if fname == "ItemId":
                return "xs:string", [e.get("Id")]
            return types.get(fname, "xs:string"), [e.text or ""]
        raise EwsError("ErrorUnsupportedPathForQuery", f"Unsupported property path {name}")

    return get


def _constant(expr: Element) -> str:
    const = expr.find(f"{t('FieldURIOrConstant')}/{t('Constant')}")
    if const is None:
        const = expr.find(t("Constant"))
    if const is None:
        raise EwsError("ErrorUnsupportedQueryFilter", "Only comparisons with a constant are supported.")
    return const.get("Value", "")


_OPS = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b,
    "IsLessThanOrEqualTo": lambda a, b: a <= b,
}


def evaluate(expr: Element, get: Getter) -> bool:
    name = local(expr)
    if name == "Restriction":
        return evaluate(expr[0], get)
    if name == "And":
        return all(evaluate(c, get) for c in expr)
    if name == "Or":
        return any(evaluate(c, get) for c in expr)
    if name == "Not":
        return not evaluate(expr[0], get)
    if name == "Exists":
        return get(expr[0]) is not None
    if name in _OPS:
        found = get(expr[0])
        const = _constant(expr)
        if found is None:
            # A missing property equals nothing; IsNotEqualTo is true for it (as in Exchange).
            return name == "IsNotEqualTo"
        kind, values = found
        try:
            target = _typed(kind, const)
            typed = [_typed(kind, v) for v in values]
        except TypeError:
            return False
        if name == "IsNotEqualTo":
            return all(v != target for v in typed)
        try:
            return any(_OPS[name](v, target) for v in typed)
        except TypeError:
            return False
    if name == "Contains":
        found = get(expr[0])
        if found is None:
            return False
        mode = expr.get("ContainmentMode", "Substring")
        comparison = expr.get("ContainmentComparison", "Exact")
        needle = _constant(expr)
        ignore_case = "IgnoreCase" in comparison or "Loose" in comparison
        for v in found[1]:
            hay, ndl = (v.casefold(), needle.casefold()) if ignore_case else (v, needle)
            if (
                (mode == "FullString" and hay == ndl)
                or (mode == "Prefixed" and hay.startswith(ndl))
                or (mode == "Substring" and ndl in hay)
                or (mode == "PrefixOnWords" and any(w.startswith(ndl) for w in hay.split()))
                or (mode == "ExactPhrase" and ndl in hay)
            ):
                return True
        return False
    raise EwsError("ErrorUnsupportedQueryFilter", f"Unsupported restriction {name}")


def sort_key(order: Element, get: Getter):
    """Key for one t:FieldOrder; missing values sort first ascending (as in Exchange)."""
    found = get(order[0])
    if found is None or not found[1]:
        return (0, "")
    kind, values = found
    value = _typed(kind, values[0])
    if isinstance(value, dt.datetime):
        value = value.timestamp()
    if isinstance(value, bool):
        value = int(value)
    return (1, value)
