"""Policy profiles: named sets of per-kind policies, and which one each mailbox follows (docs/policies.md#profiles).

- The **default profile** is the org's policy table (``sync.policy_store``, the panel's Policies page): every
  mailbox follows it unless another profile applies. Migration ``0009`` named it "Default", so nothing
  changed for existing mailboxes.
- Another profile sets the policies of the kinds it names; kinds it does not name follow the default profile
  (custom-object mappings, for one, live there). The org settings (guard, default scope) are the org's.
- A mailbox's **effective profile** (`effective`): the one assigned explicitly (panel, ``calsync mailboxes
  set-profile``); else the first rule (`sync.profile_rules`) its rep's Salesforce user matches; else the
  default. ``Effective.reason`` says which, for the panel.
- A session takes its policies from `session_policies`, which reads the rep's user again when it is due (a
  day, or "sync now": `mark_stale`). A changed profile is a policy change for that mailbox only: the planner
  sees the new policies and does what an org-wide change would (a kind switched ``off`` removes only what sync
  created, and so on).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sync import health, policy_store, profile_rules
from sync.connectors.base import SalesforceOrg
from sync.connectors.errors import ConnectorError
from sync.entry import is_valid_kind
from sync.models import Mailbox, MailboxProfile, PolicyProfile, ProfileRule, utcnow
from sync.policies import Policy, PolicySet, policy_from_dict

log = logging.getLogger("calsync.profiles")

DEFAULT_NAME = "Default"
# Health code of a mailbox whose rep's Salesforce user could not be read for the rules (the last values stay).
PROFILE_RULES_UNREADABLE = "profile_rules_unreadable"
_NAME = re.compile(r"^[^\W\d_][\w .&/+-]{0,79}$")  # a letter first: names never look like ids


class ProfileError(ValueError):
    """Bad input for a profile, a rule or an assignment; the message is meant for people."""


@dataclass(frozen=True)
class Effective:
    """The profile a mailbox follows and why (``source``: ``explicit``, ``rule`` or ``default``)."""

    profile_id: int
    name: str
    source: str
    reason: str


# -- profiles ---------------------------------------------------------------------------------------------
def default_profile(db: Session) -> PolicyProfile:
    row = db.scalars(select(PolicyProfile).where(PolicyProfile.is_default.is_(True))).first()
    if row is None:  # a database from before 0009's data step cannot happen, but never fail a session for it
        row = PolicyProfile(name=DEFAULT_NAME, description="", is_default=True, policies={})
        db.add(row)
        db.flush()
    return row


def all_profiles(db: Session) -> list[PolicyProfile]:
    default_profile(db)
    return list(db.scalars(select(PolicyProfile).order_by(PolicyProfile.is_default.desc(), PolicyProfile.name)))


def find(db: Session, name_or_id: str | int) -> PolicyProfile | None:
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        row = db.get(PolicyProfile, int(name_or_id))
        if row is not None:
            return row
    name = str(name_or_id).strip()
    return db.scalars(select(PolicyProfile).where(func.lower(PolicyProfile.name) == name.lower())).first()


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise ProfileError("A profile name is 1 to 80 letters, digits, spaces or . & / + - (starting with a letter).")
    return name


def create(db: Session, name: str, description: str = "", *, copy_from: PolicyProfile | None = None) -> PolicyProfile:
    """A new profile; it starts with no policies of its own (every kind follows the default) or a copy of
    ``copy_from``'s. The caller commits."""
    name = check_name(name)
    if find(db, name) is not None:
        raise ProfileError(f"A profile named {name!r} exists already.")
    policies = dict(copy_from.policies) if copy_from is not None and not copy_from.is_default else {}
    row = PolicyProfile(name=name, description=(description or "").strip()[:2000], is_default=False,
                        policies=policies)  # fmt: skip
    db.add(row)
    db.flush()
    return row


def policy_set(db: Session, profile: PolicyProfile | None, *, base: PolicySet | None = None) -> PolicySet:
    """The policies of ``profile`` (None or the default: the org's policy table)."""
    base = base if base is not None else policy_store.load(db)
    if profile is None or profile.is_default or not profile.policies:
        return base
    own = {kind: policy_from_dict({**settings, "kind": kind}) for kind, settings in profile.policies.items()}
    return dataclasses.replace(base, policies={**base.policies, **own}).validated()


