"""Operator view of the job system at ``/admin/ops``: queues, workers, running sessions with their progress, and
failed jobs with requeue, read from RQ's own registries (what rq-dashboard shows, without its ``six``); and the
mailboxes the API budget guard paused, with the reason.

``?format=json`` (or ``Accept: application/json``) gives the same data as JSON.

Access: `init_app` puts a guard in front of every route; the panel (``admin_panel.init_app``) lets in
admins logged in to the panel (login, role and CSRF checks), or a script carrying ``CALSYNC_OPS_TOKEN``
(header ``Authorization: Bearer ...`` or a ``token`` form/query field). `token_guard` is the guard for an app
without the panel: the token, else loopback clients outside production.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template_string, request, url_for
from redis import Redis
from rq import Queue, Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import ApiError
from backend.globals import db_session, runtime
from backend.globals import settings as current_settings
from sync.models import Mailbox, utcnow

ops = Blueprint("ops", __name__, url_prefix="/admin/ops")
LOOPBACK = {"127.0.0.1", "::1"}
FAILED_SHOWN = 100


def init_app(app: Flask, guard: Callable[[], Any] | None = None, csrf: Callable[[], str] | None = None) -> None:
    """Mount the view at /admin/ops behind ``guard`` (a before-request function: it raises, or returns a
    response such as a redirect to a login page, to refuse; default `token_guard`); ``csrf`` gives the token
    its forms carry when the guard checks one."""
    app.config["CALSYNC_OPS_GUARD"] = guard or token_guard
    app.config["CALSYNC_OPS_CSRF"] = csrf
    app.register_blueprint(ops)


@ops.before_request
def _guard() -> Any:
    return current_app.config["CALSYNC_OPS_GUARD"]()


def _redis() -> Redis:
    return runtime().redis


def token_given() -> bool:
    """Whether the request carries CALSYNC_OPS_TOKEN (for scripts and monitoring; no cookies, so no CSRF)."""
    settings = current_settings()
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    given = given or request.values.get("token", "")
    return bool(settings.ops_token and given) and hmac.compare_digest(given.encode(), settings.ops_token.encode())


def token_guard() -> None:
    """The stand-in for the admin login: CALSYNC_OPS_TOKEN, else loopback clients outside production."""
    settings = current_settings()
    if settings.ops_token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        given = given or request.values.get("token", "")
        if not hmac.compare_digest(given.encode(), settings.ops_token.encode()):
            raise ApiError("the operator view needs CALSYNC_OPS_TOKEN", status=403, code="forbidden")
    elif settings.environment == "production" or request.remote_addr not in LOOPBACK:
        raise ApiError("set CALSYNC_OPS_TOKEN to reach the operator view from elsewhere", status=403, code="forbidden")


def _text(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else value


def snapshot(redis: Redis) -> dict[str, Any]:
    """Queues, workers, running and failed jobs, from RQ's registries."""
    queues, running, failed = [], [], []
    for queue in Queue.all(connection=redis):
        started = StartedJobRegistry(queue=queue)
        failed_registry = FailedJobRegistry(queue=queue)
        queues.append({
            "name": queue.name, "queued": queue.count, "started": started.count,
            "scheduled": ScheduledJobRegistry(queue=queue).count, "deferred": DeferredJobRegistry(queue=queue).count,
            "finished": FinishedJobRegistry(queue=queue).count, "failed": failed_registry.count,
        })  # fmt: skip
        for job in Job.fetch_many(started.get_job_ids(), connection=redis):
            if job is not None:
                running.append({"id": job.id, "queue": queue.name, "description": job.description,
                                "started_at": _text(job.started_at), "progress": job.meta.get("progress")})  # fmt: skip
        for job in Job.fetch_many(failed_registry.get_job_ids(0, FAILED_SHOWN - 1, desc=True), connection=redis):
            if job is not None:
                result = job.latest_result()
                error = ((result.exc_string if result else "") or "").strip().splitlines()
                failed.append({"id": job.id, "queue": queue.name, "description": job.description,
                               "ended_at": _text(job.ended_at), "error": error[-1] if error else ""})  # fmt: skip
    workers = [
        {"name": w.name, "state": w.state, "queues": w.queue_names(), "current_job": w.get_current_job_id(),
         "last_heartbeat": _text(w.last_heartbeat), "successful": w.successful_job_count,
         "failed": w.failed_job_count, "hostname": w.hostname, "pid": w.pid}
        for w in Worker.all(connection=redis)
    ]  # fmt: skip
    return {"queues": queues, "workers": workers, "running": running, "failed": failed}


def paused_mailboxes(db: Session, now: dt.datetime) -> list[dict[str, Any]]:
    """Mailboxes the Salesforce API budget guard paused, with the reason (the scheduler skips them until then)."""
    rows = db.scalars(select(Mailbox).where(Mailbox.backoff_until > now).order_by(Mailbox.backoff_until))
    return [{"email": m.email, "until": _text(m.backoff_until), "reason": m.backoff_reason} for m in rows]


