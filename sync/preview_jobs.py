"""Previews of a policy or profile change, one RQ job per affected mailbox (docs/policies.md#preview).

A **proposed change** (`Change`) is plain JSON, so that it crosses Redis as data:

- ``{"type": "policy", "profile_id": P, "policy": {...}}``: profile ``P``'s policy of one kind (the default
  profile's is the org policy table) becomes ``policy`` (a `sync.policies.Policy.to_dict()`);
- ``{"type": "assign", "profile_id": P or None, "mailbox_ids": [...]}``: these mailboxes get profile ``P``
  explicitly (None: back to the rules and the default);
- ``{"type": "rule", "profile_id": P, "rule": {"attribute", "value", "position"}}``: a new rule giving ``P``
  (the mailboxes it would move, by the rep's user values last read).

`affected` says which mailboxes a change touches, `proposed_policies` what one of them would follow, and
`estimate` what the preview will cost in Salesforce read requests. `start` stores the run in Redis and enqueues
``sync.preview_jobs.preview_job(run_id, mailbox_id)`` for each mailbox (all, or a sample the admin picks); a job
reads and plans through `sync.preview.preview_mailbox`, writes nothing, keeps its progress in
``job.meta["progress"]`` and returns the mailbox's preview as its JSON result. `status` gathers them.

A preview job takes no mailbox lock: it writes nothing, so it cannot disturb a session; one that runs while a
session of the same mailbox applies may show some of that session's work as still to do.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

from redis import Redis
from rq import Queue, get_current_job
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sync import policy_store, preview, profile_rules, profiles
from sync.models import Link, Mailbox, MailboxProfile, PolicyProfile, SyncSession
from sync.policies import Direction, PolicySet, policy_from_dict

JOB_FUNCTION = "sync.preview_jobs.preview_job"
RUN_TTL = 24 * 3600  # a preview run and its results are kept a day
_RUN_KEY = "calsync:preview:{}"


@dataclass(frozen=True)
class Change:
    type: str  # policy | assign
    profile_id: int | None
    policy: dict[str, Any] | None = None
    mailbox_ids: tuple[int, ...] = ()
    rule: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "profile_id": self.profile_id, "policy": self.policy,
                "mailbox_ids": list(self.mailbox_ids), "rule": self.rule}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return cls(data["type"], data.get("profile_id"), data.get("policy"), tuple(data.get("mailbox_ids") or ()),
                   data.get("rule"))  # fmt: skip

    @property
    def kind(self) -> str | None:
        return (self.policy or {}).get("kind")


def _profile(db: Session, profile_id: int | None) -> PolicyProfile | None:
    return db.get(PolicyProfile, profile_id) if profile_id is not None else None


def _with_rule(db: Session, change: Change) -> list[profile_rules.Rule]:
    """The rules as they would be with the change's new rule inserted at its position (default: last)."""
    current = profiles.rules(db)
    rule = change.rule or {}
    position = rule.get("position")
    if position is None:
        position = max((r.position for r in current), default=0) + 1
    new = profile_rules.Rule(-1, int(position), profile_rules.check_attribute(rule.get("attribute", "")),
                             profile_rules.check_value(rule.get("value", "")), int(change.profile_id or 0))  # fmt: skip
    # Inserted before an existing rule of the same position (as `profiles.add_rule` stores it, it is tried first
    # only if its position is lower; the same position keeps the older rule first, by id).
    return sorted([*current, new], key=lambda r: (r.position, r.id if r.id > 0 else 10**12))


def _rule_effective(
    db: Session, mailbox: Mailbox, rules: list[profile_rules.Rule], facts: dict[str, Any] | None = None
) -> PolicyProfile:
    row = db.get(MailboxProfile, mailbox.id)
    if row is not None and row.profile_id is not None:
        explicit = _profile(db, row.profile_id)  # an explicit profile wins over every rule
        if explicit is not None:
            return explicit
    if facts is None:
        facts = row.user_facts if row is not None else None
    rule = profile_rules.first_match(rules, facts)
    target = _profile(db, rule.profile_id) if rule is not None else None
    return target or profiles.default_profile(db)


