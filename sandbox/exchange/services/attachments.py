"""Attachments: inline in CreateItem (what exchangelib sends from Exchange 2013 on), CreateAttachment,
GetAttachment and DeleteAttachment.

https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createattachment-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getattachment-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/deleteattachment-operation

An item keeps its attachments, content included, as its ``Attachments`` field. GetItem/FindItem render the
metadata only (AttachmentId, Name, ContentType, ContentId, ContentLocation, Size, LastModifiedTime, IsInline,
IsContactPhoto; no Content, no attached item), GetAttachment the whole attachment. ``HasAttachments`` is true
when one of them is not inline. An attachment id is opaque: it names its item and the attachment. Attachments
belong to the item (a series' master); an attachment set through an occurrence id goes to the master.
Differences from Exchange: attachments are not part of meeting requests sent to attendees, and UpdateItem
cannot change the Attachments field (Exchange does not either; the sandbox answers ErrorInvalidPropertySet).
"""

from __future__ import annotations

import base64
import binascii
import uuid

from ..errors import EwsError
from ..store import Item, Mailbox
from ..xml import Element, copy, el, fmt_bool, fmt_datetime, local, m, parse_bool, t, utcnow
from . import Context, error, response, success

_PREFIX = b"\x00\x03\x24\x02"
_META = ("AttachmentId", "Name", "ContentType", "ContentId", "ContentLocation", "Size", "LastModifiedTime", "IsInline")


def _attachment_id(item: Item, key: uuid.UUID) -> str:
    return base64.b64encode(_PREFIX + base64.b64decode(item.id) + key.bytes).decode("ascii")


def _parse_id(ctx: Context, att_id: str) -> tuple[Mailbox, Item]:
    try:
        raw = base64.b64decode(att_id.replace("-", "/").replace("_", "+"), validate=True)
    except (binascii.Error, ValueError):
        raise EwsError("ErrorInvalidIdMalformed") from None
    if not raw.startswith(_PREFIX) or len(raw) != len(_PREFIX) + 37 + 16:
        raise EwsError("ErrorInvalidIdMalformed")
    item_id = base64.b64encode(raw[len(_PREFIX) : -16]).decode("ascii")
    mb, item, _ = ctx.item(el(t("ItemId"), attrs={"Id": item_id}))
    return mb, item


def _content_size(att: Element) -> int:
    content = att.find(t("Content"))
    if content is not None and content.text:
        try:
            return len(base64.b64decode(content.text, validate=True))
        except (binascii.Error, ValueError):
            raise EwsError("ErrorInvalidValueForProperty", "Attachment Content is not base64.") from None
    return sum(len(c.text or "") for c in att.iter())


def add(item: Item, attachments: Element) -> list[Element]:
    """Store the request's attachments on ``item``; return their AttachmentId elements (Id only)."""
    stored = item.fields.get("Attachments")
    stored = copy(stored) if stored is not None else el(t("Attachments"))
    new_ids = []
    for att in attachments:
        if local(att) not in ("FileAttachment", "ItemAttachment"):
            continue
        att = copy(att)
        for name in ("AttachmentId", "Size", "LastModifiedTime"):
            for old in att.findall(t(name)):
                att.remove(old)
        att_id = el(t("AttachmentId"), attrs={"Id": _attachment_id(item, uuid.uuid4())})
        att.insert(0, att_id)
        size = el(t("Size"), str(_content_size(att)))
        when = el(t("LastModifiedTime"), fmt_datetime(utcnow()))
        # Schema order: AttachmentId, Name, ContentType, ContentId, ContentLocation, Size, LastModifiedTime, ...
        anchor = att_id
        for name in ("Name", "ContentType", "ContentId", "ContentLocation"):
            found = att.find(t(name))
            if found is not None:
                anchor = found
        anchor.addnext(size)
        size.addnext(when)
        # Booleans as Exchange answers them, with their defaults (IsInline false; a file is no contact photo).
        anchor = when
        flags = ("IsInline", "IsContactPhoto") if local(att) == "FileAttachment" else ("IsInline",)
        for name in flags:
            found = att.find(t(name))
            value = fmt_bool(parse_bool(found.text)) if found is not None else "false"
            if found is not None:
                att.remove(found)
            flag = el(t(name), value)
            anchor.addnext(flag)
            anchor = flag
        stored.append(att)
        new_ids.append(copy(att_id))
    item.fields["Attachments"] = stored
    return new_ids