def _wants_json() -> bool:
    return request.args.get("format") == "json" or request.accept_mimetypes.best == "application/json"


@ops.get("/")
def index():
    data = {**snapshot(_redis()), "paused": paused_mailboxes(db_session(), utcnow())}
    if _wants_json():
        return jsonify(data)
    csrf = current_app.config.get("CALSYNC_OPS_CSRF")
    return render_template_string(PAGE, token=request.values.get("token", ""), csrf=csrf() if csrf else "", **data)


@ops.post("/failed/<job_id>/requeue")
def requeue(job_id: str):
    redis = _redis()
    try:
        job = Job.fetch(job_id, connection=redis)
        FailedJobRegistry(job.origin, connection=redis).requeue(job)
    except (NoSuchJobError, InvalidJobOperation):
        raise ApiError(f"no failed job {job_id}", status=404, code="not_found") from None
    return _done({"requeued": [job_id]})


@ops.post("/failed/requeue-all")
def requeue_all():
    redis = _redis()
    done = []
    for queue in Queue.all(connection=redis):
        registry = FailedJobRegistry(queue=queue)
        for job_id in registry.get_job_ids():
            try:
                registry.requeue(job_id)
                done.append(job_id)
            except (NoSuchJobError, InvalidJobOperation):
                continue
    return _done({"requeued": done})


def _done(body: dict[str, Any]):
    if _wants_json():
        return jsonify(body)
    token = request.values.get("token")
    return redirect(url_for("ops.index", **({"token": token} if token else {})), 303)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>calsync · jobs</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}form{display:inline}</style>
</head><body>
<h1>Jobs</h1>
<h2>Queues</h2>
<table><tr><th>queue</th><th>queued</th><th>running</th><th>scheduled (retries)</th><th>deferred</th>
<th>finished</th><th>failed</th></tr>
{% for q in queues %}<tr><td>{{ q.name }}</td><td>{{ q.queued }}</td><td>{{ q.started }}</td><td>{{ q.scheduled }}</td>
<td>{{ q.deferred }}</td><td>{{ q.finished }}</td><td>{{ q.failed }}</td></tr>
{% else %}<tr><td colspan="7">no queue yet</td></tr>{% endfor %}</table>
<h2>Workers</h2>
<table><tr><th>name</th><th>state</th><th>queues</th><th>current job</th><th>last heartbeat</th><th>ok</th>
<th>failed</th><th>host / pid</th></tr>
{% for w in workers %}<tr><td>{{ w.name }}</td><td>{{ w.state }}</td><td>{{ w.queues|join(", ") }}</td>
<td>{{ w.current_job or "" }}</td><td>{{ w.last_heartbeat }}</td><td>{{ w.successful }}</td><td>{{ w.failed }}</td>
<td>{{ w.hostname }} / {{ w.pid }}</td></tr>
{% else %}<tr><td colspan="8">no worker running: start one with <code>calsync worker</code></td></tr>
{% endfor %}</table>
<h2>Running sessions</h2>
<table><tr><th>job</th><th>started</th><th>phase</th><th>done / total</th></tr>
{% for j in running %}<tr><td>{{ j.id }}</td><td>{{ j.started_at }}</td><td>{{ j.progress.phase if j.progress }}</td>
<td>{% if j.progress %}{{ j.progress.done }} / {{ j.progress.total }}{% endif %}</td></tr>
{% else %}<tr><td colspan="4">none</td></tr>{% endfor %}</table>
<h2>Paused by the API budget</h2>
<table><tr><th>mailbox</th><th>until</th><th>reason</th></tr>
{% for m in paused %}<tr><td>{{ m.email }}</td><td>{{ m.until }}</td><td>{{ m.reason }}</td></tr>
{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}</table>
<h2>Failed jobs</h2>
{% if failed %}<form method="post" action="{{ url_for('ops.requeue_all') }}"><input type="hidden" name="token"
value="{{ token }}"><input type="hidden" name="csrf_token" value="{{ csrf }}"><button>Requeue all</button>
</form>{% endif %}
<table><tr><th>job</th><th>queue</th><th>ended</th><th>error</th><th></th></tr>
{% for j in failed %}<tr><td>{{ j.id }}</td><td>{{ j.queue }}</td><td>{{ j.ended_at }}</td><td>{{ j.error }}</td>
<td><form method="post" action="{{ url_for('ops.requeue', job_id=j.id) }}"><input type="hidden" name="token"
value="{{ token }}"><input type="hidden" name="csrf_token" value="{{ csrf }}"><button>Requeue</button></form></td></tr>
{% else %}<tr><td colspan="5">none</td></tr>{% endfor %}</table>
</body></html>
"""