def proposed_policies(
    db: Session, mailbox: Mailbox, change: Change, *, facts: dict[str, Any] | None = None
) -> tuple[PolicySet, str]:
    """What ``mailbox`` would follow with ``change`` saved, and the profile's name (``facts``: the rep's user
    values just read, for a new rule; default: the values last read)."""
    if change.type == "rule":
        target = _rule_effective(db, mailbox, _with_rule(db, change), facts)
        return profiles.policy_set(db, target), target.name
    if change.type == "assign":
        if mailbox.id in change.mailbox_ids:
            target = _profile(db, change.profile_id)
            if target is None:  # back to the rules and the default: as if nothing were assigned
                eff = profiles.effective(db, mailbox)
                if eff.source == "explicit":
                    rule = profile_rules.first_match(profiles.rules(db), _facts(db, mailbox))
                    target = _profile(db, rule.profile_id) if rule else profiles.default_profile(db)
                else:
                    target = _profile(db, eff.profile_id)
            return profiles.policy_set(db, target), target.name if target else profiles.DEFAULT_NAME
        eff = profiles.effective(db, mailbox)
        return profiles.policy_set(db, _profile(db, eff.profile_id)), eff.name
    policy = policy_from_dict(change.policy or {})
    eff = profiles.effective(db, mailbox)
    current = _profile(db, eff.profile_id)
    changed = _profile(db, change.profile_id)
    base = policy_store.load(db)
    if changed is not None and changed.is_default:
        base = base.with_policy(policy)  # every profile that does not set this kind follows the default
        return profiles.policy_set(db, current, base=base), eff.name
    policies = profiles.policy_set(db, current, base=base)
    if current is not None and changed is not None and current.id == changed.id:
        policies = policies.with_policy(policy)
    return policies, eff.name


def _facts(db: Session, mailbox: Mailbox) -> dict[str, Any] | None:
    row = db.get(MailboxProfile, mailbox.id)
    return row.user_facts if row is not None else None


def affected(db: Session, change: Change) -> list[Mailbox]:
    """The enabled mailboxes whose policies the change may alter."""
    boxes = list(db.scalars(select(Mailbox).where(Mailbox.enabled.is_(True)).order_by(Mailbox.email)))
    if change.type == "assign":
        return [m for m in boxes if m.id in change.mailbox_ids]
    if change.type == "rule":
        # Mailboxes the rule would move by their reps' values last read, and those never read (the job reads them).
        rules, current = _with_rule(db, change), profiles.rules(db)
        out = []
        for m in boxes:
            row = db.get(MailboxProfile, m.id)
            if row is not None and row.profile_id is not None:
                continue
            unknown = row is None or row.user_facts is None or bool(
                set(profile_rules.fields_named(rules)) - set((row.user_facts or {}).get("fields", {}))
            )  # fmt: skip
            if unknown or _rule_effective(db, m, rules).id != _rule_effective(db, m, current).id:
                out.append(m)
        return out
    changed = _profile(db, change.profile_id)
    if changed is None:
        return []
    rule_list = profiles.rules(db)
    out = []
    for m in boxes:
        eff_profile = _profile(db, profiles.effective(db, m, rule_list=rule_list).profile_id)
        if eff_profile is None:
            continue
        if eff_profile.id == changed.id:
            out.append(m)
        elif changed.is_default and change.kind not in (eff_profile.policies or {}):
            out.append(m)  # its profile leaves this kind to the default
    return out


def estimate(db: Session, change: Change, mailboxes: list[Mailbox]) -> dict[str, Any]:
    """The Salesforce read requests a preview of ``mailboxes`` costs, before it runs.

    A session reads one query per object kind that syncs (or still has links), one more per 2,000 rows, plus
    direct fetches of failed items and attendee look-ups; the preview makes the same reads and no write. The
    estimate counts the queries; ``recent_average`` is what these mailboxes' recent sessions used, writes
    included (an upper bound)."""
    queries = 0
    for mailbox in mailboxes:
        policies, _ = proposed_policies(db, mailbox, change)
        kinds = [k for k in policy_store.kinds(policies) if policies.for_kind(k).direction is not Direction.OFF]
        linked = {k for (k,) in db.execute(select(Link.kind).where(Link.mailbox_id == mailbox.id).distinct())}
        queries += len(set(kinds) | linked) + (0 if mailbox.salesforce_user_id else 1)
        queries += 1 if change.type == "rule" else 0  # the rep's user, read for the new rule
    ids = [m.id for m in mailboxes]
    recent = []
    if ids:
        rows = db.scalars(
            select(SyncSession.api_calls).where(SyncSession.mailbox_id.in_(ids)).order_by(SyncSession.id.desc())
            .limit(20 * len(ids))
        )  # fmt: skip
        recent = [int((r or {}).get("salesforce", 0)) for r in rows]
    average = round(sum(recent) / len(recent), 1) if recent else None
    return {"mailboxes": len(mailboxes), "salesforce_reads": queries, "recent_average": average,
            "recent_upper_bound": round(average * len(mailboxes)) if average is not None else None}  # fmt: skip


def pick(mailboxes: list[Mailbox], sample: int | None, *, seed: str = "") -> list[Mailbox]:
    """All mailboxes, or ``sample`` of them (a random pick, repeatable for the same seed)."""
    if not sample or sample >= len(mailboxes):
        return mailboxes
    chosen = random.Random(seed).sample(mailboxes, sample)  # noqa: S311 - a sample, not a secret
    return sorted(chosen, key=lambda m: m.email)


def job_id(run_id: str, mailbox_id: int) -> str:
    return f"preview-{run_id}-{mailbox_id}"


