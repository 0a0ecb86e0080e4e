"""Which mailbox an add-in access token may act as: bound to the Entra user's tenant (``tid``) and object id
(``oid``), never to ``preferred_username`` alone.

Microsoft says ``preferred_username`` (the UPN or an e-mail) is mutable and must not be used for
authorization; ``tid`` + ``oid`` identify the user for good. So:

- A mailbox bound to (tid, oid) is the caller's, whatever the token's UPN says now (a renamed user keeps it).
- An unbound mailbox is bound at the first sign-in whose ``preferred_username`` matches its e-mail, or by an
  admin on the mailbox page of the panel (who may also clear the binding so that it is learned again).
- A token whose UPN names a mailbox bound to someone else is refused (403 ``identity_mismatch``), logged,
  and shown in the panel as a health entry of that mailbox (``identity_mismatch``).
- Guest accounts are refused (403 ``guest_account``): ``acct`` = 1, or an ``idp`` claim naming another
  identity provider than the token's issuer (B2B guests and Microsoft accounts carry their home IdP there).
- Mailboxes an admin disabled are refused (403 ``mailbox_disabled``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import ApiError
from sync import health
from sync.mailboxes import find as find_by_email
from sync.models import Mailbox, utcnow

log = logging.getLogger(__name__)

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MISMATCH_CODE = "identity_mismatch"
IDENTITY_REF = "identity"  # the health entry's item: not shown in the task pane, only in the panel


def is_guid(value: Any) -> bool:
    return isinstance(value, str) and bool(GUID.match(value))


def _refuse(message: str, code: str) -> ApiError:
    return ApiError(message, status=403, code=code)


def check_not_guest(claims: Mapping[str, Any]) -> None:
    if claims.get("acct") == 1:
        raise _refuse("Guest accounts cannot use calsync: sign in with an account of this organisation.",
                      "guest_account")  # fmt: skip
    idp = claims.get("idp")
    tid = claims.get("tid")
    own = {claims.get("iss"), f"https://sts.windows.net/{tid}/", f"https://login.microsoftonline.com/{tid}/v2.0"}
    if idp is not None and idp not in own:
        raise _refuse("Guest accounts cannot use calsync: sign in with an account of this organisation.",
                      "guest_account")  # fmt: skip


def bound_to(db: Session, tenant_id: str, object_id: str) -> Mailbox | None:
    return db.scalars(
        select(Mailbox).where(
            Mailbox.entra_tenant_id == tenant_id.lower(), Mailbox.entra_object_id == object_id.lower()
        )
    ).one_or_none()


def bind(mailbox: Mailbox, tenant_id: str | None, object_id: str | None) -> None:
    """Bind (or with two Nones, unbind) the mailbox; the caller commits."""
    mailbox.entra_tenant_id = tenant_id.lower() if tenant_id else None
    mailbox.entra_object_id = object_id.lower() if object_id else None


def _record_mismatch(db: Session, mailbox: Mailbox, username: str, tenant_id: str, object_id: str) -> None:
    message = (f"A sign-in as {username} (tenant {tenant_id}, object id {object_id}) was refused: this mailbox "
               f"belongs to object id {mailbox.entra_object_id} (tenant {mailbox.entra_tenant_id}). If the user was "
               "re-created in Entra ID, set the new object id on the mailbox page.")  # fmt: skip
    log.warning("refused add-in sign-in: %s", message)
    health.record(db, mailbox_id=mailbox.id, item_ref=IDENTITY_REF, side="addin", code=MISMATCH_CODE,
                  message=message, now=utcnow())  # fmt: skip
    db.commit()


def mailbox_for(db: Session, claims: Mapping[str, Any]) -> Mailbox:
    """The mailbox the token's user may act as; ApiError 403 otherwise (binds an unbound mailbox)."""
    tenant_id, object_id = claims["tid"], claims["oid"]
    username = claims["preferred_username"].strip().lower()
    check_not_guest(claims)
    mailbox = bound_to(db, tenant_id, object_id)
    if mailbox is None:
        mailbox = find_by_email(db, username)
        if mailbox is None:
            raise _refuse(f"{username} has no calsync mailbox yet. Ask your administrator to add it (calsync "
                          "mailboxes add).", "mailbox_not_found")  # fmt: skip
        if mailbox.entra_object_id is not None:
            _record_mismatch(db, mailbox, username, tenant_id, object_id)
            raise _refuse(f"This sign-in does not match the account {mailbox.email} belongs to. Ask your "
                          "administrator to check the mailbox's identity.", MISMATCH_CODE)  # fmt: skip
        if mailbox.enabled:
            bind(mailbox, tenant_id, object_id)
            db.commit()
            log.info("mailbox %s bound to tenant %s, object id %s", mailbox.email, tenant_id, object_id)
    if not mailbox.enabled:
        raise _refuse(f"Sync of {mailbox.email} is switched off by your administrator.", "mailbox_disabled")
    return mailbox
