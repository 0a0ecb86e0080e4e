"""``/categories``, ``/salesforce/lookup``, ``/sync`` and ``/jobs/{id}``: what the task pane needs around an item."""

from __future__ import annotations

import re

from flask import jsonify, request
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError

from backend.api import bp, remote
from backend.api import records as sf_records
from backend.api.util import last_session, plain_session_error, queue_session
from backend.app import db_session
from backend.auth import current_caller
from backend.errors import ApiError
from backend.visibility import viewer
from sync import policy_store
from sync.connectors.errors import ConnectorError
from sync.job_queue import fetch_job
from sync.policies import Direction
from sync.schedule import job_id, mailbox_id_of

MIN_QUERY, MAX_QUERY = 2, 80
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# RQ job states the task pane keeps polling for.
RUNNING_STATES = {"queued", "started", "scheduled", "deferred"}


@bp.get("/categories")
def categories():
    """The Outlook categories the admin's policies use, with their colour (Outlook preset number and name)."""
    db = db_session()
    policies = policy_store.load(db)
    by_category: dict[str, list[str]] = {}
    for kind in policy_store.kinds(policies):
        policy = policies.for_kind(kind)
        if policy.direction is not Direction.OFF:
            by_category.setdefault(policy.category, []).append(kind)
    out = []
    for name, color in policy_store.categories(policies).items():
        kinds = by_category.get(name, ["event"])
        read_only = not any(k == "event" and policies.for_kind(k).direction in (Direction.TWO_WAY,
                            Direction.UPSYNC_ONLY) for k in kinds)  # fmt: skip
        out.append({"name": name, "color": color, "preset": f"Preset{color}" if color >= 0 else None,
                    "kinds": kinds, "read_only": read_only})  # fmt: skip
    return jsonify({"categories": out})


@bp.get("/salesforce/lookup")
def lookup():
    """Contacts, Leads, Accounts and Opportunities whose name contains ``q``."""
    current_caller()
    raw = request.args.get("q") or ""
    if not MIN_QUERY <= len(raw) <= MAX_QUERY:
        raise ApiError(f"Type {MIN_QUERY} to {MAX_QUERY} characters to search.", status=400, code="invalid_query")
    # Control characters mean nothing in a name: they separate words like spaces.
    text = " ".join("".join(c if ord(c) >= 32 and c != "\x7f" else " " for c in raw).split())
    raw_types = request.args.get("types") or ",".join(sf_records.TYPES)
    types = [t.strip() for t in raw_types.split(",") if t.strip()]
    unknown = [t for t in types if t not in sf_records.TYPES]
    if unknown or not types:
        allowed = ", ".join(sf_records.TYPES)
        raise ApiError(f"types must be a comma-separated list of {allowed}.", status=400, code="invalid_types")
    if len(text) < MIN_QUERY:
        return jsonify({"query": text, "results": []})
    try:
        results = sf_records.search(remote.salesforce(), text, list(dict.fromkeys(types)), visible_to=viewer())
    except ConnectorError as exc:
        raise remote.remote_error(exc) from None
    return jsonify({"query": text, "results": results})


@bp.post("/sync")
def sync_now():
    """Sync the caller's mailbox now: a session is queued (or the one already queued or running is reported)."""
    caller = current_caller()
    return jsonify(queue_session(caller.mailbox.id, reason="now")), 202


@bp.get("/jobs/<job_ref>")
def job_status(job_ref: str):
    """A session job of the caller's mailbox: its state and progress, then the session's outcome."""
    caller = current_caller()
    if not _JOB_ID.match(job_ref) or mailbox_id_of(job_ref) is None:
        raise ApiError("No such job.", status=404, code="job_not_found")
    if mailbox_id_of(job_ref) != caller.mailbox.id:
        raise ApiError("This job belongs to another mailbox.", status=403, code="not_your_job")
    try:
        job = fetch_job(job_id(caller.mailbox.id), connection=remote.redis())
        found = job.get_status(refresh=False)
        status = getattr(found, "value", None) or str(found or "queued")
        progress = job.meta.get("progress")
        error = None
        if status == "failed":
            error = "The sync could not run; it will be retried automatically."
    except NoSuchJobError:
        # Finished sessions leave no job behind (result_ttl=0): the session row has the outcome.
        status, progress, error = "finished", None, None
    except RedisError:
        raise remote.unavailable(
            "The sync queue cannot be reached; try again in a moment.", "queue_unavailable"
        ) from None
    last = last_session(db_session(), caller.mailbox)
    if status == "finished" and last is not None and last["status"] == "failed":
        error = plain_session_error(last["error"])
    return jsonify({
        "id": job_ref,
        "status": status,
        "running": status in RUNNING_STATES,
        "progress": progress if isinstance(progress, dict) else None,
        "error": error,
        "last_session": last,
    })  # fmt: skip
