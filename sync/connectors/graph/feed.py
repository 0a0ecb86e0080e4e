"""The change feed on ``calendarView/delta``: rounds over a fixed window, and the cursor that resumes them.

A round starts with ``startDateTime``/``endDateTime`` and pages through ``@odata.nextLink`` until the
``@odata.deltaLink``, which starts the next (incremental) round; links are replayed verbatim (they encode the
window and every parameter). The window cannot move within a delta chain, so the cursor keeps it beside the
link: a cursor whose window no longer covers the one asked for (the scope moves with the clock) starts a new
full round. The connector asks for ``slack`` more days than the scope needs, so that happens about once per
``slack``, not every session. ``410 Gone`` (``resyncRequired``, ``syncStateNotFound``) and a cursor that is
not ours (garbage, an EWS SyncState after a move) start a full round too; a full round never proves a
deletion by absence (docs/invariants.md #4).

Reference: https://learn.microsoft.com/graph/delta-query-events, https://learn.microsoft.com/graph/api/event-delta
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sync.connectors.errors import ConnectorError, TransientError
from sync.connectors.graph.client import PREFER, GraphClient, error_of

CURSOR_PREFIX = "graph1."
# Answers that mean "this delta link is no longer usable: start over" (Graph documents 410 with a Location,
# and syncStateNotFound/resyncRequired codes for expired tokens).
RESYNC_CODES = {"syncStateNotFound", "resyncRequired", "SyncStateNotFound", "ResyncRequired"}
MAX_PAGES = 10_000  # a guard against a server that never ends a round
PAGE_SIZE = 200  # delta entries per page we ask for (Graph's maximum is undocumented; it may send fewer)
PAGE_PREFER = {"Prefer": f"{PREFER}, odata.maxpagesize={PAGE_SIZE}"}


@dataclass(frozen=True)
class Cursor:
    """Where the next round resumes. ``masters``: the series masters whose instances the chain has listed.
    The feed lists a series only as its occurrences and exceptions, and a deleted series as ``@removed``
    instances whose ids (and their 404s) do not name the master: these are the masters to confirm then."""

    delta_link: str
    start: dt.datetime
    end: dt.datetime
    masters: tuple[str, ...] = ()

    def covers(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self.start <= start and self.end >= end

    def encode(self) -> str:
        data: dict[str, Any] = {"link": self.delta_link, "start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.masters:
            data["masters"] = list(self.masters)
        return CURSOR_PREFIX + base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """The cursor in ``text``, or None when it is missing or not one of ours."""
        if not text or not text.startswith(CURSOR_PREFIX):
            return None
        raw = text[len(CURSOR_PREFIX) :]
        try:
            data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            return cls(
                str(data["link"]), dt.datetime.fromisoformat(data["start"]), dt.datetime.fromisoformat(data["end"]),
                tuple(str(m) for m in data.get("masters") or ()),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass
class Round:
    entries: list[dict[str, Any]]
    cursor: Cursor
    full: bool
    requests: int = 0


class Resync(Exception):
    """The delta link is gone: start a full round."""


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def delta_round(client: GraphClient, window: tuple[dt.datetime, dt.datetime], cursor: Cursor | None) -> Round:
    """One delta round: incremental from ``cursor`` when it covers ``window``, else full over ``window``."""
    if cursor is not None and cursor.covers(*window):
        try:
            entries, link, pages = _pages(client, cursor.delta_link, None)
            return Round(entries, Cursor(link, cursor.start, cursor.end), full=False, requests=pages)
        except Resync:
            pass
    path = f"/users/{quote(client.mailbox, safe='@')}/calendarView/delta"
    params = {"startDateTime": _iso(window[0]), "endDateTime": _iso(window[1])}
    for _ in range(3):  # a 410 while a full round pages: start it again (a server in maintenance, twice at most)
        try:
            entries, link, pages = _pages(client, path, params)
        except Resync:
            continue
        return Round(entries, Cursor(link, window[0], window[1]), full=True, requests=pages)
    raise TransientError("the delta feed keeps asking for a resync", code="resyncRequired", service="exchange")


def _pages(client: GraphClient, first: str, params: dict[str, str] | None) -> tuple[list[dict], str, int]:
    entries: list[dict[str, Any]] = []
    url, query, pages = first, params, 0
    for _ in range(MAX_PAGES):
        pages += 1
        response = client.request("GET", url, params=query, headers=PAGE_PREFER, ok_statuses=(400, 404, 410))
        body = _body(response)
        if response.status_code >= 400:
            code = str(((body or {}).get("error") or {}).get("code") or "")
            if response.status_code == 410 or code in RESYNC_CODES:
                raise Resync(code)
            raise error_of(response.status_code, body, context="GET calendarView/delta")
        entries.extend(body.get("value") or [])
        if body.get("@odata.deltaLink"):
            return entries, str(body["@odata.deltaLink"]), pages
        if not body.get("@odata.nextLink"):
            raise ConnectorError("a delta page had neither nextLink nor deltaLink", code="BadDeltaPage",
                                 service="exchange")  # fmt: skip
        url, query = str(body["@odata.nextLink"]), None
    raise ConnectorError("the delta round did not end", code="BadDeltaPage", service="exchange")


def _body(response) -> dict[str, Any]:
    try:
        data = response.json() if response.content else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def removed(entry: dict[str, Any]) -> bool:
    return "@removed" in entry


def iter_ids(entries: list[dict[str, Any]]) -> Iterator[str]:
    for entry in entries:
        if entry.get("id"):
            yield str(entry["id"])
