"""Policies (docs/policies.md) per object kind, and custom-object mappings chosen from Salesforce describe."""

from __future__ import annotations

from typing import Any

import requests
from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from admin_panel import audit, help
from admin_panel.blueprint import bp
from admin_panel.views import actor, form_error
from backend.globals import db_session, runtime
from calsync.settings import ConfigError
from sync import policy_store
from sync.api_names import is_custom_object
from sync.connectors.errors import ConnectorError
from sync.entry import EVENT, TASK, custom_kind, is_custom_kind, is_valid_kind
from sync.models import Policy as PolicyRow
from sync.policies import (
    CompletedTasks,
    ConflictWinner,
    CustomObjectMapping,
    DescriptionMode,
    Direction,
    ExchangeDeletion,
    OnUnshare,
    Policy,
    PolicyError,
    PrivateItems,
    SalesforceDeletion,
    policy_from_dict,
)

ENUMS = {
    "direction": Direction, "conflict_winner": ConflictWinner, "salesforce_deletion": SalesforceDeletion,
    "exchange_deletion": ExchangeDeletion, "on_unshare": OnUnshare, "private_items": PrivateItems,
    "description": DescriptionMode,
}  # fmt: skip
# Settings that matter for two-way Events only; Tasks and custom objects flow one way, Salesforce → Exchange.
EVENT_ONLY = ("conflict_winner", "exchange_deletion", "on_unshare", "private_items", "description",
              "attendees_to_exchange")  # fmt: skip
TEXT_TYPES = {"string", "textarea", "picklist", "combobox", "email", "phone", "url"}


def _policies():
    try:
        return policy_store.load(db_session()), None
    except PolicyError as exc:
        return None, exc.messages


def _stored_kinds() -> list[str]:
    return list(db_session().scalars(select(PolicyRow.kind).order_by(PolicyRow.kind)))


@bp.get("/policies")
def policy_list():
    policies, problems = _policies()
    kinds = sorted({EVENT, TASK, *_stored_kinds()}, key=lambda k: (is_custom_kind(k), k != EVENT, k))
    rows = [{"kind": k, "policy": policies.for_kind(k) if policies else None} for k in kinds]
    return render_template("admin/policies.html", rows=rows, problems=problems or [], fields=help.POLICY_FIELDS)


def _choices(kind: str) -> dict[str, list[str]]:
    out = {name: [v.value for v in enum] for name, enum in ENUMS.items()}
    if kind != EVENT:
        out["direction"] = [Direction.DOWNSYNC_ONLY.value, Direction.OFF.value]
    return out


def _render_policy(kind: str, policy: Policy, errors: list[str], status: int = 200):
    body = render_template(
        "admin/policy.html", kind=kind, policy=policy, values=_values(policy), errors=errors, choices=_choices(kind),
        fields=help.POLICY_FIELDS, task_help=help.TASK_FIELDS, colors=help.COLORS, event_only=EVENT_ONLY,
        completed=[c.value for c in CompletedTasks],
    )  # fmt: skip
    return body, status


def _values(policy: Policy) -> dict[str, Any]:
    data = policy.to_dict()
    for name in ENUMS:
        data[name] = str(data[name])
    return data


def _kind_or_404(kind: str) -> str:
    if not is_valid_kind(kind):
        abort(404, description=f"{kind!r} is not an object kind (event, task or custom:<ObjectApiName>).")
    return kind


@bp.get("/policies/<kind>")
def policy_edit(kind: str):
    policies, problems = _policies()
    _kind_or_404(kind)
    if is_custom_kind(kind) and kind not in _stored_kinds():
        abort(404, description=f"No mapping for {kind} yet: add it from the policies page.")
    policy = policies.for_kind(kind) if policies else Policy(kind=kind)
    return _render_policy(kind, policy, problems or [])


def _int(form, name: str, label: str, errors: list[str], default: int) -> int:
    if name not in form:  # a field the form did not send keeps its value
        return default
    raw = form.get(name, "").strip()
    try:
        return int(raw)
    except ValueError:
        errors.append(f"{label} must be a whole number, not {raw!r}.")
        return default


