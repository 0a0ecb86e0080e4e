"""The changed Salesforce rows the org scan read, kept per mailbox for its sessions (docs/push.md, Salesforce scan).

The scan (`sync.push.salesforce_scan`) reads every synced owner's changed rows once a minute; a session of a
mailbox then needs no query of its own: `ScannedSalesforce` wraps the session's Salesforce connector and answers
``changed_records`` from these rows when the scan covers the session's watermark, and from Salesforce otherwise.

Redis keys (``<sobject>``: Event, Task or a custom object):

- ``calsync:sfscan:rows:<mailbox>:<sobject>`` — hash record id → the row as the query returned it (JSON);
- ``calsync:sfscan:index:<mailbox>:<sobject>`` — sorted set record id → its SystemModstamp (epoch seconds);
- ``calsync:sfscan:cover:<mailbox>`` — hash sobject → JSON ``{"from", "to", "at", "owner", "fields"}``: the
  rows of ``owner`` with a SystemModstamp at or after ``from`` are all here, as the org answered at ``to``
  (an ISO time of the org's clock); ``at`` is when that scan finished (epoch, this host's clock); ``fields``
  the columns the rows carry.

Rows are not removed when a session reads them: the session's watermark moves, and its next read starts there
(minus the overlap), exactly as its own query would. They are trimmed after the retention (and ``from`` moves
up with the trim), so a mailbox whose sessions failed for longer reads Salesforce itself again.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis

from sync.connectors.base import ApiUsage, SalesforceOrg
from sync.push.config import DEFAULT
from sync.push.echo import STARTED, echo_key

PREFIX = "calsync:sfscan:"


def rows_key(mailbox_id: int, sobject: str) -> str:
    return f"{PREFIX}rows:{int(mailbox_id)}:{sobject}"


def index_key(mailbox_id: int, sobject: str) -> str:
    return f"{PREFIX}index:{int(mailbox_id)}:{sobject}"


def cover_key(mailbox_id: int) -> str:
    return f"{PREFIX}cover:{int(mailbox_id)}"


def parse_stamp(value: str | None) -> dt.datetime | None:
    """A SystemModstamp as the REST API writes it (``2026-12-04T18:00:00.000+0000``) or ISO, aware UTC."""
    if not value:
        return None
    text = value[:-5] + value[-5:-2] + ":" + value[-2:] if value[-5:-4] in "+-" and value[-3] != ":" else value
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def stamp_score(value: str | None) -> float:
    stamp = parse_stamp(value)
    return stamp.timestamp() if stamp is not None else 0.0


@dataclass(frozen=True)
class Cover:
    """What the scan holds for one mailbox and object (see the module docstring)."""

    since: dt.datetime  # "from"
    to: dt.datetime
    at: float
    owner: str
    fields: frozenset[str]

    @classmethod
    def parse(cls, raw: bytes | str | None) -> Cover | None:
        if not raw:
            return None
        data = json.loads(raw)
        return cls(dt.datetime.fromisoformat(data["from"]), dt.datetime.fromisoformat(data["to"]), float(data["at"]),
                   data["owner"], frozenset(data["fields"]))  # fmt: skip

    def dump(self) -> str:
        return json.dumps({"from": self.since.isoformat(), "to": self.to.isoformat(), "at": self.at,
                           "owner": self.owner, "fields": sorted(self.fields)})  # fmt: skip


def covers(redis: Redis, mailbox_ids: Sequence[int], sobject: str) -> dict[int, Cover | None]:
    """Each mailbox's cover of ``sobject`` (None: the scan holds nothing for it yet)."""
    with redis.pipeline(transaction=False) as pipe:
        for mailbox_id in mailbox_ids:
            pipe.hget(cover_key(mailbox_id), sobject)
        answers = pipe.execute()
    return {m: Cover.parse(raw) for m, raw in zip(mailbox_ids, answers, strict=True)}


def known_stamps(redis: Redis, mailbox_id: int, sobject: str, ids: Sequence[str]) -> list[float | None]:
    """The SystemModstamp (score) each of ``ids`` is held at, None where it is not held: a row read again in the
    overlap at the same stamp is not a new change."""
    return list(redis.zmscore(index_key(mailbox_id, sobject), list(ids))) if ids else []


