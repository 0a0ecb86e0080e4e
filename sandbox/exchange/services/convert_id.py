"""ConvertId: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/convertid-operation

Formats: EwsId, EwsLegacyId, EntryId, HexEntryId, StoreId, OwaId (see ``sandbox/exchange/ids.py``; the REST
id of Office.js is the EwsId with ``-``/``_`` and is accepted wherever an EwsId is).
"""

from __future__ import annotations

from lxml import etree

from .. import ids
from ..errors import EwsError
from ..xml import Element, T, local, m
from . import Context, error, response, success

XSI = "http://www.w3.org/2001/XMLSchema-instance"


def convert_id(ctx: Context, req: Element) -> Element:
    destination = req.get("DestinationFormat")
    messages = []
    for src in req.find(m("SourceIds")):
        try:
            if local(src) != "AlternateId":
                raise EwsError("ErrorInvalidRequest", "Only AlternateId can be converted by the sandbox.")
            try:
                parsed = ids.parse_format(src.get("Id", ""), src.get("Format"))
            except ids.BadId:
                raise EwsError("ErrorInvalidIdMalformed") from None
            mb = ctx.mailbox_by_guid(parsed.mailbox)
            if (src.get("Mailbox") or "").lower() != mb.email.lower():
                raise EwsError("ErrorInvalidIdMalformed", "The id does not belong to the given mailbox.")
            exists = parsed.base() in (mb.items if parsed.kind != ids.FOLDER else mb.folders)
            if not exists:
                raise EwsError("ErrorItemNotFound")
            try:
                converted = ids.format_id(parsed, destination)
            except ids.BadId as e:
                raise EwsError("ErrorInvalidIdMalformed", str(e)) from None
            # The element is declared abstract: xsi:type names the concrete type, a QName that needs "t" in scope.
            alt = etree.Element(m("AlternateId"), nsmap={"t": T, "xsi": XSI})
            alt.set(f"{{{XSI}}}type", "t:AlternateIdType")
            for name, value in (("Format", destination), ("Id", converted), ("Mailbox", mb.email)):
                alt.set(name, value)
            messages.append(success("ConvertId", [alt]))
        except EwsError as e:
            messages.append(error("ConvertId", e))
    return response("ConvertId", messages)
