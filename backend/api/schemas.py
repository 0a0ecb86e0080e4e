"""Every request and answer of ``/api/v1``, declared once as marshmallow schemas.

From these the OpenAPI document is generated (``backend/api/spec.py``), requests are parsed and validated
(webargs, through flask-smorest's ``@bp.arguments``) and answers are serialised (``@bp.response``).

Request fields may carry ``metadata={"error_code": ...}``: the stable code a failed check of that field is
answered with (``backend/api/spec.py`` turns the first failure into an ``ApiError``; default ``invalid_body``),
and ``"type_error_code"`` when a value of the wrong type is answered otherwise. The field's own error messages
are the sentence the rep reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from backend.api import records

SESSION_STATUSES = ["running", "ok", "partial", "failed", "abandoned"]
# RQ job states, then ``finished`` for a session whose job has gone (result_ttl=0).
JOB_STATUSES = ["queued", "started", "scheduled", "deferred", "finished", "failed", "stopped", "canceled"]
MAX_WHO = 50  # Salesforce's limit of people on one Event (Shared Activities)
MIN_QUERY, MAX_QUERY = 2, 80
# EWS ids are base64 (a few hundred characters); REST ids the same with - and _.
ITEM_ID_PATTERN = r"^[A-Za-z0-9+/_=-]{20,1024}$"
JOB_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class Timestamp(fields.DateTime):
    """A UTC timestamp written ``2026-01-02T03:04:05.123456Z`` (the task pane parses it with ``Date``)."""

    def _serialize(self, value: dt.datetime | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value is not None else None


class TypeList(fields.String):
    """``types`` of a lookup: comma-separated record types, blanks ignored; empty means all of them."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text:
            return list(records.TYPES)
        types = [t.strip() for t in text.split(",") if t.strip()]
        if not types or any(t not in records.TYPES for t in types):
            raise self.make_error("invalid")
        return list(dict.fromkeys(types))


class Strict(Schema):
    """Unknown members are refused on input (typos must not pass silently) and documented as not allowed."""

    class Meta:
        unknown = RAISE


class Parameters(Schema):
    """Path and query parameters: other query parameters are ignored, as browsers and proxies add some."""

    class Meta:
        unknown = EXCLUDE


def _nullable_string(**kwargs: Any) -> fields.String:
    return fields.String(required=True, allow_none=True, **kwargs)


# -- errors -----------------------------------------------------------------------------------------------
class ErrorBody(Strict):
    code = fields.String(
        required=True, metadata={"description": "Stable, machine-readable: `invalid_token`, `mailbox_not_found`, ..."}
    )
    message = fields.String(required=True, metadata={"description": "What went wrong, in plain words."})


class Error(Strict):
    """Every error answer (``backend/errors.py``)."""

    error = fields.Nested(ErrorBody, required=True)


# -- requests ---------------------------------------------------------------------------------------------
class ItemPath(Parameters):
    item_id = fields.String(
        required=True,
        validate=validate.Regexp(ITEM_ID_PATTERN, error="This is not an Outlook item id."),
        metadata={
            "error_code": "invalid_item_id",
            "description": (
                "The item's id in EWS form (`AAMkA...`) or REST form (Office.js `item.itemId` in Outlook on the web, "
                "or `convertToRestId`: `-` and `_` instead of `/` and `+`), or for a mailbox on Microsoft Graph its "
                "immutable id. It must be an item of the caller's own mailbox (403 otherwise)."
            ),
        },
    )


class JobPath(Parameters):
    job_ref = fields.String(
        required=True,
        validate=validate.Regexp(JOB_ID_PATTERN, error="No such job."),
        metadata={
            "error_code": "job_not_found",
            "description": "The id `POST /sync` or a share answered (`sync-<n>`).",
        },
    )


