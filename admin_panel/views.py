"""The panel's pages: login, overview, mailboxes, health, sessions, settings, audit log.

Policies and connections have their own modules (`admin_panel.policy_views`, `admin_panel.connection_views`).
Every change is audited in the transaction that makes it; bad input re-renders the form with messages (400).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select

from admin_panel import accounts, audit, help, security
from admin_panel.blueprint import bp
from admin_panel.charts import bar_chart
from admin_panel.ops import snapshot
from admin_panel.push_health import push_section
from admin_panel.throttle import LoginThrottle, log_failed_login
from backend.globals import db_session, runtime, settings
from sync import health, mailboxes, profiles, settings_store
from sync.job_queue import session_queue
from sync.models import HealthEntry, Mailbox, SyncSession, utcnow
from sync.schedule import schedule_config, sync_now

CHART_DAYS = 30
SESSIONS_SHOWN = 200
SIDES = ("salesforce", "exchange")


def actor() -> str:
    return g.admin_user.email


def redis() -> Redis:
    return runtime().redis


def form_error(template: str, errors: list[str], **context: Any):
    return render_template(template, errors=errors, **context), 400


# -- login ----------------------------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login():
    errors: list[str] = []
    email = ""
    headers: dict[str, str] = {}
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        db = db_session()
        throttle = LoginThrottle(redis())
        wait = throttle.retry_after(email, request.remote_addr or "")
        user = None if wait else accounts.authenticate(db, email, request.form.get("password", ""))
        if wait:
            errors.append(f"Too many failed sign-ins: try again in {wait} seconds.")
            headers["Retry-After"] = str(wait)
            log_failed_login(db, throttle, email, "locked")
        elif user is None:
            errors.append("Wrong e-mail or password (or the account is disabled).")
            log_failed_login(db, throttle, email, "wrong")
        else:
            throttle.succeeded(email)
            db.commit()
            security.log_in(user)
            target = request.args.get("next", "")
            # Only paths inside the panel: never an open redirect.
            if not target.startswith("/admin/") or target.startswith("//"):
                target = url_for("admin.overview")
            return redirect(target, 303)
    status = (429 if headers else 400) if errors else 200
    return render_template("admin/login.html", errors=errors, email=email), status, headers


@bp.post("/logout")
def logout():
    security.log_out(g.get("admin_user"))
    db_session().commit()
    return redirect(url_for("admin.login"), 303)


# -- overview -------------------------------------------------------------------------------------------------
def _sum(counts: dict[str, Any], action: str) -> int:
    bucket = (counts or {}).get(action) or {}
    return sum(int(bucket.get(side, 0) or 0) for side in SIDES)


@bp.get("/")
def overview():
    db = db_session()
    today = utcnow().date()
    days = [today - dt.timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]
    since = dt.datetime.combine(days[0], dt.time(), dt.UTC)
    series: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    requests_per_day: dict[dt.date, int] = defaultdict(int)
    for row in db.scalars(select(SyncSession).where(SyncSession.started_at >= since)):
        day = row.started_at.date()
        series["added"][day] += _sum(row.counts, "created")
        series["updated"][day] += _sum(row.counts, "updated") + _sum(row.counts, "reverted")
        series["deleted"][day] += _sum(row.counts, "deleted")
        series["failed"][day] += int(row.failed or 0)
        requests_per_day[day] += sum(int(v or 0) for v in (row.api_calls or {}).values())
    colours = {"added": "#2e7d32", "updated": "#2f6db5", "deleted": "#8d4b00", "failed": "#b3261e"}
    charts = [
        {"name": name, "svg": bar_chart(f"Items {name} per day", days, [series[name][d] for d in days], colours[name]),
         "total": sum(series[name].values())}
        for name in ("added", "updated", "deleted", "failed")
    ]  # fmt: skip
    latest = list(db.execute(
        select(SyncSession, Mailbox.email).join(Mailbox, Mailbox.id == SyncSession.mailbox_id)
        .order_by(SyncSession.started_at.desc(), SyncSession.id.desc()).limit(10)
    ))  # fmt: skip
    return render_template(
        "admin/overview.html", charts=charts, latest=latest, queue=_queue_state(), budget=_budget(db),
        requests_chart=bar_chart("Salesforce and EWS requests per day", days, [requests_per_day[d] for d in days],
                                 "#6a1b9a"),
        open_health=db.scalar(select(func.count()).select_from(HealthEntry).where(HealthEntry.status == "open")),
        mailbox_count=db.scalar(select(func.count()).select_from(Mailbox)),
        push=push_section(redis(), db),
    )  # fmt: skip


def _queue_state() -> dict[str, Any]:
    try:
        return snapshot(redis())
    except RedisError as exc:
        return {"error": f"Redis at REDIS_URL does not answer: {exc}"}


def _budget(db) -> dict[str, Any]:
    """The org's daily API usage from the last session that recorded it, against the configured guard."""
    config = settings_store.apply_to_schedule(settings_store.load(db), schedule_config(settings()))
    row = db.scalars(
        select(SyncSession)
        .where(SyncSession.salesforce_usage.is_not(None))
        .order_by(SyncSession.started_at.desc(), SyncSession.id.desc())
        .limit(1)
    ).first()
    out: dict[str, Any] = {"max_percent": config.budget_max_percent, "max_requests": config.budget_max_requests}
    if row is not None and (row.salesforce_usage or {}).get("used") is not None:
        used, limit = int(row.salesforce_usage["used"]), int(row.salesforce_usage.get("max") or 0)
        out.update(used=used, limit=limit, at=row.finished_at or row.started_at,
                   percent=round(100 * used / limit, 2) if limit else None)  # fmt: skip
    return out


