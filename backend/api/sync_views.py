"""``/categories``, ``/salesforce/lookup``, ``/sync`` and ``/jobs/{id}``: what the task pane needs around an item."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError

from backend.api import bp, remote, schemas
from backend.api import records as sf_records
from backend.api.util import last_session, plain_session_error, push_state, queue_session
from backend.auth import current_caller
from backend.errors import ApiError
from backend.globals import db_session
from backend.visibility import viewer
from sync import policy_store, profiles
from sync.connectors.errors import ConnectorError
from sync.job_queue import fetch_job
from sync.policies import Direction
from sync.schedule import job_id, mailbox_id_of

# RQ job states the task pane keeps polling for.
RUNNING_STATES = {"queued", "started", "scheduled", "deferred"}


@bp.get("/categories")
@bp.response(200, schemas.Categories, description="The categories.")
def categories():
    """The categories sync uses

    Every Outlook category the admin's policies imply (the Salesforce category, the Task category, one per
    custom object), with its Outlook colour preset. The task pane adds the missing ones to the master category
    list.
    """
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
    return {"categories": out}


@bp.get("/salesforce/lookup")
@bp.arguments(schemas.LookupQuery(), location="query")
@bp.response(200, schemas.Lookup, description="Matching records.")
@bp.errors(400, 502)
def lookup(query: dict[str, Any]):
    """Search Salesforce records to link

    Contacts, Leads, Accounts and Opportunities whose name contains `q`.
    """
    current_caller()
    # Control characters mean nothing in a name: they separate words like spaces.
    text = " ".join("".join(c if ord(c) >= 32 and c != "\x7f" else " " for c in query["q"]).split())
    if len(text) < schemas.MIN_QUERY:
        return {"query": text, "results": []}
    try:
        results = sf_records.search(remote.salesforce(), text, list(dict.fromkeys(query["types"])), visible_to=viewer())
    except ConnectorError as exc:
        raise remote.remote_error(exc) from None
    return {"query": text, "results": results}


@bp.post("/sync")
@bp.response(202, schemas.JobRef, description="The session job.")
def sync_now():
    """Sync the caller's mailbox now

    Queues a session; `status` is `duplicate` when one is already queued or running.
    """
    caller = current_caller()
    profiles.mark_stale(db_session(), caller.mailbox)  # "sync now" reads the rep's Salesforce user again
    db_session().commit()
    return queue_session(caller.mailbox.id, reason="now")


@bp.get("/jobs/<job_ref>")
@bp.arguments(schemas.JobPath(), location="path", as_kwargs=True, error_status_code=404)
@bp.response(200, schemas.Job, description="The job.")
def job_status(job_ref: str):
    """Progress of a session job

    A session job of the caller's mailbox: its state and progress, then the session's outcome.
    """
    caller = current_caller()
    if mailbox_id_of(job_ref) is None:
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
    return {
        "id": job_ref,
        "status": status,
        "running": status in RUNNING_STATES,
        "progress": progress if isinstance(progress, dict) else None,
        "error": error,
        "last_session": last,
        "push": push_state(caller.mailbox),
    }