def policy_from_form(kind: str, form, current: Policy) -> tuple[Policy | None, list[str], dict[str, Any]]:
    """The policy the form describes (validated), or the problems; also the raw values to show again."""
    errors: list[str] = []
    data = current.to_dict()
    for name in ENUMS:
        if kind != EVENT and name in EVENT_ONLY:
            continue
        if name in form:
            data[name] = form.get(name, "")
    if kind == EVENT:
        data["attendees_to_exchange"] = form.get("attendees_to_exchange") == "1"
    data["notify_attendees"] = form.get("notify_attendees") == "1"
    data["scope"] = {
        "past_days": _int(form, "scope_past_days", "Scope past days", errors, current.scope.past_days),
        "future_days": _int(form, "scope_future_days", "Scope future days", errors, current.scope.future_days),
    }
    if kind == TASK:
        task = dict(data.get("task") or {})
        task["all_day"] = form.get("task_all_day") == "1"
        task["time_of_day"] = form.get("task_time_of_day", "09:00").strip() or "09:00"
        task["duration_minutes"] = _int(form, "task_duration_minutes", "Task duration", errors, 30)
        task["completed"] = form.get("task_completed", "mark")
        task["category"] = form.get("task_category", "").strip()
        task["color"] = _int(form, "task_color", "Task category colour", errors, 4)
        data["task"] = task
    shown = {**data, "scope": data["scope"]}
    if errors:
        return None, errors, shown
    try:
        return policy_from_dict(data), [], shown
    except PolicyError as exc:
        return None, exc.messages, shown


@bp.post("/policies/<kind>")
def policy_save(kind: str):
    db = db_session()
    _kind_or_404(kind)
    policies, problems = _policies()
    current = policies.for_kind(kind) if policies else Policy(kind=kind)
    if is_custom_kind(kind) and kind not in _stored_kinds():
        abort(404, description=f"No mapping for {kind} yet: add it from the policies page.")
    policy, errors, shown = policy_from_form(kind, request.form, current)
    if policy is None:
        return _with_values(kind, current, errors, shown)
    _save(db, policy, action="policy.update")
    flash(f"Policy for {kind} saved: the next session of every mailbox follows it.")
    return redirect(url_for("admin.policy_edit", kind=kind), 303)


def _with_values(kind: str, current: Policy, errors: list[str], shown: dict[str, Any]):
    body = render_template(
        "admin/policy.html", kind=kind, policy=current, values={**_values(current), **shown}, errors=errors,
        choices=_choices(kind), fields=help.POLICY_FIELDS, task_help=help.TASK_FIELDS, colors=help.COLORS,
        event_only=EVENT_ONLY, completed=[c.value for c in CompletedTasks],
    )  # fmt: skip
    return body, 400


def _save(db, policy: Policy, *, action: str) -> None:
    row = db.scalars(select(PolicyRow).where(PolicyRow.kind == policy.kind)).one_or_none()
    before = dict(row.settings) if row is not None else None
    policy_store.save(db, policy)
    after = policy.to_dict()
    after.pop("kind", None)
    audit.record(db, actor=actor(), action=action, target=f"policy:{policy.kind}", before=before, after=after)
    db.commit()


@bp.post("/policies/<kind>/delete")
def policy_delete(kind: str):
    """Remove a custom object's mapping (its kind stops syncing; the defaults apply to events and tasks)."""
    db = db_session()
    row = db.scalars(select(PolicyRow).where(PolicyRow.kind == kind)).one_or_none()
    if row is None:
        abort(404, description=f"No stored policy for {kind!r}.")
    audit.record(db, actor=actor(), action="policy.delete", target=f"policy:{kind}", before=dict(row.settings))
    db.delete(row)
    db.commit()
    flash(f"Policy for {kind} removed." + (" Its kind no longer syncs." if is_custom_kind(kind) else ""))
    return redirect(url_for("admin.policy_list"), 303)


# -- custom objects from Salesforce describe ------------------------------------------------------------------
class DescribeError(Exception):
    pass


def _salesforce():
    try:
        return runtime().salesforce(runtime().connection_settings(db_session()))
    except ConfigError as exc:
        raise DescribeError(str(exc)) from None


def _describe(sobject: str | None = None) -> dict[str, Any]:
    try:
        return _salesforce().describe(sobject)
    except (ConnectorError, requests.RequestException, OSError) as exc:
        raise DescribeError(f"Salesforce describe failed: {exc}") from None


def _objects() -> list[dict[str, Any]]:
    objects = _describe().get("sobjects", [])
    return sorted((o for o in objects if o.get("custom") and o.get("queryable", True)), key=lambda o: o["label"])


def _fields(sobject: str) -> dict[str, list[dict[str, Any]]]:
    fields = _describe(sobject).get("fields", [])
    return {
        "text": [f for f in fields if f.get("type") in TEXT_TYPES],
        "date": [f for f in fields if f.get("type") == "date"],
        "datetime": [f for f in fields if f.get("type") == "datetime"],
    }


MAPPING_FIELDS = ("subject_field", "date_field", "start_field", "end_field", "description_field",
                  "location_field", "category", "color")  # fmt: skip