# -- mailboxes ------------------------------------------------------------------------------------------------
def _mailbox_rows(db) -> list[dict[str, Any]]:
    last: dict[int, SyncSession] = {}
    newest = (
        select(SyncSession.mailbox_id, func.max(SyncSession.id).label("id")).group_by(SyncSession.mailbox_id).subquery()
    )
    for row in db.scalars(select(SyncSession).join(newest, SyncSession.id == newest.c.id)):
        last[row.mailbox_id] = row
    per_mailbox = select(HealthEntry.mailbox_id, func.count()).where(HealthEntry.status == "open")
    open_counts = dict(db.execute(per_mailbox.group_by(HealthEntry.mailbox_id)).all())
    return [
        {"mailbox": m, "last": last.get(m.id), "open_health": open_counts.get(m.id, 0)}
        for m in mailboxes.all_mailboxes(db)
    ]


@bp.get("/mailboxes")
def mailbox_list():
    return render_template("admin/mailboxes.html", rows=_mailbox_rows(db_session()), errors=[],
                           form={"backend": settings().exchange_backend})  # fmt: skip


@bp.post("/mailboxes")
def mailbox_add():
    db = db_session()
    form = {k: request.form.get(k, "").strip() for k in ("email", "salesforce_user_id", "time_zone", "backend")}
    try:
        existing = mailboxes.find(db, form["email"]) if form["email"] else None
        if existing is not None:
            raise mailboxes.MailboxError(f"{existing.email} is already a synced mailbox")
        mailbox = mailboxes.add(
            db, form["email"], form["salesforce_user_id"] or None, time_zone=form["time_zone"] or None,
            backend=form["backend"] or None, default_backend=settings().exchange_backend,
        )  # fmt: skip
        db.flush()
    except mailboxes.MailboxError as exc:
        db.rollback()
        return form_error("admin/mailboxes.html", [str(exc)], rows=_mailbox_rows(db), form=form)
    audit.record(db, actor=actor(), action="mailbox.add", target=f"mailbox:{mailbox.email}",
                 after={"email": mailbox.email, "salesforce_user_id": mailbox.salesforce_user_id,
                        "time_zone": mailbox.time_zone, "backend": mailbox.backend})  # fmt: skip
    db.commit()
    flash(f"{mailbox.email} added: it syncs at the scheduler's next pass.")
    return redirect(url_for("admin.mailbox_list"), 303)


def _back() -> str:
    """Where a mailbox action returns to: a panel page the form named, never another site."""
    back = request.form.get("back", "")
    return back if back.startswith("/admin/") and not back.startswith("//") else url_for("admin.mailbox_list")


def _mailbox_or_404(mailbox_id: int) -> Mailbox:
    mailbox = db_session().get(Mailbox, mailbox_id)
    if mailbox is None:
        abort(404, description=f"No mailbox {mailbox_id}.")
    return mailbox


@bp.get("/mailboxes/<int:mailbox_id>")
def mailbox_detail(mailbox_id: int):
    db = db_session()
    mailbox = _mailbox_or_404(mailbox_id)
    sessions = list(db.scalars(select(SyncSession).where(SyncSession.mailbox_id == mailbox.id)
                               .order_by(SyncSession.started_at.desc(), SyncSession.id.desc()).limit(10)))  # fmt: skip
    return render_template(
        "admin/mailbox.html", mailbox=mailbox, sessions=sessions, entries=health.open_entries(db, mailbox.id)
    )


