"""One function per Graph operation; each runs under the Exchange store lock and returns a ``Reply``."""

from __future__ import annotations

import copy as _copy
import datetime as dt
import re
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from sandbox.exchange import calendar
from sandbox.exchange import ids as ews_ids
from sandbox.exchange.errors import EwsError
from sandbox.exchange.store import Item, Mailbox
from sandbox.exchange.xml import child_text, t, utcnow

from . import categories, events, ids, views
from . import delta as rounds
from .errors import GraphError, bad_request

if TYPE_CHECKING:
    from . import GraphSandbox
    from .app import Call, Reply

DEFAULT_PAGE = 10  # $top default of /events and /calendarView
DEFAULT_DELTA_PAGE = 100
MAX_PAGE = 1000
_SERIES_FIELDS = {"Start", "End", "Recurrence", "StartTimeZone", "EndTimeZone", "IsAllDayEvent"}


def _reply(status: int, body=None, headers=None) -> Reply:
    from .app import Reply

    return Reply(status, body, dict(headers or {}))


# -- request options ---------------------------------------------------------------------------------------------
def prefer(call: Call) -> dict[str, str]:
    """The Prefer header's preferences (name lower-cased -> value without quotes)."""
    raw = ",".join(v for k, v in call.headers.items() if k.lower() == "prefer")
    out = {}
    for part in re.findall(r'[^,"]+(?:"[^"]*")?', raw):
        name, _, value = part.strip().partition("=")
        if name:
            out[name.strip().lower()] = value.strip().strip('"')
    return out


def view_of(sb: GraphSandbox, call: Call, user: str) -> events.View:
    prefs = prefer(call)
    tz = prefs.get("outlook.timezone") or "UTC"
    events.windows_zone(tz)  # 400 for unknown zones
    return events.View(
        timezone=tz,
        immutable=prefs.get("idtype", "").lower() == "immutableid",
        base_url=call.base_url,
        user=user,
    )


def _applied(view: events.View, extra: list[str] = ()) -> dict[str, str]:
    applied = list(extra)
    if view.timezone != "UTC":
        applied.append(f'outlook.timezone="{view.timezone}"')
    if view.immutable:
        applied.append('IdType="ImmutableId"')
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


def _page_size(call: Call, default: int) -> tuple[int, list[str]]:
    value = prefer(call).get("odata.maxpagesize")
    if value is None:
        return default, []
    try:
        size = max(1, min(MAX_PAGE, int(value)))
    except ValueError:
        return default, []
    return size, [f"odata.maxpagesize={size}"]


def _q(call: Call, name: str) -> str | None:
    """A query parameter, case-insensitively (Graph's own samples spell startdatetime in lower case)."""
    for k in call.query:
        if k.lower() == name.lower():
            return call.query.get(k)
    return None


def _int_param(call: Call, name: str, default: int) -> int:
    value = _q(call, name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid value '{value}' for the query option {name}.") from None
    if number < 0:
        raise GraphError(400, "BadRequest", f"Invalid value '{value}' for the query option {name}.")
    return number


_QUERY_OPTIONS = {
    "list_events": {"$filter", "$expand", "$select", "$top", "$skip"},
    "get_event": {"$expand", "$select"},
    "calendar_view": {"$select", "$top", "$skip"},
    "list_folder_messages": {"$filter", "$select", "$top", "$skip"},
}


def _check_options(call: Call, handler: str) -> None:
    """Refuse OData options the sandbox does not implement, rather than ignore them (Graph would apply them)."""
    allowed = _QUERY_OPTIONS[handler]
    for key in call.query:
        if key.startswith("$") and key.lower() not in {a.lower() for a in allowed}:
            raise GraphError(400, "BadRequest", f"The query option '{key}' is not supported by the sandbox.")


def _window(call: Call) -> tuple[dt.datetime, dt.datetime]:
    start, end = _q(call, "startDateTime"), _q(call, "endDateTime")
    if not start or not end:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and "
            "EndDateTime.",
        )
    try:
        window = events.parse_graph_datetime(start), events.parse_graph_datetime(end)
    except GraphError:
        raise GraphError(
            400, "ErrorInvalidParameter", "StartDateTime or EndDateTime is not a valid date-time."
        ) from None
    if window[1] < window[0]:
        raise GraphError(400, "ErrorInvalidParameter", "EndDateTime must not be before StartDateTime.")
    return window