def _mapping_form(sobject: str, current: CustomObjectMapping | None) -> dict[str, Any]:
    if current is None:
        return {"subject_field": "Name", "mode": "date", "category": f"SF {sobject.removesuffix('__c')}"
                .replace("_", " "), "color": 7}  # fmt: skip
    values = {k: getattr(current, k) or "" for k in MAPPING_FIELDS}
    values["mode"] = "date" if current.date_field else "range"
    return values


def _not_a_custom_object(sobject: str):
    """The pick page with a form error (400) for a name that cannot be a custom object's API name."""
    message = f"{sobject[:80]!r} is not the API name of a custom object (letters, digits and _, ending in __c)."
    return form_error("admin/custom_pick.html", [message], objects=[])


@bp.get("/policies/custom/new")
def custom_new():
    sobject = request.args.get("object", "").strip()
    if sobject and not is_custom_object(sobject):  # checked before any Salesforce call
        return _not_a_custom_object(sobject)
    try:
        if not sobject:
            return render_template("admin/custom_pick.html", objects=_objects(), errors=[])
        field_sets = _fields(sobject)
    except DescribeError as exc:
        return render_template("admin/custom_pick.html", objects=[], errors=[str(exc)]), 502
    policies, _ = _policies()
    current = policies.policies.get(custom_kind(sobject)) if policies else None
    return render_template("admin/custom_map.html", sobject=sobject, fields=field_sets, errors=[],
                           values=_mapping_form(sobject, current.custom if current else None),
                           colors=help.COLORS, help=help.CUSTOM_FIELDS)  # fmt: skip


def validate_mapping(sobject: str, form, field_sets: dict[str, list[dict[str, Any]]]):
    """The mapping the form chose, checked against the object's describe; or the problems."""
    errors: list[str] = []
    names = {kind: {f["name"] for f in fs} for kind, fs in field_sets.items()}

    def pick(name: str, allowed: str, label: str, required: bool) -> str | None:
        value = form.get(name, "").strip() or None
        if value is None:
            if required:
                errors.append(f"Choose the {label}.")
            return None
        if value not in names[allowed]:
            kind = {"text": "a text", "date": "a Date", "datetime": "a Date/Time"}[allowed]
            errors.append(f"The {label} {value!r} is not {kind} field of {sobject}.")
        return value

    mode = form.get("mode", "")
    subject = pick("subject_field", "text", "subject field", True)
    date_field = start = end = None
    if mode == "date":
        date_field = pick("date_field", "date", "Date field", True)
    elif mode == "range":
        start = pick("start_field", "datetime", "start Date/Time field", True)
        end = pick("end_field", "datetime", "end Date/Time field", True)
        if start and start == end:
            errors.append("The start and end fields must be two different Date/Time fields.")
    else:
        errors.append("Choose one Date field, or two Date/Time fields (start and end).")
    description = pick("description_field", "text", "description field", False)
    location = pick("location_field", "text", "location field", False)
    try:
        color = int(form.get("color", ""))
    except ValueError:
        errors.append("Choose a category colour.")
        color = 7
    mapping = CustomObjectMapping(
        object_name=sobject, subject_field=subject or "", category=form.get("category", "").strip(),
        date_field=date_field, start_field=start, end_field=end, description_field=description,
        location_field=location, color=color,
    )  # fmt: skip
    if not errors:
        errors += mapping.problems()
    return (None if errors else mapping), errors


@bp.post("/policies/custom/new")
def custom_save():
    db = db_session()
    sobject = request.form.get("object", "").strip()
    if not is_custom_object(sobject):
        return _not_a_custom_object(sobject)
    try:
        objects = {o["name"] for o in _objects()}
        if sobject not in objects:
            return form_error(
                "admin/custom_pick.html", [f"{sobject!r} is not a custom object of this org."], objects=_objects()
            )
        field_sets = _fields(sobject)
    except DescribeError as exc:
        return render_template("admin/custom_pick.html", objects=[], errors=[str(exc)]), 502
    mapping, errors = validate_mapping(sobject, request.form, field_sets)
    policies, _ = _policies()
    current = policies.policies.get(custom_kind(sobject)) if policies else None
    if mapping is not None:
        base = current or Policy(kind=custom_kind(sobject))
        policy = Policy(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "custom": mapping})
        errors = policy.problems()
        if not errors:
            _save(db, policy, action="policy.custom_mapping")
            flash(f"{sobject} now syncs to calendars as “{mapping.category}”.")
            return redirect(url_for("admin.policy_edit", kind=policy.kind), 303)
    values = {k: request.form.get(k, "") for k in (*MAPPING_FIELDS, "mode")}
    return form_error("admin/custom_map.html", errors, sobject=sobject, fields=field_sets, values=values,
                      colors=help.COLORS, help=help.CUSTOM_FIELDS)  # fmt: skip
