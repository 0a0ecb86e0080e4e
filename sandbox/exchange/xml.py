"""Namespaces, element builders and value formats shared by the EWS sandbox modules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP, "m": M, "t": T}

Element = etree._Element


def q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def t(name: str) -> str:
    return f"{{{T}}}{name}"


def m(name: str) -> str:
    return f"{{{M}}}{name}"


def local(elem: Element) -> str:
    return etree.QName(elem).localname


def el(tag: str, text: str | None = None, attrs: dict[str, str] | None = None, children: Iterable = ()) -> Element:
    """Build an element; ``tag`` is Clark notation, ``children`` may contain None (skipped)."""
    e = etree.Element(tag, {k: v for k, v in (attrs or {}).items() if v is not None})
    if text is not None:
        e.text = text
    for c in children:
        if c is not None:
            e.append(c)
    return e


def sub(parent: Element, tag: str, text: str | None = None, attrs: dict[str, str] | None = None) -> Element:
    e = etree.SubElement(parent, tag, {k: v for k, v in (attrs or {}).items() if v is not None})
    if text is not None:
        e.text = text
    return e


def child_text(elem: Element | None, tag: str, default: str | None = None) -> str | None:
    if elem is None:
        return default
    c = elem.find(tag)
    return default if c is None or c.text is None else c.text


def copy(elem: Element) -> Element:
    """A deep copy detached from its document (lxml's deepcopy keeps namespaces tidy)."""
    from copy import deepcopy

    return deepcopy(elem)


def to_bytes(elem: Element) -> bytes:
    return etree.tostring(elem)


def from_bytes(data: bytes) -> Element:
    return etree.fromstring(data, parser=PARSER)


# No network, no entities: requests come from the outside world.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=False)


def parse_bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")


def fmt_bool(value: bool) -> str:
    return "true" if value else "false"


def parse_datetime(text: str) -> dt.datetime:
    """Parse xs:dateTime; a value without offset is taken as UTC (as Exchange does without a TimeZoneContext)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def fmt_datetime(value: dt.datetime) -> str:
    """UTC with a Z, seconds precision, the way Exchange answers."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)
