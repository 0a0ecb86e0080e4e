"""SyncFolderItems:
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/syncfolderitems-operation

The sync state is opaque to clients: base64 of ``v1:<store epoch>:<folder id>:<base>:<position>`` plus a
checksum. ``base`` is the write counter of the last complete sync, ``position`` how far a paged sync has read.
Changes are collapsed against ``base``: created (and maybe updated) since -> one Create; updated -> Update;
deleted -> Delete, unless it was also created since (then nothing). Pages are ordered by each item's last write,
so a change made while a client pages is never skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from .. import calendar
from ..errors import EwsError
from ..xml import Element, el, fmt_bool, m, t
from . import Context, error, response, success

MAX_CHANGES = 512


def _checksum(payload: str) -> str:
    return hashlib.sha256(b"calsync-ews-sync/" + payload.encode()).hexdigest()[:16]


def encode_state(epoch: str, folder_id: str, base: int, position: int) -> str:
    payload = f"v1:{epoch}:{folder_id}:{base}:{position}"
    return base64.b64encode(f"{payload}:{_checksum(payload)}".encode()).decode("ascii")


def decode_state(state: str, epoch: str, folder_id: str, current: int) -> tuple[int, int]:
    try:
        text = base64.b64decode(state.strip(), validate=True).decode("ascii")
        payload, _, check = text.rpartition(":")
        version, s_epoch, s_folder, base, position = payload.split(":")
        base_i, position_i = int(base), int(position)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise EwsError("ErrorInvalidSyncStateData") from None
    if (
        version != "v1"
        or check != _checksum(payload)
        or s_epoch != epoch
        or s_folder != folder_id
        or not 0 <= base_i <= position_i <= current
    ):
        raise EwsError("ErrorInvalidSyncStateData")
    return base_i, position_i


def changes_since(mb, folder, base: int, position: int) -> list[tuple[int, str, object]]:
    """(sort seq, change kind, item or item id) after ``position``, collapsed against ``base``."""
    out = []
    for item in mb.items.values():
        if item.folder_id != folder.id:
            continue
        seq = max(item.entered_seq, item.changed_seq)
        if seq <= position:
            continue
        out.append((seq, "Create" if item.entered_seq > base else "Update", item))
    for item_id, (entered, deleted) in folder.tombstones.items():
        # Created and deleted since the base (and never listed): nothing to report.
        if deleted > position and entered <= position:
            out.append((deleted, "Delete", item_id))
    out.sort(key=lambda c: c[0])
    return out


def sync_folder_items(ctx: Context, req: Element) -> Element:
    shape = calendar.Shape.parse(req.find(m("ItemShape")))
    state_text = req.findtext(m("SyncState"))
    max_changes = int(req.findtext(m("MaxChangesReturned")) or MAX_CHANGES)
    ignore = {e.get("Id") for e in req.find(m("Ignore"))} if req.find(m("Ignore")) is not None else set()
    fid = req.find(m("SyncFolderId"))[0]
    try:
        if not 1 <= max_changes <= MAX_CHANGES:
            raise EwsError("ErrorInvalidArgument", f"MaxChangesReturned must be between 1 and {MAX_CHANGES}.")
        mb, folder = ctx.folder(fid)
        current = ctx.store.seq
        base, position = (0, 0) if not state_text else decode_state(state_text, ctx.store.epoch, folder.id, current)
        changes = [
            c
            for c in changes_since(mb, folder, base, position)
            if (c[2] if c[1] == "Delete" else c[2].id) not in ignore
        ]
        page = changes[:max_changes]
        last = len(changes) <= max_changes
        new_state = (
            encode_state(ctx.store.epoch, folder.id, current, current)
            if last
            else encode_state(ctx.store.epoch, folder.id, base, page[-1][0])
        )
        rendered = []
        for _, kind, obj in page:
            if kind == "Delete":
                rendered.append(el(t("Delete"), children=[el(t("ItemId"), attrs={"Id": obj})]))
            else:
                rendered.append(el(t(kind), children=[calendar.render(mb, obj, shape)]))
        messages = [
            success(
                "SyncFolderItems",
                [
                    el(m("SyncState"), new_state),
                    el(m("IncludesLastItemInRange"), fmt_bool(last)),
                    el(m("Changes"), children=rendered),
                ],
            )
        ]
    except EwsError as e:
        # As Exchange does, an error answer still carries a SyncState and IncludesLastItemInRange.
        messages = [
            error(
                "SyncFolderItems", e, [el(m("SyncState"), state_text or ""), el(m("IncludesLastItemInRange"), "true")]
            )
        ]
    return response("SyncFolderItems", messages)