def _context(call: Call, user: str, tail: str) -> str:
    return f"{call.base_url}/v1.0/$metadata#users('{quote(user)}')/{tail}"


def _link(call: Call, user: str, path: str, params: dict[str, str]) -> str:
    return f"{call.base_url}/v1.0/users/{quote(user)}/{path}?{urlencode(params, safe='$')}"


# -- items --------------------------------------------------------------------------------------------------------
def find_event(mb: Mailbox, event_id: str) -> tuple[Item, int | None]:
    try:
        parsed = ids.parse(event_id)
    except ews_ids.BadId:
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.") from None
    if parsed.kind == ews_ids.FOLDER:
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    if parsed.mailbox != mb.guid:
        raise GraphError(404, "ErrorInvalidMailboxItemId", "Item Id doesn't belong to the current mailbox.")
    item = mb.items.get(parsed.base())
    if item is None or item.folder_id != mb.distinguished["calendar"]:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    occurrence = parsed.original_start
    if occurrence is not None:
        try:
            calendar.check_occurrence(item, occurrence)
        except EwsError:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.") from None
    return item, occurrence


def _ews_error(e: EwsError) -> GraphError:
    return GraphError(400, e.code, e.text or e.code)


def _check_etag(call: Call, item: Item) -> None:
    given = call.header("If-Match")
    if not given or given.strip() == "*":
        return
    value = given.strip()
    value = value[2:] if value.startswith("W/") else value
    if value.strip('"') != item.changekey:
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the request "
            "does not match the current change key for the item.",
        )


def _record_message(sb: GraphSandbox, operation: str, mb: Mailbox, item: Item, kind: str, occurrence) -> None:
    """Log the meeting message real Graph would send (it always does: there is no SendToNone in Graph)."""
    organizer = child_text(item.fields.get("Organizer"), f"{t('Mailbox')}/{t('EmailAddress')}", mb.email) or ""
    is_organizer = organizer.lower() == mb.email.lower()
    recipients = []
    if is_organizer:
        for name in ("RequiredAttendees", "OptionalAttendees", "Resources"):
            e = item.fields.get(name)
            if e is not None:
                recipients += [a.findtext(f"{t('Mailbox')}/{t('EmailAddress')}") for a in e.iter(t("Attendee"))]
    recipients = [r for r in recipients if r]
    subject = item.fields.get("Subject")
    sb.exchange.record_call(
        {
            "operation": operation,
            "protocol": "graph",
            "mailbox": mb.email,
            "item_id": item.id,
            "occurrence": occurrence,
            "setting": "SendToAllAndSaveCopy",
            "kind": kind,
            "sent": bool(recipients),
            "recipients": recipients,
            "subject": subject.text if subject is not None else None,
            "time": utcnow().isoformat(),
        }
    )


# -- $expand / $filter -------------------------------------------------------------------------------------------
_EXPAND = re.compile(r"^singleValueExtendedProperties\(\$filter=(?P<filter>.+)\)$", re.I)
_ID_EQ = re.compile(r"^\s*id\s+eq\s+'(?P<id>(?:[^']|'')*)'\s*$", re.I)
_ANY = re.compile(
    r"^\s*singleValueExtendedProperties/any\(\s*(?P<v>\w+)\s*:\s*(?P=v)/id\s+eq\s+'(?P<id>(?:[^']|'')*)'\s+and\s+"
    r"(?:(?P=v)/value\s+(?P<op>eq|ne)\s+'(?P<value>(?:[^']|'')*)'|(?P<fn>startswith|contains)\(\s*(?P=v)/value\s*,"
    r"\s*'(?P<fvalue>(?:[^']|'')*)'\s*\))\s*\)\s*$",
    re.I,
)


def _unquote(text: str) -> str:
    return text.replace("''", "'")


def parse_expand(call: Call) -> list[tuple[tuple, str]]:
    expand = _q(call, "$expand")
    if not expand:
        return []
    m = _EXPAND.match(expand.strip())
    if m is None:
        raise GraphError(
            400,
            "BadRequest",
            "The sandbox expands singleValueExtendedProperties($filter=id eq '...') only.",
        )
    out = []
    for clause in re.split(r"\s+or\s+", m.group("filter"), flags=re.I):
        idm = _ID_EQ.match(clause)
        if idm is None:
            raise GraphError(400, "ErrorInvalidUrlQueryFilter", "The $filter of the $expand is not supported.")
        requested = _unquote(idm.group("id"))
        key, _, _ = events.parse_ext_id(requested)
        out.append((key, requested))
    return out


