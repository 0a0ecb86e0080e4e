"""GetFolder: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getfolder-operation"""

from __future__ import annotations

from ..errors import EwsError
from ..store import Folder, Mailbox
from ..xml import Element, el, local, m, t
from . import Context, error, response, success


def folder_element(ctx: Context, mb: Mailbox, folder: Folder, shape: Element | None) -> Element:
    base = "IdOnly"
    extra: set[str] = set()
    if shape is not None:
        base = shape.findtext(t("BaseShape")) or "IdOnly"
        add = shape.find(t("AdditionalProperties"))
        if add is not None:
            extra = {(p.get("FieldURI") or "").split(":")[-1] for p in add if local(p) == "FieldURI"}
    everything = base != "IdOnly"

    def want(name: str) -> bool:
        return everything or name in extra

    children = [el(t("FolderId"), attrs={"Id": folder.id, "ChangeKey": folder.changekey})]
    if folder.parent_id and want("ParentFolderId"):
        parent = mb.folders[folder.parent_id]
        children.append(el(t("ParentFolderId"), attrs={"Id": parent.id, "ChangeKey": parent.changekey}))
    if folder.folder_class and want("FolderClass"):
        children.append(el(t("FolderClass"), folder.folder_class))
    if want("DisplayName"):
        children.append(el(t("DisplayName"), folder.display_name))
    if want("TotalCount"):
        children.append(el(t("TotalCount"), str(sum(1 for i in mb.items.values() if i.folder_id == folder.id))))
    if want("ChildFolderCount"):
        children.append(el(t("ChildFolderCount"), str(sum(1 for f in mb.folders.values() if f.parent_id == folder.id))))
    if want("EffectiveRights"):
        rights = [
            ("CreateAssociated", True),
            ("CreateContents", True),
            ("CreateHierarchy", True),
            ("Delete", True),
            ("Modify", True),
            ("Read", True),
            ("ViewPrivateItems", True),
        ]
        children.append(el(t("EffectiveRights"), children=[el(t(n), "true" if v else "false") for n, v in rights]))
    if folder.distinguished and want("DistinguishedFolderId"):
        children.append(el(t("DistinguishedFolderId"), folder.distinguished))
    if folder.element in ("Folder", "TasksFolder") and want("UnreadCount"):
        children.append(el(t("UnreadCount"), "0"))
    return el(t(folder.element), children=children)


def get_folder(ctx: Context, req: Element) -> Element:
    shape = req.find(m("FolderShape"))
    messages = []
    for fid in req.find(m("FolderIds")):
        try:
            mb, folder = ctx.folder(fid)
            messages.append(success("GetFolder", [el(m("Folders"), children=[folder_element(ctx, mb, folder, shape)])]))
        except EwsError as e:
            messages.append(error("GetFolder", e))
    return response("GetFolder", messages)
