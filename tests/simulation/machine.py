"""The simulation: a Hypothesis state machine over the real engine, clients and sandboxes.

A user edits both sides (create, subject, location, body, time — moved across days and the spring DST change —,
private, delete, remove and re-add the Salesforce category), an admin flips the conflict winner, and sync
sessions run: clean ones, ones with injected faults (Salesforce UNABLE_TO_LOCK_ROW, 503, REQUEST_LIMIT_EXCEEDED;
EWS ErrorServerBusy with back-off, HTTP 500, dropped connections; Graph 429 with Retry-After, 503, 410 on the delta
link, 429 on items of a ``$batch``, 412 on PATCH (every item's change key moved while the session applies),
dropped connections), ones that crash at an Applier checkpoint, and ones that run after the sync state and
cursors were lost. The machine runs on the mailbox protocol of its engine (``exchange_protocol``: EWS or Graph);
the Outlook user is exchangelib on the store both protocols share.

On Graph, attendees are never added in Outlook (the ``invite`` rule is EWS-only): a Salesforce edit of a meeting
with attendees is held there by design (`sync.planner.notify`), which this model does not describe; the e2e
tests and the planner table cover that rule. On both protocols, a converged session checks that no engine write
sent a meeting message.

The model keeps, per meeting, the fields a user changed on each side since they last agreed. Every meeting's
subject starts with its token ("T3 ..."), so it can be found on both sides whatever else changed.

Checked after every step (docs/invariants.md): no duplicate on either side (6, 7, 12); no unexpected deletion — an item
disappears only when its counterpart was deleted by the user (3, 4); a field both sides agree on has the value
the model expects: the edited side's, or the conflict winner's (1, 2). After ``converge``: a clean session
leaves every live meeting equal on both sides (10), the next session writes nothing (9), and no health entry is
left open (11).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from sandbox.seed import PEOPLE
from sync.mailboxes import find as find_mailbox
from sync.session import run_session
from tests.e2e.actors import SALESFORCE_CATEGORY, UTC

CONTACT = next(p.email for p in PEOPLE if p.kind == "Contact")
LEAD = next(p.email for p in PEOPLE if p.kind == "Lead")

# Sessions run as if "now" were ten days before the spring DST changes (US 14 March, EU 28 March 2027): the
# scope (past 14, future 60 days) then holds both, and meetings move across them.
SIM_NOW = dt.datetime(2027, 3, 18, 12, 0, tzinfo=UTC)
ZONES = ("Europe/London", "America/New_York", "Europe/Berlin")
FIELDS = ("subject", "location", "body", "start", "end", "private")
CHECKPOINTS = ("pending_saved", "salesforce_created", "exchange_created", "links_saved")
SF_FAULTS = ("lock_row", "unavailable", "request_limit")
EX_FAULTS = {
    "ews": ("server_busy", "http_500", "drop"),
    "graph": ("graph_429", "graph_503", "delta_gone", "batch_429", "stale_412", "drop"),
}
GRAPH_FAULTS = {  # fault → the Graph sandbox's setting (sandbox/graph/faults.py), n of them
    "graph_429": "http_429_next", "graph_503": "http_503_next", "delta_gone": "delta_gone_next",
    "batch_429": "batch_item_429_next",
}  # fmt: skip
WORDS = st.sampled_from(["Review", "Kick-off", "Lunch", "Démo", "会议", "🚀 launch", "Q&A <b>", "O'Neil"])


class Crash(Exception):
    """A worker killed at an Applier checkpoint."""


@dataclass
class Meeting:
    token: str
    origin: str  # exchange | salesforce
    fields: dict[str, Any]  # the agreed values (both sides equal on them after a clean sync)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # field → side → value edited since
    state: str = "live"  # live | deleted_exchange | deleted_salesforce | unshared | reshared
    ex_id: str | None = None
    sf_id: str | None = None
    seen_both: bool = False  # has existed on both sides: from then on neither may vanish unless deleted


@dataclass
class AllDay:
    """An all-day item on a DST day (issue 23): made on ``origin``, one day ``day`` in ``zone``."""

    token: str
    origin: str
    day: dt.date
    zone: str
    location: str | None = None
    ex_id: str | None = None
    sf_id: str | None = None


@dataclass
class Series:
    """A daily series of 4 with a moved and a deleted occurrence (issue 23), made in Outlook or in Salesforce:
    ``originals`` are the pattern's starts (UTC), ``moved`` original → where it is now, ``deleted`` the
    originals deleted; both sides must hold exactly that once synced."""

    token: str
    origin: str
    originals: list[dt.datetime]
    moved: dict[dt.datetime, dt.datetime]
    deleted: set[dt.datetime]
    ex_id: str | None = None
    sf_id: str | None = None

    @property
    def starts(self) -> list[dt.datetime]:
        return sorted(self.moved.get(o, o) for o in self.originals if o not in self.deleted)


# Spring-forward days inside the sessions' scope (SIM_NOW - 14 days .. + 60 days), with the zone whose day it
# is: 23-hour days, Beirut's without a local midnight, and the day before it, which ends at that missing midnight.
DST_DAYS = (
    ("America/New_York", dt.date(2027, 3, 14)), ("Europe/London", dt.date(2027, 3, 28)),
    ("Europe/Berlin", dt.date(2027, 3, 28)), ("Asia/Beirut", dt.date(2027, 3, 28)),
    ("Asia/Beirut", dt.date(2027, 3, 27)),
)  # fmt: skip


SIDES = ("exchange", "salesforce")


def day_start(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), zoneinfo.ZoneInfo(tz)).astimezone(UTC)


def when(day: int, quarter: int, tz: str) -> dt.datetime:
    local = dt.datetime.combine(SIM_NOW.date() + dt.timedelta(days=day), dt.time(quarter // 4, 15 * (quarter % 4)))
    return local.replace(tzinfo=zoneinfo.ZoneInfo(tz)).astimezone(UTC)


times = st.builds(
    lambda day, quarter, length, tz: (when(day, quarter, tz), when(day, quarter, tz) + dt.timedelta(minutes=length)),
    st.integers(-12, 40),
    st.integers(0, 95),
    st.sampled_from([15, 30, 60, 90, 240]),
    st.sampled_from(ZONES),
)


class SyncMachine(RuleBasedStateMachine):
    """Built by `make_machine` with a factory of fresh engines (one per example)."""

    fresh_engine: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.engine = type(self).fresh_engine()
        self.world = self.engine.world
        self.meetings: dict[str, Meeting] = {}
        self.all_days: dict[str, AllDay] = {}  # all-day items on DST days (issue 23)
        self.series: dict[str, Series] = {}  # Outlook series with exceptions (issue 23)
        self.counter = 0
        self.winner = "exchange"
        self.log: list[str] = []

    # -- set-up ------------------------------------------------------------------------------------------
    @initialize(winner=st.sampled_from(["exchange", "salesforce"]))
    def policies(self, winner: str) -> None:
        self.winner = winner
        self.engine.set_policy(conflict_winner=winner, private_items="full", description="two_way")

    # -- the user -----------------------------------------------------------------------------------------
    @property
    def outlook(self):
        return self.world.outlook()

    @property
    def sf(self):
        return self.world.salesforce()

    def _new_token(self) -> str:
        self.counter += 1
        return f"T{self.counter}"

    @rule(words=WORDS, span=times, location=st.sampled_from([None, "Room 1", "Café ☕"]), private=st.booleans())
    def create_in_outlook(self, words, span, location, private) -> None:
        token = self._new_token()
        subject = f"{token} {words}"
        ex_id = self.outlook.create(
            subject, span[0], span[1], location=location, body=f"{token} notes", private=private
        )
        fields = {"subject": subject, "location": location, "body": f"{token} notes", "start": span[0],
                  "end": span[1], "private": private}  # fmt: skip
        self.meetings[token] = Meeting(token, "exchange", fields, ex_id=ex_id)

    @rule(words=WORDS, span=times, location=st.sampled_from([None, "Room 2", "Zoom 🎥"]), private=st.booleans())
    def create_in_salesforce(self, words, span, location, private) -> None:
        token = self._new_token()
        subject = f"{token} {words}"
        sf_id = self.sf.create_event(Subject=subject, StartDateTime=span[0], EndDateTime=span[1], Location=location,
                                     Description=f"{token} agenda", IsPrivate=private)  # fmt: skip
        fields = {"subject": subject, "location": location, "body": f"{token} agenda", "start": span[0],
                  "end": span[1], "private": private}  # fmt: skip
        self.meetings[token] = Meeting(token, "salesforce", fields, sf_id=sf_id)

    def _linked(self) -> list[str]:
        return sorted(t for t, m in self.meetings.items() if m.state == "live" and m.ex_id and m.sf_id)

    def _edit(self, side: str, token: str, changes: dict[str, Any]) -> None:
        m = self.meetings[token]
        if side == "exchange":
            kw = {"subject": changes.get("subject"), "location": changes.get("location"),
                  "body": changes.get("body"), "start": changes.get("start"), "end": changes.get("end"),
                  "private": changes.get("private")}  # fmt: skip
            self.outlook.edit(m.ex_id, **{k: v for k, v in kw.items() if k in changes})
        else:
            names = {"subject": "Subject", "location": "Location", "body": "Description", "start": "StartDateTime",
                     "end": "EndDateTime", "private": "IsPrivate"}  # fmt: skip
            self.sf.update("Event", m.sf_id, **{names[k]: v for k, v in changes.items()})
        for name, value in changes.items():
            m.pending.setdefault(name, {})[side] = value
        self.log.append(f"{side} edit {token} {changes}")

    @precondition(lambda self: self._linked())
    @rule(data=st.data(), side=st.sampled_from(["exchange", "salesforce"]), what=st.sampled_from(
        ["subject", "location", "body", "time", "private"]))  # fmt: skip
    def edit(self, data, side, what) -> None:
        token = data.draw(st.sampled_from(self._linked()))
        m = self.meetings[token]
        if what == "subject":
            changes = {"subject": f"{token} {data.draw(WORDS)} {side[:2]}"}
        elif what == "location":
            changes = {"location": data.draw(st.sampled_from([f"Room {side}", "Hall ✨", None]))}
        elif what == "body":
            changes = {"body": data.draw(st.sampled_from([f"{token} {side} body", "line 1\nline 2", None]))}
        elif what == "private":
            changes = {"private": not self._current(m, side, "private")}
        else:
            start, end = data.draw(times)
            changes = {"start": start, "end": end}
        self._edit(side, token, changes)

    @precondition(lambda self: self._linked())
    @rule(data=st.data(), side=st.sampled_from(["exchange", "salesforce"]), days=st.sampled_from([-1, 1, 7, 14]))
    def move_days(self, data, side, days) -> None:
        """Move by whole days in the meeting's wall clock (across the DST change for some)."""
        token = data.draw(st.sampled_from(self._linked()))
        m = self.meetings[token]
        start, end = self._current(m, side, "start"), self._current(m, side, "end")
        zone = zoneinfo.ZoneInfo("Europe/London")
        move = dt.timedelta(days=days)
        new_start = (start.astimezone(zone).replace(tzinfo=None) + move).replace(tzinfo=zone).astimezone(UTC)
        self._edit(side, token, {"start": new_start, "end": new_start + (end - start)})

    def _current(self, m: Meeting, side: str, name: str) -> Any:
        return m.pending.get(name, {}).get(side, m.fields[name])

    @precondition(lambda self: self._linked())
    @rule(data=st.data(), side=st.sampled_from(["exchange", "salesforce"]), cancel=st.booleans())
    def delete(self, data, side, cancel=False) -> None:
        """Delete on one side; in Outlook either a plain delete or the organiser cancelling the meeting."""
        token = data.draw(st.sampled_from(self._linked()))
        m = self.meetings[token]
        if side == "exchange":
            (self.outlook.cancel if cancel else self.outlook.delete)(m.ex_id)
            m.state = "deleted_exchange"
        else:
            self.sf.delete("Event", m.sf_id)
            m.state = "deleted_salesforce"
        self.log.append(f"{side} {'cancel' if cancel and side == 'exchange' else 'delete'} {token}")

    @precondition(lambda self: self._linked())
    @rule(data=st.data())
    def unshare(self, data) -> None:
        """The user removes the Salesforce category in Outlook (policy on_unshare = keep_salesforce)."""
        token = data.draw(st.sampled_from(self._linked()))
        self.outlook.remove_category(self.meetings[token].ex_id)
        self.meetings[token].state = "unshared"
        self.log.append(f"unshare {token}")

    @precondition(lambda self: any(m.state == "unshared" for m in self.meetings.values()))
    @rule(data=st.data())
    def share_again(self, data) -> None:
        """The category goes back on an unshared item: it must pair with its old Event again, not a new one."""
        token = data.draw(st.sampled_from(sorted(t for t, m in self.meetings.items() if m.state == "unshared")))
        self.outlook.add_category(self.meetings[token].ex_id, SALESFORCE_CATEGORY)
        self.meetings[token].state = "reshared"
        self.log.append(f"share again {token}")

    @precondition(lambda self: self._linked() and self.engine.protocol == "ews")
    @rule(data=st.data(), people=st.sampled_from([(), (CONTACT,), (CONTACT, LEAD), ("someone@else.test",)]))
    def invite(self, data, people) -> None:
        """Attendees change in Outlook (Contacts, Leads, unknown people, or none): the content checks stay
        on the other fields; nothing may be duplicated or lost on the way."""
        token = data.draw(st.sampled_from(self._linked()))
        self.outlook.edit(self.meetings[token].ex_id, attendees=list(people))
        self.log.append(f"invite {token} {people}")

    @precondition(lambda self: not any(m.pending for m in self.meetings.values()))
    @rule(winner=st.sampled_from(["exchange", "salesforce"]))
    def change_conflict_winner(self, winner) -> None:
        self.winner = winner
        self.engine.set_policy(conflict_winner=winner, private_items="full", description="two_way")

    # -- all-day items on DST days and series with exceptions (issue 23) -------------------------------------
    @rule(side=st.sampled_from(["exchange", "salesforce"]), on=st.sampled_from(DST_DAYS))
    def create_all_day_on_a_dst_day(self, side, on) -> None:
        zone, day = on
        token = self._new_token()
        if side == "exchange":
            ex_id = self.outlook.create(f"{token} all day", day, day, all_day=True, tz=zone)
            self.all_days[token] = AllDay(token, side, day, zone, ex_id=ex_id)
        else:
            sf_id = self.sf.create_event(Subject=f"{token} all day", IsAllDayEvent=True, ActivityDate=day,
                                         StartDateTime=dt.datetime.combine(day, dt.time(0), UTC),
                                         DurationInMinutes=1440)  # fmt: skip
            # Salesforce all-day Events come down in the mailbox's zone.
            self.all_days[token] = AllDay(token, side, day, self.world.rep.timezone, sf_id=sf_id)
        self.log.append(f"{side} all-day {token} {day} {zone}")

    @precondition(lambda self: self.all_days)
    @rule(data=st.data(), location=st.sampled_from(["Hall A", "Booth 7", None]))
    def edit_all_day_in_outlook(self, data, location) -> None:
        """An Outlook edit to an all-day item on a DST day must reach Salesforce (issue 23, point 2)."""
        token = data.draw(st.sampled_from(sorted(self.all_days)))
        item = self.all_days[token]
        found = next((i for i in self.outlook.items() if (i["subject"] or "").split(" ")[0] == token), None)
        if found is None:
            return  # made in Salesforce and not synced down yet
        self.outlook.edit(found["id"], location=location)
        item.location = location
        self.log.append(f"exchange all-day edit {token} {location}")

    @rule(span=times, moved=st.integers(1, 3), deleted=st.integers(1, 4), side=st.sampled_from(SIDES))
    def create_series_with_exceptions(self, span, moved, deleted, side) -> None:
        """A daily series of 4 (London) with one occurrence moved an hour later and one deleted, made in Outlook
        or in Salesforce (occurrence Events edited and deleted there)."""
        from exchangelib.recurrence import DailyPattern, Recurrence

        token = self._new_token()
        start, end = span
        zone = zoneinfo.ZoneInfo("Europe/London")
        local = start.astimezone(zone)
        originals = [
            (local.replace(tzinfo=None) + dt.timedelta(days=n)).replace(tzinfo=zone).astimezone(UTC) for n in range(4)
        ]
        series = Series(token, side, originals, {}, {originals[deleted - 1]})
        # An hour later, or earlier near midnight: Exchange refuses to move an occurrence onto another's day.
        hour = dt.timedelta(hours=1 if (local + dt.timedelta(hours=1)).date() == local.date() else -1)
        if side == "exchange":
            recurrence = Recurrence(pattern=DailyPattern(interval=1), start=local.date(), number=4)
            series.ex_id = self.outlook.create(f"{token} series", start, end, recurrence=recurrence)
            master = self.outlook.calendar.get(id=series.ex_id)
            if moved != deleted:
                occurrence = master.occurrence(index=moved)
                occurrence.refresh()
                occurrence.start, occurrence.end = occurrence.start + hour, occurrence.end + hour
                occurrence.save(update_fields=["start", "end"], send_meeting_invitations="SendToNone")
            master.occurrence(index=deleted).delete(send_meeting_cancellations="SendToNone")
        else:
            series.sf_id = self.sf.create_event(
                Subject=f"{token} series", StartDateTime=start, EndDateTime=end,
                Recurrence2PatternText="RRULE:FREQ=DAILY;INTERVAL=1;COUNT=4",
                Recurrence2PatternTimeZone="Europe/London",
            )  # fmt: skip
            rows = self.sf.occurrences(series.sf_id)
            if moved != deleted:
                row = rows[moved - 1]
                self.sf.update("Event", row["Id"], StartDateTime=row["StartDateTime"] + hour,
                               EndDateTime=row["EndDateTime"] + hour)  # fmt: skip
            self.sf.delete("Event", rows[deleted - 1]["Id"])
        if moved != deleted:
            series.moved[originals[moved - 1]] = originals[moved - 1] + hour
        self.series[token] = series
        self.log.append(f"{side} series {token} moved {moved} deleted {deleted}")

    @precondition(lambda self: self.series)
    @rule(data=st.data(), minutes=st.sampled_from([30, -45, 120]))
    def move_occurrence_in_salesforce(self, data, minutes) -> None:
        """A rep moves one occurrence Event of a series in Salesforce (issue 23, point 4a)."""
        token = data.draw(st.sampled_from(sorted(self.series)))
        series = self.series[token]
        subject = f"{token} series"
        found = next((e for e in self.sf.events() if e["Subject"] == subject and e.get("IsRecurrence2")), None)
        if found is None:
            return  # made in Outlook and not synced up yet
        rows = self.sf.occurrences(found["Id"])
        now = {start: original for original, start in series.moved.items()}
        live = [o for o in series.originals if o not in series.deleted]
        if [r["StartDateTime"] for r in rows] != sorted(series.moved.get(o, o) for o in live):
            return  # the series' exceptions have not reached Salesforce yet
        row = data.draw(st.sampled_from(rows))
        original = now.get(row["StartDateTime"], row["StartDateTime"])
        shift = dt.timedelta(minutes=minutes)
        london = zoneinfo.ZoneInfo("Europe/London")
        if (row["StartDateTime"] + shift).astimezone(london).date() != original.astimezone(london).date():
            return  # onto another occurrence's day: Outlook refuses that (tests/e2e/test_sync_series.py)
        self.sf.update("Event", row["Id"], StartDateTime=row["StartDateTime"] + shift,
                       EndDateTime=row["EndDateTime"] + shift)  # fmt: skip
        series.moved[original] = row["StartDateTime"] + shift
        self.log.append(f"salesforce occurrence move {token} {original} {minutes:+}m")

    def _check_all_day_and_series(self) -> None:
        """After converging: all-day items keep their day on both sides; series hold their exceptions."""
        ex_items, sf_events = self._read()
        for token, a in self.all_days.items():
            ex, sf = ex_items.get(token), sf_events.get(token)
            assert ex is not None and sf is not None, f"{token} all-day ({a.day} {a.zone}) not on both sides"
            bounds = self.outlook.all_day_bounds(ex["id"])
            assert bounds == (day_start(a.day, a.zone), day_start(a.day + dt.timedelta(days=1), a.zone)), token
            assert (sf["IsAllDayEvent"], sf["ActivityDate"], sf["DurationInMinutes"]) == (True, a.day, 1440), token
            assert (sf["Location"] or None) == a.location == (ex["location"] or None), token
        for token, series in self.series.items():
            sf, ex = sf_events.get(token), ex_items.get(token)
            assert sf is not None and sf["IsRecurrence2"], f"{token} series not in Salesforce"
            starts = [o["StartDateTime"] for o in self.sf.occurrences(sf["Id"])]
            assert starts == series.starts, f"{token}: occurrences {starts} != {series.starts}"
            assert ex is not None and ex["recurrence"] is not None, f"{token} series not in Outlook"
            gone = {d.start for d in ex["deleted_occurrences"] or ()}
            moved = {o.original_start: o.start for o in ex["modified_occurrences"] or ()}
            outlook = sorted(moved.get(o, o) for o in series.originals if o not in gone)
            assert outlook == series.starts, f"{token}: Outlook occurrences {outlook} != {series.starts}"

    # -- sessions -----------------------------------------------------------------------------------------
    def _session(self, checkpoint=None, progress=None):
        return run_session(
            self.engine.factory, self.engine.email, **self.engine.connectors(), now=SIM_NOW, checkpoint=checkpoint,
            progress=progress,
        )  # fmt: skip

    @rule()
    def sync(self) -> None:
        result = self._session()
        assert result.status != "failed", result.error
        self._settle()

    @rule(data=st.data(), n=st.integers(1, 3))
    def sync_with_fault(self, data=None, n: int = 1, fault: str | None = None) -> None:
        """A session with ``fault`` (drawn from those of the engine's protocol; replays name it)."""
        w = self.world
        if fault is None:
            fault = data.draw(st.sampled_from(SF_FAULTS + EX_FAULTS[self.engine.protocol]), label="fault")
        progress = None
        if fault == "drop" and self.engine.protocol == "graph":
            w.set_graph_faults(drop_next=n)
        elif fault in GRAPH_FAULTS:
            w.set_graph_faults(**{GRAPH_FAULTS[fault]: 1 if fault == "delta_gone" else n, "retry_after": 1})
        elif fault == "stale_412":

            def progress(phase: str, _done: int, _total: int) -> None:
                if phase == "applying" and not touched:
                    touched.append(w.touch_exchange())  # every PATCH of this session holds an old change key

            touched: list[int] = []
        elif fault == "lock_row":
            w.set_salesforce_faults(fail_next_writes=n)
        elif fault == "unavailable":
            w.set_salesforce_faults(fail_next_requests=n)
        elif fault == "request_limit":
            w.set_salesforce_faults(api_used=w.salesforce_daily_budget)
        elif fault == "server_busy":
            w.set_exchange_faults(server_busy_next=n, back_off_ms=20)
        elif fault == "http_500":
            w.set_exchange_faults(http_500_next=n)
        else:
            w.set_exchange_faults(drop_next=n)
        try:
            result = self._session(progress=progress)
        finally:
            w._sf("DELETE", "faults")  # noqa: SLF001
            w.set_salesforce_faults(daily_budget=w.salesforce_daily_budget, api_used=0)
            w.set_exchange_faults(server_busy_next=0, http_500_next=0, drop_next=0)
            w.set_graph_faults(**dict.fromkeys((*GRAPH_FAULTS.values(), "drop_next"), 0))
        if fault == "request_limit":
            assert result.status == "failed" and "budget" in (result.error or ""), result.to_json()
        self.log.append(f"fault {fault} x{n}: {result.status} {result.error}")
        self._settle()

    @rule(point=st.sampled_from(CHECKPOINTS))
    def sync_and_crash(self, point) -> None:
        def checkpoint(reached: str) -> None:
            if reached == point:
                raise Crash(point)

        result = self._session(checkpoint)
        self.log.append(f"crash at {point}: {result.status}")
        assert result.status != "failed" or point in (result.error or ""), result.error
        self._settle()

    @rule()
    def lose_sync_state(self) -> None:
        with self.engine.factory() as db:
            mailbox = find_mailbox(db, self.engine.email)
            mailbox.exchange_sync_state = None
            mailbox.salesforce_watermarks = {}
            db.commit()
        self.log.append("lost sync state")

    @rule()
    def converge(self) -> None:
        for _ in range(4):
            result = self._session()
            assert result.status == "ok", result.to_json()
            self._settle()
            if result.writes == 0:
                break
        else:
            raise AssertionError(f"no quiet session after 4: {result.to_json()}")
        again = self._session()
        assert again.writes == 0, f"echo after a converged session: {again.to_json()}"  # docs/invariants.md #9
        ex_items, sf_events = self._read()
        for m in self.meetings.values():
            ex, sf = ex_items.get(m.token), sf_events.get(m.token)
            if m.state == "live":
                assert ex is not None and sf is not None, f"{m.token} not on both sides after converging"
                assert not m.pending, f"{m.token}: edits not synced: {m.pending}"
                assert self._ex_fields(ex) == self._sf_fields(sf) == self._expected(m), m.token
            elif m.state == "deleted_exchange":
                assert ex is None and sf is None, f"{m.token}: deleted in Outlook but kept in Salesforce"
            elif m.state == "deleted_salesforce":
                assert sf is None and ex is not None, f"{m.token}: Salesforce deletion under `keep`"
                assert SALESFORCE_CATEGORY not in ex["categories"], f"{m.token} still shared"
            elif m.state == "reshared":
                assert ex is not None and sf is not None, f"{m.token}: shared again, both must be there"
                assert self._ex_fields(ex) == self._sf_fields(sf), f"{m.token}: shared again but not equal"
                m.state, m.fields, m.pending = "live", self._ex_fields(ex), {}
            else:
                assert ex is not None and sf is not None, f"{m.token}: unshared, both must stay"
        self._check_all_day_and_series()
        sent = self.world.engine_meeting_messages()
        assert sent == [], f"sync writes sent meeting messages: {sent}"  # EWS: SendToNone; Graph: sync.planner.notify
        health = [(h.code, h.message) for h in self.engine.health()]
        assert health == [], health  # docs/invariants.md #11: everything synced, nothing left open

    # -- the model after a session ---------------------------------------------------------------------------
    def _read(self) -> tuple[dict[str, dict], dict[str, dict]]:
        """Items and Events by token; a duplicate fails here (docs/invariants.md #6)."""
        ex_items: dict[str, dict] = {}
        for item in self.outlook.items():
            token = (item["subject"] or "").split(" ")[0]
            assert token not in ex_items, f"two Outlook items for {token}"
            ex_items[token] = item
        sf_events: dict[str, dict] = {}
        for event in self.sf.events():
            if event.get("RecurrenceActivityId"):
                continue  # an occurrence Event of a series: part of its series (issue 23)
            token = (event["Subject"] or "").split(" ")[0]
            assert token not in sf_events, f"two Salesforce Events for {token}"
            sf_events[token] = event
        return ex_items, sf_events

    @staticmethod
    def _ex_fields(item: dict) -> dict[str, Any]:
        return {"subject": item["subject"], "location": item["location"] or None, "body": item["body"] or None,
                "start": item["start"], "end": item["end"], "private": item["sensitivity"] == "Private"}  # fmt: skip

    @staticmethod
    def _sf_fields(event: dict) -> dict[str, Any]:
        return {"subject": event["Subject"], "location": event["Location"] or None,
                "body": event["Description"] or None, "start": event["StartDateTime"], "end": event["EndDateTime"],
                "private": bool(event["IsPrivate"])}  # fmt: skip

    def _resolution(self, m: Meeting, name: str) -> Any:
        edits = m.pending.get(name)
        if not edits:
            return m.fields[name]
        if len(edits) == 1:
            return next(iter(edits.values()))
        return edits[self.winner]

    def _expected(self, m: Meeting) -> dict[str, Any]:
        return {name: self._resolution(m, name) for name in FIELDS}

    def _settle(self) -> None:
        """After any session: note ids, and fold edits both sides now agree on into the model (checking the
        agreed value is the right one: the edited side's or the conflict winner's)."""
        ex_items, sf_events = self._read()
        for m in self.meetings.values():
            ex, sf = ex_items.get(m.token), sf_events.get(m.token)
            if ex is not None:
                m.ex_id = m.ex_id or ex["id"]
            if sf is not None:
                m.sf_id = m.sf_id or sf["Id"]
            if ex is not None and sf is not None:
                m.seen_both = True
            if m.state != "live" or ex is None or sf is None:
                continue
            ex_f, sf_f = self._ex_fields(ex), self._sf_fields(sf)
            for name in list(m.pending):
                if ex_f[name] == sf_f[name]:
                    wanted = self._resolution(m, name)
                    assert ex_f[name] == wanted, f"{m.token}.{name}: {ex_f[name]!r} != {wanted!r} ({m.pending})"
                    m.fields[name] = wanted
                    del m.pending[name]

    # -- invariants after every step ----------------------------------------------------------------------
    @invariant()
    def nothing_duplicated_or_lost(self) -> None:
        ex_items, sf_events = self._read()
        for m in self.meetings.values():
            ex, sf = ex_items.get(m.token), sf_events.get(m.token)
            if m.state != "deleted_exchange" and (m.origin == "exchange" or m.seen_both):
                assert ex is not None, f"{m.token} vanished from Outlook ({m.state})"
            if m.state != "deleted_salesforce" and (m.origin == "salesforce" or m.seen_both):
                if m.state != "deleted_exchange":
                    assert sf is not None, f"{m.token} vanished from Salesforce ({m.state})"

    def teardown(self) -> None:
        self.engine.factory.kw["bind"].dispose()
