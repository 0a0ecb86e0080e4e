"""``/outlook/masterCategories`` over the master category list EWS clients read: the ``CategoryList``
configuration of the Calendar folder, whose XmlData holds Outlook's ``<categories>`` XML (one store, two
protocols). An outlookCategory is ``{id, displayName, color}``; the id is the category's ``guid`` attribute
(lower case, no braces), ``color`` is ``none`` or ``preset0``..``preset24`` (Outlook's -1 and 0..24).

Reference: https://learn.microsoft.com/en-us/graph/api/resources/outlookcategory
"""

from __future__ import annotations

import base64
import uuid

from lxml import etree

from sandbox.exchange.store import Mailbox, Store, change_key
from sandbox.exchange.xml import PARSER, el, t

from .errors import GraphError, body_read

NS = "CategoryList.xsd"
NEVER = "1601-01-01T00:00:00.000"
COLORS = ["none"] + [f"preset{i}" for i in range(25)]


def _load(mb: Mailbox) -> etree._Element:
    folder = mb.folder("calendar")
    stored = folder.user_configs.get("CategoryList", {})
    data = stored.get("XmlData")
    if data is None or not (data.text or "").strip():
        return etree.Element(f"{{{NS}}}categories", nsmap={None: NS})
    return etree.fromstring(base64.b64decode(data.text), parser=PARSER)


def _save(store: Store, mb: Mailbox, root: etree._Element) -> None:
    folder = mb.folder("calendar")
    stored = dict(folder.user_configs.get("CategoryList", {}))
    xml = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    stored["XmlData"] = el(t("XmlData"), base64.b64encode(xml).decode("ascii"))
    stored["_changekey"] = el(t("ChangeKey"), change_key(store.next_seq()))
    folder.user_configs["CategoryList"] = stored


def _color(value: str | None) -> str:
    try:
        number = int(value or "-1")
    except ValueError:
        number = -1
    return f"preset{number}" if 0 <= number <= 24 else "none"


def _json(c: etree._Element) -> dict:
    return {
        "id": (c.get("guid") or "").strip("{}").lower(),
        "displayName": c.get("name") or "",
        "color": _color(c.get("color")),
    }


def _entries(root: etree._Element) -> list[etree._Element]:
    return [c for c in root if etree.QName(c).localname == "category"]


def list_categories(mb: Mailbox) -> list[dict]:
    return [_json(c) for c in _entries(_load(mb))]


def _find(root, category_id: str) -> etree._Element:
    for c in _entries(root):
        if (c.get("guid") or "").strip("{}").lower() == category_id.lower():
            return c
    raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def get_category(mb: Mailbox, category_id: str) -> dict:
    return _json(_find(_load(mb), category_id))


def _check_color(value) -> int:
    if value not in COLORS:
        raise body_read(f"Requested value '{value}' was not found.")
    return COLORS.index(value) - 1


def create_category(store: Store, mb: Mailbox, body: dict) -> dict:
    if not isinstance(body, dict):
        raise body_read("The request body must be a JSON object.")
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "ErrorInvalidRequest", "displayName is required.")
    unknown = set(body) - {"displayName", "color", "id", "@odata.type"}
    if unknown:
        raise body_read(
            f"The property '{sorted(unknown)[0]}' does not exist on type 'microsoft.graph.outlookCategory'."
        )
    color = _check_color(body.get("color", "none"))
    root = _load(mb)
    if any((c.get("name") or "").lower() == name.lower() for c in _entries(root)):
        raise GraphError(409, "ErrorDuplicateMasterCategory", f"A category with the name '{name}' already exists.")
    guid = uuid.uuid4()
    attrs = {
        "name": name,
        "color": str(color),
        "keyboardShortcut": "0",
        "usageCount": "0",
        "lastTimeUsedNotes": NEVER,
        "lastTimeUsedJournal": NEVER,
        "lastTimeUsedContacts": NEVER,
        "lastTimeUsedTasks": NEVER,
        "lastTimeUsedCalendar": NEVER,
        "lastTimeUsedMail": NEVER,
        "lastTimeUsed": NEVER,
        "lastSessionUsed": "0",
        "guid": "{" + str(guid).upper() + "}",
        "renameOnFirstUse": "0",
    }
    entry = etree.SubElement(root, f"{{{NS}}}category")
    for k, v in attrs.items():
        entry.set(k, v)
    _save(store, mb, root)
    return _json(entry)


def update_category(store: Store, mb: Mailbox, category_id: str, body: dict) -> dict:
    if not isinstance(body, dict):
        raise body_read("The request body must be a JSON object.")
    root = _load(mb)
    entry = _find(root, category_id)
    if "displayName" in body and body["displayName"] != entry.get("name"):
        raise GraphError(400, "ErrorInvalidRequest", "The displayName of a category cannot be changed once created.")
    unknown = set(body) - {"displayName", "color", "id", "@odata.type"}
    if unknown:
        raise body_read(
            f"The property '{sorted(unknown)[0]}' does not exist on type 'microsoft.graph.outlookCategory'."
        )
    if "color" in body:
        entry.set("color", str(_check_color(body["color"])))
    _save(store, mb, root)
    return _json(entry)


def delete_category(store: Store, mb: Mailbox, category_id: str) -> None:
    root = _load(mb)
    entry = _find(root, category_id)
    root.remove(entry)
    _save(store, mb, root)
