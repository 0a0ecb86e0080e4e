"""Policy profiles in the panel (docs/policies.md#profiles) and the Preview of a policy or profile change.

Pages: the profiles, their rules and every mailbox's effective profile and why (``/profiles``); one profile's
policies per kind (``/profiles/<id>``, edited with the Policies page's form); a mailbox's explicit profile
(on its page). Admins change, viewers look (`admin_panel.security`); every change is audited with before and
after. Preview: a policy form's *Preview* button, or the assignment form's, leads to ``/previews/new`` (the
affected mailboxes, the Salesforce read cost, all or a sample), which starts RQ jobs (`sync.preview_jobs`);
``/previews/<run>`` shows their progress and results, and can save the change it previewed.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from redis.exceptions import RedisError
from sqlalchemy import select

from admin_panel import audit, help
from admin_panel.blueprint import bp
from admin_panel.policy_views import EVENT_ONLY, _choices, _values, policy_from_form
from admin_panel.views import actor, redis
from backend.globals import db_session, settings
from sync import policy_store, preview_jobs, profile_rules, profiles
from sync.entry import EVENT, TASK, is_custom_kind
from sync.job_queue import session_queue
from sync.models import Mailbox, PolicyProfile, ProfileRule
from sync.policies import CompletedTasks, Policy, PolicyError, policy_from_dict

ATTRIBUTES = (("role", "Role (UserRole.Name)"), ("profile", "Salesforce profile (Profile.Name)"),
              ("field:Department", "User field (field:<ApiName>)"))  # fmt: skip
SAMPLE_DEFAULT = 10


@bp.app_template_global("all_profiles")
def all_profiles() -> list[PolicyProfile]:
    return profiles.all_profiles(db_session())


@bp.app_template_global("mailbox_profile")
def mailbox_profile(mailbox: Mailbox) -> profiles.Effective:
    """The effective profile of a mailbox and why, for the mailbox pages (the rules read once per request)."""
    if "profile_rules" not in g:
        g.profile_rules = profiles.rules(db_session())
    return profiles.effective(db_session(), mailbox, rule_list=g.profile_rules)


def _profile_or_404(profile_id: int) -> PolicyProfile:
    row = db_session().get(PolicyProfile, profile_id)
    if row is None:
        abort(404, description=f"No profile {profile_id}.")
    return row


def _kinds(db) -> list[str]:
    base = policy_store.load(db)
    return sorted({EVENT, TASK, *base.policies}, key=lambda k: (is_custom_kind(k), k != EVENT, k))


def _overview(errors: list[str] | None = None, form: dict[str, Any] | None = None, status: int = 200):
    db = db_session()
    rows = profiles.all_profiles(db)
    rule_list = profiles.rules(db)
    boxes = list(db.scalars(select(Mailbox).order_by(Mailbox.email)))
    effective = {m.id: profiles.effective(db, m, rule_list=rule_list) for m in boxes}
    users = {p.id: sum(1 for e in effective.values() if e.profile_id == p.id) for p in rows}
    db.commit()  # the default profile's row, on a database that predates it
    body = render_template(
        "admin/profiles.html", profiles=rows, rules=rule_list, names={p.id: p.name for p in rows}, users=users,
        mailboxes=boxes, effective=effective, attributes=ATTRIBUTES, errors=errors or [], form=form or {},
    )  # fmt: skip
    return body, status


@bp.get("/profiles")
def profile_list():
    return _overview()


@bp.post("/profiles")
def profile_create():
    db = db_session()
    form = {k: request.form.get(k, "").strip() for k in ("name", "description", "copy_from")}
    try:
        source = profiles.find(db, form["copy_from"]) if form["copy_from"] else None
        row = profiles.create(db, form["name"], form["description"], copy_from=source)
    except profiles.ProfileError as exc:
        db.rollback()
        return _overview([str(exc)], form, 400)
    audit.record(db, actor=actor(), action="profile.create", target=f"profile:{row.name}",
                 after={"policies": row.policies, "description": row.description})  # fmt: skip
    db.commit()
    flash(f"Profile {row.name} created: its kinds follow the default until you set them.")
    return redirect(url_for("admin.profile_detail", profile_id=row.id), 303)


@bp.get("/profiles/<int:profile_id>")
def profile_detail(profile_id: int):
    db = db_session()
    profile = _profile_or_404(profile_id)
    policies = profiles.policy_set(db, profile)
    rows = [{"kind": k, "policy": policies.for_kind(k), "own": profile.is_default or k in (profile.policies or {})}
            for k in _kinds(db)]  # fmt: skip
    return render_template("admin/profile.html", profile=profile, rows=rows,
                           mailboxes=profiles.mailboxes_of(db, profile))  # fmt: skip


@bp.post("/profiles/<int:profile_id>/delete")
def profile_delete(profile_id: int):
    db = db_session()
    profile = _profile_or_404(profile_id)
    name, before = profile.name, {"policies": profile.policies, "description": profile.description}
    try:
        profiles.delete(db, profile)
    except profiles.ProfileError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.profile_detail", profile_id=profile_id), 303)
    audit.record(db, actor=actor(), action="profile.delete", target=f"profile:{name}", before=before)
    db.commit()
    flash(f"Profile {name} removed.")
    return redirect(url_for("admin.profile_list"), 303)


def _render_policy(profile: PolicyProfile, kind: str, policy: Policy, errors: list[str], values=None, status=200):
    body = render_template(
        "admin/policy.html", kind=kind, policy=policy, values=values or _values(policy), errors=errors,
        choices=_choices(kind), fields=help.POLICY_FIELDS, task_help=help.TASK_FIELDS, colors=help.COLORS,
        event_only=EVENT_ONLY, completed=[c.value for c in CompletedTasks], profile=profile,
        preview_url=url_for("admin.profile_policy_preview", profile_id=profile.id, kind=kind),
    )  # fmt: skip
    return body, status


def _kind_of(profile: PolicyProfile, kind: str) -> str:
    try:
        profiles.check_kind(kind)
    except profiles.ProfileError as exc:
        abort(404, description=str(exc))
    if kind not in _kinds(db_session()):
        abort(404, description=f"No policy for {kind} in the org: map the custom object on the Policies page first.")
    return kind


@bp.get("/profiles/<int:profile_id>/policies/<kind>")
def profile_policy_edit(profile_id: int, kind: str):
    profile = _profile_or_404(profile_id)
    if profile.is_default:
        return redirect(url_for("admin.policy_edit", kind=kind), 303)
    _kind_of(profile, kind)
    return _render_policy(profile, kind, profiles.policy_set(db_session(), profile).for_kind(kind), [])


@bp.post("/profiles/<int:profile_id>/policies/<kind>")
def profile_policy_save(profile_id: int, kind: str):
    db = db_session()
    profile = _profile_or_404(profile_id)
    if profile.is_default:
        abort(404, description="The default profile's policies are the Policies page.")
    _kind_of(profile, kind)
    current = profiles.policy_set(db, profile).for_kind(kind)
    policy, errors, shown = policy_from_form(kind, request.form, current)
    if policy is None:
        return _render_policy(profile, kind, current, errors, {**_values(current), **shown}, 400)
    before = (profile.policies or {}).get(kind)
    profiles.set_policy(db, profile, policy)
    audit.record(db, actor=actor(), action="profile.policy_update", target=f"profile:{profile.name}:{kind}",
                 before=before, after=profile.policies[kind])  # fmt: skip
    db.commit()
    flash(f"{profile.name}: policy for {kind} saved; the next session of each of its mailboxes follows it.")
    return redirect(url_for("admin.profile_detail", profile_id=profile.id), 303)


@bp.post("/profiles/<int:profile_id>/policies/<kind>/clear")
def profile_policy_clear(profile_id: int, kind: str):
    db = db_session()
    profile = _profile_or_404(profile_id)
    before = (profile.policies or {}).get(kind)
    if profiles.clear_policy(profile, kind):
        audit.record(db, actor=actor(), action="profile.policy_clear", target=f"profile:{profile.name}:{kind}",
                     before=before)  # fmt: skip
        db.commit()
        flash(f"{profile.name}: {kind} follows the default profile again.")
    return redirect(url_for("admin.profile_detail", profile_id=profile.id), 303)


# -- rules ------------------------------------------------------------------------------------------------
@bp.post("/profile-rules")
def profile_rule_add():
    db = db_session()
    form = {k: request.form.get(k, "").strip() for k in ("attribute", "field", "value", "profile_id", "position")}
    attribute = form["attribute"]
    if attribute == "field":
        attribute = "field:" + form["field"]
    target = profiles.find(db, form["profile_id"]) if form["profile_id"] else None
    try:
        if target is None:
            raise profiles.ProfileError("Choose the profile the rule gives.")
        position = int(form["position"]) if form["position"] else None
        rule = profiles.add_rule(db, attribute, form["value"], target, position)
    except ValueError as exc:  # ProfileError is a ValueError, and so is a position that is not a number
        db.rollback()
        message = str(exc) if isinstance(exc, profiles.ProfileError) else "The position must be a whole number."
        return _overview([message], form, 400)
    audit.record(db, actor=actor(), action="profile.rule_add", target=f"rule:{rule.id}",
                 after={"attribute": rule.attribute, "value": rule.value, "profile": target.name,
                        "position": rule.position})  # fmt: skip
    db.commit()
    flash(f"Rule added: {rule.attribute} = {rule.value!r} → {target.name} (read at each mailbox's next daily check).")
    return redirect(url_for("admin.profile_list"), 303)


@bp.post("/profile-rules/<int:rule_id>/delete")
def profile_rule_delete(rule_id: int):
    db = db_session()
    rule = db.get(ProfileRule, rule_id)
    if rule is None:
        abort(404, description=f"No rule {rule_id}.")
    before = {"attribute": rule.attribute, "value": rule.value, "profile_id": rule.profile_id,
              "position": rule.position}  # fmt: skip
    db.delete(rule)
    audit.record(db, actor=actor(), action="profile.rule_delete", target=f"rule:{rule_id}", before=before)
    db.commit()
    flash("Rule removed.")
    return redirect(url_for("admin.profile_list"), 303)


# -- a mailbox's explicit profile -----------------------------------------------------------------------------
def _mailbox_or_404(mailbox_id: int) -> Mailbox:
    mailbox = db_session().get(Mailbox, mailbox_id)
    if mailbox is None:
        abort(404, description=f"No mailbox {mailbox_id}.")
    return mailbox


def _chosen_profile(value: str) -> PolicyProfile | None:
    if not value:
        return None
    row = profiles.find(db_session(), value)
    if row is None:
        abort(400, description=f"No profile {value!r}.")
    return row


@bp.post("/mailboxes/<int:mailbox_id>/profile")
def mailbox_set_profile(mailbox_id: int):
    db = db_session()
    mailbox = _mailbox_or_404(mailbox_id)
    target = _chosen_profile(request.form.get("profile_id", "").strip())
    change = profiles.assign(db, mailbox, target, actor=actor())
    audit.record(db, actor=actor(), action="mailbox.set_profile", target=f"mailbox:{mailbox.email}",
                 before=change["before"], after=change["after"])  # fmt: skip
    db.commit()
    flash(f"{mailbox.email}: profile {change['after']['name']} ({change['after']['reason']}); "
          "the next session applies it like any policy change.")  # fmt: skip
    return redirect(url_for("admin.mailbox_detail", mailbox_id=mailbox.id), 303)


# -- preview ------------------------------------------------------------------------------------------------
def _setup(change: preview_jobs.Change, description: str, back: str):
    db = db_session()
    affected = preview_jobs.affected(db, change)
    cost = preview_jobs.estimate(db, change, affected)
    sample = min(SAMPLE_DEFAULT, len(affected))
    return render_template("admin/preview_setup.html", change=json.dumps(change.to_json()), description=description,
                           affected=affected, cost=cost, sample=sample, back=back, errors=[])  # fmt: skip


@bp.post("/policies/<kind>/preview")
def policy_preview(kind: str):
    """The Policies page's Preview: the org default profile's policy of ``kind`` as the form has it."""
    return _policy_preview(profiles.default_profile(db_session()), kind)


@bp.post("/profiles/<int:profile_id>/policies/<kind>/preview")
def profile_policy_preview(profile_id: int, kind: str):
    return _policy_preview(_profile_or_404(profile_id), kind)


def _policy_preview(profile: PolicyProfile, kind: str):
    db = db_session()
    _kind_of(profile, kind)
    current = profiles.policy_set(db, profile).for_kind(kind)
    policy, errors, shown = policy_from_form(kind, request.form, current)
    if policy is None:
        return _render_policy(profile, kind, current, errors, {**_values(current), **shown}, 400)
    change = preview_jobs.Change("policy", profile.id, policy=policy.to_dict())
    back = (url_for("admin.policy_edit", kind=kind) if profile.is_default
            else url_for("admin.profile_policy_edit", profile_id=profile.id, kind=kind))  # fmt: skip
    return _setup(change, f"{profile.name}: the {kind} policy as edited", back)


@bp.post("/mailboxes/<int:mailbox_id>/profile/preview")
def mailbox_profile_preview(mailbox_id: int):
    mailbox = _mailbox_or_404(mailbox_id)
    target = _chosen_profile(request.form.get("profile_id", "").strip())
    change = preview_jobs.Change("assign", target.id if target else None, mailbox_ids=(mailbox.id,))
    what = target.name if target else "no explicit profile (the rules and the default)"
    return _setup(change, f"{mailbox.email} → {what}", url_for("admin.mailbox_detail", mailbox_id=mailbox.id))


@bp.post("/profile-rules/preview")
def profile_rule_preview():
    """The new-rule form's Preview: the mailboxes the rule would move (by their reps' values last read)."""
    db = db_session()
    form = {k: request.form.get(k, "").strip() for k in ("attribute", "field", "value", "profile_id", "position")}
    attribute = "field:" + form["field"] if form["attribute"] == "field" else form["attribute"]
    target = profiles.find(db, form["profile_id"]) if form["profile_id"] else None
    if form["position"] and not form["position"].lstrip("-").isdigit():
        return _overview(["The position must be a whole number."], form, 400)
    try:
        if target is None:
            raise profiles.ProfileError("Choose the profile the rule gives.")
        rule = {
            "attribute": profile_rules.check_attribute(attribute),
            "value": profile_rules.check_value(form["value"]),
            "position": int(form["position"]) if form["position"] else None,
        }
    except (profiles.ProfileError, profile_rules.RuleError) as exc:
        return _overview([str(exc)], form, 400)
    change = preview_jobs.Change("rule", target.id, rule=rule)
    return _setup(change, f"new rule: {rule['attribute']} is {rule['value']!r} → {target.name}",
                  url_for("admin.profile_list"))  # fmt: skip


def _change_from_form() -> preview_jobs.Change:
    try:
        change = preview_jobs.Change.from_json(json.loads(request.form.get("change", "")))
        if change.type not in ("policy", "assign", "rule"):
            raise ValueError(change.type)
        if change.type == "rule":
            profile_rules.check_attribute((change.rule or {}).get("attribute", ""))
            profile_rules.check_value((change.rule or {}).get("value", ""))
            if db_session().get(PolicyProfile, change.profile_id) is None:
                raise ValueError("no such profile")
        if change.type == "policy":
            policy_from_dict(change.policy or {})
            if db_session().get(PolicyProfile, change.profile_id) is None:
                raise ValueError("no such profile")
    except (ValueError, KeyError, TypeError, PolicyError) as exc:
        abort(400, description=f"The proposed change cannot be read ({exc}): start the preview again.")
    return change


@bp.post("/previews")
def preview_start():
    db = db_session()
    change = _change_from_form()
    description = request.form.get("description", "")[:300]
    affected = preview_jobs.affected(db, change)
    raw = request.form.get("sample", "").strip()
    sample = None
    if request.form.get("which") == "sample":
        if not raw.isdigit() or int(raw) < 1:
            cost = preview_jobs.estimate(db, change, affected)
            body = render_template("admin/preview_setup.html", change=json.dumps(change.to_json()),
                                   description=description, affected=affected, cost=cost, sample=SAMPLE_DEFAULT,
                                   back=_back(),
                                   errors=["The sample size must be a whole number of at least 1."])  # fmt: skip
            return body, 400
        sample = int(raw)
    chosen = preview_jobs.pick(affected, sample, seed=description)
    if not chosen:
        flash("No enabled mailbox is affected by this change: nothing to preview.", "error")
        return redirect(_back(), 303)
    try:
        queue = session_queue(settings().sync_queue, redis())
        run_id = preview_jobs.start(redis(), queue, change, chosen, actor=actor(), description=description,
                                    job_timeout=settings().job_timeout)  # fmt: skip
    except RedisError as exc:
        flash(f"Redis does not answer ({exc}): previews run as jobs and need the queue.", "error")
        return redirect(_back(), 303)
    audit.record(db, actor=actor(), action="preview.start", target=f"preview:{run_id}",
                 after={"change": change.to_json(), "mailboxes": len(chosen)})  # fmt: skip
    db.commit()
    return redirect(url_for("admin.preview_show", run_id=run_id), 303)


def _back() -> str:
    """Where the preview form came from: a page of the panel, never another site."""
    back = request.form.get("back", "")
    return back if back.startswith("/admin/") and "//" not in back else url_for("admin.profile_list")


def _run_or_404(run_id: str) -> dict[str, Any]:
    try:
        run = preview_jobs.load_run(redis(), run_id)
    except RedisError as exc:
        abort(503, description=f"Redis does not answer ({exc}).")
    if run is None:
        abort(404, description="No such preview (previews are kept a day).")
    return run


@bp.get("/previews/<run_id>")
def preview_show(run_id: str):
    run = _run_or_404(run_id)
    state = preview_jobs.status(redis(), run)
    return render_template("admin/preview.html", run=run, state=state, sides=("salesforce", "exchange"))


@bp.post("/previews/<run_id>/save")
def preview_save(run_id: str):
    """Save the change a preview showed (the same checks and audit as saving it from its own form)."""
    db = db_session()
    run = _run_or_404(run_id)
    change = preview_jobs.Change.from_json(run["change"])
    if change.type == "policy":
        profile = db.get(PolicyProfile, change.profile_id)
        if profile is None:
            abort(404, description="The profile of this preview was removed.")
        try:
            policy = policy_from_dict(change.policy or {})
        except PolicyError as exc:
            flash("; ".join(exc.messages), "error")
            return redirect(url_for("admin.preview_show", run_id=run_id), 303)
        before = profiles.policy_set(db, profile).for_kind(policy.kind).to_dict()
        profiles.set_policy(db, profile, policy)
        audit.record(db, actor=actor(), action="profile.policy_update" if not profile.is_default else "policy.update",
                     target=f"profile:{profile.name}:{policy.kind}" if not profile.is_default
                     else f"policy:{policy.kind}", before=before, after=policy.to_dict())  # fmt: skip
        flash(f"{profile.name}: policy for {policy.kind} saved.")
    elif change.type == "rule":
        target = db.get(PolicyProfile, change.profile_id)
        if target is None:
            abort(404, description="The profile of this preview was removed.")
        rule_data = change.rule or {}
        try:
            rule = profiles.add_rule(db, rule_data.get("attribute", ""), rule_data.get("value", ""), target,
                                     rule_data.get("position"))  # fmt: skip
        except profiles.ProfileError as exc:
            flash(str(exc), "error")
            return redirect(url_for("admin.preview_show", run_id=run_id), 303)
        audit.record(db, actor=actor(), action="profile.rule_add", target=f"rule:{rule.id}",
                     after={"attribute": rule.attribute, "value": rule.value, "profile": target.name,
                            "position": rule.position})  # fmt: skip
        flash(f"Rule added: {rule.attribute} = {rule.value!r} → {target.name}.")
    else:
        target = db.get(PolicyProfile, change.profile_id) if change.profile_id is not None else None
        for mailbox_id in change.mailbox_ids:
            mailbox = db.get(Mailbox, mailbox_id)
            if mailbox is None:
                continue
            done = profiles.assign(db, mailbox, target, actor=actor())
            audit.record(db, actor=actor(), action="mailbox.set_profile", target=f"mailbox:{mailbox.email}",
                         before=done["before"], after=done["after"])  # fmt: skip
        flash(f"Profile saved for {len(change.mailbox_ids)} mailbox(es).")
    db.commit()
    return redirect(url_for("admin.preview_show", run_id=run_id), 303)