@bp.post("/mailboxes/<int:mailbox_id>/enabled")
def mailbox_enable(mailbox_id: int):
    db = db_session()
    mailbox = _mailbox_or_404(mailbox_id)
    value = request.form.get("enabled") == "1"
    before = mailbox.enabled
    mailbox.enabled = value
    audit.record(db, actor=actor(), action="mailbox.enabled", target=f"mailbox:{mailbox.email}",
                 before={"enabled": before}, after={"enabled": value})  # fmt: skip
    db.commit()
    flash(f"{mailbox.email}: sync {'enabled' if value else 'disabled'}.")
    return redirect(_back(), 303)


@bp.post("/mailboxes/<int:mailbox_id>/sync-now")
def mailbox_sync_now(mailbox_id: int):
    db = db_session()
    mailbox = _mailbox_or_404(mailbox_id)
    outcome = _sync_now(mailbox)
    audit.record(
        db, actor=actor(), action="mailbox.sync_now", target=f"mailbox:{mailbox.email}", after={"outcome": outcome}
    )
    db.commit()
    return redirect(_back(), 303)


def _sync_now(mailbox: Mailbox) -> str:
    """Enqueue a session at once (a worker runs it); without Redis, make the mailbox due for the scheduler."""
    if not mailbox.enabled:
        flash(f"{mailbox.email} is disabled: enable it first.", "error")
        return "disabled"
    mailbox.next_sync_at = utcnow()
    profiles.mark_stale(db_session(), mailbox)  # "sync now" reads the rep's Salesforce user again (issue 19)
    try:
        outcome = sync_now(session_queue(settings().sync_queue, redis()), mailbox.id, schedule_config(settings()))
    except RedisError as exc:
        flash(f"{mailbox.email}: Redis does not answer ({exc}); the scheduler will pick it up once it does.", "error")
        return "redis_unavailable"
    flash({"enqueued": f"{mailbox.email}: session enqueued.",
           "requeued": f"{mailbox.email}: its failed session was requeued.",
           "duplicate": f"{mailbox.email}: a session is already queued or running."}[outcome])  # fmt: skip
    return outcome


@bp.post("/mailboxes/<int:mailbox_id>/reset")
def mailbox_reset(mailbox_id: int):
    """Forget the change cursors: the next session reads both calendars in full (links stay, so no duplicates)."""
    db = db_session()
    mailbox = _mailbox_or_404(mailbox_id)
    before = {
        "exchange_sync_state": bool(mailbox.exchange_sync_state),
        "salesforce_watermarks": dict(mailbox.salesforce_watermarks or {}),
    }
    mailbox.exchange_sync_state = None
    mailbox.salesforce_watermarks = {}
    mailbox.category_state = {}
    mailbox.backoff_until = None
    mailbox.backoff_reason = None
    audit.record(db, actor=actor(), action="mailbox.reset_sync_state", target=f"mailbox:{mailbox.email}",
                 before=before, after={"exchange_sync_state": False, "salesforce_watermarks": {}})  # fmt: skip
    db.commit()
    flash(f"{mailbox.email}: sync state reset; the next session reads both calendars in full.")
    return redirect(_back(), 303)


# -- health ---------------------------------------------------------------------------------------------------
HEALTH_STATUSES = ("open", "ignored", "resolved")


@bp.get("/health")
def health_list():
    db = db_session()
    status = request.args.get("status", "open")
    if status not in HEALTH_STATUSES:
        status = "open"
    rows = list(db.execute(
        select(HealthEntry, Mailbox.email).outerjoin(Mailbox, Mailbox.id == HealthEntry.mailbox_id)
        .where(HealthEntry.status == status).order_by(HealthEntry.last_seen.desc(), HealthEntry.id.desc()).limit(500)
    ))  # fmt: skip
    return render_template("admin/health.html", rows=rows, status=status, statuses=HEALTH_STATUSES)


def _entry_or_404(entry_id: int) -> HealthEntry:
    entry = db_session().get(HealthEntry, entry_id)
    if entry is None:
        abort(404, description=f"No health entry {entry_id}.")
    return entry


@bp.post("/health/<int:entry_id>/<any(retry, ignore, reopen):action>")
def health_action(entry_id: int, action: str):
    db = db_session()
    entry = _entry_or_404(entry_id)
    before = {"status": entry.status}
    if action == "ignore":
        entry.status = "ignored"
        flash(f"Ignored {entry.code} on {entry.item_ref}: it stays quiet until you reopen it.")
    elif action == "reopen":
        entry.status = "open"
        flash(f"Reopened {entry.code} on {entry.item_ref}.")
    else:
        entry.status = "open"
        mailbox = db.get(Mailbox, entry.mailbox_id) if entry.mailbox_id else None
        if mailbox is None:
            flash("This entry belongs to no mailbox: nothing to retry.", "error")
        else:
            if entry.item_ref == health.MAILBOX_REF:
                mailbox.backoff_until = None  # e.g. an API budget pause: try again now
            _sync_now(mailbox)
    audit.record(db, actor=actor(), action=f"health.{action}", target=f"health:{entry.id}:{entry.code}",
                 before=before, after={"status": entry.status})  # fmt: skip
    db.commit()
    return redirect(url_for("admin.health_list", status=request.form.get("back_status", "open")), 303)


