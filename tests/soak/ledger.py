"""The ledger: every item the workload made and every edit it made to it, and so the state each item must end
in on both sides once the engine has converged.

Each item carries a token (``sk<seed>-<n>``) at the start of its subject, so the final check finds every copy of
it on either side, and counts them (one counterpart per item). Expected final states:

- ``live``: one Salesforce Event and one Outlook item in the calendar with the "Salesforce" category, both with
  the ledger's subject, start, end and location;
- ``deleted_exchange`` (deleted in Outlook): no Event, no item in the calendar;
- ``deleted_salesforce`` (the Event deleted): no Event; the Outlook item stays, without the category
  (``salesforce_deletion = keep``), unless the Event was deleted before its Outlook copy existed;
- ``unshared`` (the category removed in Outlook): the Event stays (``on_unshare = keep_salesforce``; none if it
  was unshared before it was sent up), one untagged Outlook item;
- ``uncertain``: a write whose outcome the workload could not confirm: only the counts are checked.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LIVE, CREATING, UNCERTAIN = "live", "creating", "uncertain"
DELETED_EXCHANGE, DELETED_SALESFORCE, UNSHARED = "deleted_exchange", "deleted_salesforce", "unshared"
EXCHANGE, SALESFORCE = "exchange", "salesforce"


def minute(value: dt.datetime) -> dt.datetime:
    """An instant in UTC to the minute: what both sides keep of a time."""
    return value.astimezone(dt.UTC).replace(second=0, microsecond=0)


@dataclass
class Item:
    token: str
    mailbox: str
    origin: str  # the side the workload created it on
    subject: str
    start: dt.datetime
    end: dt.datetime
    location: str
    state: str = CREATING
    exchange_id: str | None = None  # the EWS id in the rep's mailbox, once known
    salesforce_id: str | None = None
    last_side: str = ""  # where the last edit was made: edits there never conflict with one in flight
    revision: int = 0

    def fields(self) -> dict[str, Any]:
        return {"subject": self.subject, "start": minute(self.start), "end": minute(self.end),
                "location": self.location}  # fmt: skip


@dataclass
class Ledger:
    journal: Path
    items: dict[str, Item] = field(default_factory=dict)
    edits: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, item: Item) -> Item:
        with self._lock:
            self.items[item.token] = item
        return item

    def record(self, op: str, item: Item, side: str, **detail: Any) -> None:
        """One edit, appended to the journal (``ledger.jsonl``) with the item's expected state after it."""
        with self._lock:
            self.edits += 1
            self.counts[op] = self.counts.get(op, 0) + 1
            line = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), "op": op, "side": side,
                    **{k: v for k, v in asdict(item).items()}, **detail}  # fmt: skip
            with self.journal.open("a") as out:
                out.write(json.dumps(line, default=str) + "\n")

    def of(self, mailbox: str, *states: str) -> list[Item]:
        with self._lock:
            return [i for i in self.items.values() if i.mailbox == mailbox and (not states or i.state in states)]
