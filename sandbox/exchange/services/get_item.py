"""GetItem: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getitem-operation"""

from __future__ import annotations

from .. import calendar
from ..errors import EwsError
from ..xml import Element, el, m
from . import Context, error, response, success


def get_item(ctx: Context, req: Element) -> Element:
    shape = calendar.Shape.parse(req.find(m("ItemShape")))
    messages = []
    for id_elem in req.find(m("ItemIds")):
        try:
            mb, item, occurrence = ctx.item(id_elem)
            rendered = calendar.render(mb, item, shape, occurrence, conflicts=True)
            messages.append(success("GetItem", [el(m("Items"), children=[rendered])]))
        except EwsError as e:
            messages.append(error("GetItem", e, [el(m("Items"))]))
    return response("GetItem", messages)
