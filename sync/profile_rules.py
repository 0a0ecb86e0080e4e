"""Rules that give a mailbox a policy profile from its rep's Salesforce user (docs/policies.md#profiles).

A rule names one attribute of the User and a value: ``role`` (the name of the user's role, ``UserRole.Name``),
``profile`` (``Profile.Name``) or ``field:<ApiName>`` (a field of User, e.g. ``field:Department``). It matches
when the user's value equals the rule's, ignoring case and surrounding blanks. Rules are tried in order and
the first match wins (`first_match`).

The user's values (the *facts*) are read with one SOQL query (`read_facts`) at most once a day per mailbox, at
"sync now", and whenever a rule names a field the stored facts lack (`facts_due`): a role change in Salesforce
moves the rep at the next daily read, not at every session.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sync.connectors.base import SalesforceOrg

ROLE = "role"
PROFILE = "profile"
FIELD_PREFIX = "field:"
FACTS_MAX_AGE = dt.timedelta(hours=24)

_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_USER_ID = re.compile(r"^005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")


class RuleError(ValueError):
    """A rule that cannot be used; the message is meant for the admin."""


@dataclass(frozen=True)
class Rule:
    """One rule as the resolution sees it (``sync.models.ProfileRule`` is the row)."""

    id: int
    position: int
    attribute: str
    value: str
    profile_id: int

    def describe(self) -> str:
        label = {ROLE: "role", PROFILE: "Salesforce profile"}.get(self.attribute, self.attribute)
        return f"rule {self.position}: {label} is {self.value!r}"


def check_attribute(attribute: str) -> str:
    """The attribute, normalised (``role``, ``profile``, ``field:<ApiName>``), or `RuleError`."""
    attribute = (attribute or "").strip()
    if attribute.lower() in (ROLE, PROFILE):
        return attribute.lower()
    if attribute.lower().startswith(FIELD_PREFIX):
        name = attribute[len(FIELD_PREFIX) :].strip()
        if _API_NAME.match(name):
            return FIELD_PREFIX + name
        raise RuleError(f"{name!r} is not a Salesforce field API name (e.g. Department, Region__c).")
    raise RuleError(f"A rule matches 'role', 'profile' or 'field:<ApiName>', not {attribute!r}.")


def check_value(value: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 255:
        raise RuleError("A rule's value must be 1 to 255 characters.")
    return value


def fields_named(rules: Iterable[Rule]) -> list[str]:
    """User fields the rules read (besides role and profile), sorted."""
    return sorted({r.attribute[len(FIELD_PREFIX) :] for r in rules if r.attribute.startswith(FIELD_PREFIX)})


def facts_due(
    facts: dict[str, Any] | None, read_at: dt.datetime | None, rules: Sequence[Rule], now: dt.datetime
) -> bool:
    """Whether the user's values must be read again: never read, a day old, or missing a field a rule names."""
    if not rules:
        return False
    if facts is None or read_at is None or now - read_at >= FACTS_MAX_AGE:
        return True
    return bool(set(fields_named(rules)) - set(facts.get("fields", {})))


def read_facts(salesforce: SalesforceOrg, user_id: str, fields: Sequence[str]) -> dict[str, Any]:
    """The user's role name, profile name and ``fields``, in one query (one API request).

    The id and the field names are checked against Salesforce's formats before they reach SOQL; a field the
    org does not have fails the query (``INVALID_FIELD``), which the caller turns into a health entry."""
    if not _USER_ID.match(user_id or ""):
        raise RuleError(f"{user_id!r} is not a Salesforce User id")
    for name in fields:
        if not _API_NAME.match(name):
            raise RuleError(f"{name!r} is not a Salesforce field API name")
    selected = ["Id", "UserRole.Name", "Profile.Name", *[f for f in fields if f not in ("Id",)]]
    rows = salesforce.query(f"SELECT {', '.join(selected)} FROM User WHERE Id = '{user_id}'")
    if not rows:
        raise RuleError(f"no Salesforce User {user_id}")
    row = rows[0]
    return {
        ROLE: _name(row.get("UserRole")),
        PROFILE: _name(row.get("Profile")),
        "fields": {f: _text(row.get(f)) for f in fields},
    }


def _name(related: Any) -> str | None:
    return _text(related.get("Name")) if isinstance(related, dict) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def value_of(facts: dict[str, Any], attribute: str) -> str | None:
    if attribute in (ROLE, PROFILE):
        return facts.get(attribute)
    return (facts.get("fields") or {}).get(attribute[len(FIELD_PREFIX) :])


def matches(rule: Rule, facts: dict[str, Any] | None) -> bool:
    if not facts:
        return False
    have = value_of(facts, rule.attribute)
    return have is not None and have.strip().casefold() == rule.value.strip().casefold()


def first_match(rules: Sequence[Rule], facts: dict[str, Any] | None) -> Rule | None:
    """The first rule (by position, then id) the user's values match."""
    for rule in sorted(rules, key=lambda r: (r.position, r.id)):
        if matches(rule, facts):
            return rule
    return None
