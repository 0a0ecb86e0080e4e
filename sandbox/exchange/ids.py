"""Opaque EWS ids and the alternate id formats of ConvertId.

An EWS id is base64 of: a 4-byte header, the mailbox GUID, a kind byte, the object's GUID and, for an
occurrence of a recurring series, the occurrence's original start (Unix seconds, 8 bytes). Clients must treat
them as opaque, exactly like real Exchange ids (``AAMkA...``).

The other formats wrap the same 16-byte mailbox and object GUIDs in a MAPI-style entry id:
EntryId = base64(entry id), HexEntryId = its hex, StoreId/OwaId = base64 of the entry id behind their own
prefixes, EwsLegacyId = base64 of the EWS id bytes behind a legacy marker. The REST id that Office.js
``convertToRestId`` makes is the EWS id with ``/`` -> ``-`` and ``+`` -> ``_``; every id the sandbox receives
may also be given in that form.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
from dataclasses import dataclass

_HEADER = b"\x00\x03\x24\x00"
_LEGACY = b"\x00\x01\x2e\x00"
ITEM, FOLDER, OCCURRENCE = 1, 2, 3
_ENTRY_FLAGS = b"\x00\x00\x00\x00"
_ENTRY_TYPE = {ITEM: b"\x07\x00", FOLDER: b"\x01\x00"}
_STORE_PREFIX = b"\x46\x00\x00\x00\x01"
_OWA_PREFIX = b"\x46\x00\x00\x00"


class BadId(ValueError):
    """The id is not one this sandbox issued (EWS answers ErrorInvalidIdMalformed)."""


@dataclass(frozen=True)
class ParsedId:
    mailbox: uuid.UUID
    kind: int
    key: uuid.UUID
    original_start: int | None = None  # Unix seconds, for occurrences

    def base(self) -> str:
        """The EWS id of the object itself (for an occurrence: of its recurring master)."""
        kind = ITEM if self.kind == OCCURRENCE else self.kind
        return encode(self.mailbox, kind, self.key)


def new_guid() -> uuid.UUID:
    return uuid.uuid4()


def encode(mailbox: uuid.UUID, kind: int, key: uuid.UUID, original_start: int | None = None) -> str:
    raw = _HEADER + mailbox.bytes + bytes([kind]) + key.bytes
    if kind == OCCURRENCE:
        raw += struct.pack(">q", original_start or 0)
    return base64.b64encode(raw).decode("ascii")


def _b64(text: str) -> bytes:
    text = text.strip().replace("-", "/").replace("_", "+")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadId(str(e)) from None


def _from_raw(raw: bytes) -> ParsedId:
    if not raw.startswith(_HEADER) or len(raw) not in (37, 45):
        raise BadId("not an id of this server")
    kind = raw[20]
    if kind not in (ITEM, FOLDER, OCCURRENCE) or (kind == OCCURRENCE) != (len(raw) == 45):
        raise BadId("bad id kind")
    start = struct.unpack(">q", raw[37:45])[0] if kind == OCCURRENCE else None
    return ParsedId(uuid.UUID(bytes=raw[4:20]), kind, uuid.UUID(bytes=raw[21:37]), start)


def decode(text: str) -> ParsedId:
    """Parse an EWS id (or its REST form)."""
    return _from_raw(_b64(text))


def to_rest_id(ews_id: str) -> str:
    return ews_id.replace("/", "-").replace("+", "_")


def from_rest_id(rest_id: str) -> str:
    return rest_id.replace("-", "/").replace("_", "+")


def _entry_id(p: ParsedId) -> bytes:
    if p.kind == OCCURRENCE:
        # An occurrence is no store object; its entry id here is its master's plus the original start, so that
        # ConvertId round-trips every id the sandbox hands out (Exchange's own occurrence conversion is not
        # documented).
        return _ENTRY_FLAGS + p.mailbox.bytes + _ENTRY_TYPE[ITEM] + p.key.bytes + struct.pack(">q", p.original_start)
    return _ENTRY_FLAGS + p.mailbox.bytes + _ENTRY_TYPE[p.kind] + p.key.bytes


def _from_entry(raw: bytes) -> ParsedId:
    if len(raw) not in (38, 46) or not raw.startswith(_ENTRY_FLAGS):
        raise BadId("not an entry id of this server")
    kinds = {v: k for k, v in _ENTRY_TYPE.items()}
    if raw[20:22] not in kinds or (len(raw) == 46 and kinds[raw[20:22]] != ITEM):
        raise BadId("bad entry id type")
    if len(raw) == 46:
        start = struct.unpack(">q", raw[38:46])[0]
        return ParsedId(uuid.UUID(bytes=raw[4:20]), OCCURRENCE, uuid.UUID(bytes=raw[22:38]), start)
    return ParsedId(uuid.UUID(bytes=raw[4:20]), kinds[raw[20:22]], uuid.UUID(bytes=raw[22:38]))


FORMATS = ("EwsId", "EwsLegacyId", "EntryId", "HexEntryId", "StoreId", "OwaId")


def parse_format(text: str, fmt: str) -> ParsedId:
    if fmt == "EwsId":
        return decode(text)
    if fmt == "EwsLegacyId":
        raw = _b64(text)
        if not raw.startswith(_LEGACY):
            raise BadId("not a legacy id")
        return _from_raw(raw[len(_LEGACY) :])
    if fmt == "EntryId":
        return _from_entry(_b64(text))
    if fmt == "HexEntryId":
        try:
            return _from_entry(bytes.fromhex(text))
        except ValueError:
            raise BadId("bad hex") from None
    if fmt in ("StoreId", "OwaId"):
        prefix = _STORE_PREFIX if fmt == "StoreId" else _OWA_PREFIX
        raw = _b64(text)
        if not raw.startswith(prefix):
            raise BadId(f"not a {fmt}")
        return _from_entry(raw[len(prefix) :])
    raise BadId(f"unknown format {fmt}")


def format_id(p: ParsedId, fmt: str) -> str:
    if fmt == "EwsId":
        return encode(p.mailbox, p.kind, p.key, p.original_start)
    if fmt == "EwsLegacyId":
        raw = base64.b64decode(encode(p.mailbox, p.kind, p.key, p.original_start))
        return base64.b64encode(_LEGACY + raw).decode("ascii")
    entry = _entry_id(p)
    if fmt == "EntryId":
        return base64.b64encode(entry).decode("ascii")
    if fmt == "HexEntryId":
        return entry.hex().upper()
    if fmt == "StoreId":
        return base64.b64encode(_STORE_PREFIX + entry).decode("ascii")
    if fmt == "OwaId":
        return base64.b64encode(_OWA_PREFIX + entry).decode("ascii")
    raise BadId(f"unknown format {fmt}")