def with_policy(profile: PolicyProfile, policy: Policy) -> dict[str, Any]:
    """``profile.policies`` with ``policy`` set (validated); the caller stores it (`set_policy`)."""
    policy = policy.validated()
    data = policy.to_dict()
    data.pop("kind", None)
    return {**(profile.policies or {}), policy.kind: data}


def set_policy(db: Session, profile: PolicyProfile, policy: Policy) -> None:
    """Store one kind's policy in ``profile`` (the default profile: the org's policy table). The caller commits."""
    if profile.is_default:
        policy_store.save(db, policy)
    else:
        profile.policies = with_policy(profile, policy)


def clear_policy(profile: PolicyProfile, kind: str) -> bool:
    """The kind follows the default profile again. The caller commits."""
    if profile.is_default or kind not in (profile.policies or {}):
        return False
    profile.policies = {k: v for k, v in profile.policies.items() if k != kind}
    return True


def delete(db: Session, profile: PolicyProfile) -> None:
    """Remove a profile nobody is assigned to (its rules go with it). The caller commits."""
    if profile.is_default:
        raise ProfileError("The default profile cannot be removed.")
    users = db.scalar(select(func.count()).select_from(MailboxProfile).where(MailboxProfile.profile_id == profile.id))
    if users:
        raise ProfileError(f"{users} mailbox(es) are assigned to {profile.name!r}: assign them another profile first.")
    # Its rules go with it (the foreign key cascades too; this does not rely on SQLite enforcing it).
    db.execute(sa_delete(ProfileRule).where(ProfileRule.profile_id == profile.id))
    db.delete(profile)


# -- rules ------------------------------------------------------------------------------------------------
def rules(db: Session) -> list[profile_rules.Rule]:
    rows = db.scalars(select(ProfileRule).order_by(ProfileRule.position, ProfileRule.id))
    return [profile_rules.Rule(r.id, r.position, r.attribute, r.value, r.profile_id) for r in rows]


def add_rule(
    db: Session, attribute: str, value: str, profile: PolicyProfile, position: int | None = None
) -> ProfileRule:
    """A rule at ``position`` (default: last). The caller commits."""
    try:
        attribute, value = profile_rules.check_attribute(attribute), profile_rules.check_value(value)
    except profile_rules.RuleError as exc:
        raise ProfileError(str(exc)) from None
    if position is None:
        position = (db.scalar(select(func.max(ProfileRule.position))) or 0) + 1
    row = ProfileRule(position=position, attribute=attribute, value=value, profile_id=profile.id)
    db.add(row)
    db.flush()
    return row


# -- mailboxes --------------------------------------------------------------------------------------------
def _state(db: Session, mailbox: Mailbox, create: bool = False) -> MailboxProfile | None:
    row = db.get(MailboxProfile, mailbox.id)
    if row is None and create:
        row = MailboxProfile(mailbox_id=mailbox.id)
        db.add(row)
    return row


def assign(db: Session, mailbox: Mailbox, profile: PolicyProfile | None, *, actor: str) -> dict[str, Any]:
    """Assign ``profile`` explicitly (None: back to the rules and the default). Returns the before/after of the
    effective profile for the audit log. The caller commits."""
    before = effective(db, mailbox)
    row = _state(db, mailbox, create=True)
    assert row is not None
    row.profile_id = profile.id if profile is not None else None
    row.assigned_by, row.assigned_at = (actor, utcnow()) if profile is not None else (None, None)
    db.flush()
    after = effective(db, mailbox)
    return {"before": dataclasses.asdict(before), "after": dataclasses.asdict(after)}


def mark_stale(db: Session, mailbox: Mailbox) -> None:
    """ "Sync now": the next session reads the rep's Salesforce user again. The caller commits."""
    row = _state(db, mailbox)
    if row is not None:
        row.facts_read_at = None


def effective(db: Session, mailbox: Mailbox, *, rule_list: list[profile_rules.Rule] | None = None) -> Effective:
    row = _state(db, mailbox)
    if row is not None and row.profile_id is not None:
        profile = db.get(PolicyProfile, row.profile_id)
        if profile is not None:
            by = f" by {row.assigned_by}" if row.assigned_by else ""
            return Effective(profile.id, profile.name, "explicit", f"assigned explicitly{by}")
    rule_list = rules(db) if rule_list is None else rule_list
    facts = row.user_facts if row is not None else None
    rule = profile_rules.first_match(rule_list, facts)
    if rule is not None:
        profile = db.get(PolicyProfile, rule.profile_id)
        if profile is not None:
            return Effective(profile.id, profile.name, "rule", rule.describe())
    default = default_profile(db)
    if rule_list and facts is None:
        why = "org default (the rep's Salesforce user has not been read for the rules yet)"
    else:
        why = "org default (no rule matched)" if rule_list else "org default"
    return Effective(default.id, default.name, "default", why)