def hold(redis: Redis, mailbox_id: int, sobject: str, rows: Iterable[dict[str, Any]], cover: Cover) -> None:
    """Keep ``rows`` (the newest version of each record wins) and the new cover, in one transaction: a session
    reading meanwhile sees the scan's rows for this owner all or none."""
    with redis.pipeline(transaction=True) as pipe:
        for row in rows:
            pipe.hset(rows_key(mailbox_id, sobject), row["Id"], json.dumps(row, separators=(",", ":")))
            pipe.zadd(index_key(mailbox_id, sobject), {row["Id"]: stamp_score(row.get("SystemModstamp"))})
        pipe.hset(cover_key(mailbox_id), sobject, cover.dump())
        pipe.execute()


def trim(redis: Redis, mailbox_id: int, sobject: str, cutoff: float) -> None:
    """Drop rows stamped before ``cutoff`` (epoch) and move the cover's ``from`` up to it."""
    gone = redis.zrangebyscore(index_key(mailbox_id, sobject), "-inf", f"({cutoff}")
    if not gone:
        return
    with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(rows_key(mailbox_id, sobject), *gone)
        pipe.zremrangebyscore(index_key(mailbox_id, sobject), "-inf", f"({cutoff}")
        pipe.execute()
    cover = Cover.parse(redis.hget(cover_key(mailbox_id), sobject))
    floor = dt.datetime.fromtimestamp(cutoff, dt.UTC)
    if cover is not None and cover.since < floor:
        redis.hset(cover_key(mailbox_id), sobject, Cover(floor, cover.to, cover.at, cover.owner, cover.fields).dump())


def held_rows(redis: Redis, mailbox_id: int, sobject: str, since: dt.datetime) -> list[dict[str, Any]]:
    """The held rows stamped at or after ``since``, ordered as the per-mailbox query orders them."""
    ids = redis.zrangebyscore(index_key(mailbox_id, sobject), since.timestamp(), "+inf")
    if not ids:
        return []
    raw = redis.hmget(rows_key(mailbox_id, sobject), ids)
    rows = [json.loads(r) for r in raw if r]
    return sorted(rows, key=lambda r: (stamp_score(r.get("SystemModstamp")), r["Id"]))


def forget(redis: Redis, mailbox_id: int, sobjects: Iterable[str]) -> None:
    """Drop what is held for a mailbox's objects (held for another owner, or with fewer columns)."""
    sobjects = list(sobjects)
    with redis.pipeline(transaction=True) as pipe:
        for sobject in sobjects:
            pipe.delete(rows_key(mailbox_id, sobject), index_key(mailbox_id, sobject))
            pipe.hdel(cover_key(mailbox_id), sobject)
        pipe.execute()


def with_scan(redis: Redis, exchange_states: dict[int, str], *, now: float | None = None) -> dict[int, str]:
    """The push state that sets a mailbox's safety interval, from its Exchange channel's (`sync.schedule`):
    ``up`` only while the org scan is up for it too, if the scan ever covered it (a Salesforce edit must not
    wait the 6-hour safety net while the scan is down: its sessions query Salesforce themselves then, but only
    when they run). Mailboxes the scan never reported keep their Exchange state."""
    from sync.push.health import channel_key, channel_state

    now = time.time() if now is None else now
    ids = [m for m, state in exchange_states.items() if state == "up"]
    if not ids:
        return dict(exchange_states)
    with redis.pipeline(transaction=False) as pipe:
        for mailbox_id in ids:
            pipe.hmget(channel_key(mailbox_id, "salesforce-scan"), "state", "expires")
        answers = pipe.execute()
    out = dict(exchange_states)
    for mailbox_id, (state, expires) in zip(ids, answers, strict=True):
        fields = {"state": state.decode() if isinstance(state, bytes) else state,
                  "expires": expires.decode() if isinstance(expires, bytes) else expires}  # fmt: skip
        if channel_state(fields, now) == "down":
            out[mailbox_id] = "down"
    return out