def parse_filter(call: Call):
    """A predicate over (item) for ``$filter=singleValueExtendedProperties/Any(...)`` (or None)."""
    text = _q(call, "$filter")
    if not text:
        return None
    m = _ANY.match(text)
    if m is None:
        raise GraphError(
            400,
            "ErrorInvalidUrlQueryFilter",
            "The sandbox filters events by singleValueExtendedProperties/Any(ep: ep/id eq '...' and ep/value "
            "eq|ne '...') or startswith/contains(ep/value, '...') only.",
        )
    key, _, _ = events.parse_ext_id(_unquote(m.group("id")))
    if m.group("op"):
        op, wanted = m.group("op").lower(), _unquote(m.group("value")).lower()
    else:
        op, wanted = m.group("fn").lower(), _unquote(m.group("fvalue")).lower()

    def matches(item: Item) -> bool:
        # The Name part of the id is compared exactly (the key); the value case-insensitively, as Graph does.
        value = events.ext_value(item, key, None)
        if value is None:
            return False
        value = value.lower()
        return {
            "eq": value == wanted,
            "ne": value != wanted,
            "startswith": value.startswith(wanted),
            "contains": wanted in value,
        }[op]

    return matches


def parse_select(call: Call) -> set[str] | None:
    select = _q(call, "$select")
    return {s.strip() for s in select.split(",") if s.strip()} if select else None


# -- users and calendar --------------------------------------------------------------------------------------------
def get_user(sb: GraphSandbox, call: Call, mb: Mailbox) -> Reply:
    return _reply(
        200,
        {
            "@odata.context": f"{call.base_url}/v1.0/$metadata#users/$entity",
            "id": sb.object_id(mb.email),
            "displayName": mb.name,
            "mail": mb.email,
            "userPrincipalName": mb.email,
        },
    )


def get_calendar(sb: GraphSandbox, call: Call, mb: Mailbox) -> Reply:
    folder = mb.folder("calendar")
    return _reply(
        200,
        {
            "id": ids.rest_id(ews_ids.decode(folder.id)),
            "name": "Calendar",
            "color": "auto",
            "changeKey": folder.changekey,
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "isDefaultCalendar": True,
            "owner": {"name": mb.name, "address": mb.email},
        },
    )


# -- calendarView and delta ------------------------------------------------------------------------------------------
def calendar_view(sb: GraphSandbox, call: Call, mb: Mailbox) -> Reply:
    _check_options(call, "calendar_view")
    window = _window(call)
    view = view_of(sb, call, mb.email)
    view.select = parse_select(call)
    top = _int_param(call, "$top", DEFAULT_PAGE)
    skip = _int_param(call, "$skip", 0)
    found = views.instances(mb, *window)
    page = found[skip : skip + min(max(top, 1), MAX_PAGE)]
    body = {
        "@odata.context": _context(call, call.path.split("/")[2], "calendarView"),
        "value": [events.render(mb, item, view, occ) for _, item, occ in page],
    }
    if skip + len(page) < len(found):
        params = {k: v for k, v in call.query.items()}
        params["$skip"] = str(skip + len(page))
        body["@odata.nextLink"] = _link(call, call.path.split("/")[2], "calendarView", params)
    return _reply(200, body, _applied(view))


_DELTA_UNSUPPORTED = ("$select", "$expand", "$filter", "$orderby", "$search", "$top", "$skip", "$count")