class ShareRequest(Strict):
    """The Who (Contacts, Leads) and What (an Account or Opportunity) of a share; both may be left out."""

    who_ids = fields.List(
        fields.String(
            validate=validate.Regexp(
                records.id_pattern("who"), error="{input!r} is not a Salesforce Contact or Lead id."
            ),
            error_messages={"invalid": "whoIds must be a list of Salesforce Contact or Lead ids."},
            metadata={"error_code": "invalid_who", "type_error_code": "invalid_body"},
        ),
        data_key="whoIds",
        load_default=list,
        validate=validate.Length(max=MAX_WHO, error=f"At most {MAX_WHO} people can be linked to one event."),
        error_messages={
            "invalid": "whoIds must be a list of Salesforce Contact or Lead ids.",
            "null": "whoIds must be a list of Salesforce Contact or Lead ids.",
        },
        metadata={"description": "Contact and Lead ids."},
    )
    what_id = fields.String(
        data_key="whatId",
        allow_none=True,
        load_default=None,
        validate=validate.Regexp(
            records.id_pattern("what"), error="{input!r} is not a Salesforce Account or Opportunity id."
        ),
        error_messages={"invalid": "whatId must be a Salesforce Account or Opportunity id, or null."},
        metadata={
            "error_code": "invalid_what",
            "type_error_code": "invalid_body",
            "description": "An Account or Opportunity id.",
        },
    )


class LookupQuery(Parameters):
    q = fields.String(
        required=True,
        validate=validate.Length(MIN_QUERY, MAX_QUERY, error=f"Type {MIN_QUERY} to {MAX_QUERY} characters to search."),
        error_messages={"required": f"Type {MIN_QUERY} to {MAX_QUERY} characters to search."},
        metadata={
            "error_code": "invalid_query",
            "description": f"Text the record's name contains ({MIN_QUERY} to {MAX_QUERY} characters).",
        },
    )
    types = TypeList(
        load_default=lambda: list(records.TYPES),
        error_messages={"invalid": f"types must be a comma-separated list of {', '.join(records.TYPES)}."},
        metadata={
            "error_code": "invalid_types",
            "description": f"Comma-separated: {', '.join(records.TYPES)} (default: all).",
            "pattern": records.type_list_pattern(),
        },
    )


# -- answers ----------------------------------------------------------------------------------------------
class Health(Strict):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))
    version = fields.String(required=True, metadata={"description": "The calsync release."})


class SessionSummary(Strict):
    status = fields.String(required=True, validate=validate.OneOf(SESSION_STATUSES))
    started_at = Timestamp(required=True)
    finished_at = Timestamp(required=True, allow_none=True)
    trigger = _nullable_string(
        metadata={
            "description": "Why it ran: `push` (a change noticed in Outlook or Salesforce), `schedule`, `now` (asked "
            "for), `share`, `unshare`; null for sessions from before this was kept."
        }
    )


class PushState(Strict):
    state = fields.String(
        required=True,
        validate=validate.OneOf(["up", "down", "off", "none"]),
        metadata={
            "description": "`up`: Outlook changes of this mailbox are notified, so they sync within about a "
            "minute; `down`: notifications stopped, the mailbox is polled until they are back; `off`: push is not "
            "configured for it (polled); `none`: polled."
        },
    )
    pending = fields.Boolean(
        required=True, metadata={"description": "A change was noticed and its session has not started yet."}
    )


class MailboxState(Strict):
    state = fields.String(
        required=True,
        validate=validate.OneOf(["active", "backing_off", "disabled"]),
        metadata={"description": "`backing_off`: sync is paused after errors until `backoff_until`."},
    )
    enabled = fields.Boolean(required=True)
    next_sync_at = Timestamp(required=True, allow_none=True)
    backoff_until = Timestamp(required=True, allow_none=True)
    backoff_reason = _nullable_string()
    last_session = fields.Nested(SessionSummary, required=True, allow_none=True)


class Me(Strict):
    email = fields.Email(required=True)
    name = _nullable_string()
    salesforce_user_id = _nullable_string(
        metadata={
            "pattern": "^005[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$",
            "description": "Null until the first sync finds the Salesforce user by e-mail.",
        }
    )
    mailbox = fields.Nested(MailboxState, required=True)


