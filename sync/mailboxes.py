"""Mailboxes that sync: adding, listing, finding."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sync.models import Mailbox
from sync.secrets import seal, unseal

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SALESFORCE_ID = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
# How a mailbox's calendar is reached (Mailbox.backend): Exchange Web Services or Microsoft Graph.
BACKENDS = ("ews", "graph")
BACKEND_LABELS = {"ews": "EWS", "graph": "Microsoft Graph"}


class MailboxError(ValueError):
    """Bad input for a mailbox; the message is meant for people."""


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise MailboxError(f"{backend!r} is not a mailbox backend: use ews or graph")
    return backend


def add(
    db: Session,
    email: str,
    salesforce_user_id: str | None = None,
    *,
    time_zone: str | None = None,
    backend: str | None = None,
    default_backend: str = "ews",
) -> Mailbox:
    """Add a mailbox (or update its Salesforce user or zone). A new mailbox syncs over ``backend``, else
    ``default_backend`` (CALSYNC_EXCHANGE_BACKEND); an existing one changes protocol only through
    `sync.mailbox_moves` (its links' item ids must be translated). The caller commits."""
    if backend is not None:
        check_backend(backend)
    check_backend(default_backend)
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise MailboxError(f"{email!r} is not an e-mail address")
    if salesforce_user_id is not None and not _SALESFORCE_ID.match(salesforce_user_id):
        raise MailboxError(f"{salesforce_user_id!r} is not a Salesforce id (15 or 18 letters and digits)")
    if salesforce_user_id is not None and not salesforce_user_id.startswith("005"):
        raise MailboxError(f"{salesforce_user_id!r} is not a Salesforce User id (User ids start with 005)")
    if time_zone is not None:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise MailboxError(f"{time_zone!r} is not a time zone name (use IANA names like Europe/London)") from None
    mailbox = find(db, email)
    if mailbox is None:
        mailbox = Mailbox(email=email, salesforce_user_id=salesforce_user_id, salesforce_watermarks={},
                          time_zone=time_zone or "UTC", backend=backend or default_backend)  # fmt: skip
        db.add(mailbox)
    else:
        if backend is not None and backend != mailbox.backend:
            raise MailboxError(
                f"{mailbox.email} syncs over {mailbox.backend}: move it with `calsync mailboxes move {mailbox.email} "
                f"--to {backend}` (its links' item ids are translated)"
            )
        if salesforce_user_id is not None:
            mailbox.salesforce_user_id = salesforce_user_id
        if time_zone is not None:
            mailbox.time_zone = time_zone
    return mailbox


def find(db: Session, email: str) -> Mailbox | None:
    return db.scalars(select(Mailbox).where(func.lower(Mailbox.email) == email.strip().lower())).one_or_none()


def all_mailboxes(db: Session) -> list[Mailbox]:
    return list(db.scalars(select(Mailbox).order_by(Mailbox.email)))


def set_exchange_credentials(mailbox: Mailbox, username: str, password: str, *, secret_key: str) -> None:
    """Give the mailbox its own Exchange login (delegate access instead of impersonation). The caller commits."""
    if not username or not password:
        raise MailboxError("an Exchange login needs a user name and a password")
    mailbox.exchange_credentials = seal({"username": username, "password": password}, secret_key)


def clear_exchange_credentials(mailbox: Mailbox) -> None:
    mailbox.exchange_credentials = None


def exchange_credentials(mailbox: Mailbox, *, secret_key: str) -> tuple[str, str] | None:
    """(username, password) of the mailbox's own login, or None for the service account."""
    if not mailbox.exchange_credentials:
        return None
    data = unseal(mailbox.exchange_credentials, secret_key, what=f"the Exchange login of {mailbox.email}")
    return data["username"], data["password"]