def metadata(attachments: Element) -> Element:
    """The Attachments field as GetItem renders it (no content)."""
    out = el(t("Attachments"))
    for att in attachments:
        meta = el(att.tag)
        for c in att:
            if local(c) in _META or local(c) == "IsContactPhoto":
                meta.append(copy(c))
        out.append(meta)
    return out


def has_attachments(attachments: Element | None) -> bool:
    if attachments is None:
        return False
    return any((a.findtext(t("IsInline")) or "false").lower() not in ("true", "1") for a in attachments)


def _find(item: Item, att_id: str) -> Element:
    stored = item.fields.get("Attachments")
    for att in stored if stored is not None else ():
        ident = att.find(t("AttachmentId"))
        if ident is not None and ident.get("Id") == att_id:
            return att
    raise EwsError("ErrorItemNotFound", "The attachment was not found.")


def create_attachment(ctx: Context, req: Element) -> Element:
    parent = req.find(m("ParentItemId"))
    try:
        mb, item, _ = ctx.item(
            el(t("ItemId"), attrs={"Id": parent.get("Id", ""), "ChangeKey": parent.get("ChangeKey")})
        )
        new_ids = add(item, req.find(m("Attachments")))
        ctx.store.touch(item)
        item.field_seqs["Attachments"] = item.changed_seq
        ctx.wrote = True
        rendered = []
        for att, ident in zip(item.fields["Attachments"][-len(new_ids) :], new_ids, strict=True):
            ident.set("RootItemId", item.id)
            ident.set("RootItemChangeKey", item.changekey)
            rendered.append(el(att.tag, children=[ident]))
        return response("CreateAttachment", [success("CreateAttachment", [el(m("Attachments"), children=rendered)])])
    except EwsError as e:
        return response("CreateAttachment", [error("CreateAttachment", e, [el(m("Attachments"))])])


def get_attachment(ctx: Context, req: Element) -> Element:
    messages = []
    for ident in req.find(m("AttachmentIds")):
        try:
            _, item = _parse_id(ctx, ident.get("Id", ""))
            att = copy(_find(item, ident.get("Id", "")))
            messages.append(success("GetAttachment", [el(m("Attachments"), children=[att])]))
        except EwsError as e:
            messages.append(error("GetAttachment", e, [el(m("Attachments"))]))
    return response("GetAttachment", messages)


def delete_attachment(ctx: Context, req: Element) -> Element:
    messages = []
    for ident in req.find(m("AttachmentIds")):
        try:
            _, item = _parse_id(ctx, ident.get("Id", ""))
            att = _find(item, ident.get("Id", ""))
            stored = copy(item.fields["Attachments"])
            for c in stored:
                if c.find(t("AttachmentId")).get("Id") == att.find(t("AttachmentId")).get("Id"):
                    stored.remove(c)
            if len(stored):
                item.fields["Attachments"] = stored
            else:
                item.fields.pop("Attachments")
            ctx.store.touch(item)
            item.field_seqs["Attachments"] = item.changed_seq
            ctx.wrote = True
            root = el(m("RootItemId"), attrs={"RootItemId": item.id, "RootItemChangeKey": item.changekey})
            messages.append(success("DeleteAttachment", [root]))
        except EwsError as e:
            messages.append(error("DeleteAttachment", e))
    return response("DeleteAttachment", messages)
