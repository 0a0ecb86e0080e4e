"""CreateFolder, UpdateFolder, DeleteFolder, EmptyFolder and MoveFolder: the folder writes a general
EWS client makes (a second calendar, a renamed or removed one).

https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createfolder-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/updatefolder-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/deletefolder-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/emptyfolder-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/movefolder-operation

As Exchange: a sibling with the same display name (case-insensitively) is ErrorFolderExists; FolderClass cannot
change (ErrorObjectTypeChanged); distinguished folders cannot be deleted or moved (ErrorDeleteDistinguishedFolder,
ErrorMoveDistinguishedFolder). Differences: only DisplayName is writable after creation (setting another field,
e.g. a PermissionSet, is ErrorInvalidPropertySet), renaming a distinguished folder is ErrorInvalidOperation,
SoftDelete deletes as HardDelete does (no Recoverable Items), and there is no CopyFolder.
"""

from __future__ import annotations

import uuid

from .. import ids
from ..errors import EwsError
from ..store import Folder, Mailbox, change_key
from ..xml import Element, el, local, m, t
from . import Context, error, response, success

# Folder elements a client may create -> the class Exchange gives one created without FolderClass (a generic
# t:Folder has none: clients read it back as a plain folder, not a mail folder).
_KINDS = {
    "Folder": None,
    "CalendarFolder": "IPF.Appointment",
    "ContactsFolder": "IPF.Contact",
    "TasksFolder": "IPF.Task",
}


def _folder_ref(folder: Folder) -> Element:
    return el(t(folder.element), children=[el(t("FolderId"), attrs={"Id": folder.id, "ChangeKey": folder.changekey})])


def _check_name_free(mb: Mailbox, parent_id: str, name: str, except_id: str | None = None) -> None:
    for f in mb.folders.values():
        if f.parent_id == parent_id and f.id != except_id and f.display_name.casefold() == name.casefold():
            raise EwsError(
                "ErrorFolderExists", f"Could not create folder '{name}'. A folder with that name already exists."
            )


def _subtree(mb: Mailbox, folder: Folder) -> list[Folder]:
    """The folder and everything below it, parents before children."""
    out, todo = [], [folder]
    while todo:
        f = todo.pop(0)
        out.append(f)
        todo += [c for c in mb.folders.values() if c.parent_id == f.id]
    return out


def _ancestors(mb: Mailbox, folder: Folder) -> list[str]:
    out, f = [], folder
    while f.parent_id:
        out.append(f.parent_id)
        f = mb.folders[f.parent_id]
    return out


def _bump(ctx: Context, mb: Mailbox, folder: Folder) -> None:
    folder.changekey = change_key(ctx.store.next_seq())
    ctx.store.changed("folder_modified", mb, None, folder.id, folder.parent_id)


def _new_folder(ctx: Context, mb: Mailbox, parent: Folder, element: str, name: str, cls: str | None) -> Folder:
    key = uuid.uuid4()
    seq = ctx.store.next_seq()
    folder = Folder(
        id=ids.encode(mb.guid, ids.FOLDER, key),
        key=key,
        distinguished=None,
        display_name=name,
        folder_class=cls,
        element=element,
        parent_id=parent.id,
        changekey=change_key(seq),
        created_seq=seq,
    )
    mb.folders[folder.id] = folder
    ctx.store.changed("folder_created", mb, None, folder.id, parent.id)
    return folder


def _remove_tree(ctx: Context, mb: Mailbox, folder: Folder, *, include_self: bool) -> None:
    tree = _subtree(mb, folder)
    for f in reversed(tree if include_self else tree[1:]):
        for item in mb.items_in(f.id):
            ctx.store.remove_item(mb, item)
        ancestors = _ancestors(mb, f)
        del mb.folders[f.id]
        mb.folder_tombstones[f.id] = (ctx.store.next_seq(), ancestors)
        ctx.store.changed("folder_deleted", mb, None, f.id, ancestors[0] if ancestors else None)
    ctx.wrote = True


def create_folder(ctx: Context, req: Element) -> Element:
    parent_elem = req.find(m("ParentFolderId"))
    messages = []
    for spec in req.find(m("Folders")):
        try:
            mb, parent = ctx.folder(parent_elem[0])
            element = local(spec)
            if element not in _KINDS:
                raise EwsError("ErrorInvalidOperation", f"The sandbox cannot create a {element}.")
            name = spec.findtext(t("DisplayName"))
            if not name:
                raise EwsError("ErrorInvalidFolderName" if name == "" else "ErrorMissingArgument", "DisplayName")
            _check_name_free(mb, parent.id, name)
            cls = spec.findtext(t("FolderClass")) or _KINDS[element]
            folder = _new_folder(ctx, mb, parent, element, name, cls)
            ctx.wrote = True
            messages.append(success("CreateFolder", [el(m("Folders"), children=[_folder_ref(folder)])]))
        except EwsError as e:
            messages.append(error("CreateFolder", e))
    return response("CreateFolder", messages)


