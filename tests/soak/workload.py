"""The workload: a seeded stream of edits through the real clients, the way reps work: in Outlook (exchangelib, the
mailbox owner's own login, `tests.e2e.actors.OutlookUser`), through Microsoft Graph for some edits and deletions
of Exchange Online mailboxes (`tests.soak.graph_actor.GraphUser`), and in Salesforce (simple-salesforce with the
rep's session, `tests.e2e.actors.SalesforceUser`). Every edit goes into the `Ledger`.

What keeps the ledger exact (so that any difference at the end is the engine's doing):
- an edit is made on the side of the item's last edit, or on the other side only once that side shows the
  ledger's state (the edit has crossed): two unsynced edits of one field on both sides would be a conflict whose
  winner is policy (``conflict_winner``), not a lost edit;
- deletions may come from either side at any time: a deletion wins over any edit in flight (docs/policies.md);
- at most one deletion (or unshare) per mailbox a minute, so that no session trips the mass-deletion guard
  (more than max(5, 20 %) of a mailbox's links; docs/invariants.md #5) even when faults delay sessions;
- the sandboxes' faults hit the workload too: each operation is retried, and a create that may have landed is
  looked up by its token before it is made again.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.e2e.actors import SALESFORCE_CATEGORY, OutlookUser, SalesforceUser
from tests.e2e.graph_support import MsalTokens
from tests.soak.graph_actor import GraphUser
from tests.soak.ledger import (
    DELETED_EXCHANGE,
    DELETED_SALESFORCE,
    EXCHANGE,
    LIVE,
    SALESFORCE,
    UNCERTAIN,
    UNSHARED,
    Item,
    Ledger,
    minute,
)

log = logging.getLogger("soak.workload")

WORDS = ("pipeline review", "renewal call", "demo", "QBR", "site visit", "pricing", "kick-off", "lunch", "sync",
         "roadmap", "contract", "onboarding", "workshop", "follow-up")  # fmt: skip
OPERATIONS = {  # weight of each kind of edit
    "create_exchange": 14, "create_salesforce": 14, "edit": 32, "move": 24, "delete_exchange": 6,
    "delete_salesforce": 5, "unshare": 3,
}  # fmt: skip
MAX_LIVE_PER_MAILBOX = 40
DELETE_SPACING = 60.0  # seconds between two deletions (or unshares) in one mailbox
ATTEMPTS = 12  # with the back-off below, about 40 s: longer than any burst the soak injects


class Skip(Exception):
    """This operation cannot be made now (e.g. the counterpart is not synced yet): pick another."""


class Workload:
    def __init__(self, info: dict[str, Any], mailboxes: list[str], ledger: Ledger, rng: random.Random,
                 seed: int, *, graph_share: float = 0.4) -> None:  # fmt: skip
        self.info = info
        self.mailboxes = mailboxes
        self.ledger = ledger
        self.rng = rng
        self.prefix = f"sk{seed % 100000}-"
        self.counter = 0
        self.outlook = {m: OutlookUser(info, m) for m in mailboxes}
        self.salesforce = {m: SalesforceUser(info, m) for m in mailboxes}
        # Exchange Online mailboxes (whatever protocol the engine uses for them) are also edited through Graph.
        on_premises = {e.lower() for e in info["graph"].get("on_premises", [])}
        tokens = MsalTokens(info["graph"])
        self.graph = {m: GraphUser(info, m, tokens) for m in mailboxes if m.lower() not in on_premises}
        self.graph_share = graph_share
        self.clients: Counter[str] = Counter()  # writes per client
        self.last_delete: dict[str, float] = {}
        self.done: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.gated = 0  # edits moved to the last edit's side because the other had not caught up
        self.errors: Counter[str] = Counter()  # exceptions the retries absorbed, by type

    def close(self) -> None:
        for actor in [*self.outlook.values(), *self.salesforce.values(), *self.graph.values()]:
            actor.close()

    # -- the loop -------------------------------------------------------------------------------------------------
    def step(self) -> str | None:
        """One operation on a random mailbox; returns its name (None when nothing could be done)."""
        mailbox = self.rng.choice(self.mailboxes)
        names = list(OPERATIONS)
        for _ in range(4):
            op = self.rng.choices(names, weights=[OPERATIONS[n] for n in names])[0]
            try:
                getattr(self, op)(mailbox)
            except Skip:
                self.skipped[op] += 1
                continue
            except Exception as exc:  # noqa: BLE001 - retries exhausted: logged, counted, the soak goes on
                self.failed[op] += 1
                log.warning("workload %s in %s failed (nothing recorded unless marked uncertain): %r", op, mailbox,
                            exc)  # fmt: skip
                return op
            self.done[op] += 1
            return op
        return None

    def populate(self, per_mailbox: int) -> None:
        """A few items on each side of every mailbox before the processes start."""
        for mailbox in self.mailboxes:
            for n in range(per_mailbox):
                (self.create_exchange if n % 2 == 0 else self.create_salesforce)(mailbox)
                self.done["create_exchange" if n % 2 == 0 else "create_salesforce"] += 1

    # -- operations -----------------------------------------------------------------------------------------------
    def create_exchange(self, mailbox: str) -> None:
        item = self._new_item(mailbox, EXCHANGE)
        outlook = self.outlook[mailbox]

        def create(attempt: int) -> None:
            if attempt > 0:  # the last try may have landed before its answer was lost
                found = self._find_exchange(mailbox, item.token)
                if found is not None:
                    item.exchange_id = found["id"]
                    return
            item.exchange_id = outlook.create(item.subject, item.start, item.end, location=item.location,
                                              tz="UTC")  # fmt: skip

        self._retry(create, item)
        item.state, item.last_side = LIVE, EXCHANGE
        self.clients["exchangelib"] += 1
        self.ledger.record("create", item, EXCHANGE, client="exchangelib")

    def create_salesforce(self, mailbox: str) -> None:
        item = self._new_item(mailbox, SALESFORCE)
        sf = self.salesforce[mailbox]

        def create(attempt: int) -> None:
            if attempt > 0:
                found = self._find_salesforce(mailbox, item.token)
                if found is not None:
                    item.salesforce_id = found["Id"]
                    return
            item.salesforce_id = sf.create_event(Subject=item.subject, StartDateTime=item.start,
                                                 EndDateTime=item.end, Location=item.location)  # fmt: skip

        self._retry(create, item)
        item.state, item.last_side = LIVE, SALESFORCE
        self.clients["simple-salesforce"] += 1
        self.ledger.record("create", item, SALESFORCE, client="simple-salesforce")

    def edit(self, mailbox: str) -> None:
        item = self._pick(mailbox)
        fields: dict[str, Any] = {}
        if self.rng.random() < 0.7:
            fields["subject"] = f"{item.token} r{item.revision + 1} {self.rng.choice(WORDS)}"
        if not fields or self.rng.random() < 0.5:
            fields["location"] = f"Room {self.rng.randint(1, 400)}"
        self._change(item, "edit", fields)

    def move(self, mailbox: str) -> None:
        item = self._pick(mailbox)
        start = self._slot()
        length = (
            item.end - item.start
            if self.rng.random() < 0.6
            else dt.timedelta(minutes=self.rng.choice((30, 45, 60, 90)))
        )
        self._change(item, "move", {"start": start, "end": start + length})

    def delete_exchange(self, mailbox: str) -> None:
        item = self._pick(mailbox, deletion=True)
        item_id = self._exchange_id(item)
        self.last_delete[mailbox] = time.monotonic()
        via_graph = self._via_graph(mailbox)
        self._retry(lambda _a: self._exchange_delete(item, item_id, via_graph), item)
        item.state, item.last_side = DELETED_EXCHANGE, EXCHANGE
        client = "graph" if via_graph else "exchangelib"
        self.clients[client] += 1
        self.ledger.record("delete", item, EXCHANGE, client=client)

    def delete_salesforce(self, mailbox: str) -> None:
        item = self._pick(mailbox, deletion=True)
        record_id = self._salesforce_id(item)
        if item.exchange_id is None:  # was it synced down? If not, its Outlook copy may never come (see the check)
            found = self._find_exchange(mailbox, item.token)
            item.exchange_id = found["id"] if found else None
        self.last_delete[mailbox] = time.monotonic()
        self._retry(lambda _a: self._salesforce_delete(item, record_id), item)
        item.state, item.last_side = DELETED_SALESFORCE, SALESFORCE
        self.clients["simple-salesforce"] += 1
        self.ledger.record("delete", item, SALESFORCE, client="simple-salesforce")

    def unshare(self, mailbox: str) -> None:
        """The rep removes the "Salesforce" category in Outlook: unlinked, the Event stays (keep_salesforce)."""
        item = self._pick(mailbox, deletion=True)
        item_id = self._exchange_id(item)
        if item.salesforce_id is None:  # was it synced up? If not, no Event may ever come (see the check)
            found = self._find_salesforce(mailbox, item.token)
            item.salesforce_id = found["Id"] if found else None
        self.last_delete[mailbox] = time.monotonic()
        self._retry(lambda _a: self.outlook[mailbox].remove_category(item_id, SALESFORCE_CATEGORY), item)
        item.state, item.last_side = UNSHARED, EXCHANGE
        self.clients["exchangelib"] += 1
        self.ledger.record("unshare", item, EXCHANGE, client="exchangelib")

    # -- helpers --------------------------------------------------------------------------------------------------
    def _new_item(self, mailbox: str, origin: str) -> Item:
        if len(self.ledger.of(mailbox, LIVE)) >= MAX_LIVE_PER_MAILBOX:
            raise Skip
        self.counter += 1
        token = f"{self.prefix}{self.counter:04d}"
        start = self._slot()
        item = Item(token=token, mailbox=mailbox, origin=origin, subject=f"{token} r0 {self.rng.choice(WORDS)}",
                    start=start, end=start + dt.timedelta(minutes=self.rng.choice((30, 60, 90))),
                    location=f"Room {self.rng.randint(1, 400)}")  # fmt: skip
        return self.ledger.add(item)

    def _slot(self) -> dt.datetime:
        """A start 1 to 30 days ahead (well inside the 14-days-past, 60-days-ahead scope), on a quarter hour."""
        base = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        return base + dt.timedelta(days=self.rng.randint(1, 30), hours=self.rng.randint(0, 10),
                                   minutes=15 * self.rng.randint(0, 3))  # fmt: skip

    def _pick(self, mailbox: str, *, deletion: bool = False) -> Item:
        live = self.ledger.of(mailbox, LIVE)
        if not live:
            raise Skip
        if deletion and time.monotonic() - self.last_delete.get(mailbox, -1e9) < DELETE_SPACING:
            raise Skip
        return self.rng.choice(live)

    def _change(self, item: Item, op: str, fields: dict[str, Any]) -> None:
        """Edit on a side chosen at random, unless that side has not caught up with the last edit (see above)."""
        side = self.rng.choice((EXCHANGE, SALESFORCE))
        if side != item.last_side and not self._caught_up(item, side):
            self.gated += 1
            side = item.last_side
        client = "simple-salesforce"
        if side == EXCHANGE:
            item_id = self._exchange_id(item)
            if self._via_graph(item.mailbox):
                client = "graph"
                self._retry(lambda _a: self.graph[item.mailbox].edit(item_id, **fields), item)
            else:
                client = "exchangelib"
                zone = {"tz": "UTC"} if "start" in fields else {}
                self._retry(lambda _a: self.outlook[item.mailbox].edit(item_id, **zone, **fields), item)
        else:
            record_id = self._salesforce_id(item)
            names = {"subject": "Subject", "location": "Location", "start": "StartDateTime", "end": "EndDateTime"}
            self._retry(lambda _a: self.salesforce[item.mailbox].update(
                "Event", record_id, **{names[k]: v for k, v in fields.items()}), item)  # fmt: skip
        for name, value in fields.items():
            setattr(item, name, value)
        item.revision += 1
        item.last_side = side
        self.clients[client] += 1
        self.ledger.record(op, item, side, changed=sorted(fields), client=client)

    def _caught_up(self, item: Item, side: str) -> bool:
        try:
            current = self._read(item, side)
        except Skip:
            return False
        except Exception:  # noqa: BLE001 - a fault on the read: stay on the safe side
            return False
        return current == item.fields()

    def _read(self, item: Item, side: str) -> dict[str, Any] | None:
        if side == EXCHANGE:
            got = self.outlook[item.mailbox].get(self._exchange_id(item))
            return None if got is None else exchange_fields(got)
        got = self.salesforce[item.mailbox].get("Event", self._salesforce_id(item))
        return None if got is None else salesforce_fields(got)

    def _exchange_id(self, item: Item) -> str:
        if item.exchange_id is None:
            found = self._find_exchange(item.mailbox, item.token)
            if found is None:
                raise Skip  # not synced down yet
            item.exchange_id = found["id"]
        return item.exchange_id

    def _salesforce_id(self, item: Item) -> str:
        if item.salesforce_id is None:
            found = self._find_salesforce(item.mailbox, item.token)
            if found is None:
                raise Skip  # not synced up yet
            item.salesforce_id = found["Id"]
        return item.salesforce_id

    def _find_exchange(self, mailbox: str, token: str) -> dict[str, Any] | None:
        found = [i for i in outlook_items(self.outlook[mailbox]) if token_of(i["subject"]) == token]
        return found[0] if found else None

    def _find_salesforce(self, mailbox: str, token: str) -> dict[str, Any] | None:
        found = [e for e in salesforce_events(self.salesforce[mailbox], self.prefix) if token_of(e["Subject"]) == token]
        return found[0] if found else None

    def _via_graph(self, mailbox: str) -> bool:
        return mailbox in self.graph and self.rng.random() < self.graph_share

    def _exchange_delete(self, item: Item, item_id: str, via_graph: bool) -> None:
        if self.outlook[item.mailbox].get(item_id) is None:
            return  # a retry of a delete that landed
        if via_graph:
            self.graph[item.mailbox].delete(item_id)
        else:
            self.outlook[item.mailbox].delete(item_id)

    def _salesforce_delete(self, item: Item, record_id: str) -> None:
        if self.salesforce[item.mailbox].get("Event", record_id) is None:
            return
        self.salesforce[item.mailbox].delete("Event", record_id)

    def _retry(self, action: Callable[[int], None], item: Item) -> None:
        for attempt in range(ATTEMPTS):
            try:
                action(attempt)
                return
            except Skip:
                raise
            except Exception as exc:  # noqa: BLE001 - the sandboxes' faults hit the workload too
                self.errors[type(exc).__name__] += 1
                if attempt == ATTEMPTS - 1:
                    item.state = UNCERTAIN  # the write may or may not have landed
                    self.ledger.record("uncertain", item, "", error=repr(exc))
                    raise
                time.sleep(min(0.5 * (attempt + 1), 3.0))


# -- reading both sides (the workload's look-ups and the final check) ----------------------------------------------
def token_of(subject: str | None) -> str | None:
    return subject.split(" ", 1)[0] if subject and subject.startswith("sk") else None


def outlook_items(outlook: OutlookUser) -> list[dict[str, Any]]:
    """Every item in the rep's calendar folder (Deleted Items excluded), with the fields the ledger keeps."""
    fields = ("subject", "start", "end", "location", "categories", "is_all_day")
    out = []
    for item in outlook.calendar.all().only(*fields):
        if isinstance(item, Exception):
            raise item
        out.append({"id": item.id, "subject": item.subject, "start": item.start, "end": item.end,
                    "location": item.location, "categories": list(item.categories or [])})  # fmt: skip
    return out


def salesforce_events(sf: SalesforceUser, prefix: str) -> list[dict[str, Any]]:
    """The rep's live Events whose subject starts with the run's token prefix."""
    soql = ("SELECT Id, Subject, StartDateTime, EndDateTime, Location, OwnerId FROM Event "
            f"WHERE OwnerId = '{sf.user_id}' AND Subject LIKE '{prefix}%'")  # fmt: skip
    return [sf._parse("Event", r) for r in sf.sf.query_all(soql)["records"]]  # noqa: SLF001 - the actor's parser


def exchange_fields(item: dict[str, Any]) -> dict[str, Any]:
    return {"subject": item["subject"], "start": minute(_aware(item["start"])), "end": minute(_aware(item["end"])),
            "location": item["location"] or ""}  # fmt: skip


def salesforce_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {"subject": record["Subject"], "start": minute(record["StartDateTime"]),
            "end": minute(record["EndDateTime"]), "location": record.get("Location") or ""}  # fmt: skip


def _aware(value: Any) -> dt.datetime:
    value = dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                        tzinfo=value.tzinfo or dt.UTC)  # fmt: skip
    return value