class Category(Strict):
    name = fields.String(required=True)
    color = fields.Integer(required=True, validate=validate.Range(-1, 24), metadata={"description": "-1: no colour."})
    preset = _nullable_string(metadata={"description": "Office.js CategoryColor name."})
    kinds = fields.List(fields.String(), required=True)
    read_only = fields.Boolean(required=True, metadata={"description": "Items of this category come from Salesforce."})


class Categories(Strict):
    categories = fields.List(fields.Nested(Category), required=True)


class Record(Strict):
    id = fields.String(required=True)
    type = _nullable_string(validate=validate.OneOf(list(records.TYPES)))
    name = _nullable_string(metadata={"description": "Null when Salesforce cannot say."})
    detail = _nullable_string(metadata={"description": "E-mail, company, city or stage."})


class SalesforceLink(Strict):
    object = fields.String(required=True)
    id = fields.String(required=True)
    url = _nullable_string(metadata={"description": "The record's page in Salesforce."})


class LastSession(SessionSummary):
    error = _nullable_string()


class HealthNote(Strict):
    code = fields.String(required=True)
    message = fields.String(required=True, metadata={"description": "What is wrong, in plain words."})
    side = fields.String(required=True)
    scope = fields.String(required=True, validate=validate.OneOf(["item", "mailbox"]))
    first_seen = Timestamp(required=True)
    last_seen = Timestamp(required=True)
    attempts = fields.Integer(required=True)


class Item(Strict):
    item_id = fields.String(required=True, metadata={"description": "The EWS id."})
    subject = _nullable_string()
    state = fields.String(
        required=True,
        validate=validate.OneOf(["not_shared", "pending", "synced", "failed"]),
        metadata={"description": "`pending`: shared, waiting for the next session."},
    )
    shared = fields.Boolean(required=True)
    kind = fields.String(required=True, metadata={"description": "`event`, `task` or `custom:<Object>`."})
    category = fields.String(required=True)
    read_only = fields.Boolean(required=True)
    read_only_reason = _nullable_string()
    on_unshare = fields.String(required=True, validate=validate.OneOf(["keep_salesforce", "delete_salesforce"]))
    salesforce = fields.Nested(SalesforceLink, required=True, allow_none=True)
    who = fields.List(fields.Nested(Record), required=True)
    what = fields.Nested(Record, required=True, allow_none=True)
    last_sync = fields.Nested(LastSession, required=True, allow_none=True)
    push = fields.Nested(PushState, required=True, allow_none=True, metadata={"description": "Null: not known."})
    health = fields.List(fields.Nested(HealthNote), required=True)
    notice = _nullable_string()


class JobRef(Strict):
    id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["enqueued", "requeued", "duplicate"]))
    reason = fields.String(required=True)


class ShareAnswer(Strict):
    item = fields.Nested(Item, required=True)
    job = fields.Nested(JobRef, required=True)


class UnshareAnswer(Strict):
    item = fields.Nested(Item, required=True)
    job = fields.Nested(JobRef, required=True, allow_none=True)
    message = fields.String(required=True)


class Lookup(Strict):
    query = fields.String(required=True)
    results = fields.List(fields.Nested(Record), required=True)


class Progress(Strict):
    phase = fields.String(required=True, validate=validate.OneOf(["reading", "planning", "applying", "done"]))
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)


class Job(Strict):
    id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(JOB_STATUSES))
    running = fields.Boolean(required=True, metadata={"description": "Keep polling while true."})
    progress = fields.Nested(Progress, required=True, allow_none=True)
    error = _nullable_string(metadata={"description": "Why the sync failed, in plain words."})
    last_session = fields.Nested(LastSession, required=True, allow_none=True)
    push = fields.Nested(PushState, required=True, allow_none=True, metadata={"description": "Null: not known."})
