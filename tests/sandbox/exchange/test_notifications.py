"""Subscriptions and notifications through unmodified exchangelib: pull (GetEvents, watermarks, MoreEvents),
streaming (several subscriptions on one connection, heartbeats, ConnectionStatus Closed), push (a local listener
answering SendNotificationResult, the keep-alive, Unsubscribe, retries), and the error codes Exchange answers.

A sandbox minute lasts a fraction of a second here (``notification_minute_seconds``), so timeouts are quick.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import requests
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.errors import (
    ErrorExpiredSubscription,
    ErrorInvalidPullSubscriptionId,
    ErrorInvalidPushSubscriptionUrl,
    ErrorInvalidSubscription,
    ErrorInvalidWatermark,
    ErrorSubscriptionAccessDenied,
    ErrorSubscriptionNotFound,
)
from exchangelib.properties import CreatedEvent, DeletedEvent, ModifiedEvent, MovedEvent, StatusEvent
from exchangelib.services import SendNotification
from lxml import etree

from sandbox.server import ServerThread

from .conftest import ALICE, BOB

LONDON = EWSTimeZone("Europe/London")
MINUTE = 0.4  # real seconds per sandbox minute in these tests


@pytest.fixture
def fast(make_env):
    return make_env(notification_minute_seconds=MINUTE)


@pytest.fixture
def alice(fast):
    return fast.account(ALICE)


def _new(account, subject, folder=None, day=0):
    item = CalendarItem(
        account=account,
        folder=folder or account.calendar,
        subject=subject,
        start=EWSDateTime(2026, 11, 2, 9, tzinfo=LONDON) + dt.timedelta(days=day),
        end=EWSDateTime(2026, 11, 2, 10, tzinfo=LONDON) + dt.timedelta(days=day),
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


def _pull(folder, sub_id, watermark):
    """All notifications from GetEvents (exchangelib follows MoreEvents) and the last watermark."""
    notes = list(folder.get_events(sub_id, watermark))
    events = [e for n in notes for e in n.events]
    last = events[-1].watermark if events else watermark
    return notes, events, last


def _subscribe_from(env, user, folder_id: str, watermark: str) -> tuple[str, str]:
    """Subscribe (pull) from a watermark with raw SOAP. exchangelib 5.6 sends that Watermark in the messages
    namespace, which the XSD (and so a schema-validating Exchange) refuses: the Watermark of a subscription
    request is t:Watermark."""
    body = _SOAP.format(
        "<m:Subscribe><m:PullSubscriptionRequest>"
        f'<t:FolderIds><t:FolderId Id="{folder_id}"/></t:FolderIds>'
        "<t:EventTypes><t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent</t:EventType></t:EventTypes>"
        f"<t:Watermark>{watermark}</t:Watermark><t:Timeout>5</t:Timeout>"
        "</m:PullSubscriptionRequest></m:Subscribe>"
    )
    answer = requests.post(env.endpoint, data=body, auth=(user.email, user.password), timeout=30, headers=_XML)
    doc = etree.fromstring(answer.content)
    code = doc.findtext(".//{*}ResponseCode")
    if code != "NoError":
        return code, ""
    return doc.findtext(".//{*}SubscriptionId"), doc.findtext(".//{*}Watermark")


_XML = {"Content-Type": "text/xml; charset=utf-8"}
_SOAP = (
    '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
    '<t:RequestServerVersion Version="Exchange2013_SP1"/></s:Header><s:Body>{}</s:Body></s:Envelope>'
)


def _item_events(events):
    return [(type(e).__name__, e.item_id.id) for e in events if e.event_type == "item"]


def test_pull_reports_every_change_with_ids_parents_and_watermarks(alice):
    sub_id, watermark = alice.calendar.subscribe_to_pull(timeout=5)
    kept = _new(alice, "kept")
    doomed = _new(alice, "doomed")
    kept.subject = "kept, edited"
    kept.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    doomed_id = doomed.id
    doomed.delete(send_meeting_cancellations="SendToNone")
    moved = _new(alice, "moved")
    moved_id = moved.id
    moved.move_to_trash(send_meeting_cancellations="SendToNone")

    notes, events, last = _pull(alice.calendar, sub_id, watermark)
    assert notes[0].subscription_id == sub_id and notes[0].previous_watermark == watermark
    items = [(k, i) for k, i in _item_events(events) if k != "FreeBusyChangedEvent"]
    assert items == [
        ("CreatedEvent", kept.id),
        ("CreatedEvent", doomed_id),
        ("ModifiedEvent", kept.id),
        ("DeletedEvent", doomed_id),
        ("CreatedEvent", moved_id),
        ("MovedEvent", moved_id),
    ]
    calendar_id = alice.calendar.id
    for e in events:
        assert e.timestamp is not None and e.watermark
        if e.event_type == "item" and not isinstance(e, MovedEvent):
            assert e.parent_folder_id.id == calendar_id
    move = next(e for e in events if isinstance(e, MovedEvent))
    assert move.old_parent_folder_id.id == calendar_id
    assert move.parent_folder_id.id == alice.trash.id
    # Each item change is followed by a ModifiedEvent of the folder whose content changed.
    folder_events = [e for e in events if isinstance(e, ModifiedEvent) and e.event_type == "folder"]
    assert {e.folder_id.id for e in folder_events} == {calendar_id}
    assert len(folder_events) == 6

    # Nothing new: one StatusEvent carrying the current watermark.
    notes, events, again = _pull(alice.calendar, sub_id, last)
    assert [type(e) for e in events] == [StatusEvent]
    assert events[0].watermark == again
    alice.calendar.unsubscribe(sub_id)


def test_a_new_subscription_resumes_from_an_old_watermark(fast, alice):
    sub_id, watermark = alice.calendar.subscribe_to_pull()
    first = _new(alice, "seen")
    _, events, seen_upto = _pull(alice.calendar, sub_id, watermark)
    assert ("CreatedEvent", first.id) in _item_events(events)
    alice.calendar.unsubscribe(sub_id)

    # While nobody listens: two changes.
    missed = _new(alice, "missed")
    first.subject = "seen, then edited"
    first.save(update_fields=["subject"], send_meeting_invitations="SendToNone")

    sub2, start = _subscribe_from(fast, ALICE, alice.calendar.id, seen_upto)
    assert start == seen_upto
    _, events, _ = _pull(alice.calendar, sub2, start)
    items = [x for x in _item_events(events) if x[0] != "FreeBusyChangedEvent"]
    assert items == [("CreatedEvent", missed.id), ("ModifiedEvent", first.id)]
    # The subscription is a queue: what it returned is not returned again, whatever watermark is passed.
    _, again, _ = _pull(alice.calendar, sub2, start)
    assert [type(e) for e in again] == [StatusEvent]


def test_more_events_are_paged_whole_changes_at_a_time(alice):
    sub_id, watermark = alice.calendar.subscribe_to_pull(event_types=["CreatedEvent"])
    made = [_new(alice, f"item {i}", day=i % 20) for i in range(60)]
    notes, events, _ = _pull(alice.calendar, sub_id, watermark)
    assert len(notes) == 2 and notes[0].more_events and not notes[1].more_events
    assert len(notes[0].events) == 50
    assert [e.item_id.id for e in events] == [i.id for i in made]
    assert notes[1].previous_watermark == notes[0].events[-1].watermark


def test_event_types_and_folders_filter_what_a_subscription_sees(fast, alice):
    sub_id, watermark = alice.trash.subscribe_to_pull(event_types=["MovedEvent"])
    other = _new(alice, "stays in the calendar")
    leaving = _new(alice, "to the trash")
    leaving_id = leaving.id
    leaving.move(alice.trash)
    _, events, _ = _pull(alice.trash, sub_id, watermark)
    assert [(type(e), e.item_id.id) for e in events] == [(MovedEvent, leaving_id)]
    assert other.id != leaving_id


def test_copy_and_move_raise_copied_and_moved_events(fast, alice):
    sub_id, watermark = alice.calendar.subscribe_to_pull(event_types=["CopiedEvent", "MovedEvent"])
    source = _new(alice, "original")
    copied_id = source.copy(alice.trash)
    _, events, _ = _pull(alice.calendar, sub_id, watermark)
    (copied,) = events
    assert type(copied).__name__ == "CopiedEvent"
    assert copied.old_item_id.id == source.id and copied.item_id.id == copied_id[0] != source.id
    assert copied.old_parent_folder_id.id == alice.calendar.id and copied.parent_folder_id.id == alice.trash.id
    assert [i.subject for i in alice.trash.all().only("subject")] == ["original"]


def test_subscription_errors_are_the_codes_exchange_answers(fast, alice):
    bob = fast.account(BOB)
    sub_id, watermark = alice.calendar.subscribe_to_pull(timeout=1)

    with pytest.raises(ErrorSubscriptionNotFound):
        list(alice.calendar.get_events("bm90IGEgc3Vic2NyaXB0aW9u", watermark))
    with pytest.raises(ErrorInvalidWatermark):
        list(alice.calendar.get_events(sub_id, "AAAA"))
    bob_sub, bob_watermark = bob.calendar.subscribe_to_pull()
    with pytest.raises(ErrorInvalidWatermark):  # a watermark of another mailbox
        list(alice.calendar.get_events(sub_id, bob_watermark))
    assert _subscribe_from(fast, ALICE, alice.calendar.id, bob_watermark) == ("ErrorInvalidWatermark", "")
    with pytest.raises(ErrorSubscriptionAccessDenied):
        list(bob.calendar.get_events(sub_id, watermark))

    # The pull timeout (one minute without a GetEvents) expires the subscription.
    time.sleep(MINUTE * 1.5)
    with pytest.raises(ErrorExpiredSubscription):
        list(alice.calendar.get_events(sub_id, watermark))
    # Unsubscribed: unknown from then on.
    bob.calendar.unsubscribe(bob_sub)
    with pytest.raises(ErrorSubscriptionNotFound):
        list(bob.calendar.get_events(bob_sub, bob_watermark))
    with pytest.raises(ErrorSubscriptionNotFound):
        bob.calendar.unsubscribe(bob_sub)
    with pytest.raises(ErrorInvalidPushSubscriptionUrl):
        alice.calendar.subscribe_to_push("ftp://example.invalid/ews")


# -- streaming ---------------------------------------------------------------------------------------------------
def test_streaming_delivers_several_subscriptions_on_one_connection_then_closes(fast, alice):
    bob = fast.account(BOB)
    mine = alice.calendar.subscribe_to_streaming(event_types=["CreatedEvent", "DeletedEvent"])
    trash = alice.trash.subscribe_to_streaming(event_types=["MovedEvent"])
    bob_sub = bob.calendar.subscribe_to_streaming()
    with pytest.raises(ErrorSubscriptionAccessDenied):
        list(alice.calendar.get_streaming_events([mine, bob_sub], connection_timeout=1))

    def writes():
        time.sleep(0.2)
        created = _new(alice, "streamed")
        created.move_to_trash(send_meeting_cancellations="SendToNone")
        gone = _new(alice, "streamed and deleted")
        gone.delete(send_meeting_cancellations="SendToNone")

    writer = threading.Thread(target=writes)
    began = time.monotonic()
    writer.start()
    seen = []
    for note in alice.calendar.get_streaming_events([mine, trash], connection_timeout=2):
        seen += [(note.subscription_id, type(e).__name__) for e in note.events]
    took = time.monotonic() - began
    writer.join()
    assert 2 * MINUTE <= took < 2 * MINUTE + 3  # closed by the server at the connection timeout
    assert sorted(seen) == sorted(
        [(mine, "CreatedEvent"), (trash, "MovedEvent"), (mine, "CreatedEvent"), (mine, "DeletedEvent")]
    )

    # Events between two connections wait for the next one.
    _new(alice, "while disconnected")
    again = [
        type(e).__name__ for n in alice.calendar.get_streaming_events(mine, connection_timeout=1) for e in n.events
    ]
    assert again == ["CreatedEvent"]


def _raw_streaming(env, account, sub_ids: list[str], minutes: int) -> list[bytes]:
    """The envelopes of a GetStreamingEvents response, read with requests as they arrive."""
    ids = "".join(f"<t:SubscriptionId>{i}</t:SubscriptionId>" for i in sub_ids)
    body = _SOAP.format(
        f"<m:GetStreamingEvents><m:SubscriptionIds>{ids}</m:SubscriptionIds>"
        f"<m:ConnectionTimeout>{minutes}</m:ConnectionTimeout></m:GetStreamingEvents>"
    )
    answer = requests.post(
        env.endpoint, data=body, auth=(ALICE.email, ALICE.password), stream=True, timeout=30, headers=_XML
    )
    assert answer.status_code == 200
    assert answer.headers.get("Transfer-Encoding") == "chunked"
    data = b"".join(answer.iter_content(chunk_size=None))
    return [b"<?xml" + part for part in data.split(b"<?xml")[1:]]


def test_streaming_sends_heartbeats_and_closes_with_connection_status_closed(fast, alice):
    sub = alice.calendar.subscribe_to_streaming()
    envelopes = _raw_streaming(fast, alice, [sub], minutes=2)
    statuses = [etree.fromstring(e).findtext(".//{*}ConnectionStatus") for e in envelopes]
    # A heartbeat every half minute, then Closed at two minutes.
    assert statuses[-1] == "Closed"
    assert statuses[:-1] and set(statuses[:-1]) == {"OK"}
    assert 3 <= len(statuses) - 1 <= 4


def test_streaming_refuses_unknown_and_pull_subscriptions(fast, alice):
    pull_id, _ = alice.calendar.subscribe_to_pull()
    with pytest.raises(ErrorSubscriptionNotFound):
        list(alice.calendar.get_streaming_events("bm90IGEgc3Vic2NyaXB0aW9u", connection_timeout=1))
    with pytest.raises(ErrorInvalidSubscription):
        list(alice.calendar.get_streaming_events(pull_id, connection_timeout=1))
    sub = alice.calendar.subscribe_to_streaming()
    alice.calendar.unsubscribe(sub)
    with pytest.raises(ErrorSubscriptionNotFound):
        list(alice.calendar.get_streaming_events(sub, connection_timeout=1))


# -- push ----------------------------------------------------------------------------------------------------------
class Listener:
    """A push-notification listener: parses each POST with exchangelib and answers OK (or what it is told)."""

    def __init__(self) -> None:
        self.received: list = []
        self.answer = "OK"
        self.lock = threading.Lock()
        self.server = ServerThread(self)
        self.url = self.server.url + "/ews-push"

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        with self.lock:
            answer = self.answer
            notes = list(SendNotification(protocol=None).parse(body))
            self.received += notes
        if answer == "fail":
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"listener failure"]
        svc = SendNotification(protocol=None)
        payload = svc.ok_payload() if answer == "OK" else svc.unsubscribe_payload()
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
        return [payload]

    def events(self) -> list:
        with self.lock:
            return [e for n in self.received for e in n.events]

    def wait_for(self, predicate, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"listener never saw it: {self.events()}")


@pytest.fixture
def listener():
    made = Listener()
    yield made
    made.server.stop()


def test_push_posts_events_and_keep_alives_until_the_listener_unsubscribes(fast, alice, listener):
    sub_id, watermark = alice.calendar.subscribe_to_push(listener.url, status_frequency=1)
    item = _new(alice, "pushed")
    listener.wait_for(lambda: any(isinstance(e, CreatedEvent) for e in listener.events()))
    created = next(e for e in listener.events() if isinstance(e, CreatedEvent))
    assert created.item_id.id == item.id and created.watermark
    assert listener.received[0].subscription_id == sub_id
    assert listener.received[0].previous_watermark == watermark

    # With nothing to say, a StatusEvent every StatusFrequency minutes.
    listener.wait_for(lambda: any(isinstance(e, StatusEvent) for e in listener.events()), seconds=MINUTE * 4)

    # A push id is not for GetEvents or Unsubscribe (it ends by answering a notification with Unsubscribe).
    with pytest.raises(ErrorInvalidPullSubscriptionId):
        list(alice.calendar.get_events(sub_id, watermark))
    with pytest.raises(ErrorInvalidSubscription):
        alice.calendar.unsubscribe(sub_id)

    # Answering Unsubscribe ends it: nothing more arrives.
    listener.answer = "Unsubscribe"
    item.delete(send_meeting_cancellations="SendToNone")
    listener.wait_for(lambda: any(isinstance(e, DeletedEvent) for e in listener.events()))
    count = len(listener.received)
    _new(alice, "after unsubscribe")
    time.sleep(MINUTE * 2)
    assert len(listener.received) == count
    log = requests.get(fast.admin + "/notifications", timeout=10).json()
    assert log["deliveries"][-1]["answer"] == "Unsubscribe"
    assert sub_id not in [s["id"] for s in log["subscriptions"]]


def test_push_retries_a_failing_listener_then_gives_up(fast, alice, listener):
    listener.answer = "fail"
    sub_id, watermark = alice.calendar.subscribe_to_push(listener.url, status_frequency=2)
    _new(alice, "undeliverable")
    # Retries after 30 s, 60 s, 120 s... until StatusFrequency (2 minutes) has passed since the first failure:
    # tries at 0, 0.5, 1.5 and 3.5 minutes, the last one given up. Counted past 3.5 minutes (the third try comes
    # at 1.5; waiting only 2 more minutes raced the fourth).
    listener.wait_for(lambda: len(listener.received) >= 3, seconds=MINUTE * 4)
    time.sleep(MINUTE * 3)
    tries = len(listener.received)
    assert tries == 4
    time.sleep(MINUTE * 2)
    assert len(listener.received) == tries  # dropped
    with pytest.raises(ErrorExpiredSubscription):
        list(alice.calendar.get_events(sub_id, watermark))
    deliveries = requests.get(fast.admin + "/notifications", timeout=10).json()["deliveries"]
    assert {d["http_status"] for d in deliveries} == {500}


def test_all_folders_subscriptions_see_every_folder(fast, alice):
    from exchangelib.services import SubscribeToPull

    ((sub_id, watermark),) = list(
        SubscribeToPull(account=alice).call(
            folders=None, event_types=["CreatedEvent", "MovedEvent"], watermark=None, timeout=5
        )
    )
    item = _new(alice, "anywhere")
    item_id = item.id
    item.move(alice.trash)
    _, events, _ = _pull(alice.calendar, sub_id, watermark)
    assert [(type(e).__name__, e.item_id.id) for e in events] == [("CreatedEvent", item_id), ("MovedEvent", item_id)]


@pytest.mark.parametrize(
    "body",
    [
        "<m:Subscribe><m:PullSubscriptionRequest><t:EventTypes><t:EventType>CreatedEvent</t:EventType>"
        "</t:EventTypes><t:Timeout>0</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>",
        "<m:Subscribe><m:PushSubscriptionRequest><t:EventTypes><t:EventType>Nope</t:EventType></t:EventTypes>"
        "<t:StatusFrequency>1</t:StatusFrequency><t:URL>http://127.0.0.1:9/x</t:URL></m:PushSubscriptionRequest>"
        "</m:Subscribe>",
        "<m:Subscribe/>",
        "<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>x</t:SubscriptionId></m:SubscriptionIds>"
        "<m:ConnectionTimeout>31</m:ConnectionTimeout></m:GetStreamingEvents>",
        "<m:GetStreamingEvents><m:SubscriptionIds/><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>",
    ],
)
def test_malformed_requests_answer_schema_errors_even_without_xsd_validation(make_env, body):
    loose = make_env(validate_schema=False)
    answer = requests.post(
        loose.endpoint, data=_SOAP.format(body), auth=(ALICE.email, ALICE.password), timeout=30, headers=_XML
    )
    doc = etree.fromstring(answer.content)
    assert (answer.status_code, doc.findtext(".//{*}ResponseCode")) == (500, "ErrorSchemaValidation")
    assert loose.sandbox.internal_errors == []


def test_the_service_account_subscribes_for_a_rep_by_impersonation(fast):
    service = fast.service_account(ALICE)
    rep = fast.account(ALICE)
    sub_id = service.calendar.subscribe_to_streaming(event_types=["CreatedEvent"])
    pull_id, watermark = service.calendar.subscribe_to_pull(event_types=["CreatedEvent"])
    item = _new(rep, "written by the rep")
    streamed = [
        e.item_id.id for n in service.calendar.get_streaming_events(sub_id, connection_timeout=1) for e in n.events
    ]
    assert streamed == [item.id]
    _, pulled, _ = _pull(service.calendar, pull_id, watermark)
    assert [e.item_id.id for e in pulled] == [item.id]
    # The subscription belongs to the account that made it, not to the mailbox.
    with pytest.raises(ErrorSubscriptionAccessDenied):
        list(rep.calendar.get_events(pull_id, watermark))


def test_a_new_folder_raises_created_and_modified_folder_events(fast, alice):
    from exchangelib.folders import Favorites

    root = alice.msg_folder_root
    sub_id, watermark = root.subscribe_to_pull()
    favorites = alice.root.get_default_folder(Favorites)  # first use: the sandbox makes the folder
    _, events, _ = _pull(root, sub_id, watermark)
    assert [(type(e).__name__, e.folder_id.id, e.parent_folder_id.id) for e in events] == [
        ("CreatedEvent", favorites.id, root.id),
        ("ModifiedEvent", root.id, alice.root.id),
    ]


def test_the_expire_knob_expires_idle_subscriptions_and_spares_connected_ones(fast, alice):
    """``PUT /__sandbox__/notifications {"expire": ...}``: the subscriptions answer ErrorExpiredSubscription at once,
    as after their timeout; a subscription with an open streaming connection is not expired (Exchange never does)."""
    idle = alice.calendar.subscribe_to_streaming()
    pulled, watermark = alice.calendar.subscribe_to_pull(timeout=5)
    connected = alice.calendar.subscribe_to_streaming()
    reader = threading.Thread(target=lambda: list(alice.calendar.get_streaming_events(connected, connection_timeout=3)))
    reader.start()
    try:
        _wait_connected(fast, connected)
        refused = requests.put(fast.admin + "/notifications", json={"expire": [connected]}, timeout=10)
        assert refused.status_code == 400 and "open streaming connection" in refused.json()["error"]
        assert requests.put(fast.admin + "/notifications", json={"expire": "all"}, timeout=10).status_code == 200
        left = {s["id"] for s in requests.get(fast.admin + "/notifications", timeout=10).json()["subscriptions"]}
        assert left == {connected}
    finally:
        reader.join()
    with pytest.raises(ErrorExpiredSubscription):
        list(alice.calendar.get_streaming_events(idle, connection_timeout=1))
    with pytest.raises(ErrorExpiredSubscription):
        list(alice.calendar.get_events(pulled, watermark))
    bad = requests.put(fast.admin + "/notifications", json={"expire": 3}, timeout=10)
    assert bad.status_code == 400 and "expire" in bad.json()["error"]


def _wait_connected(env, sub_id: str) -> None:
    deadline = time.monotonic() + 10
    while env.sandbox.notifications.subscriptions[sub_id].connections == 0:
        assert time.monotonic() < deadline, "the streaming connection did not open"
        time.sleep(0.02)


def test_a_reseeded_store_still_reports_writes_to_new_subscriptions(fast):
    """The e2e tests reset the sandbox by reseeding its store in process: subscriptions made afterwards must see
    the writes to the new store."""
    with fast.sandbox.store.lock:
        fast.sandbox._seeded_store()  # noqa: SLF001 - what tests/e2e's World.reset does
    alice = fast.account(ALICE)
    sub_id, watermark = alice.calendar.subscribe_to_pull(timeout=5)
    created = _new(alice, "after the reseed")
    _, events, _ = _pull(alice.calendar, sub_id, watermark)
    assert ("CreatedEvent", created.id) in _item_events(events)
