"""Salesforce record ids: 15-character case-sensitive ids plus the 3-character case-safe suffix.

The first three characters are the object's key prefix (``00U`` Event, ``003`` Contact, ...). The suffix
encodes, for each block of five characters, which ones are upper-case letters; see
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/field_types.htm#i1435616
"""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SHAPE = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")
# Pod and reserved characters of ids made by this sandbox; seeded ids from sandbox.seed use zeros instead.
_INSTANCE = "5g00"


def case_safe_suffix(id15: str) -> str:
    suffix = ""
    for block in range(3):
        flags = 0
        for position, char in enumerate(id15[block * 5 : block * 5 + 5]):
            if "A" <= char <= "Z":
                flags |= 1 << position
        suffix += _SUFFIX_ALPHABET[flags]
    return suffix


def to18(id15: str) -> str:
    return id15 + case_safe_suffix(id15) if len(id15) == 15 else id15


def is_well_formed(value: object) -> bool:
    return isinstance(value, str) and bool(_ID_SHAPE.match(value))


def canonical(record_id: str) -> str:
    """The lookup key of an id given with 15 or 18 characters: its 18-character form.

    Lookups compare whole 18-character ids, not their first 15 characters: the shared seed ids of
    ``sandbox.seed`` (``00Q000000000000001``, ``...002``) differ only in their last three characters.
    """
    return to18(record_id) if len(record_id) == 15 else record_id


def make_id(key_prefix: str, counter: int) -> str:
    """A new 18-character id: prefix, instance characters, the base-62 counter, case-safe suffix."""
    digits = ""
    n = counter
    while n:
        n, rest = divmod(n, 62)
        digits = _BASE62[rest] + digits
    body = digits.rjust(15 - len(key_prefix) - len(_INSTANCE), "0")
    id15 = f"{key_prefix}{_INSTANCE}{body}"
    if len(id15) != 15:
        raise ValueError(f"id counter {counter} overflows 15 characters")
    return to18(id15)
