"""The EWS XSDs (Exchange 2013 SP1, ``schema/``): validation of messages and field tables derived from them.

``types.xsd`` imports the XML namespace without a schemaLocation, so loading goes through a resolver that
points that import at the small local ``schema/xml.xsd``.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from lxml import etree

from .xml import Element

SCHEMA_DIR = Path(__file__).parent / "schema"
XS = "http://www.w3.org/2001/XMLSchema"
_XML_IMPORT = b'<xs:import namespace="http://www.w3.org/XML/1998/namespace"/>'


class _LocalResolver(etree.Resolver):
    def resolve(self, url, pubid, context):
        name = (url or "").rsplit("/", 1)[-1]
        if name == "types.xsd":
            text = (
                (SCHEMA_DIR / "types.xsd")
                .read_bytes()
                .replace(_XML_IMPORT, _XML_IMPORT[:-2] + b' schemaLocation="xml.xsd"/>')
            )
            return self.resolve_string(text, context, base_url=str(SCHEMA_DIR / "types.xsd"))
        if name in ("xml.xsd", "messages.xsd"):
            return self.resolve_filename(str(SCHEMA_DIR / name), context)
        return None


@functools.cache
def _schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalResolver())
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "messages.xsd"), parser))


class Validator:
    """Validates EWS payloads (a SOAP body's first child, a header element) against messages.xsd/types.xsd.

    lxml schema objects are not safe to share between threads while validating, so calls are serialised.
    """

    def __init__(self) -> None:
        self._schema = _schema()
        self._lock = threading.Lock()

    def errors(self, elem: Element) -> list[str]:
        # Validate a copy as its own document: the element's place in the envelope must not matter.
        doc = etree.fromstring(etree.tostring(elem))
        with self._lock:
            if self._schema.validate(doc):
                return []
            return [f"{e.line}:{e.column}: {e.message}" for e in self._schema.error_log]


@functools.cache
def calendar_item_fields() -> tuple[tuple[str, str], ...]:
    """(element name, XSD type) of t:CalendarItem's children in schema order: ItemType, then CalendarItemType."""
    doc = etree.parse(str(SCHEMA_DIR / "types.xsd"))
    ns = {"xs": XS}
    item = doc.find(".//xs:complexType[@name='ItemType']/xs:sequence", ns)
    cal = doc.find(".//xs:complexType[@name='CalendarItemType']/xs:complexContent/xs:extension/xs:sequence", ns)
    out = []
    for seq in (item, cal):
        for e in seq.iter(f"{{{XS}}}element"):
            out.append((e.get("name"), e.get("type")))
    return tuple(out)


@functools.cache
def calendar_field_order() -> dict[str, int]:
    return {name: i for i, (name, _) in enumerate(calendar_item_fields())}


@functools.cache
def calendar_field_types() -> dict[str, str]:
    return dict(calendar_item_fields())


@functools.cache
def item_type_fields(type_name: str) -> tuple[tuple[str, str], ...]:
    """(element name, XSD type) of an item type's children in schema order, its base types' first
    (``MeetingRequestMessageType`` -> ItemType, MessageType, MeetingMessageType, its own)."""
    doc = etree.parse(str(SCHEMA_DIR / "types.xsd"))
    ns = {"xs": XS}
    node = doc.find(f".//xs:complexType[@name='{type_name}']", ns)
    if node is None:
        raise KeyError(type_name)
    ext = node.find("xs:complexContent/xs:extension", ns)
    if ext is None:
        seq = node.find("xs:sequence", ns)
        base: tuple[tuple[str, str], ...] = ()
    else:
        seq = ext.find("xs:sequence", ns)
        base = item_type_fields(ext.get("base").split(":")[-1])
    own = tuple((e.get("name"), e.get("type")) for e in seq.iter(f"{{{XS}}}element")) if seq is not None else ()
    return base + own


@functools.cache
def item_type_order(type_name: str) -> dict[str, int]:
    return {name: i for i, (name, _) in enumerate(item_type_fields(type_name))}
