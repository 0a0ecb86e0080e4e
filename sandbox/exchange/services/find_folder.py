"""FindFolder: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/findfolder-operation"""

from __future__ import annotations

from .. import restrictions
from ..errors import EwsError
from ..store import Folder, Mailbox
from ..xml import Element, el, local, m, t
from . import Context, error, response, success
from .get_folder import folder_element


def find_folder(ctx: Context, req: Element) -> Element:
    shape = req.find(m("FolderShape"))
    deep = req.get("Traversal") == "Deep"
    view = req.find(m("IndexedPageFolderView"))
    offset = int(view.get("Offset", "0")) if view is not None else 0
    limit = int(view.get("MaxEntriesReturned", "0") or 0) if view is not None else 0
    restriction = req.find(m("Restriction"))
    messages = []
    for fid in req.find(m("ParentFolderIds")):
        try:
            mb, parent = ctx.folder(fid)
            found, frontier = [], [parent.id]
            while frontier:
                children = [f for f in mb.folders.values() if f.parent_id in frontier]
                found += children
                frontier = [f.id for f in children] if deep else []
            if restriction is not None and len(restriction):
                found = [f for f in found if restrictions.evaluate(restriction[0], _folder_getter(mb, f))]
            total = len(found)
            page = found[offset : offset + limit] if limit else found[offset:]
            last = offset + len(page) >= total
            attrs = {"TotalItemsInView": str(total), "IncludesLastItemInRange": "true" if last else "false"}
            if not last:
                attrs["IndexedPagingOffset"] = str(offset + len(page))
            root = el(
                m("RootFolder"),
                attrs=attrs,
                children=[el(t("Folders"), children=[folder_element(ctx, mb, f, shape) for f in page])],
            )
            messages.append(success("FindFolder", [root]))
        except EwsError as e:
            messages.append(error("FindFolder", e))
    return response("FindFolder", messages)


# Folder properties a FindFolder Restriction can test, with their schema types.
_FOLDER_PROPS = {
    "DisplayName": "xs:string",
    "FolderClass": "xs:string",
    "TotalCount": "xs:int",
    "ChildFolderCount": "xs:int",
    "UnreadCount": "xs:int",
}


def _folder_getter(mb: Mailbox, folder: Folder) -> restrictions.Getter:
    def get(prop: Element) -> restrictions.Values | None:
        if local(prop) != "FieldURI" or not (prop.get("FieldURI") or "").startswith("folder:"):
            raise EwsError("ErrorUnsupportedPathForQuery", f"Unsupported property path {prop.get('FieldURI')}")
        name = prop.get("FieldURI").split(":", 1)[1]
        if name not in _FOLDER_PROPS:
            raise EwsError("ErrorUnsupportedPathForQuery", f"Unsupported property path folder:{name}")
        value = {
            "DisplayName": folder.display_name,
            "FolderClass": folder.folder_class,
            "TotalCount": str(len(mb.items_in(folder.id))),
            "ChildFolderCount": str(sum(1 for f in mb.folders.values() if f.parent_id == folder.id)),
            "UnreadCount": "0",
        }[name]
        return None if value is None else (_FOLDER_PROPS[name], [value])

    return get
