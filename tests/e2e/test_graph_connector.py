"""The Graph connector's own behaviour against the Graph sandbox (beyond the shared contract): headers and ids,
throttling, ``$batch`` partial failures, delta resets, ``@removed``, optimistic concurrency, the sync key shared
with EWS, series with exceptions, all-day items on DST days, mailboxes Graph cannot reach, and request counts."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

import pytest
import requests

from sync.connectors.base import DELETE, REMOVED, ItemChange, NewItem
from sync.connectors.errors import MailboxNotInScope, MailboxNotOnline
from sync.connectors.graph import GraphCalendar
from sync.connectors.graph.mapping import SYNC_KEY_PROPERTY_ID, SYNC_KEY_PROPERTY_NAME, SYNC_KEY_PROPERTY_SET
from sync.entry import Entry, Recurrence, project
from sync.mapping.exchange import entry_from_exchange, entry_to_exchange
from tests.e2e.graph_support import MsalTokens, ews_id, make_calendar

UTC = dt.UTC
CATEGORY = "Salesforce"
START = dt.datetime(2026, 12, 10, 14, tzinfo=UTC)


def _entry(subject: str, hours: int = 0, **kw) -> Entry:
    start = START + dt.timedelta(hours=hours)
    values = {"subject": subject, "start": start, "end": start + dt.timedelta(hours=1), "location": "Room 4",
              "categories": (CATEGORY,), "time_zone": "Europe/Berlin", **kw}  # fmt: skip
    return Entry(**values)


def _create(calendar: GraphCalendar, *entries: Entry) -> list[tuple[str, str]]:
    keys = [str(uuid.uuid4()) for _ in entries]
    results = calendar.create(
        [NewItem(entry_to_exchange(e, sync_key=k)[0]) for e, k in zip(entries, keys, strict=True)]
    )
    assert all(r.ok for r in results), [r.error for r in results]
    return [(str(r.item_id), k) for r, k in zip(results, keys, strict=True)]


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def calendar(world, graph_info, graph_admin, sleeps):
    cal = make_calendar(graph_info, world.rep.email, sleep=sleeps)
    yield cal
    cal.close()


# -- headers and ids ---------------------------------------------------------------------------------------------
def test_every_request_and_batch_item_prefers_immutable_ids_and_utc(calendar):
    sent: list[requests.PreparedRequest] = []
    calendar.client.session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request))
    [(item_id, _)] = _create(calendar, _entry("Headers"))
    calendar.changes(None)
    calendar.fetch([item_id])
    calendar.master_categories()
    assert len(sent) >= 4
    for request in sent:
        assert request.headers["Prefer"].startswith('IdType="ImmutableId", outlook.timezone="UTC"')
        if "/calendarView/delta" in request.url:
            assert request.headers["Prefer"].endswith("odata.maxpagesize=200")
        if request.url.endswith("/$batch"):
            for item in json.loads(request.body)["requests"]:
                assert item["headers"]["Prefer"] == 'IdType="ImmutableId", outlook.timezone="UTC"'


@pytest.mark.parametrize("exchange_protocol", ["ews"])  # `engine` is the EWS side of the comparison
def test_sync_key_is_the_ews_named_property_and_ids_are_immutable(engine, calendar, graph_info):
    """Written through Graph, the key is read by the EWS connector on the same store (links survive a move
    from EWS to Graph), and the Graph id is the restImmutableEntryId of the EWS item."""
    from sync.connectors.ews.mapping import SyncKeyProperty

    assert (SYNC_KEY_PROPERTY_SET, SYNC_KEY_PROPERTY_NAME) == (
        SyncKeyProperty.property_set_id,
        SyncKeyProperty.property_name,
    )
    [(graph_id, key)] = _create(calendar, _entry("Seen by EWS"))
    ews = engine.runtime.exchange(engine.email, engine.settings)
    try:
        found = ews.find_by_sync_key([key])
        [item] = ews.fetch([found[key]])
        assert item is not None and item.sync_key == key and item.fields["subject"] == "Seen by EWS"
        # EWS → Graph the other way round: a key EWS wrote is found through Graph.
        ews_key = str(uuid.uuid4())
        [made] = ews.create([NewItem(entry_to_exchange(_entry("Made by EWS", 3), sync_key=ews_key)[0])])
        assert made.ok
    finally:
        ews.close()
    assert set(calendar.find_by_sync_key([ews_key])) == {ews_key}
    answer = calendar.client.request(
        "POST",
        f"/users/{engine.email}/translateExchangeIds",
        body={"inputIds": [found[key]], "sourceIdType": "ewsId", "targetIdType": "restImmutableEntryId"},
    ).json()
    assert answer["value"][0]["targetId"] == graph_id
    assert SYNC_KEY_PROPERTY_ID == f"String {{{SYNC_KEY_PROPERTY_SET}}} Name CalSyncKey"


# -- throttling ----------------------------------------------------------------------------------------------------
def test_retry_after_is_honoured_and_counted(calendar, graph_admin, sleeps):
    graph_admin.faults(http_429_next=1, http_503_next=1, retry_after=2, operations=["calendarView.delta"])
    before = calendar.usage.calls
    feed = calendar.changes(None)
    assert feed.full and feed.cursor
    assert sleeps == [2.0, 2.0]
    assert calendar.usage.backoff_ms == 4000
    assert calendar.usage.calls - before == 3  # two refused, one answered


def test_waiting_is_bounded(world, graph_info, graph_admin, sleeps):
    from sync.connectors.errors import TransientError

    cal = make_calendar(graph_info, world.rep.email, sleep=sleeps, max_wait=5, max_total_wait=6)
    graph_admin.faults(http_429_rate=1.0, retry_after=4, operations=["calendarView.delta"])
    with pytest.raises(TransientError) as raised:
        cal.changes(None)
    cal.close()
    assert raised.value.code == "ApplicationThrottled" and sleeps == [4.0]  # a second wait would pass 6 s


def test_a_batch_retries_only_its_items_that_answered_429(calendar, graph_admin, sleeps):
    graph_admin.faults(batch_item_429_next=2, retry_after=1)
    created = _create(calendar, *[_entry(f"Item {n}", hours=n) for n in range(5)])
    assert len({i for i, _ in created}) == 5
    log = graph_admin.calls()
    batches = [c for c in log if c["operation"] == "$batch"]
    creates = [c for c in log if c["operation"] == "events.create"]
    assert len(batches) == 2 and len(creates) == 5 and sleeps == [1.0]
    assert len([c for c in log if c["operation"] == "$batch.item" and c["status"] == 429]) == 2


def test_at_most_four_requests_in_flight_per_mailbox(world, graph_info, graph_admin):
    graph_admin.call("PUT", "limits", {"concurrency": 4})
    graph_admin.faults(latency_ms=40)
    cal = make_calendar(graph_info, world.rep.email)
    [(item_id, _)] = _create(cal, _entry("Busy"))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(3):
                cal.client.get_json(f"/users/{world.rep.email}/events/{item_id}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cal.close()
    limits = graph_admin.call("GET", "limits")
    assert not errors and limits["refused"]["concurrency"] == 0 and limits["max_in_flight"] == 4


def test_a_refused_token_is_replaced_once(world, graph_info, graph_admin):
    class FirstTokenBad(MsalTokens):
        bad = True

        def token(self) -> str:
            return "eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.x" if self.bad else super().token()

        def invalidate(self) -> None:
            self.bad = False
            super().invalidate()

    tokens = FirstTokenBad(graph_info)
    session = requests.Session()
    session.trust_env = False
    session.verify = graph_info["ca_file"]
    cal = GraphCalendar(world.rep.email, graph_url=graph_info["base_url"], tokens=tokens, session=session)
    assert cal.changes(None).full
    cal.close()
    assert tokens.invalidations == 1


# -- change feed ------------------------------------------------------------------------------------------------------
def test_a_quiet_round_is_one_request_and_changes_cost_a_batch_per_twenty(calendar, world, graph_info):
    full = calendar.changes(None)
    before = calendar.usage.calls
    quiet = calendar.changes(full.cursor)
    assert quiet.changes == [] and not quiet.full and calendar.usage.calls - before == 1
    other = make_calendar(graph_info, world.rep.email)  # another client (Outlook, say) makes the items
    created = _create(other, *[_entry(f"Bulk {n}", hours=n % 200) for n in range(45)])
    other.close()
    before = calendar.usage.calls
    feed = calendar.changes(quiet.cursor)
    assert {c.item_id for c in feed.changes} == {i for i, _ in created}
    assert {c.sync_key for c in feed.changes} == {k for _, k in created}
    assert calendar.usage.calls - before == 1 + 3  # one delta page, ⌈45/20⌉ batched GETs for the sync keys
    before = calendar.usage.calls
    items = calendar.fetch([c.item_id for c in feed.changes])
    assert all(items) and calendar.usage.calls == before  # the feed's reads serve the fetch
    # Our own writes come back in the next round without a read: their change keys are the ones we wrote.
    changes = [ItemChange(i.item_id, i.change_key, {"subject": f"{i.fields['subject']}!"}) for i in items[:30] if i]
    assert all(r.ok for r in calendar.update(changes))
    before = calendar.usage.calls
    echo = calendar.changes(feed.cursor)
    assert len(echo.changes) == 30 and calendar.usage.calls - before == 1
    assert {c.sync_key for c in echo.changes} <= {k for _, k in created}


def test_410_and_lost_state_start_a_full_round_without_deletions(calendar, graph_admin, world):
    (kept, _), (gone, _) = _create(calendar, _entry("Kept"), _entry("Deleted meanwhile", 2))
    cursor = calendar.changes(None).cursor
    world.outlook().delete(ews_id(calendar, gone))  # a user deletes one through EWS/Outlook
    graph_admin.faults(delta_gone_next=1)
    feed = calendar.changes(cursor)
    assert feed.full and kept in {c.item_id for c in feed.changes}
    assert all(c.change != DELETE for c in feed.changes)  # absence from a full round proves nothing
    graph_admin.call("POST", "delta/expire")
    again = calendar.changes(feed.cursor)
    assert again.full and all(c.change != DELETE for c in again.changes)
    # A window the cursor no longer covers (the scope moved past its slack) starts over as well.
    lo, hi = calendar.window()
    assert calendar.changes(again.cursor, window=(lo, hi)).full is False
    assert calendar.changes(again.cursor, window=(lo, hi + dt.timedelta(days=30))).full


def test_removed_outside_the_window_is_not_a_deletion(calendar):
    (moved, _), (deleted, _) = _create(calendar, _entry("Moves away"), _entry("Deleted", 2))
    cursor = calendar.changes(None).cursor
    [item] = calendar.fetch([moved])
    far = START + dt.timedelta(days=800)
    [result] = calendar.update([ItemChange(moved, item.change_key, {"start": far, "end": far + dt.timedelta(hours=1),
                                                                   "is_all_day": False})])  # fmt: skip
    assert result.ok
    assert calendar.delete([deleted])[0].ok
    feed = calendar.changes(cursor)
    kinds = {c.item_id: c.change for c in feed.changes}
    assert kinds == {moved: REMOVED, deleted: DELETE}
    [still] = calendar.fetch([moved])
    assert still is not None and still.fields["start"] == far


def test_a_deleted_series_is_the_deletion_of_its_master(calendar, world):
    """The delta feed lists a series only as its instances, and a deleted series as ``@removed`` instances
    whose ids do not name the master (issue 23.4c on Graph): the connector reads the masters the chain listed
    and reports the one gone. A deleted single occurrence leaves its master alone."""
    daily = _entry("Daily stand-up", recurrence=Recurrence("FREQ=DAILY;COUNT=5"))
    weekly = _entry("Weekly review", 3, recurrence=Recurrence("FREQ=WEEKLY;COUNT=4"))
    (series, _), (other, _), (single, _) = _create(calendar, daily, weekly, _entry("One-off", 5))
    cursor = calendar.changes(None).cursor
    assert calendar.delete_occurrences(other, [2]) >= 1
    feed = calendar.changes(cursor)
    ours = {series, other, single}
    assert not ours & {c.item_id for c in feed.changes if c.change == DELETE}  # only the occurrence's own id
    assert other in {c.item_id for c in feed.changes}

    world.outlook().delete(ews_id(calendar, series))  # the rep deletes the whole series in Outlook
    before = calendar.usage.calls
    feed = calendar.changes(feed.cursor)
    deleted = {c.item_id for c in feed.changes if c.change == DELETE}
    assert deleted & ours == {series}
    # One delta page, one batch confirming the 5 @removed instances, one batch reading the listed masters.
    assert calendar.usage.calls - before == 3
    before = calendar.usage.calls
    assert calendar.changes(feed.cursor).changes == [] and calendar.usage.calls - before == 1


def test_a_stale_change_key_fails_that_item_alone(calendar, world):
    (stale, _), (fresh, _) = _create(calendar, _entry("Edited in Outlook"), _entry("Ours", 2))
    items = {i.item_id: i for i in calendar.fetch([stale, fresh]) if i}
    world.outlook().edit(ews_id(calendar, stale), subject="Changed by the user")
    results = calendar.update(
        [ItemChange(stale, items[stale].change_key, {"subject": "Sync's version"}),
         ItemChange(fresh, items[fresh].change_key, {"subject": "Ours, updated"})]
    )  # fmt: skip
    assert [r.ok for r in results] == [False, True]
    assert results[0].error.code == "ErrorIrresolvableConflict" and results[0].error.status == 412
    assert results[0].item_id == stale
    [after] = calendar.fetch([stale])
    assert after.fields["subject"] == "Changed by the user"  # never overwritten blind


def test_a_retried_create_finds_its_event(calendar):
    key = str(uuid.uuid4())
    item = NewItem(entry_to_exchange(_entry("Once"), sync_key=key)[0])
    [first] = calendar.create([item])
    [again] = calendar.create([item])  # the transactionId is the same: Graph makes no second event
    assert first.ok and again.ok and again.item_id == first.item_id
    assert calendar.find_by_sync_key([key]) == {key: first.item_id}


@pytest.mark.parametrize("exchange_protocol", ["ews"])  # `engine` is the EWS side of the comparison
# -- series ------------------------------------------------------------------------------------------------------------
def test_a_series_with_a_moved_and_a_deleted_occurrence_reads_as_on_ews(engine, calendar):
    weekly = _entry("Weekly pipeline", recurrence=Recurrence("FREQ=WEEKLY;BYDAY=TH;COUNT=6"))
    [(master, _)] = _create(calendar, weekly)
    user = f"/users/{engine.email}"
    window = {"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2027-02-01T00:00:00Z"}
    instances = calendar.client.get_json(f"{user}/events/{master}/instances", window)["value"]
    assert len(instances) == 6
    third, fifth = instances[2], instances[4]
    moved_start = dt.datetime(2026, 12, 25, 9, tzinfo=UTC)  # Thursday 24th's occurrence to Friday morning
    calendar.client.request("PATCH", f"{user}/events/{third['id']}", body={
        "subject": "Pipeline (moved)",
        "start": {"dateTime": moved_start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": (moved_start + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
    })  # fmt: skip
    assert calendar.delete_occurrences(master, [5]) >= 2
    [item] = calendar.fetch([master])
    assert item is not None and item.fields["recurrence"].type == "weekly"
    assert [d.isoformat() for d in item.fields["deleted_occurrences"]] == [fifth["originalStart"].replace(
        ".0000000Z", "+00:00")]  # fmt: skip
    [modified] = item.fields["modified_occurrences"]
    assert modified["start"] == moved_start and modified["id"] == third["id"]

    from sync.series import read_modified_occurrences

    graph_entry = entry_from_exchange(
        {**item.fields, "modified_occurrences": read_modified_occurrences(calendar, [item])[master]}
    ).entry
    ews = engine.runtime.exchange(engine.email, engine.settings)
    try:
        [ews_item] = ews.fetch(list(ews.find_by_sync_key([item.sync_key]).values()))
        ews_entry = entry_from_exchange(
            {**ews_item.fields, "modified_occurrences": read_modified_occurrences(ews, [ews_item])[ews_item.item_id]}
        ).entry
    finally:
        ews.close()
    assert graph_entry.recurrence.exdates == (dt.date(2027, 1, 7),)
    [override] = graph_entry.recurrence.overrides
    assert override.original == dt.date(2026, 12, 24) and override.subject == "Pipeline (moved)"
    assert project(graph_entry) == project(ews_entry)


@pytest.mark.parametrize("exchange_protocol", ["ews"])  # `engine` is the EWS side of the comparison
# -- all-day items on DST days ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        ("America/New_York", dt.date(2027, 3, 14), 23),
        ("America/New_York", dt.date(2027, 11, 7), 25),
        ("Europe/Berlin", dt.date(2027, 3, 28), 23),
        ("Europe/Berlin", dt.date(2027, 10, 31), 25),
        ("America/Santiago", dt.date(2027, 9, 5), 23),
        ("America/Santiago", dt.date(2027, 4, 3), 25),
        ("America/Santiago", dt.date(2027, 9, 4), 24),
    ],
)
def test_all_day_items_on_dst_days_keep_their_dates(engine, calendar, tz, day, hours):
    entry = Entry(subject=f"Offsite {day}", is_all_day=True, start_date=day, end_date=day + dt.timedelta(days=1),
                  categories=(CATEGORY,), time_zone=tz)  # fmt: skip
    [(item_id, key)] = _create(calendar, entry)
    [item] = calendar.fetch([item_id])
    assert item.fields["end"] - item.fields["start"] == dt.timedelta(hours=hours)
    read = entry_from_exchange(item.fields).entry
    assert (read.start_date, read.end_date, read.time_zone) == (day, day + dt.timedelta(days=1), tz)
    ews = engine.runtime.exchange(engine.email, engine.settings)
    try:
        [ews_item] = ews.fetch(list(ews.find_by_sync_key([key]).values()))
    finally:
        ews.close()
    on_ews = entry_from_exchange(ews_item.fields).entry
    assert (on_ews.start_date, on_ews.end_date) == (day, day + dt.timedelta(days=1))


# -- mailboxes Graph cannot reach --------------------------------------------------------------------------------------
def test_an_on_premises_mailbox_is_a_clear_error(world, graph_info, graph_admin):
    [email] = graph_info["on_premises"]
    cal = make_calendar(graph_info, email)
    with pytest.raises(MailboxNotOnline) as raised:
        cal.changes(None)
    cal.close()
    assert (
        raised.value.code == "MailboxNotEnabledForRESTAPI" and raised.value.health_code == "graph_mailbox_on_premises"
    )


def test_a_mailbox_outside_the_apps_scope_is_a_clear_error(world, graph_info, graph_admin):
    others = [m["email"] for m in graph_info["mailboxes"] if m["email"] != world.rep.email]
    graph_admin.call("PUT", "scopes", {graph_info["client_id"]: others})
    cal = make_calendar(graph_info, world.rep.email)
    with pytest.raises(MailboxNotInScope) as raised:
        cal.changes(None)
    cal.close()
    assert raised.value.status == 403 and raised.value.health_code == "graph_mailbox_not_in_scope"
    other = make_calendar(graph_info, others[0])
    assert other.changes(None).full  # other mailboxes unaffected
    other.close()


# -- attendee copies and dropped connections -------------------------------------------------------------------------
def test_an_attendees_copy_reads_as_not_organised_with_its_uid(world, graph_info, graph_admin):
    organiser, attendee = (
        world.rep.email,
        next(m["email"] for m in graph_info["mailboxes"] if m["email"] != world.rep.email),
    )
    item_id = world.outlook().create("Joint call", START, START + dt.timedelta(hours=1), attendees=[attendee])
    copy_id = world.deliver_meeting(item_id, attendee)
    mine, theirs = make_calendar(graph_info, organiser), make_calendar(graph_info, attendee)
    try:
        [own] = mine.fetch([mine.changes(None).changes[0].item_id])
        feed = theirs.changes(None)  # untagged (no categories on the copy): listed, not read
        assert [c.categories for c in feed.changes] == [()]
        [copy] = theirs.fetch([feed.changes[0].item_id])
    finally:
        mine.close()
        theirs.close()
    assert own.is_organizer and own.is_meeting
    assert not copy.is_organizer and copy.is_meeting and copy.uid == own.uid
    assert copy.fields["required_attendees"][0]["email"] == attendee
    assert copy_id  # the EWS id of the same copy


def test_a_dropped_connection_is_tried_again_once(calendar):
    class DropFirst(requests.adapters.HTTPAdapter):
        drops = 1

        def send(self, request, *args, **kwargs):
            if self.drops:
                self.drops -= 1
                raise requests.ConnectionError("connection reset by peer")
            return super().send(request, *args, **kwargs)

    adapter = DropFirst()
    calendar.client.session.mount("https://", adapter)
    before = calendar.usage.calls
    assert calendar.changes(None).full
    assert adapter.drops == 0 and calendar.usage.calls - before == 2
