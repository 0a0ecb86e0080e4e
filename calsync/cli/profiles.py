"""``calsync profiles``: policy profiles (named sets of per-kind policies) and the rules that assign them
(docs/policies.md#profiles). ``calsync mailboxes set-profile`` assigns one to a mailbox explicitly."""

from __future__ import annotations

import getpass
import json

import click

from calsync.cli.common import CONTEXT
from calsync.cli.mailboxes import db_session

# The engine is imported inside the commands (see calsync/cli/sessions.py).


def cli_actor() -> str:
    """Who made a change from the command line, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.group(context_settings=CONTEXT)
def profiles() -> None:
    """Policy profiles and the rules on the rep's Salesforce user that assign them."""


@profiles.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def profiles_list(as_json: bool) -> None:
    """List profiles, their own policies, the rules, and each mailbox's effective profile and why."""
    from sync import profiles as store
    from sync.mailboxes import all_mailboxes

    with db_session() as db:
        rows = [{"id": p.id, "name": p.name, "default": p.is_default, "description": p.description,
                 "kinds": sorted(p.policies or {}) if not p.is_default else ["(the org's policies)"]}
                for p in store.all_profiles(db)]  # fmt: skip
        names = {r["id"]: r["name"] for r in rows}
        rules = [{"position": r.position, "attribute": r.attribute, "value": r.value, "profile": names[r.profile_id]}
                 for r in store.rules(db)]  # fmt: skip
        mailboxes = [{"email": m.email, **_effective(store.effective(db, m))} for m in all_mailboxes(db)]
        db.commit()  # the default profile's row, if this database predates it
    if as_json:
        click.echo(json.dumps({"profiles": rows, "rules": rules, "mailboxes": mailboxes}))
        return
    for row in rows:
        click.echo(f"{row['name']:24} {'default  ' if row['default'] else ''}{', '.join(row['kinds']) or '-'}")
    for rule in rules:
        click.echo(f"  rule {rule['position']}: {rule['attribute']} = {rule['value']!r} → {rule['profile']}")
    for m in mailboxes:
        click.echo(f"  {m['email']:40} {m['profile']:24} {m['reason']}")


def _effective(eff) -> dict:
    return {"profile": eff.name, "source": eff.source, "reason": eff.reason}


@profiles.command("create", context_settings=CONTEXT)
@click.argument("name")
@click.option("--description", default="", help="What the profile is for.")
@click.option("--copy-from", "copy_from", help="Start with another profile's own policies.")
def profiles_create(name: str, description: str, copy_from: str | None) -> None:
    """Create profile NAME (its kinds follow the default profile until set with `calsync profiles set`)."""
    from admin_panel import audit
    from sync import profiles as store

    with db_session() as db:
        try:
            source = store.find(db, copy_from) if copy_from else None
            if copy_from and source is None:
                raise store.ProfileError(f"no profile {copy_from!r}")
            row = store.create(db, name, description, copy_from=source)
        except store.ProfileError as exc:
            raise click.ClickException(str(exc)) from None
        audit.record(db, actor=cli_actor(), action="profile.create", target=f"profile:{row.name}",
                     after={"policies": row.policies})  # fmt: skip
        db.commit()
        click.echo(f"profile {row.name} created")


@profiles.command("set", context_settings=CONTEXT)
@click.argument("name")
@click.argument("kind")
@click.argument("settings", nargs=-1, required=True)
def profiles_set(name: str, kind: str, settings: tuple[str, ...]) -> None:
    """Set KIND's policy in profile NAME: SETTINGS are key=value pairs (direction=off,
    salesforce_deletion=delete, scope.past_days=7, ...). Unnamed settings keep their current values."""
    from admin_panel import audit
    from sync import profiles as store
    from sync.policies import PolicyError, policy_from_dict

    with db_session() as db:
        try:
            profile = store.find(db, name)
            if profile is None:
                raise store.ProfileError(f"no profile {name!r}: calsync profiles create {name}")
            store.check_kind(kind)
            current = store.policy_set(db, profile).for_kind(kind).to_dict()
            before = json.loads(json.dumps(current))
            for pair in settings:
                key, sep, value = pair.partition("=")
                if not sep:
                    raise store.ProfileError(f"{pair!r} is not key=value")
                target, _, sub = key.strip().partition(".")
                parsed = _value(value.strip())
                if sub:
                    if not isinstance(current.get(target), dict):
                        raise store.ProfileError(f"{target!r} has no settings of its own")
                    current[target] = {**current[target], sub: parsed}
                else:
                    current[target] = parsed
            policy = policy_from_dict(current)
            store.set_policy(db, profile, policy)
        except (store.ProfileError, PolicyError) as exc:
            raise click.ClickException(str(exc)) from None
        after = policy.to_dict()
        audit.record(db, actor=cli_actor(), action="profile.policy_update", target=f"profile:{profile.name}:{kind}",
                     before=before, after=after)  # fmt: skip
        db.commit()
        click.echo(f"{profile.name}: {kind} policy saved; the next session of each of its mailboxes follows it")


def _value(raw: str):
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lstrip("-").isdigit():
        return int(raw)
    return raw


@profiles.command("delete", context_settings=CONTEXT)
@click.argument("name")
def profiles_delete(name: str) -> None:
    """Remove profile NAME (no mailbox may be assigned to it; its rules go with it)."""
    from admin_panel import audit
    from sync import profiles as store

    with db_session() as db:
        profile = store.find(db, name)
        if profile is None:
            raise click.ClickException(f"no profile {name!r}")
        try:
            before = {"policies": profile.policies}
            store.delete(db, profile)
        except store.ProfileError as exc:
            raise click.ClickException(str(exc)) from None
        audit.record(db, actor=cli_actor(), action="profile.delete", target=f"profile:{name}", before=before)
        db.commit()
        click.echo(f"profile {name} removed")


@profiles.command("add-rule", context_settings=CONTEXT)
@click.argument("attribute")
@click.argument("value")
@click.argument("profile")
@click.option("--position", type=int, help="Where the rule goes (default: last). The first matching rule wins.")
def profiles_add_rule(attribute: str, value: str, profile: str, position: int | None) -> None:
    """A rule: reps whose Salesforce ATTRIBUTE (role, profile or field:<ApiName>) is VALUE get PROFILE."""
    from admin_panel import audit
    from sync import profiles as store

    with db_session() as db:
        target = store.find(db, profile)
        if target is None:
            raise click.ClickException(f"no profile {profile!r}")
        try:
            rule = store.add_rule(db, attribute, value, target, position)
        except store.ProfileError as exc:
            raise click.ClickException(str(exc)) from None
        audit.record(db, actor=cli_actor(), action="profile.rule_add", target=f"rule:{rule.id}",
                     after={"attribute": rule.attribute, "value": rule.value, "profile": target.name,
                            "position": rule.position})  # fmt: skip
        db.commit()
        click.echo(f"rule {rule.position}: {rule.attribute} = {rule.value!r} → {target.name}")
