"""``calendarView/delta`` rounds: server-side sync state behind opaque ``$skiptoken`` / ``$deltatoken`` values.

A round starts with ``startDateTime``/``endDateTime`` (a full round) or a ``$deltatoken`` (an incremental
round). At its first request the round takes a snapshot of the window's instances (id -> change key) and lists
its entries:

- full round: every instance in the window;
- incremental round: instances that are new or whose change key moved since the baseline, ``@removed`` for
  baseline instances no longer in the window (deleted, or moved out), and, as Graph documents, ``@removed``
  for items changed or deleted *outside* the window since the baseline (clients filter those by date).

Pages (``$skiptoken``) render the entries' current state when served; the last page carries the
``@odata.deltaLink`` whose baseline is the round's snapshot, so a change made while a client pages shows in
the next round. The window and the page position live in the state, so links are replayed verbatim.
Tokens are kept in memory (the newest 2,000, skip and delta tokens together; a baseline of 1,000 events holds
about 150 kB): an unknown or evicted token, and any token after a sandbox restart, answers
``410 syncStateNotFound``.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sandbox.exchange import ids as ews_ids
from sandbox.exchange.store import Mailbox

from . import views
from .errors import GraphError

MAX_STATES = 2_000


@dataclass
class Baseline:
    mailbox: str
    window: tuple[dt.datetime, dt.datetime]
    known: dict[str, str]  # canonical instance id -> change key
    seq: int


@dataclass
class Round:
    mailbox: str
    window: tuple[dt.datetime, dt.datetime]
    entries: list[tuple[str, str]]  # ("event" | "removed", canonical id)
    next_baseline: Baseline


class DeltaStates:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: OrderedDict[str, object] = OrderedDict()

    def _put(self, state: object) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._states[token] = state
            while len(self._states) > MAX_STATES:
                self._states.popitem(last=False)
        return token

    def get(self, token: str, kind: type):
        with self._lock:
            state = self._states.get(token)
        if not isinstance(state, kind):
            raise GraphError(
                410,
                "syncStateNotFound",
                "The sync state generation is not found. The delta token is expired or not valid; start a new "
                "full round.",
            )
        return state

    def clear(self) -> None:
        with self._lock:
            self._states.clear()

    def skip_token(self, rnd: Round, position: int) -> str:
        return self._put((rnd, position))

    def resolve_skip(self, token: str) -> tuple[Round, int]:
        with self._lock:
            state = self._states.get(token)
        if not isinstance(state, tuple):
            self.get("", Round)  # raises syncStateNotFound
        return state

    def delta_token(self, baseline: Baseline) -> str:
        return self._put(baseline)


def snapshot(mb: Mailbox, window: tuple[dt.datetime, dt.datetime]) -> dict[str, str]:
    return {views.canonical_id(mb, item, occ): item.changekey for _, item, occ in views.instances(mb, *window)}


def start_round(mb: Mailbox, store_seq: int, window, baseline: Baseline | None, tombstone_ids) -> Round:
    current = snapshot(mb, window)
    entries: list[tuple[str, str]] = []
    if baseline is None:
        entries = [("event", i) for i in current]
    else:
        known = baseline.known
        entries = [("event", i) for i, ck in current.items() if known.get(i) != ck]
        entries += [("removed", i) for i in known if i not in current]
        # Changes outside the window since the baseline: Graph reports them as @removed too.
        current_keys = {item_key(i) for i in current}
        known_keys = {item_key(i) for i in known}
        for item in views.calendar_items(mb):
            changed = max(item.changed_seq, item.entered_seq) > baseline.seq
            if changed and item.key not in current_keys and item.key not in known_keys:
                entries.append(("removed", item.id))
        for item_id, deleted_seq in tombstone_ids:
            if deleted_seq > baseline.seq and item_key(item_id) not in known_keys:
                entries.append(("removed", item_id))
    seen: set[tuple[str, str]] = set()
    unique = [e for e in entries if not (e in seen or seen.add(e))]
    return Round(mb.email.lower(), window, unique, Baseline(mb.email.lower(), window, current, store_seq))


def item_key(canonical: str):
    try:
        return ews_ids.decode(canonical).key
    except ews_ids.BadId:
        return None
