"""FindFolder: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/findfolder-operation"""

from __future__ import annotations

from ..errors import EwsError
from ..xml import Element, el, m, t
from . import Context, error, response, success
from .get_folder import folder_element


def find_folder(ctx: Context, req: Element) -> Element:
    shape = req.find(m("FolderShape"))
    deep = req.get("Traversal") == "Deep"
    view = req.find(m("IndexedPageFolderView"))
    offset = int(view.get("Offset", "0")) if view is not None else 0
    limit = int(view.get("MaxEntriesReturned", "0") or 0) if view is not None else 0
    messages = []
    for fid in req.find(m("ParentFolderIds")):
        try:
            mb, parent = ctx.folder(fid)
            found, frontier = [], [parent.id]
            while frontier:
                children = [f for f in mb.folders.values() if f.parent_id in frontier]
                found += children
                frontier = [f.id for f in children] if deep else []
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
