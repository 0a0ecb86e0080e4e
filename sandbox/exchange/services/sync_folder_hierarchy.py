"""SyncFolderHierarchy:
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/syncfolderhierarchy-operation

The folders below ``SyncFolderId`` (the whole tree, as Exchange does; without it, the mailbox root), in one
answer (the operation has no paging: IncludesLastFolderInRange is always true). The first sync lists every
folder as a Create; later ones a Create for each folder made since the state, an Update for each one
changed since (renamed or moved, services/folders.py) and a Delete for each one deleted since. The state is
opaque: base64 of ``h1:<store epoch>:<folder id>:<write counter>`` and a checksum;
another folder's, another sandbox's or a mangled state is ErrorInvalidSyncStateData.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from ..errors import EwsError
from ..store import change_key_seq
from ..xml import Element, el, m, t
from . import Context, error, response, success
from .get_folder import folder_element


def _checksum(payload: str) -> str:
    return hashlib.sha256(b"calsync-ews-hierarchy/" + payload.encode()).hexdigest()[:16]


def encode_state(epoch: str, folder_id: str, seq: int) -> str:
    payload = f"h1:{epoch}:{folder_id}:{seq}"
    return base64.b64encode(f"{payload}:{_checksum(payload)}".encode()).decode("ascii")


def decode_state(state: str, epoch: str, folder_id: str, current: int) -> int:
    try:
        payload, _, check = base64.b64decode(state.strip(), validate=True).decode("ascii").rpartition(":")
        version, s_epoch, s_folder, seq = payload.split(":")
        seq_i = int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise EwsError("ErrorInvalidSyncStateData") from None
    if version != "h1" or check != _checksum(payload) or s_epoch != epoch or s_folder != folder_id:
        raise EwsError("ErrorInvalidSyncStateData")
    if not 0 <= seq_i <= current:
        raise EwsError("ErrorInvalidSyncStateData")
    return seq_i


def _below(mb, root_id: str) -> list:
    children: dict[str, list] = {}
    for f in mb.folders.values():
        children.setdefault(f.parent_id, []).append(f)
    out, todo = [], list(children.get(root_id, []))
    while todo:
        f = todo.pop(0)
        out.append(f)
        todo += children.get(f.id, [])
    return out


def sync_folder_hierarchy(ctx: Context, req: Element) -> Element:
    shape = req.find(m("FolderShape"))
    state_text = req.findtext(m("SyncState"))
    target = req.find(m("SyncFolderId"))
    try:
        if target is not None and len(target):
            mb, root = ctx.folder(target[0])
        else:
            mb = ctx.mailbox()
            root = mb.folder("root")
        current = ctx.store.seq
        base = decode_state(state_text, ctx.store.epoch, root.id, current) if state_text else 0
        changes = []
        for folder in _below(mb, root.id):
            seq = change_key_seq(folder.changekey) or 0
            if seq > base:
                kind = "Create" if folder.created_seq > base or not base else "Update"
                changes.append(el(t(kind), children=[folder_element(ctx, mb, folder, shape)]))
        if base:
            for folder_id, (seq, ancestors) in mb.folder_tombstones.items():
                if seq > base and root.id in ancestors:
                    changes.append(el(t("Delete"), children=[el(t("FolderId"), attrs={"Id": folder_id})]))
        messages = [
            success(
                "SyncFolderHierarchy",
                [
                    el(m("SyncState"), encode_state(ctx.store.epoch, root.id, current)),
                    el(m("IncludesLastFolderInRange"), "true"),
                    el(m("Changes"), children=changes),
                ],
            )
        ]
    except EwsError as e:
        # As Exchange does (and exchangelib reads them before the code), an error still carries both elements.
        messages = [
            error(
                "SyncFolderHierarchy",
                e,
                [el(m("SyncState"), state_text or ""), el(m("IncludesLastFolderInRange"), "true")],
            )
        ]
    return response("SyncFolderHierarchy", messages)