def refresh_facts(
    db: Session, mailbox: Mailbox, salesforce: SalesforceOrg, now: dt.datetime, *, force: bool = False,
    persist: bool = True,
) -> dict[str, Any] | None:  # fmt: skip
    """Read the rep's role, profile and rule fields if due (or ``force``); returns the facts to use.

    ``persist=False`` (a preview) reads without storing. A failed read keeps the last values and raises a
    health entry; with no values yet it raises, so that no session runs under a profile that may be wrong."""
    rule_list = rules(db)
    row = _state(db, mailbox)
    facts = row.user_facts if row is not None else None
    read_at = row.facts_read_at if row is not None else None
    if not mailbox.salesforce_user_id or not rule_list:
        return facts
    if not (force or profile_rules.facts_due(facts, read_at, rule_list, now)):
        return facts
    try:
        fresh = profile_rules.read_facts(salesforce, mailbox.salesforce_user_id, profile_rules.fields_named(rule_list))
    except (ConnectorError, profile_rules.RuleError) as exc:
        if facts is None:
            raise
        log.warning("could not read %s's Salesforce user for the profile rules: %s", mailbox.email, exc)
        if persist:
            health.record(db, mailbox_id=mailbox.id, item_ref=health.MAILBOX_REF, side="salesforce",
                          code=PROFILE_RULES_UNREADABLE, now=now,
                          message=f"The rep's Salesforce user could not be read for the profile rules ({exc}); "
                                  "the values read before still apply.")  # fmt: skip
        return facts
    if persist:
        row = _state(db, mailbox, create=True)
        assert row is not None
        row.user_facts, row.facts_read_at = fresh, now
        health.resolve(db, mailbox_id=mailbox.id, item_ref=health.MAILBOX_REF, codes={PROFILE_RULES_UNREADABLE})
    return fresh


def policies_for(db: Session, mailbox: Mailbox, *, facts: dict[str, Any] | None = None) -> tuple[PolicySet, Effective]:
    """The policies ``mailbox`` follows and its effective profile (``facts``: use these user values instead of
    the stored ones, for a preview)."""
    rule_list = rules(db)
    if facts is not None:
        rule = profile_rules.first_match(rule_list, facts)
        row = _state(db, mailbox)
        if not (row is not None and row.profile_id is not None) and rule is not None:
            profile = db.get(PolicyProfile, rule.profile_id)
            if profile is not None:
                return policy_set(db, profile), Effective(profile.id, profile.name, "rule", rule.describe())
    eff = effective(db, mailbox, rule_list=rule_list)
    return policy_set(db, db.get(PolicyProfile, eff.profile_id)), eff


def session_policies(db: Session, mailbox: Mailbox, salesforce: SalesforceOrg, now: dt.datetime) -> PolicySet:
    """What a session runs on: the rep's user read again when due, then the effective profile's policies."""
    refresh_facts(db, mailbox, salesforce, now)
    db.commit()
    return policies_for(db, mailbox)[0]


def mailboxes_of(db: Session, profile: PolicyProfile) -> list[Mailbox]:
    """The mailboxes whose effective profile is ``profile`` (what a change of it affects)."""
    rule_list = rules(db)
    return [m for m in db.scalars(select(Mailbox).order_by(Mailbox.email)) if
            effective(db, m, rule_list=rule_list).profile_id == profile.id]  # fmt: skip


def check_kind(kind: str) -> str:
    if not is_valid_kind(kind):
        raise ProfileError(f"{kind!r} is not an object kind (event, task or custom:<ObjectApiName>).")
    return kind


__all__ = [
    "DEFAULT_NAME", "PROFILE_RULES_UNREADABLE", "Effective", "ProfileError", "add_rule", "all_profiles",
    "assign", "check_kind", "clear_policy", "create", "default_profile", "delete", "effective", "find",
    "mailboxes_of", "mark_stale", "policies_for", "policy_set", "refresh_facts", "rules", "session_policies",
    "set_policy", "with_policy",
]  # fmt: skip
