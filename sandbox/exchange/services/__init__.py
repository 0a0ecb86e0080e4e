"""One module per EWS operation (like exchangelib's ``services/``); this module holds what they share: the
request context (who acts for which mailbox), id and folder resolution, and response-message builders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import ids
from ..errors import EwsError, SoapFault
from ..store import Folder, Item, Mailbox
from ..xml import Element, child_text, el, local, m, t

if TYPE_CHECKING:
    from .. import ExchangeSandbox


@dataclass
class Context:
    sandbox: ExchangeSandbox
    principal: str  # the authenticated user
    acting: str  # the mailbox user the request acts as (impersonated or the principal)
    timezone: str | None = None  # TimeZoneContext/TimeZoneDefinition Id
    wrote: bool = False
    is_service: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def store(self):
        return self.sandbox.store

    @classmethod
    def from_request(cls, sandbox: ExchangeSandbox, principal: str, header: Element | None) -> Context:
        is_service = sandbox.is_service_account(principal)
        acting = principal
        tz = None
        if header is not None:
            imp = header.find(t("ExchangeImpersonation"))
            if imp is not None:
                sid = imp.find(t("ConnectingSID"))
                target = None
                for name in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName"):
                    target = target or child_text(sid, t(name))
                if not is_service:
                    raise SoapFault(
                        "ErrorImpersonateUserDenied",
                        "The account does not have permission to impersonate the requested user.",
                        fault_code="a:ErrorImpersonateUserDenied",
                    )
                if target is None or sandbox.store.mailbox(target) is None:
                    raise SoapFault(
                        "ErrorNonExistentMailbox",
                        f"No mailbox with SMTP address {target}.",
                        fault_code="a:ErrorNonExistentMailbox",
                    )
                acting = sandbox.store.mailbox(target).email
            tzd = header.find(f"{t('TimeZoneContext')}/{t('TimeZoneDefinition')}")
            if tzd is not None:
                tz = tzd.get("Id")
        return cls(sandbox, principal, acting, tz, is_service=is_service)

    # -- access ----------------------------------------------------------------------------------------------------
    def can_access(self, mb: Mailbox) -> bool:
        if mb.email.lower() == self.acting.lower():
            return True
        # The service account has full access to every mailbox (delegate access as well as impersonation).
        return self.is_service and self.acting.lower() == self.principal.lower()

    def mailbox(self, email: str | None = None) -> Mailbox:
        target = email or self.acting
        mb = self.store.mailbox(target)
        if mb is None:
            raise EwsError("ErrorNonExistentMailbox", f"No mailbox with SMTP address {target}.")
        if not self.can_access(mb):
            raise EwsError("ErrorAccessDenied")
        return mb

    def mailbox_by_guid(self, guid) -> Mailbox:
        for mb in self.store.mailboxes.values():
            if mb.guid == guid:
                if not self.can_access(mb):
                    raise EwsError("ErrorAccessDenied")
                return mb
        raise EwsError("ErrorItemNotFound")

    # -- folders and items -----------------------------------------------------------------------------------------
    def folder(self, elem: Element) -> tuple[Mailbox, Folder]:
        """Resolve a t:FolderId or t:DistinguishedFolderId element."""
        name = local(elem)
        if name == "DistinguishedFolderId":
            email = child_text(elem.find(t("Mailbox")), t("EmailAddress"))
            mb = self.mailbox(email)
            return mb, self.store.distinguished_folder(mb, elem.get("Id"))
        if name == "FolderId":
            try:
                parsed = ids.decode(elem.get("Id", ""))
            except ids.BadId:
                raise EwsError("ErrorInvalidIdMalformed") from None
            if parsed.kind != ids.FOLDER:
                raise EwsError("ErrorInvalidIdMalformed")
            mb = self.mailbox_by_guid(parsed.mailbox)
            folder = mb.folders.get(parsed.base())
            if folder is None:
                raise EwsError("ErrorFolderNotFound")
            return mb, folder
        raise EwsError("ErrorInvalidRequest", f"Unsupported folder id element {name}")

    def item(self, elem: Element) -> tuple[Mailbox, Item, int | None]:
        """Resolve an ItemId / OccurrenceItemId / RecurringMasterItemId to (mailbox, item, occurrence start)."""
        from .. import calendar

        name = local(elem)
        # The id attribute differs per element: RecurringMasterItemId names an occurrence in OccurrenceId.
        attr = {"OccurrenceItemId": "RecurringMasterId", "RecurringMasterItemId": "OccurrenceId"}.get(name, "Id")
        raw = elem.get(attr)
        try:
            parsed = ids.decode(raw or "")
        except ids.BadId:
            raise EwsError("ErrorInvalidIdMalformed") from None
        if parsed.kind == ids.FOLDER:
            raise EwsError("ErrorInvalidIdMalformed")
        mb = self.mailbox_by_guid(parsed.mailbox)
        item = mb.items.get(parsed.base())
        if item is None:
            raise EwsError("ErrorItemNotFound")
        occurrence = parsed.original_start
        if name == "OccurrenceItemId":
            occurrence = calendar.occurrence_by_index(item, int(elem.get("InstanceIndex", "0")))
        elif name == "RecurringMasterItemId":
            occurrence = None
        elif occurrence is not None:
            calendar.check_occurrence(item, occurrence)
        return mb, item, occurrence


# -- response builders -----------------------------------------------------------------------------------------
def response(operation: str, messages: list[Element]) -> Element:
    return el(m(f"{operation}Response"), children=[el(m("ResponseMessages"), children=messages)])


def success(operation: str, children: list[Element | None] = ()) -> Element:
    msg = el(m(f"{operation}ResponseMessage"), attrs={"ResponseClass": "Success"})
    msg.append(el(m("ResponseCode"), "NoError"))
    for c in children:
        if c is not None:
            msg.append(c)
    return msg


def error(operation: str, err: EwsError, children: list[Element | None] = ()) -> Element:
    msg = el(m(f"{operation}ResponseMessage"), attrs={"ResponseClass": "Error"})
    msg.append(el(m("MessageText"), err.text))
    msg.append(el(m("ResponseCode"), err.code))
    msg.append(el(m("DescriptiveLinkKey"), "0"))
    for c in children:
        if c is not None:
            msg.append(c)
    return msg


def _registry() -> dict[str, Callable[[Context, Element], Element]]:
    from . import (
        attachments,
        convert_id,
        create_item,
        delete_item,
        find_folder,
        find_item,
        folders,
        get_events,
        get_folder,
        get_item,
        get_streaming_events,
        move_copy_item,
        resolve_names,
        subscribe,
        sync_folder_hierarchy,
        sync_folder_items,
        update_item,
        user_configuration,
    )

    return {
        "GetFolder": get_folder.get_folder,
        "FindFolder": find_folder.find_folder,
        "CreateFolder": folders.create_folder,
        "UpdateFolder": folders.update_folder,
        "DeleteFolder": folders.delete_folder,
        "EmptyFolder": folders.empty_folder,
        "MoveFolder": folders.move_folder,
        "CreateItem": create_item.create_item,
        "GetItem": get_item.get_item,
        "UpdateItem": update_item.update_item,
        "DeleteItem": delete_item.delete_item,
        "FindItem": find_item.find_item,
        "SyncFolderItems": sync_folder_items.sync_folder_items,
        "GetUserConfiguration": user_configuration.get_user_configuration,
        "CreateUserConfiguration": user_configuration.create_user_configuration,
        "UpdateUserConfiguration": user_configuration.update_user_configuration,
        "DeleteUserConfiguration": user_configuration.delete_user_configuration,
        "ConvertId": convert_id.convert_id,
        "ResolveNames": resolve_names.resolve_names,
        "Subscribe": subscribe.subscribe,
        "Unsubscribe": subscribe.unsubscribe,
        "GetEvents": get_events.get_events,
        "GetStreamingEvents": get_streaming_events.get_streaming_events,
        "SyncFolderHierarchy": sync_folder_hierarchy.sync_folder_hierarchy,
        "MoveItem": move_copy_item.move_item,
        "CopyItem": move_copy_item.copy_item,
        "CreateAttachment": attachments.create_attachment,
        "GetAttachment": attachments.get_attachment,
        "DeleteAttachment": attachments.delete_attachment,
    }


class _Operations(dict):
    def get(self, key, default=None):
        if not self:
            self.update(_registry())
        return super().get(key, default)


OPERATIONS = _Operations()