def delta_link_params(window) -> dict[str, str]:
    return {
        "startDateTime": window[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endDateTime": window[1].strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def delta(sb: GraphSandbox, call: Call, mb: Mailbox) -> Reply:
    unsupported = [k for k in call.query if k.lower() in _DELTA_UNSUPPORTED]
    if unsupported:
        raise GraphError(
            400,
            "ErrorInvalidUrlQuery",
            "The following parameters are not supported with change tracking over the 'CalendarView' resource: "
            f"'{', '.join(sorted(unsupported))}'.",
        )
    user = call.path.split("/")[2]
    view = view_of(sb, call, user)
    skip, token = _q(call, "$skiptoken"), _q(call, "$deltatoken")
    states = sb.delta_states
    if (skip or token) and sb.faults.take("delta_sync_state_not_found", "calendarView.delta"):
        states.get("", rounds.Baseline)  # raises syncStateNotFound
    rnd, position = None, 0
    if skip:
        rnd, position = states.resolve_skip(skip)
        window = rnd.window
    elif token:
        baseline = states.get(token, rounds.Baseline)
        window = baseline.window
    else:
        window = _window(call)
        baseline = None
    if sb.faults.take("delta_gone", "calendarView.delta"):
        location = _link(call, user, "calendarView/delta", delta_link_params(window))
        raise GraphError(
            410,
            "resyncRequired",
            "The delta token is no longer valid: the mailbox was moved or maintained. Start a new full round.",
            {"Location": location},
        )
    if rnd is None:
        tombstones = [(i, d) for i, (_, d) in mb.folder("calendar").tombstones.items()]
        if baseline is not None and baseline.mailbox != mb.email.lower():
            states.get("", rounds.Baseline)
        rnd = rounds.start_round(mb, sb.exchange.store.seq, window, baseline, tombstones)
    elif rnd.mailbox != mb.email.lower():
        states.get("", rounds.Baseline)
    size, applied = _page_size(call, DEFAULT_DELTA_PAGE)
    context = _context(call, user, "events(*)")
    if sb.faults.take("delta_empty_page", "calendarView.delta"):
        link = _link(call, user, "calendarView/delta", {"$skiptoken": states.skip_token(rnd, position)})
        return _reply(200, {"@odata.context": context, "@odata.nextLink": link, "value": []}, _applied(view, applied))
    entries = rnd.entries[position : position + size]
    if sb.faults.take("delta_replay", "calendarView.delta"):
        # Graph may send an item again (replays and duplicates are documented): repeat up to two entries.
        entries = (rnd.entries[max(0, position - 2) : position] or entries[:1]) + entries
    value = [render_entry(mb, view, kind, canonical, window) for kind, canonical in entries]
    next_position = position + len(rnd.entries[position : position + size])
    body = {"@odata.context": context, "value": value}
    if next_position < len(rnd.entries):
        body["@odata.nextLink"] = _link(
            call, user, "calendarView/delta", {"$skiptoken": states.skip_token(rnd, next_position)}
        )
    else:
        body["@odata.deltaLink"] = _link(
            call, user, "calendarView/delta", {"$deltatoken": states.delta_token(rnd.next_baseline)}
        )
    return _reply(200, body, _applied(view, applied))


def render_entry(mb: Mailbox, view: events.View, kind: str, canonical: str, window) -> dict:
    parsed = ews_ids.decode(canonical)
    removed = {"@odata.type": "#microsoft.graph.event", "id": view.id_of(parsed), "@removed": {"reason": "deleted"}}
    if kind == "removed":
        return removed
    item = mb.items.get(parsed.base())
    if item is None or item.folder_id != mb.distinguished["calendar"]:
        return removed
    occurrence = parsed.original_start
    if occurrence is not None:
        try:
            calendar.check_occurrence(item, occurrence)
        except EwsError:
            return removed
    return {"@odata.type": "#microsoft.graph.event", **events.render(mb, item, view, occurrence, delta=True)}


# -- events ---------------------------------------------------------------------------------------------------------
def list_events(sb: GraphSandbox, call: Call, mb: Mailbox) -> Reply:
    _check_options(call, "list_events")
    user = call.path.split("/")[2]
    view = view_of(sb, call, user)
    view.expand_ext = parse_expand(call)
    view.select = parse_select(call)
    predicate = parse_filter(call)
    top = _int_param(call, "$top", DEFAULT_PAGE)
    skip = _int_param(call, "$skip", 0)
    found = [i for i in views.calendar_items(mb) if predicate is None or predicate(i)]
    found.sort(key=lambda i: (i.created, i.id))
    page = found[skip : skip + min(max(top, 1), MAX_PAGE)]
    body = {"@odata.context": _context(call, user, "events"), "value": [events.render(mb, i, view) for i in page]}
    if skip + len(page) < len(found):
        params = {k: v for k, v in call.query.items()}
        params["$skip"] = str(skip + len(page))
        body["@odata.nextLink"] = _link(call, user, "events", params)
    return _reply(200, body, _applied(view))


_MAIL_FOLDERS = {"deleteditems": "deleteditems", "inbox": "inbox", "sentitems": "sentitems", "drafts": "drafts"}


def list_folder_messages(sb: GraphSandbox, call: Call, mb: Mailbox, folder: str) -> Reply:
    """``GET /users/{id}/mailFolders/{well-known name}/messages``: the folder's items as messages, with the
    extended-property ``$filter`` of ``/events``. Calendar items moved to Deleted Items are listed too (as
    Outlook shows them there; ⚠ whether Graph's message collection includes them is unverified)."""
    _check_options(call, "list_folder_messages")
    user = call.path.split("/")[2]
    name = _MAIL_FOLDERS.get(folder.lower())
    if name is None:
        raise GraphError(404, "ErrorFolderNotFound", "The specified folder could not be found in the store.")
    view = view_of(sb, call, user)
    select = parse_select(call)
    predicate = parse_filter(call)
    top = _int_param(call, "$top", DEFAULT_PAGE)
    skip = _int_param(call, "$skip", 0)
    found = [i for i in mb.items_in(mb.folder(name).id) if predicate is None or predicate(i)]
    found.sort(key=lambda i: (i.created, i.id))
    page = found[skip : skip + min(max(top, 1), MAX_PAGE)]
    value = []
    for item in page:
        subject = item.fields.get("Subject")
        cats = item.fields.get("Categories")
        message = {
            "@odata.type": "#microsoft.graph.message",
            "@odata.etag": f'W/"{item.changekey}"',
            "id": view.id_of(ews_ids.decode(item.id)),
            "changeKey": item.changekey,
            "subject": subject.text or "" if subject is not None else "",
            "categories": [c.text or "" for c in cats] if cats is not None else [],
            "parentFolderId": ids.rest_id(ews_ids.decode(mb.folder(name).id)),
        }
        if select is not None:
            message = {k: v for k, v in message.items() if k in select | {"id", "@odata.etag", "@odata.type"}}
        value.append(message)
    body = {"@odata.context": _context(call, user, f"mailFolders('{folder}')/messages"), "value": value}
    if skip + len(page) < len(found):
        params = {k: v for k, v in call.query.items()}
        params["$skip"] = str(skip + len(page))
        body["@odata.nextLink"] = _link(call, user, f"mailFolders/{folder}/messages", params)
    return _reply(200, body, _applied(view))


def get_event(sb: GraphSandbox, call: Call, mb: Mailbox, event_id: str) -> Reply:
    _check_options(call, "get_event")
    user = call.path.split("/")[2]
    item, occurrence = find_event(mb, event_id)
    view = view_of(sb, call, user)
    view.expand_ext = parse_expand(call)
    view.select = parse_select(call)
    body = {"@odata.context": _context(call, user, "events/$entity"), **events.render(mb, item, view, occurrence)}
    return _reply(200, body, _applied(view))


def instances(sb: GraphSandbox, call: Call, mb: Mailbox, event_id: str) -> Reply:
    user = call.path.split("/")[2]
    item, occurrence = find_event(mb, event_id)
    window = _window(call)
    view = view_of(sb, call, user)
    found = [] if occurrence is not None or "Recurrence" not in item.fields else views.item_instances(item, *window)
    value = [events.render(mb, item, view, occ) for _, occ in found]
    return _reply(200, {"@odata.context": _context(call, user, "events"), "value": value}, _applied(view))


def create_event(sb: GraphSandbox, call: Call, mb: Mailbox) -> Reply:
    user = call.path.split("/")[2]
    body = call.body
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "BadRequest")
    view = view_of(sb, call, user)
    transaction = body.get("transactionId")
    if transaction is not None and not isinstance(transaction, str):
        raise GraphError(400, "RequestBodyRead", "transactionId must be a string.")
    if transaction and any(events.transaction_of(e) == transaction for e in views.calendar_items(mb)):
        # A retried POST whose first attempt went through: Graph refuses to make a second event.
        raise GraphError(
            400, "ErrorDuplicateTransactionId", "Another item with the same transaction id already exists."
        )
    store = sb.exchange.store
    item = store.new_item(mb, mb.folder("calendar"))
    try:
        written = events.apply(
            mb,
            item,
            body,
            creating=True,
            occurrence=None,
            directory=sb.exchange.directory(),
            emails=sb.exchange.mailbox_email_set(),
        )
        calendar.apply_rules(mb, item, None, creating=True)
    except EwsError as e:
        del mb.items[item.id]
        raise _ews_error(e) from None
    except Exception:
        del mb.items[item.id]
        raise
    for key in written:
        item.field_seqs[key] = item.changed_seq
    _record_message(sb, "Graph POST events", mb, item, "invitation", None)
    return _reply(
        201,
        {"@odata.context": _context(call, user, "events/$entity"), **events.render(mb, item, view)},
        {
            "Location": f"{call.base_url}/v1.0/users/{quote(user)}/events/{view.id_of(ews_ids.decode(item.id))}",
            **_applied(view),
        },
    )


def _check_boundaries(item: Item, occurrence: int) -> None:
    """Exchange refuses to move an occurrence to or past the day of a neighbouring occurrence."""
    overlay = item.exceptions.get(occurrence, {})
    start, end = calendar._occurrence_times(item, occurrence, overlay)  # noqa: SLF001 - same store semantics
    if end < start:
        raise GraphError(
            400, "ErrorCalendarEndDateIsEarlierThanStartDate", "The end date is earlier than the start date."
        )
    tz = calendar.item_zone(item.fields)
    starts = [int(s.timestamp()) for s in calendar.occurrence_starts(item)]
    live = [s for s in starts if s not in item.deleted_occurrences]
    if occurrence not in live:
        return
    index = live.index(occurrence)
    new_day = start.astimezone(tz).date()

    def day_of(ts: int) -> dt.date:
        s, _ = calendar._occurrence_times(item, ts, item.exceptions.get(ts, {}))  # noqa: SLF001
        return s.astimezone(tz).date()

    if (index > 0 and new_day <= day_of(live[index - 1])) or (
        index + 1 < len(live) and new_day >= day_of(live[index + 1])
    ):
        raise GraphError(
            400,
            "ErrorOccurrenceCrossingBoundary",
            "Modified occurrence is crossing or overlapping adjacent occurrence.",
        )


def update_event(sb: GraphSandbox, call: Call, mb: Mailbox, event_id: str) -> Reply:
    user = call.path.split("/")[2]
    item, occurrence = find_event(mb, event_id)
    _check_etag(call, item)
    view = view_of(sb, call, user)
    saved = (dict(item.fields), dict(item.extended), _copy.deepcopy(item.exceptions), set(item.deleted_occurrences))
    was_recurring = "Recurrence" in item.fields
    try:
        written = events.apply(
            mb,
            item,
            call.body,
            creating=False,
            occurrence=occurrence,
            directory=sb.exchange.directory(),
            emails=sb.exchange.mailbox_email_set(),
        )
        if occurrence is not None:
            _check_boundaries(item, occurrence)
        else:
            if was_recurring and _SERIES_FIELDS & set(written):
                item.exceptions.clear()
                item.deleted_occurrences.clear()
            if "Recurrence" not in item.fields:
                item.exceptions.clear()
                item.deleted_occurrences.clear()
            calendar.apply_rules(mb, item, None, creating=False)
    except BaseException as e:
        item.fields, item.extended, item.exceptions, item.deleted_occurrences = saved
        if isinstance(e, EwsError):
            raise _ews_error(e) from None
        raise
    sb.exchange.store.touch(item)
    for key in written:
        item.field_seqs[key] = item.changed_seq
    _record_message(sb, "Graph PATCH events", mb, item, "update", occurrence)
    body = {"@odata.context": _context(call, user, "events/$entity"), **events.render(mb, item, view, occurrence)}
    return _reply(200, body, _applied(view))


def delete_event(sb: GraphSandbox, call: Call, mb: Mailbox, event_id: str) -> Reply:
    item, occurrence = find_event(mb, event_id)
    _check_etag(call, item)
    store = sb.exchange.store
    if occurrence is not None:
        item.exceptions.pop(occurrence, None)
        item.deleted_occurrences.add(occurrence)
        store.touch(item)
    else:
        # Graph moves a deleted event to Deleted Items (EWS clients see it there).
        store.move_item(mb, item, mb.folder("deleteditems"))
    _record_message(sb, "Graph DELETE events", mb, item, "cancellation", occurrence)
    return _reply(204)


# -- categories -------------------------------------------------------------------------------------------------------
def list_categories(sb: GraphSandbox, call: Call, mb: Mailbox) -> Reply:
    user = call.path.split("/")[2]
    return _reply(
        200,
        {"@odata.context": _context(call, user, "outlook/masterCategories"), "value": categories.list_categories(mb)},
    )


def create_category(sb: GraphSandbox, call: Call, mb: Mailbox) -> Reply:
    user = call.path.split("/")[2]
    made = categories.create_category(sb.exchange.store, mb, call.body)
    return _reply(201, {"@odata.context": _context(call, user, "outlook/masterCategories/$entity"), **made})


def get_category(sb: GraphSandbox, call: Call, mb: Mailbox, category_id: str) -> Reply:
    user = call.path.split("/")[2]
    found = categories.get_category(mb, category_id)
    return _reply(200, {"@odata.context": _context(call, user, "outlook/masterCategories/$entity"), **found})


def update_category(sb: GraphSandbox, call: Call, mb: Mailbox, category_id: str) -> Reply:
    user = call.path.split("/")[2]
    changed = categories.update_category(sb.exchange.store, mb, category_id, call.body)
    return _reply(200, {"@odata.context": _context(call, user, "outlook/masterCategories/$entity"), **changed})


def delete_category(sb: GraphSandbox, call: Call, mb: Mailbox, category_id: str) -> Reply:
    categories.delete_category(sb.exchange.store, mb, category_id)
    return _reply(204)


# -- translateExchangeIds ----------------------------------------------------------------------------------------------
def translate_ids(sb: GraphSandbox, call: Call, mb: Mailbox) -> Reply:
    body = call.body
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "BadRequest")
    inputs = body.get("inputIds")
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise GraphError(400, "RequestBodyRead", "inputIds must be a collection of strings.")
    if len(inputs) > 1000:
        raise GraphError(400, "ErrorInvalidArgument", "The maximum number of ids in one request is 1000.")
    source = ids.check_format(body.get("sourceIdType"))
    target = ids.check_format(body.get("targetIdType"))
    value = []
    for text in inputs:
        try:
            parsed = ids.parse_format(text, source)
            if parsed.mailbox != mb.guid:
                raise ews_ids.BadId("another mailbox")
            value.append({"sourceId": text, "targetId": ids.format_id(parsed, target)})
        except ews_ids.BadId:
            value.append(
                {"sourceId": text, "errorDetails": {"code": "ErrorInvalidIdMalformed", "message": "Id is malformed."}}
            )
    return _reply(
        200,
        {
            "@odata.context": f"{call.base_url}/v1.0/$metadata#Collection(microsoft.graph.convertIdResult)",
            "value": value,
        },
    )