def update_folder(ctx: Context, req: Element) -> Element:
    messages = []
    for change in req.find(m("FolderChanges")):
        try:
            try:
                mb, folder = ctx.folder(change[0])
            except EwsError as e:
                if e.code != "ErrorFolderNotFound":
                    raise
                # What Exchange answers UpdateFolder for a folder id whose folder is gone.
                raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.") from None
            for update in change.find(t("Updates")):
                _apply_update(mb, folder, update)
            _bump(ctx, mb, folder)
            ctx.wrote = True
            messages.append(success("UpdateFolder", [el(m("Folders"), children=[_folder_ref(folder)])]))
        except EwsError as e:
            messages.append(error("UpdateFolder", e))
    return response("UpdateFolder", messages)


def _apply_update(mb: Mailbox, folder: Folder, update: Element) -> None:
    path = update.find(t("FieldURI"))
    field_uri = path.get("FieldURI") if path is not None else None
    kind = local(update)
    # exchangelib's save() sends every writable field: equal values and a cleared PermissionSet (the sandbox
    # keeps none) are no-ops.
    if field_uri == "folder:PermissionSet" and kind == "DeleteFolderField":
        return
    if field_uri not in ("folder:DisplayName", "folder:FolderClass") or kind == "AppendToFolderField":
        raise EwsError("ErrorInvalidPropertySet", f"The sandbox cannot update {field_uri or 'that property'}.")
    if kind == "DeleteFolderField":
        raise EwsError("ErrorInvalidPropertyDelete", f"{field_uri} cannot be deleted.")
    if field_uri == "folder:FolderClass":
        if update.findtext(f"*/{t('FolderClass')}") != folder.folder_class:
            raise EwsError("ErrorObjectTypeChanged", "The folder class of a folder cannot be changed.")
        return
    name = update.findtext(f"*/{t('DisplayName')}")
    if not name:
        raise EwsError("ErrorInvalidFolderName", "A folder needs a name.")
    if name == folder.display_name:
        return
    if folder.distinguished:
        raise EwsError("ErrorInvalidOperation", "A distinguished folder cannot be renamed.")
    _check_name_free(mb, folder.parent_id, name, except_id=folder.id)
    folder.display_name = name


def delete_folder(ctx: Context, req: Element) -> Element:
    delete_type = req.get("DeleteType", "HardDelete")
    messages = []
    for id_elem in req.find(m("FolderIds")):
        try:
            mb, folder = ctx.folder(id_elem)
            if folder.distinguished:
                raise EwsError("ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
            trash = mb.folder("deleteditems")
            if delete_type == "MoveToDeletedItems" and trash.id not in _ancestors(mb, folder):
                _move(ctx, mb, folder, trash)
            else:
                _remove_tree(ctx, mb, folder, include_self=True)
            messages.append(success("DeleteFolder"))
        except EwsError as e:
            messages.append(error("DeleteFolder", e))
    return response("DeleteFolder", messages)


def empty_folder(ctx: Context, req: Element) -> Element:
    sub_folders = req.get("DeleteSubFolders") == "true"
    messages = []
    for id_elem in req.find(m("FolderIds")):
        try:
            mb, folder = ctx.folder(id_elem)
            for item in mb.items_in(folder.id):
                ctx.store.remove_item(mb, item)
            if sub_folders:
                _remove_tree(ctx, mb, folder, include_self=False)
            ctx.wrote = True
            messages.append(success("EmptyFolder"))
        except EwsError as e:
            messages.append(error("EmptyFolder", e))
    return response("EmptyFolder", messages)


def _move(ctx: Context, mb: Mailbox, folder: Folder, target: Folder) -> None:
    if folder.distinguished:
        raise EwsError("ErrorMoveDistinguishedFolder", "Distinguished folders cannot be moved.")
    if target.id == folder.id or folder.id in _ancestors(mb, target):
        raise EwsError("ErrorMoveCopyFailed", "A folder cannot be moved into itself or below itself.")
    _check_name_free(mb, target.id, folder.display_name, except_id=folder.id)
    old_parent = folder.parent_id
    folder.parent_id = target.id
    folder.changekey = change_key(ctx.store.next_seq())
    ctx.store.changed("folder_moved", mb, None, folder.id, old_parent)
    ctx.wrote = True


def move_folder(ctx: Context, req: Element) -> Element:
    to_elem = req.find(m("ToFolderId"))
    messages = []
    for id_elem in req.find(m("FolderIds")):
        try:
            mb, folder = ctx.folder(id_elem)
            target_mb, target = ctx.folder(to_elem[0])
            if target_mb is not mb:
                raise EwsError("ErrorMoveCopyFailed", "Folders move within one mailbox.")
            _move(ctx, mb, folder, target)
            messages.append(success("MoveFolder", [el(m("Folders"), children=[_folder_ref(folder)])]))
        except EwsError as e:
            messages.append(error("MoveFolder", e))
    return response("MoveFolder", messages)
