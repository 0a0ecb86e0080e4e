"""Edits through Microsoft Graph over HTTP, as another Graph client of the tenant makes them (an app token from
msal with the client secret, `tests.e2e.graph_support.MsalTokens`; plain ``requests`` for the calls): PATCH and
DELETE of events in a rep's calendar. The workload uses it for some Outlook-side edits of Exchange Online
mailboxes; the items are the same as exchangelib's (one store), found by their EWS id through
``translateExchangeIds``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests

from tests.e2e.graph_support import MsalTokens


class GraphCallError(Exception):
    pass


class GraphUser:
    def __init__(self, info: dict[str, Any], email: str, tokens: MsalTokens) -> None:
        graph = info["graph"]
        self.base = f"{graph['base_url']}/users/{email}"
        self.tokens = tokens
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = graph["ca_file"]
        self._ids: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def edit(self, ews_id: str, **fields: Any) -> None:
        """``subject``, ``location``, ``start``, ``end`` (aware datetimes) as a PATCH of the event."""
        body: dict[str, Any] = {}
        if "subject" in fields:
            body["subject"] = fields["subject"]
        if "location" in fields:
            body["location"] = {"displayName": fields["location"]}
        for name in ("start", "end"):
            if name in fields:
                value = fields[name].astimezone(dt.UTC).replace(tzinfo=None)
                body[name] = {"dateTime": value.isoformat(timespec="seconds"), "timeZone": "UTC"}
        self._call("PATCH", f"/events/{self._graph_id(ews_id)}", body)

    def delete(self, ews_id: str) -> None:
        """DELETE of the event: to Deleted Items, as Outlook's delete."""
        self._call("DELETE", f"/events/{self._graph_id(ews_id)}")

    def _graph_id(self, ews_id: str) -> str:
        if ews_id not in self._ids:
            answer = self._call("POST", "/translateExchangeIds", {"inputIds": [ews_id], "sourceIdType": "ewsId",
                                                                  "targetIdType": "restImmutableEntryId"})  # fmt: skip
            self._ids[ews_id] = answer["value"][0]["targetId"]
        return self._ids[ews_id]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, self.base + path, json=body, timeout=30,
                                   headers={"Authorization": f"Bearer {self.tokens.token()}"})  # fmt: skip
        if answer.status_code >= 400:
            raise GraphCallError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json() if answer.content else None
