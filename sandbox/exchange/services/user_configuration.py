"""Get/Create/Update/DeleteUserConfiguration (folder-associated configuration items such as the master
category list ``CategoryList`` on the calendar folder, whose XmlData holds Outlook's ``<categories>`` XML).

https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getuserconfiguration-operation
"""

from __future__ import annotations

from .. import ids
from ..errors import EwsError
from ..xml import Element, copy, el, local, m, t
from . import Context, error, response, success

PARTS = ("Dictionary", "XmlData", "BinaryData")


def _target(ctx: Context, name_elem: Element):
    name = name_elem.get("Name")
    if not name:
        raise EwsError("ErrorInvalidRequest", "UserConfigurationName needs a Name.")
    mb, folder = ctx.folder(name_elem[0])
    return mb, folder, name


def _id_key(folder, name: str):
    import uuid

    return uuid.uuid5(folder.key, "userconfig:" + name)


def get_user_configuration(ctx: Context, req: Element) -> Element:
    try:
        mb, folder, name = _target(ctx, req.find(m("UserConfigurationName")))
        props = (req.findtext(m("UserConfigurationProperties")) or "All").split()
        stored = folder.user_configs.get(name)
        if stored is None:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        out = el(m("UserConfiguration"))
        name_elem = el(
            t("UserConfigurationName"),
            attrs={"Name": name},
            children=[el(t("FolderId"), attrs={"Id": folder.id, "ChangeKey": folder.changekey})],
        )
        out.append(name_elem)
        if "Id" in props or "All" in props:
            out.append(
                el(
                    t("ItemId"),
                    attrs={
                        "Id": ids.encode(mb.guid, ids.ITEM, _id_key(folder, name)),
                        "ChangeKey": stored["_changekey"].text,
                    },
                )
            )
        for part in PARTS:
            if part in stored and ("All" in props or part in props):
                out.append(copy(stored[part]))
        msg = success("GetUserConfiguration", [out])
    except EwsError as e:
        msg = error("GetUserConfiguration", e)
    return response("GetUserConfiguration", [msg])


def _canonical(part: Element) -> Element:
    """Dictionary Boolean keys and values as Exchange stores them: xs:boolean's ``true``/``false`` (exchangelib
    writes ``1``/``0`` and reads back only the words)."""
    if local(part) == "Dictionary":
        for typed in part.iter(t("DictionaryKey"), t("DictionaryValue")):
            if typed.findtext(t("Type")) == "Boolean":
                for v in typed.iterfind(t("Value")):
                    v.text = {"1": "true", "0": "false"}.get((v.text or "").strip(), v.text)
    return part


def _write(ctx: Context, req: Element, operation: str, create: bool) -> Element:
    from ..store import change_key

    try:
        conf = req.find(m("UserConfiguration"))
        mb, folder, name = _target(ctx, conf.find(t("UserConfigurationName")))
        exists = name in folder.user_configs
        if create and exists:
            raise EwsError("ErrorItemSave", f"A user configuration named {name} already exists.")
        if not create and not exists:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        stored = dict(folder.user_configs.get(name, {}))
        for c in conf:
            if local(c) in PARTS:
                stored[local(c)] = _canonical(copy(c))
        stored["_changekey"] = el(t("ChangeKey"), change_key(ctx.store.next_seq()))
        folder.user_configs[name] = stored
        ctx.wrote = True
        msg = success(operation)
    except EwsError as e:
        msg = error(operation, e)
    return response(operation, [msg])


def create_user_configuration(ctx: Context, req: Element) -> Element:
    return _write(ctx, req, "CreateUserConfiguration", create=True)


def update_user_configuration(ctx: Context, req: Element) -> Element:
    return _write(ctx, req, "UpdateUserConfiguration", create=False)


def delete_user_configuration(ctx: Context, req: Element) -> Element:
    try:
        mb, folder, name = _target(ctx, req.find(m("UserConfigurationName")))
        if folder.user_configs.pop(name, None) is None:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        ctx.wrote = True
        msg = success("DeleteUserConfiguration")
    except EwsError as e:
        msg = error("DeleteUserConfiguration", e)
    return response("DeleteUserConfiguration", [msg])
