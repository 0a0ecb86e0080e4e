"""Graph ids over the EWS sandbox's ids, and ``translateExchangeIds``.

- ``restId`` (Graph's default): the EWS id with ``/`` -> ``-`` and ``+`` -> ``_`` (what Office.js
  ``convertToRestId`` makes too).
- ``restImmutableEntryId`` (``Prefer: IdType="ImmutableId"``): URL-safe base64 of an immutable-id marker, the
  mailbox GUID, the kind and the item GUID (plus an occurrence's original start). Sandbox items keep their
  GUID for life, so both formats stay valid across folder moves; they are still different strings, as in
  Exchange Online.
- ``ewsId``: the EWS id; ``entryId`` / ``immutableEntryId``: the binary MAPI forms, URL-safe base64 with the
  trailing padding replaced by its count (0, 1 or 2), as the translateExchangeIds reference describes.

Every Graph endpoint accepts an id in restId or restImmutableEntryId format.
"""

from __future__ import annotations

import base64
import binascii

from sandbox.exchange import ids as ews_ids

from .errors import GraphError

_IMMUTABLE = b"\x00\x00\x00\x00\x2e\x00\x09\x00"
FORMATS = ("ewsId", "restId", "restImmutableEntryId", "entryId", "immutableEntryId")


def _urlsafe(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _unurlsafe(text: str) -> bytes:
    text = text.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise ews_ids.BadId(str(e)) from None


def _immutable_raw(p: ews_ids.ParsedId) -> bytes:
    raw = base64.b64decode(ews_ids.encode(p.mailbox, p.kind, p.key, p.original_start))
    return _IMMUTABLE + raw[4:]  # same body as the EWS id, behind the immutable marker


def _from_immutable_raw(raw: bytes) -> ews_ids.ParsedId:
    if not raw.startswith(_IMMUTABLE):
        raise ews_ids.BadId("not an immutable id")
    ews = base64.b64encode(b"\x00\x03\x24\x00" + raw[len(_IMMUTABLE) :]).decode("ascii")
    return ews_ids.decode(ews)


def _binary_text(raw: bytes) -> str:
    text = _urlsafe(raw)
    stripped = text.rstrip("=")
    return stripped + str(len(text) - len(stripped))


def _binary_raw(text: str) -> bytes:
    text = text.strip()
    if not text or text[-1] not in "012":
        raise ews_ids.BadId("no padding count")
    return _unurlsafe(text[:-1])


def parse(text: str) -> ews_ids.ParsedId:
    """A restId or restImmutableEntryId (an EWS id is accepted too); raises BadId."""
    if not text:
        raise ews_ids.BadId("empty id")
    try:
        return ews_ids.decode(text)
    except ews_ids.BadId:
        return _from_immutable_raw(_unurlsafe(text))


def rest_id(p: ews_ids.ParsedId) -> str:
    return ews_ids.to_rest_id(ews_ids.encode(p.mailbox, p.kind, p.key, p.original_start))


def immutable_id(p: ews_ids.ParsedId) -> str:
    return _urlsafe(_immutable_raw(p))


def format_id(p: ews_ids.ParsedId, fmt: str) -> str:
    if fmt == "ewsId":
        return ews_ids.encode(p.mailbox, p.kind, p.key, p.original_start)
    if fmt == "restId":
        return rest_id(p)
    if fmt == "restImmutableEntryId":
        return immutable_id(p)
    if fmt == "entryId":
        return _binary_text(base64.b64decode(ews_ids.format_id(p, "EntryId")))
    if fmt == "immutableEntryId":
        return _binary_text(_immutable_raw(p))
    raise ews_ids.BadId(fmt)


def parse_format(text: str, fmt: str) -> ews_ids.ParsedId:
    if fmt == "ewsId":
        return ews_ids.decode(text)
    if fmt == "restId":
        return ews_ids.decode(ews_ids.from_rest_id(text))
    if fmt == "restImmutableEntryId":
        return _from_immutable_raw(_unurlsafe(text))
    if fmt == "entryId":
        return ews_ids.parse_format(base64.b64encode(_binary_raw(text)).decode("ascii"), "EntryId")
    if fmt == "immutableEntryId":
        return _from_immutable_raw(_binary_raw(text))
    raise ews_ids.BadId(fmt)


def check_format(fmt) -> str:
    if fmt not in FORMATS:
        raise GraphError(
            400, "RequestBodyRead", f"Requested value '{fmt}' was not found. (exchangeIdFormat: {', '.join(FORMATS)})"
        )
    return fmt