def start(
    redis: Redis, queue: Queue, change: Change, mailboxes: list[Mailbox], *, actor: str, description: str,
    job_timeout: int = 600,
) -> str:  # fmt: skip
    """Store the run and enqueue one preview job per mailbox; returns the run id."""
    run_id = uuid.uuid4().hex[:16]
    run = {
        "id": run_id, "change": change.to_json(), "actor": actor, "description": description,
        "created_at": dt.datetime.now(dt.UTC).isoformat(), "mailboxes": {str(m.id): m.email for m in mailboxes},
    }  # fmt: skip
    redis.set(_RUN_KEY.format(run_id), json.dumps(run), ex=RUN_TTL)
    for m in mailboxes:
        queue.enqueue(
            JOB_FUNCTION, run_id, m.id, job_id=job_id(run_id, m.id), result_ttl=RUN_TTL, failure_ttl=RUN_TTL,
            job_timeout=job_timeout, description=f"preview {m.email} ({run_id})",
        )  # fmt: skip
    return run_id


def load_run(redis: Redis, run_id: str) -> dict[str, Any] | None:
    if not run_id.isalnum():
        return None
    raw = redis.get(_RUN_KEY.format(run_id))
    return json.loads(raw) if raw else None


def preview_job(run_id: str, mailbox_id: int) -> dict[str, Any]:
    """RQ job: the preview of one mailbox of a run (reads only)."""
    from sync.jobs import current_context

    context = current_context()
    run = load_run(context.redis, run_id)
    if run is None:
        return {"mailbox_id": mailbox_id, "status": "failed", "error": "the preview run expired"}
    change = Change.from_json(run["change"])
    job = get_current_job()

    def progress(phase: str) -> None:
        if job is not None:
            job.meta["progress"] = {"phase": phase}
            job.save_meta()

    progress("reading")
    with context.db()() as db:
        mailbox = db.get(Mailbox, mailbox_id)
        if mailbox is None:
            return {"mailbox_id": mailbox_id, "status": "failed", "error": "the mailbox was removed"}
        try:
            salesforce, exchange = context.salesforce(), context.exchange(mailbox.email)
            facts = None
            if change.type == "rule" and mailbox.salesforce_user_id:  # the rep's values now, as the rule would see
                fields = profile_rules.fields_named(_with_rule(db, change))
                facts = profile_rules.read_facts(salesforce, mailbox.salesforce_user_id, fields)
            policies, name = proposed_policies(db, mailbox, change, facts=facts)
            result = preview.preview_mailbox(db, mailbox, salesforce, exchange, policies, context.clock(), profile=name)
        except Exception as exc:  # a preview that cannot read says why; it never crashes the worker
            error = f"{type(exc).__name__}: {exc}"
            failed = preview.MailboxPreview(mailbox=mailbox.email, status="failed", error=error)
            progress("done")
            return {"mailbox_id": mailbox_id, **failed.to_json()}
        finally:
            db.rollback()
    progress("done")
    # Counts, samples, health and the guard: not every item (a result stays in Redis for a day).
    return {"mailbox_id": mailbox_id, **result.to_json()}


def status(redis: Redis, run: dict[str, Any]) -> dict[str, Any]:
    """Every mailbox's state (queued, started, finished, failed) with its progress or result, and the total."""
    from sync.job_queue import fetch_jobs

    ids = sorted(run["mailboxes"], key=lambda i: run["mailboxes"][i])
    jobs = fetch_jobs([job_id(run["id"], int(i)) for i in ids], redis)
    rows, finished = [], []
    for mailbox_id, job in zip(ids, jobs, strict=True):
        row: dict[str, Any] = {"mailbox_id": int(mailbox_id), "email": run["mailboxes"][mailbox_id]}
        if job is None:
            row["state"] = "expired"
        else:
            status_ = job.get_status(refresh=False)
            state = getattr(status_, "value", status_) or "queued"  # RQ's JobStatus enum, as its plain name
            row["state"] = state
            row["progress"] = job.meta.get("progress")
            if state == "finished" and isinstance(job.return_value(), dict):
                row["result"] = job.return_value()
                finished.append(row["result"])
            elif state == "failed":
                latest = job.latest_result()
                lines = (latest.exc_string or "").strip().splitlines() if latest is not None else []
                row["error"] = lines[-1] if lines else "the preview job failed"
        rows.append(row)
    previews = [_from_json(r) for r in finished]
    done = sum(1 for r in rows if r["state"] in ("finished", "failed", "expired"))
    return {"rows": rows, "done": done, "total": len(rows), "complete": done == len(rows),
            "total_counts": preview.total(previews)}  # fmt: skip


def _from_json(data: dict[str, Any]) -> preview.MailboxPreview:
    items = [preview.PlannedItem(**i) for i in data.get("items") or []]
    return preview.MailboxPreview(
        mailbox=data["mailbox"], status=data["status"], counts=data["counts"], items=items, health=data["health"],
        guard=data["guard"], api_calls=data["api_calls"], profile=data.get("profile"), error=data.get("error"),
    )  # fmt: skip


def count_enabled(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Mailbox).where(Mailbox.enabled.is_(True))) or 0
