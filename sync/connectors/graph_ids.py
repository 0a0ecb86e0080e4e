"""Item ids through Microsoft Graph, for the plumbing around the connector: ``translateExchangeIds`` (moving a
mailbox between EWS and Graph) and whose an item is (the add-in API's ownership check).

- `translate`: ``POST /users/{id}/translateExchangeIds`` with ≤ 1,000 ids of one mailbox per request
  (https://learn.microsoft.com/en-us/graph/api/user-translateexchangeids); ``ewsId`` ⇄
  ``restImmutableEntryId`` (what the Graph connector keys items on: it sends ``Prefer: IdType="ImmutableId"``).
  Ids Graph cannot translate come back in `Translation.failed` with Graph's error code.
- `check`: ``GET /users/{id}``, the panel's "Test connection" for one mailbox;
- `ownership`: ``GET /users/{id}/events/{item}?$select=id`` as that mailbox: ``ErrorInvalidMailboxItemId``
  (an item of another mailbox) answers ``not_yours``; a gone or malformed id ``not_found``.

Requests go through the connector's transport (`sync.connectors.graph.client.GraphClient`: Prefer headers,
≤ 4 in flight per mailbox, Retry-After, one fresh token on a 401), so the calls count like the connector's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import requests

from sync.connectors.base import ExchangeUsage
from sync.connectors.errors import AuthError, ConnectorError, MailboxUnavailable
from sync.connectors.graph.client import GraphClient, error_of
from sync.connectors.graph.tokens import TokenSource

MAX_TRANSLATE = 1000  # ids per translateExchangeIds request (Graph's limit)
ID_TYPES = ("ewsId", "restId", "restImmutableEntryId", "entryId", "immutableEntryId")
# The id type each backend keys links on: EWS ids, and Graph's immutable REST ids.
BACKEND_ID_TYPE = {"ews": "ewsId", "graph": "restImmutableEntryId"}


@dataclass
class Translation:
    ids: dict[str, str] = field(default_factory=dict)  # source id -> target id
    failed: dict[str, str] = field(default_factory=dict)  # source id -> Graph's error code
    requests: int = 0


class GraphIds:
    """Id operations on one mailbox through Graph (``graph_url`` ends in ``/v1.0``)."""

    def __init__(
        self, mailbox_email: str, *, graph_url: str, tokens: TokenSource, session: requests.Session | None = None
    ) -> None:
        self.mailbox_email = mailbox_email
        self.usage = ExchangeUsage()
        self.client = GraphClient(graph_url, mailbox_email, tokens, self.usage, session=session)
        self._user = quote(mailbox_email, safe="@")

    def translate(self, ids: Sequence[str], source: str, target: str) -> Translation:
        """Each id of ``source`` type as ``target`` type (one request per 1,000 ids)."""
        if source not in ID_TYPES or target not in ID_TYPES:
            raise ValueError(f"id types are {', '.join(ID_TYPES)}")
        out = Translation()
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), MAX_TRANSLATE):
            chunk = unique[start : start + MAX_TRANSLATE]
            answer = self.client.request(
                "POST",
                f"/users/{self._user}/translateExchangeIds",
                body={"inputIds": chunk, "sourceIdType": source, "targetIdType": target},
            )
            out.requests += 1
            results = (answer.json() or {}).get("value") or []
            for result in results:
                source_id = result.get("sourceId")
                if not isinstance(source_id, str):
                    continue
                if result.get("targetId"):
                    out.ids[source_id] = str(result["targetId"])
                else:
                    out.failed[source_id] = str((result.get("errorDetails") or {}).get("code") or "untranslated")
            for source_id in chunk:
                if source_id not in out.ids and source_id not in out.failed:
                    out.failed[source_id] = "missing_from_answer"
        return out

    def ownership(self, item_id: str) -> str:
        """``ok``, ``not_yours`` (an item of another mailbox) or ``not_found`` for an id read as this mailbox."""
        answer = self.client.request(
            "GET",
            f"/users/{self._user}/events/{quote(item_id, safe='')}",
            params={"$select": "id"},
            ok_statuses=(400, 404),
        )
        if answer.status_code < 300:
            return "ok"
        try:
            code = str(((answer.json() or {}).get("error") or {}).get("code") or "")
        except ValueError:
            code = ""
        if code == "ErrorInvalidMailboxItemId":
            return "not_yours"
        if answer.status_code == 404 or code in {"ErrorInvalidIdMalformed", "ErrorInvalidId"}:
            return "not_found"
        raise error_of(answer.status_code, answer.json() if answer.content else None, context="GET event")

    def check(self) -> MailboxCheck:
        """``GET /users/{id}`` as the Microsoft 365 connection's "Test connection" makes it for one mailbox:
        what an admin must know (reachable, on premises, outside the app's scope, unknown). A refused token
        raises (`AuthError`): it concerns every mailbox, not this one."""
        try:
            answer = self.client.request(
                "GET", f"/users/{self._user}", params={"$select": "id,displayName,mail,userPrincipalName"}
            )
        except MailboxUnavailable as exc:
            return MailboxCheck(self.mailbox_email, False, exc.health_code, f"{exc.hint} (Graph: {exc.code})")
        except AuthError:
            raise
        except ConnectorError as exc:
            if exc.code == "ErrorInvalidUser" or exc.status == 404:
                return MailboxCheck(self.mailbox_email, False, "graph_unknown_user",
                                    "No such user in the tenant: check the address.")  # fmt: skip
            return MailboxCheck(self.mailbox_email, False, exc.code or "graph_error", str(exc))
        user = answer.json() or {}
        name = user.get("displayName") or user.get("userPrincipalName") or self.mailbox_email
        return MailboxCheck(self.mailbox_email, True, "ok", f"Reachable: {name} (id {user.get('id', '?')}).")

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class MailboxCheck:
    email: str
    ok: bool
    code: str  # "ok", or the mailbox health code a session would record
    message: str


__all__ = ["BACKEND_ID_TYPE", "ID_TYPES", "GraphIds", "MailboxCheck", "Translation"]
