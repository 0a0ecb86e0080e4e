"""Salesforce API names checked before they reach a URL or a query.

A custom object's API name is letters, digits and single underscores, starting with a letter and ending in
``__c``, optionally behind a namespace prefix (``ns__Site_Visit__c``); at most 40 characters before the
suffix. Anything else (``session_id``, ``../limits``) is refused before any call, so it can neither name an
attribute of the client nor another REST path.
"""

from __future__ import annotations

import re

_PART = r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)"
CUSTOM_OBJECT = re.compile(rf"^(?:{_PART}__)?{_PART}__c$")
# Any sObject name: the same shape, standard objects without a suffix (Event, Account, ...).
SOBJECT = re.compile(rf"^(?:{_PART}__)?{_PART}(?:__[a-z]+)?$")
MAX_LENGTH = 40 + 15 + 5  # name + namespace prefix + separators and suffix


def is_custom_object(name: str) -> bool:
    return len(name) <= MAX_LENGTH and bool(CUSTOM_OBJECT.match(name))


def is_sobject(name: str) -> bool:
    return len(name) <= MAX_LENGTH and bool(SOBJECT.match(name))