# -- subscriptions -----------------------------------------------------------------------------------------------------
def _subscription_context(call: Call, entity: bool = True) -> dict:
    return {"@odata.context": f"{call.base_url}/v1.0/$metadata#subscriptions" + ("/$entity" if entity else "")}


def list_subscriptions(sb: GraphSandbox, call: Call) -> Reply:
    # Paged like Graph's collections: @odata.nextLink carries an opaque $skiptoken (here the next offset).
    token = _q(call, "$skiptoken") or "0"
    if not token.isdigit():
        raise GraphError(400, "BadRequest", "The $skiptoken is not valid.")
    page, following = sb.subscriptions.list(call.caller, int(token))
    body = {**_subscription_context(call, False), "value": page}
    if following is not None:
        body["@odata.nextLink"] = f"{call.base_url}/v1.0/subscriptions?$skiptoken={following}"
    return _reply(200, body)


def create_subscription(sb: GraphSandbox, call: Call) -> Reply:
    # Prefer: IdType="ImmutableId" on the creation makes the subscription's notifications carry immutable ids.
    immutable = prefer(call).get("idtype", "").lower() == "immutableid"
    created = sb.subscriptions.create(call.caller, call.body, immutable=immutable)
    return _reply(201, {**_subscription_context(call), **created})


def get_subscription(sb: GraphSandbox, call: Call, sub_id: str) -> Reply:
    return _reply(200, {**_subscription_context(call), **sb.subscriptions.get(call.caller, sub_id)})


def update_subscription(sb: GraphSandbox, call: Call, sub_id: str) -> Reply:
    return _reply(200, {**_subscription_context(call), **sb.subscriptions.update(call.caller, sub_id, call.body)})


def delete_subscription(sb: GraphSandbox, call: Call, sub_id: str) -> Reply:
    sb.subscriptions.delete(call.caller, sub_id)
    return _reply(204)


def reauthorize_subscription(sb: GraphSandbox, call: Call, sub_id: str) -> Reply:
    sb.subscriptions.reauthorize(call.caller, sub_id)
    return _reply(204)