# -- sessions -------------------------------------------------------------------------------------------------
SESSION_OUTCOMES = ("ok", "partial", "failed", "running", "abandoned")


@bp.get("/sessions")
def session_list():
    db = db_session()
    query = select(SyncSession, Mailbox.email).join(Mailbox, Mailbox.id == SyncSession.mailbox_id)
    mailbox_filter = request.args.get("mailbox", "")
    outcome = request.args.get("outcome", "")
    if mailbox_filter.isdigit():
        query = query.where(SyncSession.mailbox_id == int(mailbox_filter))
    if outcome in SESSION_OUTCOMES:
        query = query.where(SyncSession.status == outcome)
    rows = list(db.execute(query.order_by(SyncSession.started_at.desc(), SyncSession.id.desc()).limit(SESSIONS_SHOWN)))
    return render_template("admin/sessions.html", rows=rows, mailboxes=mailboxes.all_mailboxes(db),
                           mailbox_filter=mailbox_filter, outcome=outcome, outcomes=SESSION_OUTCOMES)  # fmt: skip


# -- settings -------------------------------------------------------------------------------------------------
def _settings_context(db, current: settings_store.OrgSettings) -> dict[str, Any]:
    env = schedule_config(settings())
    defaults = {
        "intervals": ", ".join(str(m) for m in env.intervals), "budget_max_requests": env.budget_max_requests,
        "budget_max_percent": env.budget_max_percent, "scope_past_days": 14, "scope_future_days": 60,
        "guard_min_count": 5, "guard_percent": 20,
    }  # fmt: skip
    values = {
        "intervals": ", ".join(str(m) for m in current.intervals) if current.intervals else "",
        "budget_max_requests": current.budget_max_requests,
        "budget_max_percent": current.budget_max_percent,
        "scope_past_days": current.scope_past_days,
        "scope_future_days": current.scope_future_days,
        "guard_min_count": current.guard_min_count,
        "guard_percent": None if current.guard_fraction is None else round(current.guard_fraction * 100, 2),
    }
    return {"defaults": defaults, "values": {k: "" if v is None else v for k, v in values.items()},
            "help": help.SETTINGS}  # fmt: skip


def _number(form, name: str, label: str, errors: list[str], kind=int):
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        errors.append(f"{label} must be a {'whole ' if kind is int else ''}number, not {raw!r}.")
        return None


def parse_settings(form) -> tuple[settings_store.OrgSettings, list[str]]:
    errors: list[str] = []
    intervals = None
    raw = form.get("intervals", "").strip()
    if raw:
        try:
            intervals = tuple(int(part) for part in raw.replace(";", ",").split(",") if part.strip())
        except ValueError:
            errors.append(f"Session intervals must be whole minutes separated by commas, not {raw!r}.")
    percent = _number(form, "guard_percent", "The mass-deletion guard share", errors, float)
    parsed = settings_store.OrgSettings(
        intervals=intervals,
        budget_max_requests=_number(form, "budget_max_requests", "The API request limit", errors),
        budget_max_percent=_number(form, "budget_max_percent", "The API budget percentage", errors, float),
        scope_past_days=_number(form, "scope_past_days", "Default scope past days", errors),
        scope_future_days=_number(form, "scope_future_days", "Default scope future days", errors),
        guard_min_count=_number(form, "guard_min_count", "The mass-deletion guard minimum", errors),
        guard_fraction=None if percent is None else percent / 100,
    )
    return parsed, errors + parsed.problems()


@bp.route("/settings", methods=["GET", "POST"])
def org_settings():
    db = db_session()
    current = settings_store.load(db)
    if request.method == "GET":
        return render_template("admin/settings.html", errors=[], **_settings_context(db, current))
    parsed, errors = parse_settings(request.form)
    if errors:
        context = _settings_context(db, current)
        context["values"] = {k: request.form.get(k, "") for k in context["values"]}
        return form_error("admin/settings.html", errors, **context)
    settings_store.save(db, parsed)
    audit.record(db, actor=actor(), action="settings.update", target="settings:engine", before=current.to_dict(),
                 after=parsed.to_dict())  # fmt: skip
    db.commit()
    flash("Settings saved: sessions use them from their next run.")
    return redirect(url_for("admin.org_settings"), 303)


# -- audit log ------------------------------------------------------------------------------------------------
@bp.get("/audit")
def audit_log():
    return render_template("admin/audit.html", entries=audit.latest(db_session()))
