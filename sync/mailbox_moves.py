"""Moving a mailbox between EWS and Microsoft Graph (``calsync mailboxes move``, the panel's Mailboxes page).

The two protocols name one item differently (an EWS id, Graph's immutable REST id), so a move rewrites every
stored Exchange item id of the mailbox — its links, pending share requests, out-of-scope items and item health
entries — with the ids Graph's ``translateExchangeIds`` gives (`sync.connectors.graph_ids`), then clears the
Exchange cursor and the category check, in one transaction. The sync keys need no change: the Graph connector
reads and writes the same MAPI named property EWS does. The next session is therefore a full round, which
finds every linked item under its new id and never reads a deletion from absence (docs/invariants.md #4): no
duplicate, no loss.

Nothing changes when any id fails to translate (the move is refused, saying which), and the move takes the
mailbox's session lock, so it never runs beside a session of the same mailbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.mailboxes import BACKEND_LABELS, MailboxError, check_backend
from sync.models import HealthEntry, Link, Mailbox, OutOfScopeItem, ShareRequest

# The id type each backend keys items on (Graph's names): EWS ids, and Graph's immutable REST ids.
ID_TYPE = {"ews": "ewsId", "graph": "restImmutableEntryId"}
EXCHANGE_REF = "exchange:"


class TranslationLike(Protocol):
    ids: dict[str, str]
    failed: dict[str, str]
    requests: int


# (ids, source id type, target id type) -> the translation; `sync.connectors.graph_ids.GraphIds.translate`.
Translator = Callable[[Sequence[str], str, str], TranslationLike]


@dataclass
class MoveReport:
    email: str
    source: str
    target: str
    links: int = 0
    ids: int = 0
    requests: int = 0

    def describe(self) -> str:
        return (
            f"{self.email}: moved from {BACKEND_LABELS[self.source]} to {BACKEND_LABELS[self.target]}; "
            f"{self.ids} item ids translated ({self.links} links) in {self.requests} request(s); the next "
            "session is a full round"
        )


def stored_ids(db: Session, mailbox: Mailbox) -> list[str]:
    """Every Exchange item id stored for the mailbox (links, share requests, out-of-scope items, health)."""
    found: list[str] = []
    found += db.scalars(select(Link.exchange_item_id).where(Link.mailbox_id == mailbox.id,
                                                            Link.exchange_item_id.is_not(None)))  # fmt: skip
    found += db.scalars(select(ShareRequest.exchange_item_id).where(ShareRequest.mailbox_id == mailbox.id))
    found += db.scalars(
        select(OutOfScopeItem.item_id).where(OutOfScopeItem.mailbox_id == mailbox.id, OutOfScopeItem.side == "exchange")
    )
    refs = db.scalars(
        select(HealthEntry.item_ref).where(
            HealthEntry.mailbox_id == mailbox.id, HealthEntry.item_ref.startswith(EXCHANGE_REF)
        )
    )
    found += [ref[len(EXCHANGE_REF) :] for ref in refs]
    return list(dict.fromkeys(i for i in found if i))


def move(db: Session, mailbox: Mailbox, target: str, translate: Translator) -> MoveReport:
    """Switch ``mailbox`` to ``target`` (``ews`` or ``graph``), translating its stored item ids. The caller
    holds the mailbox's session lock and commits; on `MailboxError` nothing was changed."""
    check_backend(target)
    source = mailbox.backend or "ews"
    if source == target:
        raise MailboxError(f"{mailbox.email} already syncs over {BACKEND_LABELS[target]}")
    report = MoveReport(mailbox.email, source, target)
    ids = stored_ids(db, mailbox)
    mapping: dict[str, str] = {}
    if ids:
        translation = translate(ids, ID_TYPE[source], ID_TYPE[target])
        report.requests = translation.requests
        if translation.failed:
            sample = ", ".join(f"{i[:24]}… ({code})" for i, code in list(translation.failed.items())[:3])
            raise MailboxError(
                f"{mailbox.email}: {len(translation.failed)} of {len(ids)} item ids cannot be translated "
                f"({sample}); nothing was moved. Run a session of the mailbox first, then move it again."
            )
        mapping = translation.ids
    report.ids = len(mapping)

    for link in db.scalars(select(Link).where(Link.mailbox_id == mailbox.id, Link.exchange_item_id.is_not(None))):
        link.exchange_item_id = mapping[link.exchange_item_id]
        report.links += 1
    for row in db.scalars(select(ShareRequest).where(ShareRequest.mailbox_id == mailbox.id)):
        row.exchange_item_id = mapping[row.exchange_item_id]
    for row in db.scalars(
        select(OutOfScopeItem).where(OutOfScopeItem.mailbox_id == mailbox.id, OutOfScopeItem.side == "exchange")
    ):
        row.item_id = mapping[row.item_id]
    for entry in db.scalars(
        select(HealthEntry).where(HealthEntry.mailbox_id == mailbox.id, HealthEntry.item_ref.startswith(EXCHANGE_REF))
    ):
        entry.item_ref = EXCHANGE_REF + mapping[entry.item_ref[len(EXCHANGE_REF) :]]
    # The other protocol's cursor means nothing here: list everything (a full round) and check categories.
    mailbox.exchange_sync_state = None
    mailbox.category_state = {}
    mailbox.backend = target
    db.flush()
    return report
