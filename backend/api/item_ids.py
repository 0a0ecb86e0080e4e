"""The one spelling of an Outlook item id that calsync keys links, share requests and health entries on.

An EWS id is base64, and the server accepts several spellings of one id: with or without ``=`` padding,
with the unused low bits of the last character set, in REST form (``-`` and ``_``). Keyed on what the caller
sent, two spellings of one item made two share requests, and the one the session never saw never settled.
The key is the id the server itself returns for the item (GetItem's ``ItemId``), which is also what the
sessions' change feeds carry.
"""

from __future__ import annotations

from sync.connectors.base import ExchangeItem


def canonical_item_id(item: ExchangeItem | None, requested: str) -> str:
    """The server's id of ``item`` (read with ``requested``); ``requested`` only if the answer carried none."""
    server_id = item.item_id if item is not None else None
    return server_id if isinstance(server_id, str) and server_id else requested
