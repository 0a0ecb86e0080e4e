"""A tiny in-memory world for property tests of the planner: two stores, links, feeds, and an `apply`.

Writes behave like the real sides in the ways that matter here: each side stores what it can hold (its round
trip of the entry), updates touch only the planned fields, and every write shows up in that side's next change
feed (the echo the planner must recognise). Like `sync.session`, a session whose mass-deletion guard tripped moves no
cursor: its changes come back in the next feeds (`keep_feeds`).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

from sync.entry import Entry, apply_fields
from sync.mapping.exchange import exchange_roundtrip
from sync.mapping.salesforce import salesforce_roundtrip
from sync.planner import (
    ChangeType,
    CreateInExchange,
    CreateInSalesforce,
    DeleteExchange,
    DeleteSalesforce,
    ExchangeChange,
    LinkState,
    LinkStatus,
    Plan,
    RemoveCategory,
    SalesforceChange,
    Unlink,
    UpdateExchange,
    UpdateLinkBase,
    UpdateSalesforce,
)


@dataclass
class World:
    ex: dict[str, Entry] = field(default_factory=dict)
    sf: dict[str, Entry] = field(default_factory=dict)
    sf_kind: dict[str, str] = field(default_factory=dict)
    links: dict[str, LinkState] = field(default_factory=dict)
    ex_feed: list[ExchangeChange] = field(default_factory=list)
    sf_feed: list[SalesforceChange] = field(default_factory=list)
    deleted_ex: set[str] = field(default_factory=set)
    deleted_sf: set[str] = field(default_factory=set)
    counter: itertools.count = field(default_factory=lambda: itertools.count(100))

    def echo_ex(self, ex_id: str) -> None:
        entry = self.ex[ex_id]
        self.ex_feed.append(
            ExchangeChange(exchange_id=ex_id, kind=entry.kind, entry=entry, change_key=f"ck-{next(self.counter)}")
        )

    def echo_sf(self, sf_id: str) -> None:
        entry = self.sf[sf_id]
        self.sf_feed.append(
            SalesforceChange(
                salesforce_id=sf_id,
                kind=entry.kind,
                salesforce_object="Event" if entry.kind == "event" else "Task",
                entry=entry,
            )
        )

    def take_feeds(self) -> tuple[list[ExchangeChange], list[SalesforceChange]]:
        ex, sf = self.ex_feed, self.sf_feed
        self.ex_feed, self.sf_feed = [], []
        return ex, sf

    def keep_feeds(self, ex: list[ExchangeChange], sf: list[SalesforceChange]) -> None:
        """Put taken feeds back in front, as an unmoved cursor lists them again."""
        self.ex_feed, self.sf_feed = ex + self.ex_feed, sf + self.sf_feed

    def apply(self, result: Plan) -> None:
        created_ex: dict[str, str] = {}
        created_sf: dict[str, str] = {}
        for action in result.actions:
            key = action.sync_key
            if isinstance(action, CreateInSalesforce):
                sf_id = f"sf-{next(self.counter)}"
                self.sf[sf_id] = salesforce_roundtrip(action.entry)
                created_sf[key] = sf_id
                self.links[key] = dataclasses.replace(action.link, salesforce_id=sf_id)
                self.echo_sf(sf_id)
            elif isinstance(action, CreateInExchange):
                ex_id = f"ex-{next(self.counter)}"
                self.ex[ex_id] = exchange_roundtrip(action.entry)
                created_ex[key] = ex_id
                self.links[key] = dataclasses.replace(action.link, exchange_id=ex_id)
                self.echo_ex(ex_id)
            elif isinstance(action, UpdateSalesforce):
                current = self.sf[action.salesforce_id]
                fields = [f for f in action.fields if f != "who_what"]
                updated = apply_fields(current, action.entry, fields)
                updated = updated.replace(who_ids=action.entry.who_ids, what_id=action.entry.what_id)
                self.sf[action.salesforce_id] = salesforce_roundtrip(updated)
                self.echo_sf(action.salesforce_id)
            elif isinstance(action, UpdateExchange):
                current = self.ex[action.exchange_id]
                self.ex[action.exchange_id] = exchange_roundtrip(apply_fields(current, action.entry, action.fields))
                self.echo_ex(action.exchange_id)
            elif isinstance(action, DeleteSalesforce):
                self.sf.pop(action.salesforce_id, None)
                self.deleted_sf.add(action.salesforce_id)
                self.sf_feed.append(
                    SalesforceChange(salesforce_id=action.salesforce_id, type=ChangeType.DELETED, kind=action.kind)
                )
            elif isinstance(action, DeleteExchange):
                self.ex.pop(action.exchange_id, None)
                self.deleted_ex.add(action.exchange_id)
                self.ex_feed.append(
                    ExchangeChange(exchange_id=action.exchange_id, type=ChangeType.DELETED, kind=action.kind)
                )
            elif isinstance(action, RemoveCategory):
                pass  # the item stays, untagged: the runner no longer reports it
            elif isinstance(action, Unlink):
                link = self.links[key]
                self.links[key] = dataclasses.replace(
                    link,
                    state=LinkStatus.UNLINKED,
                    exchange_id=None if action.exchange_deleted else link.exchange_id,
                    salesforce_id=None if action.salesforce_deleted else link.salesforce_id,
                )
            elif isinstance(action, UpdateLinkBase):
                link = action.link
                # Ids created earlier in this batch belong to the saved link.
                if key in created_ex and link.exchange_id is None:
                    link = dataclasses.replace(link, exchange_id=created_ex[key])
                if key in created_sf and link.salesforce_id is None:
                    link = dataclasses.replace(link, salesforce_id=created_sf[key])
                self.links[key] = link