class ScannedSalesforce:
    """A session's Salesforce connector whose ``changed_records`` come from the scan's rows when they cover the
    session's watermark (zero API calls); every other call, and every read the scan does not cover, goes to the
    wrapped connector unchanged (the per-mailbox query path, the fallback while the scan is down).

    Covered means: a scan finished less than ``healthy_seconds`` ago, it holds this owner's rows of this object
    from at or before ``since``, with every field asked for, and the read is a plain incremental one (a full
    listing, ``since`` None, or a ``where`` filter always queries). The org's clock the scan answered at becomes
    ``usage.server_time``, which the feed takes as the new watermark, as after its own query."""

    def __init__(self, connector: SalesforceOrg, redis: Redis, mailbox_id: int, *, healthy_seconds: float,
                 clock: Any = time.time, clock_margin: float = DEFAULT.clock_margin_seconds) -> None:  # fmt: skip
        self.connector = connector
        self.redis = redis
        self.mailbox_id = mailbox_id
        self.healthy_seconds = healthy_seconds
        self.clock = clock
        self.clock_margin = clock_margin
        self.scan_reads = 0  # changed_records answered from the scan's rows
        self.fallbacks: list[str] = []  # why others went to Salesforce: "Event: no scan", ...

    @property
    def service(self) -> str:
        return self.connector.service

    @property
    def usage(self) -> ApiUsage:
        return self.connector.usage

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connector, name)

    def _cover(self, sobject: str, fields: Iterable[str], owner_id: str, since: dt.datetime) -> Cover | str:
        """The cover when the scan covers this read, else why not (for the logs and tests)."""
        try:
            cover = Cover.parse(self.redis.hget(cover_key(self.mailbox_id), sobject))
        except Exception as exc:  # noqa: BLE001 - Redis down: the session queries, as before the scan
            return f"scan rows unreadable ({type(exc).__name__})"
        if cover is None:
            return "no scan"
        if self.clock() - cover.at > self.healthy_seconds:
            return "scan stale"
        if cover.owner != owner_id:
            return "another owner"
        if cover.since > since:
            return "watermark before the scan's rows"
        missing = set(fields) - cover.fields
        if missing:
            return f"fields not scanned: {', '.join(sorted(missing))}"
        return cover

    def changed_records(self, sobject: str, fields: Iterable[str], *, owner_id: str, since: dt.datetime | None,
                        where: str = "") -> list[dict[str, Any]]:  # fmt: skip
        fields = list(fields)
        found: Cover | str = "full listing" if since is None else ("filtered read" if where else "")
        if not found:
            assert since is not None
            found = self._cover(sobject, fields, owner_id, since)
        if isinstance(found, str):
            self.fallbacks.append(f"{sobject}: {found}")
            return self.connector.changed_records(sobject, fields, owner_id=owner_id, since=since, where=where)
        assert since is not None
        # The cover first, then the rows: rows a scan added meanwhile are newer than the cover's ``to``, never
        # missing from what the new watermark claims (the scan writes a chunk's rows and cover in one MULTI).
        try:
            rows = held_rows(self.redis, self.mailbox_id, sobject, since)
        except Exception as exc:  # noqa: BLE001 - Redis gone between the cover and the rows: query, as before
            self.fallbacks.append(f"{sobject}: scan rows unreadable ({type(exc).__name__})")
            return self.connector.changed_records(sobject, fields, owner_id=owner_id, since=since, where=where)
        try:
            rows = self._current(rows)
        except Exception as exc:  # noqa: BLE001 - Redis gone meanwhile: query, as before
            self.fallbacks.append(f"{sobject}: own writes unreadable ({type(exc).__name__})")
            return self.connector.changed_records(sobject, fields, owner_id=owner_id, since=since, where=where)
        self.usage.server_time = found.to
        self.scan_reads += 1
        return rows

    def _current(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The held rows but those our own sessions' writes superseded. The scan holds a record as its last pass
        read it; a session of this mailbox that wrote or deleted the record since then made that version stale,
        and the next session would take it for a Salesforce change (a pair deleted in Outlook came back as a new
        Outlook item: found by the chaos soak). A row stamped before our last write of its record began
        (`sync.push.echo` keeps when; less the clock margin and a second, SystemModstamp's resolution) is such a
        version: left out. The record's current version is stamped at or after that start, so a row at or
        after it is kept (ours or a later edit), and the next scan holds the current one for the next session's
        overlap: nothing is lost, whoever made it."""
        if not rows:
            return rows
        with self.redis.pipeline(transaction=False) as pipe:
            for row in rows:
                pipe.hget(echo_key(self.mailbox_id, "salesforce", row["Id"]), STARTED)
            started = pipe.execute()
        slack = self.clock_margin + 1.0
        return [row for row, began in zip(rows, started, strict=True)
                if began is None or stamp_score(row.get("SystemModstamp")) + slack >= float(began)]  # fmt: skip
